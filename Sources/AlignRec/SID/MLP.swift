// The RQ-VAE's MLPs: linear and ReLU forward/backward pairs over flat row-major buffers (sgemm for the
// products, a plain-loop reference beside each), and `MLP`, a stack of linear layers with ReLU between
// them (none after the last) whose activations and activation gradients are planned once for a maximum
// batch. Parameters live in a caller's flat buffer at `offset`: per layer W[O, I] then b[O].
import Foundation

/// out[B, O] = inp[B, I] · W[O, I]ᵀ + b[O]
public func linearForward(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                          _ b: UnsafePointer<Float>, _ B: Int, _ I: Int, _ O: Int) {
    for r in 0..<B { (out + r * O).update(from: b, count: O) }
    sgemm(false, true, B, O, I, 1, inp, I, w, I, 1, out, O)
}

/// Reference for `linearForward` (double accumulation).
public func linearForwardNaive(_ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                               _ b: UnsafePointer<Float>, _ B: Int, _ I: Int, _ O: Int) {
    for r in 0..<B {
        for o in 0..<O {
            var s = Double(b[o])
            for i in 0..<I { s += Double(inp[r * I + i]) * Double(w[o * I + i]) }
            out[r * O + o] = Float(s)
        }
    }
}

/// Backward of `linearForward`: dinp[B, I] = dout · W (overwritten; skipped when nil),
/// dW[O, I] += doutᵀ · inp, db[O] += Σ_rows dout.
public func linearBackward(_ dinp: UnsafeMutablePointer<Float>?, _ dw: UnsafeMutablePointer<Float>, _ db: UnsafeMutablePointer<Float>,
                           _ dout: UnsafePointer<Float>, _ inp: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                           _ B: Int, _ I: Int, _ O: Int) {
    if let dinp { sgemm(false, false, B, I, O, 1, dout, O, w, I, 0, dinp, I) }
    sgemm(true, false, O, I, B, 1, dout, O, inp, I, 1, dw, I)
    for r in 0..<B { for o in 0..<O { db[o] += dout[r * O + o] } }
}

/// Reference for `linearBackward` (double accumulation).
public func linearBackwardNaive(_ dinp: UnsafeMutablePointer<Float>?, _ dw: UnsafeMutablePointer<Float>, _ db: UnsafeMutablePointer<Float>,
                                _ dout: UnsafePointer<Float>, _ inp: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                                _ B: Int, _ I: Int, _ O: Int) {
    if let dinp {
        for r in 0..<B { for i in 0..<I {
            var s = 0.0
            for o in 0..<O { s += Double(dout[r * O + o]) * Double(w[o * I + i]) }
            dinp[r * I + i] = Float(s)
        } }
    }
    for o in 0..<O {
        var sb = 0.0
        for r in 0..<B { sb += Double(dout[r * O + o]) }
        db[o] += Float(sb)
        for i in 0..<I {
            var s = 0.0
            for r in 0..<B { s += Double(dout[r * O + o]) * Double(inp[r * I + i]) }
            dw[o * I + i] += Float(s)
        }
    }
}

/// In-place ReLU over n values.
@inline(__always)
public func reluForward(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
    for i in 0..<n where x[i] < 0 { x[i] = 0 }
}

/// ReLU backward in place: d[i] = 0 where the ReLU output out[i] is 0.
@inline(__always)
public func reluBackward(_ d: UnsafeMutablePointer<Float>, _ out: UnsafePointer<Float>, _ n: Int) {
    for i in 0..<n where out[i] <= 0 { d[i] = 0 }
}

/// A multi-layer perceptron dims[0] → dims[1] → … → dims.last with ReLU between layers.
public final class MLP {
    public let dims: [Int]
    /// Offset of this MLP's parameters in the flat parameter buffer.
    public let offset: Int
    public let maxBatch: Int
    /// Parameters of this MLP (Σ O·I + O).
    public let parameterCount: Int
    let wOff: [Int], bOff: [Int]
    /// acts[l] = output of layer l (after ReLU except for the last), [maxBatch, dims[l + 1]].
    let acts: [UnsafeMutablePointer<Float>]
    /// dacts[l] = gradient w.r.t. the input of layer l, [maxBatch, dims[l]].
    let dacts: [UnsafeMutablePointer<Float>]

