// Shared helpers of the prompt/task/decoding tests: the repository's prompts directory, a tiny tokenizer,
// random tiny catalogues of SIDs, and an exhaustive scorer of every valid SID that does not use SIDTrie.
import AlignRec
import Foundation

/// prompts/ of this checkout (tests run from a fresh clone, so no external path).
func repoPromptsDir() -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("prompts")
}

/// Tiny tokenizer: `<x_N>` is one token 1000 + 256·(x − 'a') + N; any other character is one token
/// 10 + (scalar mod 900). BOS 1, EOS 2.
struct TinyTokenizer: TokenizerProtocol {
    let bosId: Int32 = 1
    let eosId: Int32 = 2
    func encode(_ text: String) throws -> [Int32] {
        var out: [Int32] = []
        let chars = Array(text.unicodeScalars)
        var i = 0
        while i < chars.count {
            if chars[i] == "<", i + 3 < chars.count, let close = chars[i...].firstIndex(of: ">"),
               chars[i + 2] == "_", let n = Int(String(String.UnicodeScalarView(chars[(i + 3)..<close]))) {
                let level = Int32(chars[i + 1].value) - Int32(UnicodeScalar("a").value)
                out.append(1000 + 256 * level + Int32(n))
                i = close + 1
            } else {
                out.append(10 + Int32(chars[i].value % 900))
                i += 1
            }
        }
        return out
    }
}

/// Random distinct SIDs over a small vocabulary: tokens in [base, base + levels·codes). With `variable`,
/// lengths vary in 1...levels and an end token must be used by the trie (prefixes can occur).
func randomSIDs(items: Int, levels: Int, codes: Int, base: Int32, variable: Bool, rng: inout Rng) -> [(item: Int, tokens: [Int32])] {
    var seen = Set<[Int32]>()
    var out: [(item: Int, tokens: [Int32])] = []
    var tries = 0
    while out.count < items && tries < 10_000 {
        tries += 1
        let len = variable ? 1 + rng.int(below: levels) : levels
        let sid = (0..<len).map { l in base + Int32(l * codes + rng.int(below: codes)) }
        if seen.insert(sid).inserted { out.append((out.count + 1, sid)) }
    }
    return out
}

/// Exhaustive constrained scores of every non-excluded item, computed straight from the SID list (no
/// trie): at each prefix the allowed tokens are the next tokens of the remaining items sharing it; the
/// score is Σ (logit/τ − logsumexp over allowed) or, with `fullSoftmax`, Σ log-softmax over the vocabulary.
func exhaustiveScores(sids: [(item: Int, tokens: [Int32])], endToken: Int32?, prompt: [Int32], seed: UInt64,
                      scale: Float, vocab: Int, excluded: Set<Int> = [], temperature: Double = 1,
                      fullSoftmax: Bool = false) -> [(item: Int, score: Double)] {
    let live: [(Int, [Int32])] = sids.filter { !excluded.contains($0.item) }.map { s in
        (s.item, endToken.map { e in s.tokens + [e] } ?? s.tokens)
    }
    var out: [(item: Int, score: Double)] = []
    var logits = [Float](repeating: 0, count: vocab)
    for (item, path) in live {
        var score = 0.0
        for d in 0..<path.count {
            let prefix = Array(path[0..<d])
            let allowed = Set(live.filter { $0.1.count > d && Array($0.1[0..<d]) == prefix }.map { $0.1[d] })
            logits.withUnsafeMutableBufferPointer {
                ReferenceDecoder.hashedLogits(prompt + prefix, seed: seed, scale: scale, into: $0)
            }
            let over: [Int] = fullSoftmax ? Array(0..<vocab) : allowed.map { Int($0) }
            let z = over.map { Double(logits[$0]) / temperature }
            let m = z.max()!
            let lse = m + log(z.reduce(0) { $0 + exp($1 - m) })
            score += Double(logits[Int(path[d])]) / temperature - lse
        }
        out.append((item, score))
    }
    return out.sorted { $0.score != $1.score ? $0.score > $1.score : $0.item < $1.item }
}
