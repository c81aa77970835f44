// Token selection from next-token logits: greedy, and temperature → top-k → top-p sampling (the order
// Hugging Face applies them) with an explicit seeded Rng; plus `generate`, the simple loop over any
// IncrementalDecoder. Scratch buffers are sized once per vocabulary, so sampling in a loop does not allocate.
import Foundation

/// How the next token is chosen.
public enum SamplingMode: Sendable, Equatable {
    /// Highest logit (ties → lowest id).
    case greedy
    /// Softmax(logits / temperature), restricted to the topK best tokens (0 = all) and then to the smallest
    /// set whose probability reaches topP (1 = all).
    case sample(temperature: Float, topK: Int, topP: Float)
}

/// Picks tokens from logits rows; owns its scratch (one per vocabulary size, not shared across threads).
public final class TokenSampler {
    public let mode: SamplingMode
    public let vocabSize: Int
    let idx: UnsafeMutableBufferPointer<Int32>
    let prob: UnsafeMutableBufferPointer<Float>

    public init(mode: SamplingMode, vocabSize: Int) throws {
        if case let .sample(t, k, p) = mode {
            guard t > 0, t.isFinite else { throw AlignError.invalidArgument("temperature must be > 0 (got \(t)); use greedy instead") }
            guard k >= 0 else { throw AlignError.invalidArgument("top-k must be ≥ 0 (got \(k))") }
            guard p > 0, p <= 1 else { throw AlignError.invalidArgument("top-p must be in (0, 1] (got \(p))") }
        }
        guard vocabSize > 0 else { throw AlignError.invalidArgument("vocabulary size must be positive") }
        self.mode = mode; self.vocabSize = vocabSize
        idx = .allocate(capacity: vocabSize); idx.initialize(repeating: 0)
        prob = .allocate(capacity: vocabSize); prob.initialize(repeating: 0)
    }

    deinit { idx.deallocate(); prob.deallocate() }

    /// Index of the largest logit in a row.
    public static func argmax(_ row: UnsafeBufferPointer<Float>) -> Int32 {
        var best = 0
        for i in 1..<row.count where row[i] > row[best] { best = i }
        return Int32(best)
    }

    /// Chooses one token from `row` (vocabSize logits).
    public func sample(_ row: UnsafeBufferPointer<Float>, rng: inout Rng) -> Int32 {
        precondition(row.count == vocabSize)
        guard case let .sample(temperature, topK, topP) = mode else { return Self.argmax(row) }
        let V = vocabSize
        var m = -Float.infinity
        for i in 0..<V { m = max(m, row[i]) }
        var sum: Float = 0
        for i in 0..<V { let e = expf((row[i] - m) / temperature); prob[i] = e; sum += e; idx[i] = Int32(i) }
        var n = V
        if (topK > 0 && topK < V) || topP < 1 {
            // Candidates by descending probability (ties by id, so the order is deterministic).
            let p = prob
            var order = idx
            order.sort { (a: Int32, b: Int32) -> Bool in
                let pa = p[Int(a)], pb = p[Int(b)]
                return pa != pb ? pa > pb : a < b
            }
            if topK > 0 { n = min(n, topK) }
            var kept: Float = 0
            for i in 0..<n { kept += prob[Int(idx[i])] }
            if topP < 1 {
                var cum: Float = 0
                for i in 0..<n {
                    cum += prob[Int(idx[i])] / kept
                    if cum >= topP { n = i + 1; break }
                }
            }
        }
        var total: Float = 0
        for i in 0..<n { total += prob[Int(idx[i])] }
        var u = Float(rng.uniform()) * total
        for i in 0..<n {
            u -= prob[Int(idx[i])]
            if u < 0 { return idx[i] }
        }
        return idx[n - 1]
    }
}

/// Decodes up to `maxNewTokens` tokens after `prompt` with one row (width 1). Stops after emitting `eos`
/// (which is included in the result) when given.
public func generate(_ decoder: IncrementalDecoder, prompt: [Int32], maxNewTokens: Int, sampler: TokenSampler,
                     rng: inout Rng, eos: Int32? = nil) throws -> [Int32] {
    guard maxNewTokens > 0 else { return [] }
    var logits = try decoder.prefill([prompt], width: 1)
    var out: [Int32] = []
    out.reserveCapacity(maxNewTokens)
    while true {
        let t = sampler.sample(logits, rng: &rng)
        out.append(t)
        if out.count == maxNewTokens || t == eos { break }
        logits = try decoder.step(parents: [0], tokens: [t])
    }
    return out
}
