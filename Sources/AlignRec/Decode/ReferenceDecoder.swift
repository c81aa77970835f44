// The naive reference for the `IncrementalDecoder` contract: keeps every row's full token sequence and
// recomputes the next-token logits from it with a given function at each call (no KV cache). Used to test
// decoding algorithms against exhaustive enumeration, to check a cached decoder's bookkeeping, and to time
// the search itself with a model of negligible cost (`BeamBench`). It validates the contract (row counts,
// parents within their group, token range) and throws on violations.
import Foundation

/// Full-recompute decoder over a function (token sequence → logits of its last position).
public final class ReferenceDecoder: IncrementalDecoder {
    /// Writes the next-token logits for a full sequence ([bos] + prompt + emitted tokens) into `out` (V floats).
    public typealias LogitsFunction = (_ sequence: [Int32], _ out: UnsafeMutableBufferPointer<Float>) -> Void

    /// Logits row length.
    public let vocabSize: Int
    private let logitsFn: LogitsFunction
    private var sequences: [[Int32]] = []
    private var width = 0
    private var buffer: UnsafeMutableBufferPointer<Float> = .allocate(capacity: 0)
    /// Number of sequences whose logits were computed so far (prefill prompts + stepped rows).
    public private(set) var evaluations = 0

    /// A decoder computing logits with `logits` from each full sequence.
    public init(vocabSize: Int, logits: @escaping LogitsFunction) {
        self.vocabSize = vocabSize
        self.logitsFn = logits
    }

    deinit { buffer.deallocate() }

    /// A toy model whose logits are a hash of the whole sequence: logit[v] uniform in [−scale, scale],
    /// a deterministic function of (seed, sequence, v). Different prefixes give unrelated distributions.
    public static func hashed(vocabSize: Int, seed: UInt64, scale: Float = 3) -> ReferenceDecoder {
        ReferenceDecoder(vocabSize: vocabSize) { seq, out in
            hashedLogits(seq, seed: seed, scale: scale, into: out)
        }
    }

    /// The function behind `hashed` (exposed so tests can enumerate with the same model).
    public static func hashedLogits(_ seq: [Int32], seed: UInt64, scale: Float, into out: UnsafeMutableBufferPointer<Float>) {
        var h = seed ^ 0x243F_6A88_85A3_08D3
        for t in seq { h = mix(h ^ UInt64(UInt32(bitPattern: t))) }
        for v in 0..<out.count {
            let z = mix(h ^ (UInt64(v) &* 0x9E37_79B9_7F4A_7C15))
            out[v] = (Float(z >> 40) * 0x1.0p-24 * 2 - 1) * scale
        }
    }

    @inline(__always) static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    private func ensure(_ n: Int) {
        if buffer.count < n { buffer.deallocate(); buffer = .allocate(capacity: n) }
    }

    /// Stores `width` copies of each prompt; logits of each prompt, [prompts, V].
    public func prefill(_ prompts: [[Int32]], width: Int) throws -> UnsafeBufferPointer<Float> {
        guard width >= 1 else { throw AlignError.invalidArgument("ReferenceDecoder: width must be ≥ 1") }
        guard !prompts.isEmpty else { throw AlignError.invalidArgument("ReferenceDecoder: no prompts") }
        for (i, p) in prompts.enumerated() {
            guard !p.isEmpty else { throw AlignError.invalidArgument("ReferenceDecoder: prompt \(i) is empty") }
            try checkTokens(p)
        }
        self.width = width
        sequences = prompts.flatMap { p in Array(repeating: p, count: width) }
        ensure(prompts.count * vocabSize)
        for (g, p) in prompts.enumerated() {
            logitsFn(p, UnsafeMutableBufferPointer(rebasing: buffer[(g * vocabSize)..<((g + 1) * vocabSize)]))
        }
        evaluations += prompts.count
        return UnsafeBufferPointer(rebasing: buffer[0..<(prompts.count * vocabSize)])
    }

    /// Row r becomes sequence(parents[r]) + tokens[r]; logits of every row, [rows, V].
    public func step(parents: [Int], tokens: [Int32]) throws -> UnsafeBufferPointer<Float> {
        let rows = sequences.count
        guard rows > 0 else { throw AlignError.invalidArgument("ReferenceDecoder: step before prefill") }
        guard parents.count == rows, tokens.count == rows else {
            throw AlignError.invalidArgument("ReferenceDecoder: step got \(parents.count) parents / \(tokens.count) tokens for \(rows) rows")
        }
        try checkTokens(tokens)
        var next: [[Int32]] = []
        next.reserveCapacity(rows)
        for r in 0..<rows {
            let p = parents[r]
            guard p >= 0, p < rows, p / width == r / width else {
                throw AlignError.invalidArgument("ReferenceDecoder: row \(r) has parent \(p) outside its group")
            }
            next.append(sequences[p] + [tokens[r]])
        }
        sequences = next
        ensure(rows * vocabSize)
        for r in 0..<rows {
            logitsFn(sequences[r], UnsafeMutableBufferPointer(rebasing: buffer[(r * vocabSize)..<((r + 1) * vocabSize)]))
        }
        evaluations += rows
        return UnsafeBufferPointer(rebasing: buffer[0..<(rows * vocabSize)])
    }

    /// The current full sequence of a row (for tests).
    public func sequence(row: Int) -> [Int32] { sequences[row] }

    private func checkTokens(_ t: [Int32]) throws {
        if let bad = t.first(where: { $0 < 0 || Int($0) >= vocabSize }) {
            throw AlignError.invalidArgument("ReferenceDecoder: token \(bad) outside vocabulary 0..<\(vocabSize)")
        }
    }
}
