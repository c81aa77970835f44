// Parallel loops over both cores. Work is split into contiguous chunks so each worker touches its own
// memory; callers pass raw buffers, never Swift arrays (no copy-on-write inside a loop).
import CKernels
import Dispatch
import Foundation

public enum Parallel {
    /// Number of workers (ALIGN_THREADS overrides; defaults to the active processor count, shared among the
    /// ranks an MPI launcher started on this node unless the launcher bound the rank to fewer cores already).
    public static let workers: Int = {
        let env = ProcessInfo.processInfo.environment
        if let s = env["ALIGN_THREADS"], let n = Int(s), n > 0 { return n }
        let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
        if let local = env["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init), local > 1, cores >= sysconf(Int32(_SC_NPROCESSORS_ONLN)) {
            return max(1, cores / local)
        }
        return cores
    }()

    /// Runs `body` with the calling thread's loops inline: for one share of work that is already spread over the
    /// cores (a data-parallel replica), whose kernels would otherwise fan out again onto cores that are busy with
    /// the other shares. The element-wise loops give the same values for any split (row or column chunks, and the
    /// gradient norm's fixed blocks), so a replica computes the same values inline.
    public static func inline<T>(_ body: () throws -> T) rethrows -> T {
        let saved = align_parallel_inline()
        align_parallel_set_inline(1)
        defer { align_parallel_set_inline(saved) }
        return try body()
    }

    /// Workers a loop of n items uses: one inside `inline`, else as many as get `minPerWorker` items each.
    @inline(__always)
    static func split(_ n: Int, _ minPerWorker: Int) -> Int {
        align_parallel_inline() != 0 ? 1 : min(workers, n / max(1, minPerWorker))
    }

    /// Runs `body(i)` for i in 0..<n, in parallel when n is large enough to pay for it.
    @inline(__always)
    public static func forEach(_ n: Int, minPerWorker: Int = 1, _ body: (Int) -> Void) {
        let w = split(n, minPerWorker)
        if w <= 1 {
            for i in 0..<n { body(i) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let box = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: w) { t in
                let lo = n * t / w, hi = n * (t + 1) / w
                for i in lo..<hi { box.value(i) }
            }
        }
    }

    /// Runs `body(worker, range)` on contiguous chunks of 0..<n, one chunk per worker; `worker` in 0..<workers
    /// tells a chunk which per-worker scratch is its own.
    @inline(__always)
    public static func workerChunks(_ n: Int, minPerWorker: Int = 1, _ body: (_ worker: Int, _ range: Range<Int>) -> Void) {
        let w = split(n, minPerWorker)
        if w <= 1 {
            if n > 0 { body(0, 0..<n) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let box = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: w) { t in
                box.value(t, (n * t / w)..<(n * (t + 1) / w))
            }
        }
    }

    /// Runs `body(range)` on contiguous chunks of 0..<n, one chunk per worker.
    @inline(__always)
    public static func chunks(_ n: Int, minPerWorker: Int = 1, _ body: (Range<Int>) -> Void) {
        workerChunks(n, minPerWorker: minPerWorker) { _, r in body(r) }
    }
}

/// Carries a value into a `@Sendable` closure. Used only where the caller guarantees that concurrent
/// workers touch disjoint memory (each worker its own chunk), which the compiler cannot see through
/// raw pointers.
public struct UncheckedSendable<T>: @unchecked Sendable {
    public let value: T
    @inline(__always) public init(_ value: T) { self.value = value }
}
