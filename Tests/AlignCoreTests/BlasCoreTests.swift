// BlasCore: the policy that replaces OpenBLAS's silent pre-AVX fallback with AVX2/AVX-512 kernels, and the
// /proc/cpuinfo flag parser it reads.
import AlignCore
import Foundation
import Testing

@Suite struct BlasCoreTests {
    static let avx512: Set<String> = ["sse3", "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl"]

    @Test func fallbackCoresGetTheWidestSafeKernels() {
        #expect(BlasCore.recommendedCore(detected: "Prescott", cpuFlags: Self.avx512) == "SkylakeX")
        #expect(BlasCore.recommendedCore(detected: "Nehalem", cpuFlags: ["sse4_2", "avx", "avx2", "fma"]) == "Haswell")
        // AVX-512 foundation alone (no BW/VL, e.g. Knights Landing) is not SkylakeX: fall to Haswell.
        #expect(BlasCore.recommendedCore(detected: "Prescott", cpuFlags: ["avx", "avx2", "fma", "avx512f"]) == "Haswell")
        // AVX without AVX2/FMA: nothing safe to force.
        #expect(BlasCore.recommendedCore(detected: "Prescott", cpuFlags: ["sse3", "avx"]) == nil)
        #expect(BlasCore.recommendedCore(detected: "Prescott", cpuFlags: []) == nil)
    }

    @Test func aRecognisedCoreIsNeverReplaced() {
        for core in ["SkylakeX", "Haswell", "Cooperlake", "Zen", "SapphireRapids", "Sandybridge"] {
            #expect(BlasCore.recommendedCore(detected: core, cpuFlags: Self.avx512) == nil, "\(core)")
        }
    }

    @Test func flagsComeFromTheFirstProcessor() {
        let info = """
        processor\t: 0
        model name\t: Intel(R) Xeon(R) Processor
        flags\t\t: fpu sse3 avx avx2 fma avx512f
        bugs\t\t: spectre_v1

        processor\t: 1
        flags\t\t: fpu sse3
        """
        #expect(BlasCore.cpuFlags(cpuinfo: info) == ["fpu", "sse3", "avx", "avx2", "fma", "avx512f"])
        #expect(BlasCore.cpuFlags(cpuinfo: "processor : 0\n").isEmpty)
    }

    @Test func theLoadedLibraryNamesItsCore() {
        let name = BlasCore.name
        #expect(!name.isEmpty && name != "unknown", "openblas_get_corename returned '\(name)'")
        // When the test runner was started with an explicit core, OpenBLAS uses exactly that one.
        if let forced = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] {
            #expect(name.lowercased() == forced.lowercased())
        }
    }
}
