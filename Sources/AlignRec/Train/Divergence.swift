// The divergence guard of SFT, DPO and GRPO: a non-finite loss or gradient norm stops training before the
// optimiser applies the update, so the weights in memory (and every checkpoint on disk, which are written only
// from finite weights) stay those of the last good step. The stage turns it into one error that names the
// step, the quantity and the last good checkpoint.
import Foundation

/// A training step whose loss or gradient norm is NaN or ±inf.
public struct TrainingDiverged: Error, CustomStringConvertible {
    /// The step that would have been taken (1-based).
    public var step: Int
    /// "loss" or "gradient norm".
    public var quantity: String
    public var value: Double

    public init(step: Int, quantity: String, value: Double) {
        self.step = step; self.quantity = quantity; self.value = value
    }

    /// Throws when `value` is not finite.
    public static func check(_ value: Double, _ quantity: String, step: Int) throws {
        guard value.isFinite else { throw TrainingDiverged(step: step, quantity: quantity, value: value) }
    }

    public var description: String {
        "training diverged at step \(step): the \(quantity) is \(FieldCheck.describe(value)) (the update was not applied)"
    }

    /// The stage's error: what happened, where the last good weights are, and what to change.
    public func error(lastGood: String, lr: Float) -> AlignError {
        .invalidArgument("\(description); last good checkpoint: \(lastGood). Lower optim.lr (now \(FieldCheck.describe(lr))) or raise optim.warmup, then start again")
    }
}
