// BERT forward pass (post-LayerNorm encoder) and sentence embedding: mean pooling over real tokens and L2
// normalisation, as sentence-transformers' all-MiniLM-L6-v2 does. Activation buffers are planned once
// for `maxBatch` × `maxLength`; a batch is padded to its own longest sequence and carries its lengths as
// the attention mask. All matrix products go through sgemm; attention is parallel over (batch, head).
import Foundation

/// A reusable BERT forward workspace over a shared `BertModel`. Not thread-safe (one batch at a time).
public final class BertEncoder {
    /// The weights this workspace runs.
    public let model: BertModel
    /// Largest batch and sequence length the buffers hold.
    public let maxBatch: Int, maxLength: Int
    let x, qkv, ctx, tmp, ff, scratch: UnsafeMutableBufferPointer<Float>
    let lengths: UnsafeMutableBufferPointer<Int32>

    /// Plans buffers for batches of up to `maxBatch` sequences of up to `maxLength` tokens
    /// (≤ max_position_embeddings).
    public init(model: BertModel, maxBatch: Int = 64, maxLength: Int = 256) throws {
        guard maxBatch >= 1 else { throw AlignError.invalidArgument("batch size must be ≥ 1, got \(maxBatch)") }
        guard maxLength >= 2, maxLength <= model.config.maxPositionEmbeddings else {
            throw AlignError.invalidArgument("max length must be in 2...\(model.config.maxPositionEmbeddings), got \(maxLength)")
        }
        self.model = model
        self.maxBatch = maxBatch
        self.maxLength = maxLength
        let rows = maxBatch * maxLength, c = model.config.hiddenSize
        func buf(_ n: Int) -> UnsafeMutableBufferPointer<Float> {
            let b = UnsafeMutableBufferPointer<Float>.allocate(capacity: n); b.initialize(repeating: 0); return b
        }
        x = buf(rows * c); qkv = buf(rows * 3 * c); ctx = buf(rows * c); tmp = buf(rows * c)
        ff = buf(rows * model.config.intermediateSize)
        scratch = buf(attentionScratchCount(maxLength: maxLength))
        lengths = .allocate(capacity: maxBatch); lengths.initialize(repeating: 0)
    }

    /// Convenience: loads the model from an encoder directory and plans buffers.
    public convenience init(directory: URL, maxBatch: Int = 64, maxLength: Int = 256) throws {
        try self.init(model: BertModel(directory: directory), maxBatch: maxBatch, maxLength: maxLength)
    }

    deinit {
        for b in [x, qkv, ctx, tmp, ff, scratch] { b.deallocate() }
        lengths.deallocate()
    }

    /// Embedding width.
    public var dim: Int { model.config.hiddenSize }

