// Rotary position embeddings, Hugging Face "rotate-half" convention: for i < d/2,
//   y_i = x_i·cos θ_i − x_{i+d/2}·sin θ_i,   y_{i+d/2} = x_{i+d/2}·cos θ_i + x_i·sin θ_i,
// θ_i = pos / theta^(2i/d). Tables are built once per config; kernels rotate in place.
import Foundation

/// Precomputed cos/sin tables, [maxPositions, headDim/2] each.
public final class RopeTable: @unchecked Sendable {
    public let headDim: Int
    public let maxPositions: Int
    public let cos: UnsafeMutableBufferPointer<Float>
    public let sin: UnsafeMutableBufferPointer<Float>

    /// Tables for positions 0..<maxPositions. inv_freq is rounded to fp32 as transformers does, the angle in double.
    public init(headDim: Int, theta: Float, maxPositions: Int) {
        precondition(headDim % 2 == 0 && maxPositions > 0)
        self.headDim = headDim; self.maxPositions = maxPositions
        let half = headDim / 2
        cos = .allocate(capacity: maxPositions * half)
        sin = .allocate(capacity: maxPositions * half)
        for i in 0..<half {
            let invFreq = Float(1.0 / Foundation.pow(Double(theta), Double(2 * i) / Double(headDim)))
            for p in 0..<maxPositions {
                let a = Float(p) * invFreq   // fp32 product, like HF's position_ids.float() @ inv_freq
                cos[p * half + i] = Float(Foundation.cos(Double(a)))
                sin[p * half + i] = Float(Foundation.sin(Double(a)))
            }
        }
    }

    /// Tables for `config`'s rotary embedding (its theta and frequency scaling, LlamaVariants.swift).
    public convenience init(config: LlamaConfig, maxPositions: Int) {
        self.init(headDim: config.headDim, inverseFrequencies: config.ropeInverseFrequencies(), maxPositions: maxPositions)
    }

    /// Tables from explicit inverse frequencies [headDim/2].
    public init(headDim: Int, inverseFrequencies inv: [Float], maxPositions: Int) {
        precondition(headDim % 2 == 0 && maxPositions > 0 && inv.count == headDim / 2)
        self.headDim = headDim; self.maxPositions = maxPositions
        let half = headDim / 2
        cos = .allocate(capacity: maxPositions * half)
        sin = .allocate(capacity: maxPositions * half)
        for i in 0..<half {
            for p in 0..<maxPositions {
                let a = Float(p) * inv[i]
                cos[p * half + i] = Float(Foundation.cos(Double(a)))
                sin[p * half + i] = Float(Foundation.sin(Double(a)))
            }
        }
    }

    deinit { cos.deallocate(); sin.deallocate() }
}

/// Rotates in place the first `heads` heads (each `headDim` wide) of every row of x[N, rowStride];
/// row n is at position positions[n] (< table.maxPositions).
public func ropeForward(_ x: UnsafeMutablePointer<Float>, _ rowStride: Int, _ heads: Int,
                        _ positions: UnsafePointer<Int32>, _ n: Int, _ table: RopeTable) {
    ropeApply(x, rowStride, heads, positions, n, table, sign: 1)
}

/// Backward of `ropeForward`, in place on the gradient (rotation by −θ).
public func ropeBackward(_ dx: UnsafeMutablePointer<Float>, _ rowStride: Int, _ heads: Int,
                         _ positions: UnsafePointer<Int32>, _ n: Int, _ table: RopeTable) {
    ropeApply(dx, rowStride, heads, positions, n, table, sign: -1)
}

@inline(__always)
func ropeApply(_ x: UnsafeMutablePointer<Float>, _ rowStride: Int, _ heads: Int,
               _ positions: UnsafePointer<Int32>, _ n: Int, _ table: RopeTable, sign: Float) {
    Parallel.chunks(n, minPerWorker: 64) { r in
        let i = r.lowerBound
        ropeRows(x + i * rowStride, rowStride, heads, positions + i, r.count, table, sign: sign)
    }
}

/// `ropeApply` over `n` rows on the calling thread (x and positions start at the first row).
@inline(__always)
func ropeRows(_ x: UnsafeMutablePointer<Float>, _ rowStride: Int, _ heads: Int,
              _ positions: UnsafePointer<Int32>, _ n: Int, _ table: RopeTable, sign: Float) {
    let hd = table.headDim, half = hd / 2
    let cosT = table.cos.baseAddress!, sinT = table.sin.baseAddress!
    for i in 0..<n {
        let p = Int(positions[i])
        let c = cosT + p * half, s = sinT + p * half
        for h in 0..<heads {
            let v = x + i * rowStride + h * hd
            for j in 0..<half {
                let a = v[j], b = v[j + half], sj = sign * s[j]
                v[j] = a * c[j] - b * sj
                v[j + half] = b * c[j] + a * sj
            }
        }
    }
}

/// Reference for `ropeForward`/`ropeBackward` (double precision angles computed from scratch).
public func ropeNaive(_ x: UnsafeMutablePointer<Float>, _ rowStride: Int, _ heads: Int, _ headDim: Int,
                      _ positions: UnsafePointer<Int32>, _ n: Int, theta: Float, inverse: Bool) {
    let half = headDim / 2
    for i in 0..<n {
        for h in 0..<heads {
            for j in 0..<half {
                let invFreq = Float(1.0 / Foundation.pow(Double(theta), Double(2 * j) / Double(headDim)))
                let ang = Double(Float(positions[i]) * invFreq) * (inverse ? -1 : 1)
                let o = i * rowStride + h * headDim
                let a = Double(x[o + j]), b = Double(x[o + j + half])
                x[o + j] = Float(a * Foundation.cos(ang) - b * Foundation.sin(ang))
                x[o + j + half] = Float(b * Foundation.cos(ang) + a * Foundation.sin(ang))
            }
        }
    }
}
