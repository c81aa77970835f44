// Which OpenBLAS kernel set runs the matrix products, and a fix for CPUs OpenBLAS does not recognise.
//
// Debian bookworm's OpenBLAS (0.3.21, DYNAMIC_ARCH) picks its kernels by CPU family/model at load time. On a
// CPU it does not know (seen: a virtualised Sapphire Rapids Xeon reporting "Intel(R) Xeon(R) Processor") it
// falls back, silently, to the SSE3 "Prescott" kernels: sgemm then runs at 43 GFLOP/s where the AVX-512
// "SkylakeX" kernels reach 119 on the same 2 cores (`align bench --only engine --preset A`: 2.7× the tokens/s),
// and the d 96 SFT runs 2.2× slower (8.6k against 19.1k tokens/s over 100 steps). The kernel set can only be chosen before the library initialises (the OPENBLAS_CORETYPE
// environment variable, read by its constructor), so `align` re-executes itself once with that variable set
// when the detected core is such a fallback and the CPU (as the kernel reports it in /proc/cpuinfo) has
// AVX2+FMA or AVX-512. A user's own OPENBLAS_CORETYPE is never overridden, a correctly detected core never
// replaced, and ALIGN_BLAS_CORE=keep turns the whole mechanism off.
import CBLAS
import Foundation

public enum BlasCore {
    /// The kernel set OpenBLAS is using ("SkylakeX", "Haswell", "Prescott", ...).
    public static var name: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }

    /// OpenBLAS x86-64 core names whose kernels predate AVX: what DYNAMIC_ARCH falls back to.
    public static let preAVXCores: Set<String> = [
        "Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Katmai", "Coppermine", "Northwood",
        "Banias", "Opteron", "Barcelona", "Bobcat", "Opteron_SSE3",
    ]

    /// The core to force, given the detected core and the CPU's feature flags; nil when the detected one
    /// is fine or nothing better is safe. Pure: the policy, tested on its own.
    public static func recommendedCore(detected: String, cpuFlags: Set<String>) -> String? {
        guard preAVXCores.contains(detected) else { return nil }
        let avx512 = ["avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl"]
        if avx512.allSatisfy(cpuFlags.contains) { return "SkylakeX" }
        if ["avx", "avx2", "fma"].allSatisfy(cpuFlags.contains) { return "Haswell" }
        return nil
    }

    /// The feature flags of the first processor in a /proc/cpuinfo text (empty when there are none).
    public static func cpuFlags(cpuinfo: String) -> Set<String> {
        for line in cpuinfo.split(separator: "\n", omittingEmptySubsequences: true) {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == "flags" else { continue }
            return Set(parts[1].split(separator: " ").map(String.init))
        }
        return []
    }

    /// When OpenBLAS fell back to pre-AVX kernels on a CPU with AVX2/AVX-512, re-executes the current
    /// process with OPENBLAS_CORETYPE set (does not return on success). Returns, doing nothing, when the
    /// variable is already set, ALIGN_BLAS_CORE=keep, the detected core is fine, /proc/cpuinfo cannot be read
    /// (then nothing is known to be safe to force: the detected kernels stay), or exec fails. Call first
    /// thing in `main`, before any output.
    public static func reexecWithFasterKernelsIfNeeded() {
        #if os(Linux) && arch(x86_64)
        let env = ProcessInfo.processInfo.environment
        guard env["OPENBLAS_CORETYPE"] == nil, env["ALIGN_BLAS_CORE"] != "keep" else { return }
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let core = recommendedCore(detected: name, cpuFlags: cpuFlags(cpuinfo: info)) else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        unsetenv("OPENBLAS_CORETYPE")   // exec failed: carry on with the detected kernels
        #endif
    }
}