    public init(dims: [Int], offset: Int, maxBatch: Int) {
        precondition(dims.count >= 2 && dims.allSatisfy { $0 >= 1 }, "an MLP needs ≥ 2 positive layer widths")
        self.dims = dims; self.offset = offset; self.maxBatch = maxBatch
        var w: [Int] = [], b: [Int] = [], p = offset
        for l in 0..<(dims.count - 1) {
            w.append(p); p += dims[l + 1] * dims[l]
            b.append(p); p += dims[l + 1]
        }
        wOff = w; bOff = b; parameterCount = p - offset
        acts = (1..<dims.count).map { UnsafeMutablePointer<Float>.allocate(capacity: maxBatch * dims[$0]) }
        dacts = (0..<(dims.count - 1)).map { UnsafeMutablePointer<Float>.allocate(capacity: maxBatch * dims[$0]) }
    }

    deinit { acts.forEach { $0.deallocate() }; dacts.forEach { $0.deallocate() } }

    public var layers: Int { dims.count - 1 }

    /// Parameter groups: matrices decayed, biases not.
    public var groups: [ParamGroup] {
        (0..<layers).flatMap { l in
            [ParamGroup(range: wOff[l]..<(wOff[l] + dims[l + 1] * dims[l]), decay: true),
             ParamGroup(range: bOff[l]..<(bOff[l] + dims[l + 1]), decay: false)]
        }
    }

    /// Xavier-normal weights (std √(2/(I+O))), zero biases.
    public func initialize(_ params: UnsafeMutablePointer<Float>, rng: inout Rng) {
        for l in 0..<layers {
            let I = dims[l], O = dims[l + 1]
            let std = (2.0 / Double(I + O)).squareRoot()
            for i in 0..<(I * O) { params[wOff[l] + i] = Float(rng.normal() * std) }
            for o in 0..<O { params[bOff[l] + o] = 0 }
        }
    }

    /// Forward over B ≤ maxBatch rows of input[B, dims[0]]; returns the output [B, dims.last].
    @discardableResult
    public func forward(_ params: UnsafePointer<Float>, _ input: UnsafePointer<Float>, _ B: Int) -> UnsafeMutablePointer<Float> {
        var inp = input
        for l in 0..<layers {
            linearForward(acts[l], inp, params + wOff[l], params + bOff[l], B, dims[l], dims[l + 1])
            if l < layers - 1 { reluForward(acts[l], B * dims[l + 1]) }
            inp = UnsafePointer(acts[l])
        }
        return acts[layers - 1]
    }

    /// Backward after `forward` on the same input: accumulates parameter gradients into `grads` and
    /// returns the gradient w.r.t. the input [B, dims[0]] (nil when `needInput` is false).
    /// `dout` [B, dims.last] is consumed (ReLU masks are applied in place to internal buffers only).
    @discardableResult
    public func backward(_ params: UnsafePointer<Float>, _ grads: UnsafeMutablePointer<Float>, _ input: UnsafePointer<Float>,
                         _ dout: UnsafePointer<Float>, _ B: Int, needInput: Bool = true) -> UnsafeMutablePointer<Float>? {
        var d = dout
        for l in stride(from: layers - 1, through: 0, by: -1) {
            let inp = l == 0 ? input : UnsafePointer(acts[l - 1])
            let dIn: UnsafeMutablePointer<Float>? = (l > 0 || needInput) ? dacts[l] : nil
            linearBackward(dIn, grads + wOff[l], grads + bOff[l], d, inp, params + wOff[l], B, dims[l], dims[l + 1])
            if l > 0 {
                reluBackward(dacts[l], acts[l - 1], B * dims[l])
                d = UnsafePointer(dacts[l])
            }
        }
        return needInput ? dacts[0] : nil
    }
}
