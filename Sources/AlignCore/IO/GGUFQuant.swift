// ggml tensor types and their dequantisation to Float32, block by block as ggml's reference
// `dequantize_row_*` functions do (ggml-quants.c). A block of QK values stores one or two fp16 scales and
// packed integers:
//   Q4_0  [d f16][16 B: 32 nibbles]            x = (q − 8)·d           low nibbles are values 0..<16, high 16..<32
//   Q4_1  [d f16][m f16][16 B nibbles]         x = q·d + m
//   Q5_0  [d f16][qh u32][16 B nibbles]        x = (q | h<<4 − 16)·d    bit j of qh is value j's fifth bit
//   Q5_1  [d f16][m f16][qh u32][16 B]         x = (q | h<<4)·d + m
//   Q8_0  [d f16][32 × i8]                     x = q·d
// F32, F16, BF16 and F64 are converted element by element. K-quants (Q2_K…Q6_K), IQ types and the integer types
// are refused by name.
import Foundation

/// ggml tensor element types (the numbering of ggml.h).
public enum GGMLType: UInt32, Sendable, CaseIterable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22, iq4_xs = 23
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30
    case tq1_0 = 34, tq2_0 = 35, mxfp4 = 39

    public var name: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .f64: return "F64"
        default: return String(describing: self).uppercased()
        }
    }

    /// Values per block (nil for element types).
    public var blockSize: Int? {
        switch self {
        case .f32, .f16, .bf16, .f64, .i8, .i16, .i32, .i64: return nil
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .iq4_nl, .mxfp4: return 32
        default: return 256
        }
    }

    /// Bytes per block (or per element for element types); nil where align does not know the layout.
    var blockBytes: Int? {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .f64, .i64: return 8
        case .i8: return 1
        case .q4_0: return 18
        case .q4_1: return 20
        case .q5_0: return 22
        case .q5_1: return 24
        case .q8_0: return 34
        case .q8_1: return 36
        case .q2_K: return 84
        case .q3_K: return 110
        case .q4_K: return 144
        case .q5_K: return 176
        case .q6_K: return 210
        case .q8_K: return 292
        default: return nil
        }
    }

    /// Bytes of `elements` values (nil: unknown layout, or not a whole number of blocks).
    public func byteCount(elements: Int) -> Int? {
        guard let b = blockBytes else { return nil }
        let q = blockSize ?? 1
        guard elements % q == 0 else { return nil }
        let (p, o) = (elements / q).multipliedReportingOverflow(by: b)
        return o ? nil : p
    }

    /// Types align dequantises.
    public static let supported: [GGMLType] = [.f32, .f16, .bf16, .f64, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0]
    public var isSupported: Bool { Self.supported.contains(self) }
    public static var supportedNames: String { supported.map(\.name).joined(separator: ", ") }
}

/// Dequantisation kernels (plain loops over blocks; a whole model converts in well under a second per 100 MB).
public enum GGUFQuant {
    @inline(__always) static func u16(_ s: UnsafeRawBufferPointer, _ o: Int) -> UInt16 { UInt16(s[o]) | UInt16(s[o + 1]) << 8 }
    @inline(__always) static func u32(_ s: UnsafeRawBufferPointer, _ o: Int) -> UInt32 {
        UInt32(s[o]) | UInt32(s[o + 1]) << 8 | UInt32(s[o + 2]) << 16 | UInt32(s[o + 3]) << 24
    }

    /// Converts `src` (exactly `type.byteCount(elements: dst.count)` bytes) into `dst`. `type` must be supported.
    public static func dequantize(_ type: GGMLType, _ src: UnsafeRawBufferPointer, into dst: UnsafeMutableBufferPointer<Float>) {
        let n = dst.count
        precondition(type.isSupported && src.count == type.byteCount(elements: n))
        switch type {
        case .f32: for i in 0..<n { dst[i] = Float(bitPattern: u32(src, 4 * i)) }
        case .f16: for i in 0..<n { dst[i] = halfToFloat(u16(src, 2 * i)) }
        case .bf16: for i in 0..<n { dst[i] = Float(bitPattern: UInt32(u16(src, 2 * i)) << 16) }
        case .f64: for i in 0..<n { dst[i] = Float(Double(bitPattern: UInt64(u32(src, 8 * i)) | UInt64(u32(src, 8 * i + 4)) << 32)) }
        case .q4_0:
            for b in 0..<(n / 32) {
                let o = 18 * b, d = halfToFloat(u16(src, o)), y = 32 * b
                for j in 0..<16 {
                    let q = src[o + 2 + j]
                    dst[y + j] = Float(Int(q & 0x0F) - 8) * d
                    dst[y + j + 16] = Float(Int(q >> 4) - 8) * d
                }
            }
        case .q4_1:
            for b in 0..<(n / 32) {
                let o = 20 * b, d = halfToFloat(u16(src, o)), m = halfToFloat(u16(src, o + 2)), y = 32 * b
                for j in 0..<16 {
                    let q = src[o + 4 + j]
                    dst[y + j] = Float(q & 0x0F) * d + m
                    dst[y + j + 16] = Float(q >> 4) * d + m
                }
            }
        case .q5_0:
            for b in 0..<(n / 32) {
                let o = 22 * b, d = halfToFloat(u16(src, o)), qh = u32(src, o + 2), y = 32 * b
                for j in 0..<16 {
                    let q = src[o + 6 + j]
                    let h0 = ((qh >> UInt32(j)) << 4) & 0x10, h1 = (qh >> UInt32(j + 12)) & 0x10
                    dst[y + j] = Float(Int(UInt32(q & 0x0F) | h0) - 16) * d
                    dst[y + j + 16] = Float(Int(UInt32(q >> 4) | h1) - 16) * d
                }
            }
        case .q5_1:
            for b in 0..<(n / 32) {
                let o = 24 * b, d = halfToFloat(u16(src, o)), m = halfToFloat(u16(src, o + 2)), qh = u32(src, o + 4), y = 32 * b
                for j in 0..<16 {
                    let q = src[o + 8 + j]
                    let h0 = ((qh >> UInt32(j)) << 4) & 0x10, h1 = (qh >> UInt32(j + 12)) & 0x10
                    dst[y + j] = Float(UInt32(q & 0x0F) | h0) * d + m
                    dst[y + j + 16] = Float(UInt32(q >> 4) | h1) * d + m
                }
            }
        case .q8_0:
            for b in 0..<(n / 32) {
                let o = 34 * b, d = halfToFloat(u16(src, o)), y = 32 * b
                for j in 0..<32 { dst[y + j] = Float(Int8(bitPattern: src[o + 2 + j])) * d }
            }
        default: preconditionFailure("unsupported ggml type \(type.name)")
        }
    }
}
