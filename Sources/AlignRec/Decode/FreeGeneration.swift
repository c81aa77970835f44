// Unconstrained generation over an `IncrementalDecoder`: greedy or temperature sampling over the full
// vocabulary until EOS or a token budget, for responses that are free text (sid2title / sidhist2title
// evaluation, chat). One row per prompt; finished rows idle on EOS. Seeded, no allocation per step.
// An optional token mask limits the choice to a token class: `textMask` keeps a title free text but never lets
// it contain SID, padding or BOS tokens (no catalogue title has them), the analogue of the SID trie for text.
import Foundation

/// Free-text generation (no trie).
public enum FreeGeneration {
    /// Generated tokens per prompt (EOS excluded), stopping at `eosId` or after `maxNewTokens`.
    /// `temperature` 0 = greedy (ties → smallest id); otherwise softmax(logits / temperature) sampling.
    /// `allowed` (one flag per vocabulary id, EOS among them) restricts both to the flagged tokens.
    public static func generate(decoder: IncrementalDecoder, prompts: [[Int32]], maxNewTokens: Int, eosId: Int32,
                                temperature: Float = 0, allowed: [Bool]? = nil, rng: inout Rng) throws -> [[Int32]] {
        guard maxNewTokens >= 1 else { throw AlignError.invalidArgument("max new tokens must be ≥ 1 (got \(maxNewTokens))") }
        guard temperature >= 0, temperature.isFinite else { throw AlignError.invalidArgument("temperature must be ≥ 0 (got \(temperature))") }
        let n = prompts.count
        if n == 0 { return [] }
        let V = decoder.vocabSize
        guard eosId >= 0, Int(eosId) < V else { throw AlignError.invalidArgument("EOS id \(eosId) outside vocabulary 0..<\(V)") }
        if let a = allowed {
            guard a.count == V else { throw AlignError.invalidArgument("token mask has \(a.count) entries, the vocabulary \(V)") }
            guard a[Int(eosId)] else { throw AlignError.invalidArgument("token mask excludes EOS (id \(eosId)): generation could never stop") }
        }
        // Masked-out tokens score -inf (argmax never picks them, sampling gives them weight 0).
        let mask: [Float]? = allowed.map { $0.map { $0 ? 0 : -Float.infinity } }
        var masked = [Float](repeating: 0, count: mask == nil ? 0 : V)
        var out = [[Int32]](repeating: [], count: n)
        for r in 0..<n { out[r].reserveCapacity(maxNewTokens) }
        var done = [Bool](repeating: false, count: n)
        let parents = Array(0..<n)
        var tokens = [Int32](repeating: eosId, count: n)
        var logits = try decoder.prefill(prompts, width: 1)
        for step in 0..<maxNewTokens {
            var open = false
            for r in 0..<n where !done[r] {
                let tok: Int32 = masked.withUnsafeMutableBufferPointer { mb in
                    var row = UnsafeBufferPointer(rebasing: logits[(r * V)..<((r + 1) * V)])
                    if let m = mask {
                        for v in 0..<V { mb[v] = row[v] + m[v] }
                        row = UnsafeBufferPointer(mb)
                    }
                    return temperature == 0 ? argmax(row) : sample(row, temperature: temperature, rng: &rng)
                }
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

    /// Text tokens of `tokenizer` (EOS included; SID, padding, BOS and ids past the tokenizer's vocabulary
    /// excluded) as a mask over a model vocabulary of `vocabSize` ids.
    public static func textMask(_ tokenizer: Tokenizer, vocabSize: Int) -> [Bool] {
        var a = [Bool](repeating: false, count: vocabSize)
        for id in 0..<min(vocabSize, tokenizer.vocabSize) where !tokenizer.isSIDToken(id) { a[id] = true }
        for id in [tokenizer.padId, tokenizer.bosId].compactMap({ $0 }) where id >= 0 && id < vocabSize { a[id] = false }
        if let e = tokenizer.eosId, e >= 0, e < vocabSize { a[e] = true }
        return a
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
