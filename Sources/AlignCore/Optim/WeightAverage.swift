// Exponential moving average of the weights (Polyak averaging): avg ← d·avg + (1−d)·w after every optimiser
// step, with the warm-up d_t = min(decay, (1 + t)/(10 + t)) (t = updates so far) so the average does not
// drag the random initialisation along early on (`warmup: false` uses the full decay from the first update,
// for a run that starts from trained weights, such as DPO/GRPO from an SFT model). Evaluating the averaged
// weights smooths the noise of the last steps of a high-learning-rate run; training always continues on the
// raw weights.
import Foundation

/// avg[n] ← d·avg + (1 − d)·w.
public func emaUpdate(_ avg: UnsafeMutablePointer<Float>, _ w: UnsafePointer<Float>, _ n: Int, decay d: Float) {
    let e = 1 - d
    for i in 0..<n { avg[i] = d * avg[i] + e * w[i] }
}

/// Reference with the same contract (double arithmetic).
public func emaUpdateNaive(_ avg: UnsafeMutablePointer<Float>, _ w: UnsafePointer<Float>, _ n: Int, decay d: Float) {
    for i in 0..<n { avg[i] = Float(Double(d) * Double(avg[i]) + (1 - Double(d)) * Double(w[i])) }
}

/// The moving average of one parameter vector, with a scratch buffer to swap it in and out (allocated once).
public final class WeightAverage {
    /// Configured decay (the ceiling of the warm-up).
    public let decay: Float
    /// Whether the decay warms up as (1 + t)/(10 + t); false = `decay` from the first update.
    public let warmup: Bool
    /// Updates applied so far.
    public private(set) var updates: Int
    /// The averaged weights.
    public let average: UnsafeMutableBufferPointer<Float>
    private let scratch: UnsafeMutableBufferPointer<Float>

    /// Starts at `weights` (fresh run) with no updates, or restores a saved average after `updates` steps.
    public init(decay: Float, weights: UnsafeBufferPointer<Float>, saved: [Float]? = nil, updates: Int = 0,
                warmup: Bool = true) throws {
        guard decay > 0, decay < 1 else { throw AlignError.invalidArgument("moving-average decay must be in (0, 1), got \(decay)") }
        if let saved, saved.count != weights.count {
            throw AlignError.invalidArgument("saved moving average has \(saved.count) values, the model \(weights.count)")
        }
        self.decay = decay
        self.warmup = warmup
        self.updates = updates
        average = .allocate(capacity: weights.count)
        scratch = .allocate(capacity: weights.count)
        if let saved { _ = average.initialize(from: saved) } else { _ = average.initialize(from: weights) }
    }

    deinit { average.deallocate(); scratch.deallocate() }

    /// The decay used by update number `t` (0-based).
    public static func decay(_ base: Float, at t: Int) -> Float { min(base, Float(1 + t) / Float(10 + t)) }

    /// Folds the current weights in.
    public func update(from weights: UnsafePointer<Float>) {
        let d = warmup ? Self.decay(decay, at: updates) : decay
        let io = UncheckedSendable((average.baseAddress!, weights))
        Parallel.chunks(average.count, minPerWorker: 1 << 15) { r in   // element-wise: the same bits on any chunking
            emaUpdate(io.value.0 + r.lowerBound, io.value.1 + r.lowerBound, r.count, decay: d)
        }
        updates += 1
    }

    /// Runs `body` with the averaged weights in `weights` (same count), restoring the raw ones afterwards.
    public func withAverage<T>(in weights: UnsafeMutableBufferPointer<Float>, _ body: () throws -> T) rethrows -> T {
        precondition(weights.count == average.count)
        scratch.baseAddress!.update(from: weights.baseAddress!, count: weights.count)
        weights.baseAddress!.update(from: average.baseAddress!, count: weights.count)
        defer { weights.baseAddress!.update(from: scratch.baseAddress!, count: weights.count) }
        return try body()
    }

    /// A copy of the average (for saving).
    public var snapshot: [Float] { Array(average) }
}
