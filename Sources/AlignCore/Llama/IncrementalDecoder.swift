// The contract between the model and every decoding algorithm (greedy/sampled generation, constrained
// beam search, GRPO rollouts). The model owns the KV cache; algorithms only say which row continues which.
//
// Layout: `groups` prompts, each carrying `width` continuation rows (beams or samples), rows ordered
// group-major (row = g * width + j). A prompt's keys/values are computed once and shared by its rows;
// each row keeps only its own continuation suffix, so reordering beams copies a few tokens, not a prompt.
//
// Range-restricted logits: a caller that reads only the logits of a contiguous token-id range (constrained
// search renormalising over one SID level's tokens) asks for `logitRange`; a decoder may then compute the
// LM head over those vocabulary rows only. The answer is a `LogitRows` view that covers at least the range.
//
// Live rows: a caller that will never read some rows' logits again (idle beams, finished groups, beams whose
// remaining continuation is forced) passes `live` flags, and a decoder may skip those rows entirely.

/// Next-token logits of `rows` rows for the token ids `tokens` (at least the requested range): the logit of
/// token v in row r is `buffer[r * rowStride + v - tokens.lowerBound]`. The memory is owned by the decoder
/// and valid until its next call.
public struct LogitRows {
    /// [rows, rowStride] floats; column c is token tokens.lowerBound + c.
    public let buffer: UnsafeBufferPointer<Float>
    /// Floats between consecutive rows (≥ tokens.count).
    public let rowStride: Int
    /// Token ids present in every row.
    public let tokens: Range<Int>

    public init(buffer: UnsafeBufferPointer<Float>, rowStride: Int, tokens: Range<Int>) {
        precondition(rowStride >= tokens.count && tokens.lowerBound >= 0)
        self.buffer = buffer; self.rowStride = rowStride; self.tokens = tokens
    }

    /// Full-vocabulary rows [rows, vocabSize] as a view.
    public init(full buffer: UnsafeBufferPointer<Float>, vocabSize: Int) {
        self.init(buffer: buffer, rowStride: vocabSize, tokens: 0..<vocabSize)
    }

    /// Logit of token `token` (in `tokens`) in row `row`.
    @inline(__always) public subscript(row: Int, token: Int) -> Float {
        buffer[row * rowStride + token - tokens.lowerBound]
    }
}

/// Incremental (KV-cached) decoding over a batch of prompts with `width` continuations each.
public protocol IncrementalDecoder: AnyObject {
    /// Vocabulary size (row length of the logits).
    var vocabSize: Int { get }

    /// Starts a new batch: forgets all previous state, runs the prompts (any lengths ≥ 1) and returns the
    /// next-token logits of each prompt's last position, [prompts.count, vocabSize] row-major. The buffer is
    /// owned by the decoder and valid until the next call.
    func prefill(_ prompts: [[Int32]], width: Int) throws -> UnsafeBufferPointer<Float>

    /// Appends one token to every row: row r continues the cache of row `parents[r]` (which must be in the same
    /// group; pass r itself to keep it) and appends `tokens[r]`. Returns the next-token logits of every row,
    /// [groups * width, vocabSize], owned by the decoder and valid until the next call.
    func step(parents: [Int], tokens: [Int32]) throws -> UnsafeBufferPointer<Float>

    /// `prefill` returning only (at least) the logits of token ids `logitRange` (non-empty, within the vocabulary).
    func prefill(_ prompts: [[Int32]], width: Int, logitRange: Range<Int>) throws -> LogitRows

    /// `step` returning only (at least) the logits of token ids `logitRange` (non-empty, within the vocabulary).
    func step(parents: [Int], tokens: [Int32], logitRange: Range<Int>) throws -> LogitRows

    /// `step(parents:tokens:logitRange:)` that need only compute the rows with `live[r]` (nil: all rows). The
    /// logits of the other rows are unspecified, and their caches need not be extended: a row skipped here may
    /// not be a live row's parent in a later step. A decoder may compute every row anyway.
    func step(parents: [Int], tokens: [Int32], logitRange: Range<Int>, live: [Bool]?) throws -> LogitRows
}

extension IncrementalDecoder {
    /// Default: the full-vocabulary prefill, viewed as covering every token.
    public func prefill(_ prompts: [[Int32]], width: Int, logitRange: Range<Int>) throws -> LogitRows {
        try checkLogitRange(logitRange, vocabSize: vocabSize)
        return LogitRows(full: try prefill(prompts, width: width), vocabSize: vocabSize)
    }

    /// Default: the full-vocabulary step, viewed as covering every token.
    public func step(parents: [Int], tokens: [Int32], logitRange: Range<Int>) throws -> LogitRows {
        try checkLogitRange(logitRange, vocabSize: vocabSize)
        return LogitRows(full: try step(parents: parents, tokens: tokens), vocabSize: vocabSize)
    }
}

extension IncrementalDecoder {
    /// Default: every row is computed.
    public func step(parents: [Int], tokens: [Int32], logitRange: Range<Int>, live: [Bool]?) throws -> LogitRows {
        if let live, live.count != parents.count {
            throw AlignError.invalidArgument("step: \(live.count) live flags for \(parents.count) rows")
        }
        return try step(parents: parents, tokens: tokens, logitRange: logitRange)
    }
}

/// Throws unless `range` is a non-empty range of token ids of a `vocabSize` vocabulary.
public func checkLogitRange(_ range: Range<Int>, vocabSize: Int) throws {
    guard !range.isEmpty, range.lowerBound >= 0, range.upperBound <= vocabSize else {
        throw AlignError.invalidArgument("logit range \(range) is empty or outside the vocabulary 0..<\(vocabSize)")
    }
}
