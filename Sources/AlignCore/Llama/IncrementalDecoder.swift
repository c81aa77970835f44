// The contract between the model and every decoding algorithm (greedy/sampled generation, constrained
// beam search, GRPO rollouts). The model owns the KV cache; algorithms only say which row continues which.
//
// Layout: `groups` prompts, each carrying `width` continuation rows (beams or samples), rows ordered
// group-major (row = g * width + j). A prompt's keys/values are computed once and shared by its rows;
// each row keeps only its own continuation suffix, so reordering beams copies a few tokens, not a prompt.

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
}
