// A kill at a chosen training step, for the tests of what a job survives (docs/reliability.md, docs/scale-out.md):
// ALIGN_FAULT_KILL=RANK:STEP makes the process of that rank (0 outside a data-parallel job) send itself SIGKILL
// right after optimiser step STEP — nothing is flushed or cleaned, exactly as when a node dies or the OOM killer
// strikes. Unset (always, outside tests) it does nothing.
import Foundation

public enum FaultInjection {
    /// (rank, step) of ALIGN_FAULT_KILL, nil when unset or malformed.
    static let target: (rank: Int, step: Int)? = {
        guard let v = ProcessInfo.processInfo.environment["ALIGN_FAULT_KILL"] else { return nil }
        let parts = v.split(separator: ":").compactMap { Int($0) }
        return parts.count == 2 ? (parts[0], parts[1]) : nil
    }()

    /// Kills this process when ALIGN_FAULT_KILL names its rank and `step`.
    public static func afterStep(_ step: Int) {
        guard let k = target, k.rank == Cluster.world.rank, k.step == step else { return }
        Glibc.kill(getpid(), SIGKILL)
    }
}
