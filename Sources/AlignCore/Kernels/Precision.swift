// The numeric precision of the model's matrix products, and how a command picks it.
//
// fp32: every product in fp32 (OpenBLAS or oneDNN). bf16: mixed precision, the products' inputs (weights and
// activations) rounded to bfloat16, accumulated and written in fp32; master weights, optimizer state, norms,
// softmax, the loss and everything element-wise stay fp32. bf16 pays only where the CPU multiplies bf16 in
// hardware (AVX512_BF16 or AMX): the default is bf16 there and fp32 elsewhere, and a bf16 request on another
// CPU runs fp32 with a one-line note (ALIGN_NO_BF16=1 makes any CPU count as one without bf16).
import CKernels
import Foundation

/// Precision of the matrix products (`precision:` in configs, `--precision` on the commands).
public enum Precision: String, Codable, Sendable, CaseIterable {
    case fp32, bf16
}

extension Precision {
    /// Whether this CPU multiplies bf16 in hardware: AVX512_BF16 or AMX-BF16, unless ALIGN_NO_BF16 is set.
    public static let cpuHasBF16: Bool = {
        if ProcessInfo.processInfo.environment["ALIGN_NO_BF16"] != nil { return false }
        if align_kernels_avx512bf16() != 0 { return true }
        #if os(Linux)
        if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) {
            return BlasCore.cpuFlags(cpuinfo: info).contains("amx_bf16")
        }
        #endif
        return false
    }()

    /// The precision a run uses, and a note to print when a bf16 request falls back to fp32. `requested` nil =
    /// the default (bf16 where the CPU has bf16 instructions, else fp32). Pure: the policy, tested on its own.
    public static func resolve(requested: Precision?, cpuHasBF16: Bool) -> (precision: Precision, note: String?) {
        switch requested {
        case .fp32?: return (.fp32, nil)
        case .bf16?:
            if cpuHasBF16 { return (.bf16, nil) }
            return (.fp32, "note: bf16 requested, but this CPU has no AVX512_BF16 or AMX: running fp32")
        case nil: return (cpuHasBF16 ? .bf16 : .fp32, nil)
        }
    }

    /// `resolve` for this CPU.
    public static func resolve(_ requested: Precision?) -> (precision: Precision, note: String?) {
        resolve(requested: requested, cpuHasBF16: cpuHasBF16)
    }

    /// One line for the start of a run: the precision and the library that multiplies.
    public var summary: String {
        let backend = GemmBackend.preferred(for: self)
        switch self {
        case .fp32: return "precision fp32 (\(backend.rawValue))"
        case .bf16: return "precision bf16 (\(backend.rawValue); bf16 products, fp32 accumulation and master weights)"
        }
    }
}
