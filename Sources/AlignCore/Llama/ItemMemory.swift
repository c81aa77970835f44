// Item memory: per-item parameters beside a LLaMA decoder over Semantic-ID tokens, so that every item has
// capacity of its own while SIDs stay the model's input and generated output.
//
// - Input: the residual R[i] of a warm item i is added to the embedding of the token that completes i's SID
//   (ItemTable's scan), wherever the SID occurs: history, prompt or generated text.
// - Output: the item-scoring head scores the whole catalogue at a position trained to emit an item's first SID
//   token: logit_i = h · V_i, with h the final-norm hidden state and V_i = Σ_l lm_head[sid_l(i)] + R[i].
// - Cold items (no training interactions) keep R = 0: they are still embedded and scored through their SID codes.
// - Untied (`item_memory.untied`): the input adds a separate residual U[i] instead of R[i], so the head's
//   full-catalogue softmax, which moves every R at every step, does not move what the input adds
//   (docs/results.md §10.4, i8); U is `item_memory.input` F32 [N, C] in the file.
//
// The residuals live after the LLaMA tensors in the same flat parameter buffer (LlamaLayout.itemMemory), so the
// optimiser, clipping, moving average and data-parallel reduction cover them unchanged. On disk they are align's
// own file beside the Hugging Face weights: `item_memory.safetensors` with `item_memory.residual` F32 [N, C],
// `item_memory.sid_tokens` I32 [N, L] and `item_memory.warm` I32 [N] (1 = warm); `model.safetensors` keeps exactly
// the LLaMA tensors, so transformers loads the checkpoint as the SID-only model (without the residuals and head).
import Foundation

/// How much of the item head's gradient reaches the transformer's hidden states in training. The head's
/// full-catalogue softmax has far larger gradients than the token loss; at `full` they dominate the shared weights'
/// updates and the token tasks that need the trunk (sid2title) do not train; at `none` the head learns only its item
/// vectors on features trained by the token loss and ranks poorly (docs/results.md §10.5).
public enum ItemHeadTrunkGradient: String, Codable, Sendable, CaseIterable {
    /// The head's gradient as it is.
    case full
    /// Per sample, scaled down to at most the norm of that sample's token-loss gradient at the same hidden states.
    case balanced
    /// None: the trunk learns from the token loss alone.
    case none
}

/// Reads and writes the item-memory file of a checkpoint.
public enum ItemMemoryFile {
    public static let fileName = "item_memory.safetensors"
    public static let formatName = "align-item-memory"

    /// The tensors of `params`' item memory and its table.
    public static func tensors(params: LlamaParameters, items: ItemTable) throws -> [SafetensorsTensor] {
        guard let t = params.layout.itemMemory, items.count == params.items else {
            throw AlignError.invalidArgument("item memory: the parameters hold \(params.items) item rows, the table \(items.count)")
        }
        var out = [SafetensorsTensor(name: t.name, shape: t.shape, floats: Array(params.data[t.range])),
                   SafetensorsTensor(name: "item_memory.sid_tokens", shape: [items.count, items.levels], ints: items.codes),
                   SafetensorsTensor(name: "item_memory.warm", shape: [items.count], ints: items.warm.map { $0 ? 1 : 0 })]
        if let u = params.layout.itemInput { out.append(SafetensorsTensor(name: u.name, shape: u.shape, floats: Array(params.data[u.range]))) }
        return out
    }

    /// Writes the file (atomically).
    public static func write(params: LlamaParameters, items: ItemTable, to url: URL) throws {
        try AtomicFile.write(SafetensorsWriter.encode(tensors(params: params, items: items),
                                                      metadata: ["format": formatName, "version": "1", "carry": items.carry ? "1" : "0"]), to: url)
    }

    /// Reads the file: the table (checked against `vocabSize`), the residuals [N, C], C = `hiddenSize`, and the
    /// separate input residuals [N, C] of an untied item memory (nil when tied).
    public static func read(_ url: URL, vocabSize: Int, hiddenSize: Int) throws -> (items: ItemTable, residual: [Float], input: [Float]?) {
        let f = try SafetensorsFile(url: url)
        guard f.metadata["format"] == formatName else {
            throw AlignError.format(path: url.path, line: nil, message: "not an align item-memory file (metadata format '\(f.metadata["format"] ?? "")')")
        }
        let sidEntry = try f.entry("item_memory.sid_tokens"), resEntry = try f.entry("item_memory.residual")
        guard sidEntry.shape.count == 2, sidEntry.shape[0] >= 1, sidEntry.shape[1] >= 1 else {
            throw AlignError.tensor(path: url.path, name: "item_memory.sid_tokens", message: "shape \(sidEntry.shape), expected [items, levels]")
        }
        let n = sidEntry.shape[0], L = sidEntry.shape[1]
        guard resEntry.shape == [n, hiddenSize] else {
            throw AlignError.tensor(path: url.path, name: "item_memory.residual", message: "shape \(resEntry.shape), expected [\(n), \(hiddenSize)]")
        }
        let codes = try f.int32s("item_memory.sid_tokens")
        let warm = try f.int32s("item_memory.warm")
        guard warm.count == n, warm.allSatisfy({ $0 == 0 || $0 == 1 }) else {
            throw AlignError.tensor(path: url.path, name: "item_memory.warm", message: "expected \(n) values of 0 or 1")
        }
        func rows(_ name: String) throws -> [Float] {
            let v = try f.floats(name)
            for (i, x) in v.enumerated() where !x.isFinite {
                throw AlignError.tensor(path: url.path, name: name, message: "non-finite value at item \(i / hiddenSize + 1)")
            }
            return v
        }
        let residual = try rows("item_memory.residual")
        var input: [Float]? = nil
        if f.contains("item_memory.input") {
            let e = try f.entry("item_memory.input")
            guard e.shape == [n, hiddenSize] else {
                throw AlignError.tensor(path: url.path, name: "item_memory.input", message: "shape \(e.shape), expected [\(n), \(hiddenSize)]")
            }
            input = try rows("item_memory.input")
        }
        let sids = (0..<n).map { Array(codes[($0 * L)..<(($0 + 1) * L)]) }
        let items: ItemTable
        guard [nil, "0", "1"].contains(f.metadata["carry"]) else {
            throw AlignError.format(path: url.path, line: nil, message: "metadata carry is '\(f.metadata["carry"]!)', expected 0 or 1")
        }
        do { items = try ItemTable(sids: sids, vocabSize: vocabSize, warm: warm.map { $0 == 1 }, carry: f.metadata["carry"] == "1") } catch {
            throw AlignError.format(path: url.path, line: nil, message: "\(error)")
        }
        return (items, residual, input)
    }

