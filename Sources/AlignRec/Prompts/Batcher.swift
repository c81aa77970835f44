// Length-bucketed batches for instruction training: shuffles samples with the run's seed, sorts windows of
// several batches by length so each batch pads little, right-pads to [B, T] Int32 with targets −100 on pads.
// Right padding is exact under causal attention: real tokens never attend to the pads after them.
import Foundation

/// One training batch, row-major [batch, length].
public struct TokenBatch: Sendable, Equatable {
    /// Rows (B).
    public var batch: Int
    /// Columns (T): the longest sample's input length.
    public var length: Int
    /// Input ids, pads = `padId`.
    public var inputs: [Int32]
    /// Target ids, −100 on prompt positions and pads.
    public var targets: [Int32]
    /// Indices of the samples in the rows, in order.
    public var exampleIndices: [Int]
    /// Positions with a target (the loss's token count).
    public var targetCount: Int { targets.reduce(0) { $0 + ($1 == ignoreTarget ? 0 : 1) } }
}

/// Plans and collates length-bucketed batches deterministically for a seed and epoch.
public struct LengthBucketBatcher: Sendable {
    /// Input length of each sample.
    public let lengths: [Int]
    /// Rows per batch (the last batch of an epoch may be smaller).
    public let batchSize: Int
    /// Batches per sorting window: larger → less padding, less randomness.
    public let windowBatches: Int
    /// Seed of the plan (combined with the epoch).
    public let seed: UInt64

    /// Errors on an empty sample list or sizes < 1.
    public init(lengths: [Int], batchSize: Int, windowBatches: Int = 32, seed: UInt64) throws {
        guard batchSize >= 1 else { throw AlignError.invalidArgument("batch size must be ≥ 1 (got \(batchSize))") }
        guard windowBatches >= 1 else { throw AlignError.invalidArgument("window_batches must be ≥ 1 (got \(windowBatches))") }
        guard !lengths.isEmpty else { throw AlignError.invalidArgument("no training samples to batch") }
        self.lengths = lengths; self.batchSize = batchSize; self.windowBatches = windowBatches; self.seed = seed
    }

    /// Sample indices of every batch of an epoch. Same (seed, epoch) → same plan; each sample appears once.
    /// Shuffle all samples; cut into windows of `windowBatches × batchSize`; sort each window by length
    /// (stable, ties by shuffled order); cut windows into batches; shuffle the batch order.
    public func plan(epoch: Int) -> [[Int]] {
        var rng = Rng(seed: seed ^ (UInt64(truncatingIfNeeded: epoch) &* 0x9E37_79B9_7F4A_7C15) ^ 0xB47C_4E5D)
        var order = Array(lengths.indices)
        rng.shuffle(&order)
        var batches: [[Int]] = []
        let window = windowBatches * batchSize
        var start = 0
        while start < order.count {
            let end = min(order.count, start + window)
            let sorted = order[start..<end].enumerated()
                .sorted { (a, b) in
                    let la = lengths[a.element], lb = lengths[b.element]
                    return la != lb ? la < lb : a.offset < b.offset
                }
                .map(\.element)
            var s = 0
            while s < sorted.count {
                batches.append(Array(sorted[s..<min(sorted.count, s + batchSize)]))
                s += batchSize
            }
            start = end
        }
        rng.shuffle(&batches)
        return batches
    }

    /// Right-pads the chosen samples into one batch of length max(inputs.count).
    public static func collate(_ examples: [EncodedExample], indices: [Int], padId: Int32) -> TokenBatch {
        let b = indices.count
        let t = indices.map { examples[$0].inputs.count }.max() ?? 0
        var inputs = [Int32](repeating: padId, count: b * t)
        var targets = [Int32](repeating: ignoreTarget, count: b * t)
        for (row, i) in indices.enumerated() {
            let ex = examples[i]
            for p in 0..<ex.inputs.count {
                inputs[row * t + p] = ex.inputs[p]
                targets[row * t + p] = ex.targets[p]
            }
        }
        return TokenBatch(batch: b, length: t, inputs: inputs, targets: targets, exampleIndices: indices)
    }
}