    /// Encodes up to `maxBatch` token-id sequences (each 1...maxLength ids < vocab_size, e.g. from
    /// `model.tokenizer.encode`) and writes their normalised sentence embeddings to out[count, dim].
    public func forward(_ batch: [[Int32]], into out: UnsafeMutablePointer<Float>) {
        let cfg = model.config
        let b = batch.count
        precondition(b >= 1 && b <= maxBatch, "batch of \(b) outside 1...\(maxBatch)")
        var t = 0
        for (i, seq) in batch.enumerated() {
            precondition(!seq.isEmpty && seq.count <= maxLength, "sequence length \(seq.count) outside 1...\(maxLength)")
            lengths[i] = Int32(seq.count)
            t = max(t, seq.count)
        }
        let c = cfg.hiddenSize, inter = cfg.intermediateSize, rows = b * t
        let xp = x.baseAddress!, qp = qkv.baseAddress!, cp = ctx.baseAddress!, tp = tmp.baseAddress!, fp = ff.baseAddress!
        // Embeddings: word + position + token type 0, then LayerNorm; padded rows are zero.
        let word = model.p(model.wordEmb), pos = model.p(model.posEmb), type0 = model.p(model.typeEmb)
        for (bi, seq) in batch.enumerated() {
            for i in 0..<t {
                let row = xp + (bi * t + i) * c
                if i >= seq.count { row.update(repeating: 0, count: c); continue }
                let id = Int(seq[i])
                precondition(id >= 0 && id < cfg.vocabSize, "token id \(id) outside the vocabulary")
                let w = word + id * c, pr = pos + i * c
                for d in 0..<c { row[d] = w[d] + pr[d] + type0[d] }
            }
        }
        layerNormForward(xp, xp, nil, model.p(model.embLnW), model.p(model.embLnB), rows: rows, dim: c, eps: cfg.layerNormEps)
        for l in model.layers {
            linearForward(qp, xp, model.p(l.qkvW), model.p(l.qkvB), rows: rows, inDim: c, outDim: 3 * c)
            attentionForward(cp, qp, lengths.baseAddress!, scratch.baseAddress!,
                             batch: b, length: t, heads: cfg.numAttentionHeads, headSize: cfg.headSize)
            linearForward(tp, cp, model.p(l.attnOutW), model.p(l.attnOutB), rows: rows, inDim: c, outDim: c)
            layerNormForward(xp, tp, xp, model.p(l.ln1W), model.p(l.ln1B), rows: rows, dim: c, eps: cfg.layerNormEps)
            linearForward(fp, xp, model.p(l.fc1W), model.p(l.fc1B), rows: rows, inDim: c, outDim: inter)
            geluForward(fp, count: rows * inter)
            linearForward(tp, fp, model.p(l.fc2W), model.p(l.fc2B), rows: rows, inDim: inter, outDim: c)
            layerNormForward(xp, tp, xp, model.p(l.ln2W), model.p(l.ln2B), rows: rows, dim: c, eps: cfg.layerNormEps)
        }
        meanPoolNormalizeForward(out, xp, lengths.baseAddress!, batch: b, length: t, dim: c)
    }

    /// Embeds already-tokenized sequences: sorts them by length, runs batches of up to `maxBatch`, and
    /// returns the vectors in input order as a flat [count, dim] array. `progress(n)` is called after each
    /// batch with the number of sequences it held.
    public func embed(tokenized: [[Int32]], progress: ((Int) -> Void)? = nil) -> [Float] {
        let n = tokenized.count, c = dim
        var out = [Float](repeating: 0, count: n * c)
        let order = (0..<n).sorted { (tokenized[$0].count, $0) < (tokenized[$1].count, $1) }
        let batchOut = UnsafeMutableBufferPointer<Float>.allocate(capacity: maxBatch * c)
        defer { batchOut.deallocate() }
        var start = 0
        while start < n {
            let idx = Array(order[start..<min(n, start + maxBatch)])
            forward(idx.map { tokenized[$0] }, into: batchOut.baseAddress!)
            out.withUnsafeMutableBufferPointer { o in
                for (k, i) in idx.enumerated() {
                    (o.baseAddress! + i * c).update(from: batchOut.baseAddress! + k * c, count: c)
                }
            }
            progress?(idx.count)
            start += idx.count
        }
        return out
    }

    /// Tokenizes (truncating at `maxLength` tokens) and embeds texts; flat [count, dim], input order.
    public func embed(texts: [String], progress: ((Int) -> Void)? = nil) -> [Float] {
        embed(tokenized: model.tokenizer.encodeAll(texts, maxLength: maxLength), progress: progress)
    }
}

extension WordPieceTokenizer {
    /// Encodes many texts in parallel (same result as `encode` on each).
    public func encodeAll(_ texts: [String], maxLength: Int = 256) -> [[Int32]] {
        var out = [[Int32]](repeating: [], count: texts.count)
        out.withUnsafeMutableBufferPointer { o in
            let op = UncheckedSendable(o.baseAddress!)
            texts.withUnsafeBufferPointer { tb in
                let tp = UncheckedSendable(tb.baseAddress!)
                Parallel.chunks(texts.count, minPerWorker: 64) { range in
                    for i in range { (op.value + i).pointee = self.encode(tp.value[i], maxLength: maxLength) }
                }
            }
        }
        return out
    }
}
