// Unconstrained generation over an `IncrementalDecoder`: greedy or temperature sampling over the full
// vocabulary until EOS or a token budget, for responses that are free text (sid2title / sidhist2title
// evaluation, chat). One row per prompt; finished rows idle on EOS. Seeded, no allocation per step.
import Foundation

/// Free-text generation (no trie).
public enum FreeGeneration {
    /// Generated tokens per prompt (EOS excluded), stopping at `eosId` or after `maxNewTokens`.
    /// `temperature` 0 = greedy (ties → smallest id); otherwise softmax(logits / temperature) sampling.
    public static func generate(decoder: IncrementalDecoder, prompts: [[Int32]], maxNewTokens: Int, eosId: Int32,
                                temperature: Float = 0, rng: inout Rng) throws -> [[Int32]] {
        guard maxNewTokens >= 1 else { throw AlignError.invalidArgument("max new tokens must be ≥ 1 (got \(maxNewTokens))") }
        guard temperature >= 0, temperature.isFinite else { throw AlignError.invalidArgument("temperature must be ≥ 0 (got \(temperature))") }
        let n = prompts.count
        if n == 0 { return [] }
        let V = decoder.vocabSize
        guard eosId >= 0, Int(eosId) < V else { throw AlignError.invalidArgument("EOS id \(eosId) outside vocabulary 0..<\(V)") }
        var out = [[Int32]](repeating: [], count: n)
        for r in 0..<n { out[r].reserveCapacity(maxNewTokens) }
        var done = [Bool](repeating: false, count: n)
        let parents = Array(0..<n)
        var tokens = [Int32](repeating: eosId, count: n)
        var logits = try decoder.prefill(prompts, width: 1)
        for step in 0..<maxNewTokens {
            var open = false
            for r in 0..<n where !done[r] {
                let row = UnsafeBufferPointer(rebasing: logits[(r * V)..<((r + 1) * V)])
                let tok = temperature == 0 ? argmax(row) : sample(row, temperature: temperature, rng: &rng)
                if tok == eosId {
                    done[r] = true; tokens[r] = eosId
                } else {
                    out[r].append(tok); tokens[r] = tok; open = true
                }
            }
            if !open || step == maxNewTokens - 1 { break }
            logits = try decoder.step(parents: parents, tokens: tokens)
        }
        return out
    }

    /// Index of the largest logit (first on ties).
    @inline(__always)
    static func argmax(_ row: UnsafeBufferPointer<Float>) -> Int32 {
        var best = 0
        for v in 1..<row.count where row[v] > row[best] { best = v }
        return Int32(best)
    }

    /// Inverse-CDF draw from softmax(row / temperature).
    @inline(__always)
    static func sample(_ row: UnsafeBufferPointer<Float>, temperature: Float, rng: inout Rng) -> Int32 {
        let inv = 1 / temperature
        var m = -Float.infinity
        for v in 0..<row.count { m = max(m, row[v] * inv) }
        var sum: Float = 0
        for v in 0..<row.count { sum += expf(row[v] * inv - m) }
        let u = rng.uniformFloat() * sum
        var acc: Float = 0
        for v in 0..<row.count {
            acc += expf(row[v] * inv - m)
            if u < acc { return Int32(v) }
        }
        return Int32(row.count - 1)
    }
}