    /// `params` (a plain LLaMA) with an item memory holding `residual` ([items, C]) appended, and the separate input
    /// residuals `input` ([items, C]) after it when given (untied).
    public static func attach(_ residual: [Float], input: [Float]? = nil, items: Int, to params: LlamaParameters) throws -> LlamaParameters {
        let p = LlamaParameters(config: params.config, items: items, itemInput: input != nil)
        for v in [residual, input ?? residual] where v.count != items * params.config.hiddenSize {
            throw AlignError.invalidArgument("item memory: \(v.count) values for \(items) items of \(params.config.hiddenSize)")
        }
        p.data.baseAddress!.update(from: params.data.baseAddress!, count: params.layout.llamaCount)
        let off = p.layout.itemMemory!.offset
        for i in 0..<residual.count { p.data[off + i] = residual[i] }
        if let input, let u = p.layout.itemInput { for i in 0..<input.count { p.data[u.offset + i] = input[i] } }
        return p
    }

    /// Seeded initialisation of the residuals (and of the separate input residuals, from their own stream): warm rows
    /// N(0, std²), cold rows 0.
    public static func initialise(_ params: LlamaParameters, items: ItemTable, seed: UInt64, std: Float) {
        let C = params.config.hiddenSize
        for (t, salt) in [(params.layout.itemMemory, UInt64(0x17E3_3E30_11E3)), (params.layout.itemInput, 0x0123_17E3_1A9B)] {
            guard let t else { continue }
            var rng = Rng(seed: mix64(seed ^ salt))
            for i in 0..<items.count {
                for j in 0..<C {
                    let v = Float(rng.normal()) * std
                    params.data[t.offset + i * C + j] = items.warm[i] ? v : 0
                }
            }
        }
    }
}

/// Scores the whole catalogue with the item head: out[r, i] = h_r · V_i. V is built once from the weights.
public final class ItemScorer: @unchecked Sendable {
    public let items: ItemTable
    public let hiddenSize: Int
    /// V [N, C].
    let vectors: UnsafeMutableBufferPointer<Float>

    public init(params: LlamaParameters, items: ItemTable) throws {
        guard let t = params.layout.itemMemory, items.count == params.items else {
            throw AlignError.invalidArgument("item scorer: the model has no item memory for \(items.count) items")
        }
        self.items = items
        hiddenSize = params.config.hiddenSize
        vectors = .allocate(capacity: items.count * hiddenSize)
        items.codes.withUnsafeBufferPointer { codes in
            itemVectorsForward(vectors.baseAddress!, params.data.baseAddress! + params.layout.lmHead, params.data.baseAddress! + t.offset,
                               codes.baseAddress!, items.count, items.levels, hiddenSize)
        }
    }

    deinit { vectors.deallocate() }

    /// out[rows, N] = hidden[rows, C] · Vᵀ.
    public func logits(hidden: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>) {
        sgemm(false, true, rows, items.count, hiddenSize, 1, hidden, hiddenSize, vectors.baseAddress!, hiddenSize, 0, out, items.count)
    }

    /// Log-softmax over the catalogue of each row's logits, [rows, N].
    public func logProbs(hidden: UnsafePointer<Float>, rows: Int) -> [Float] {
        let n = items.count
        var out = [Float](repeating: 0, count: rows * n)
        out.withUnsafeMutableBufferPointer { o in
            logits(hidden: hidden, rows: rows, into: o.baseAddress!)
            for r in 0..<rows {
                let row = o.baseAddress! + r * n
                var m = -Float.infinity
                for i in 0..<n { m = max(m, row[i]) }
                var s: Float = 0
                for i in 0..<n { s += expf(row[i] - m) }
                let lse = m + logf(s)
                for i in 0..<n { row[i] -= lse }
            }
        }
        return out
    }
}
