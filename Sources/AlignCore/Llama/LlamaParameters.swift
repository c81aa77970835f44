// Every weight of a LLaMA decoder in ONE flat Float buffer, in a fixed order computed from LlamaConfig,
// with a table of Hugging Face tensor names, shapes and offsets. Per layer the order is input_layernorm,
// q, k, v, o, post_attention_layernorm, gate, up, down — so q|k|v and gate|up are contiguous and each
// pair/triple is one fused [rows, in] matrix for a single sgemm. Loads/exports HF safetensors, seeded
// init, AdamW groups, and vocabulary growth for new (SID) tokens.
import Foundation

/// One tensor of the flat parameter buffer.
public struct LlamaTensorInfo: Sendable, Equatable {
    /// Hugging Face name, e.g. `model.layers.0.self_attn.q_proj.weight`.
    public let name: String
    /// HF shape ([out, in] for projections).
    public let shape: [Int]
    /// Offset in floats inside the flat buffer.
    public let offset: Int
    /// Whether AdamW decays it (matrices yes, norm vectors no).
    public let decay: Bool
    public var count: Int { shape.reduce(1, *) }
    public var range: Range<Int> { offset..<(offset + count) }
}

/// Offsets of one layer's tensors inside the flat buffer.
public struct LlamaLayerOffsets: Sendable {
    /// input_layernorm [C]
    public let ln1: Int
    /// q_proj|k_proj|v_proj, fused [(H+2KV)·hd, C]
    public let qkv: Int
    /// o_proj [C, H·hd]
    public let o: Int
    /// post_attention_layernorm [C]
    public let ln2: Int
    /// gate_proj|up_proj, fused [2F, C]
    public let gateUp: Int
    /// down_proj [C, F]
    public let down: Int
    /// q_proj|k_proj|v_proj biases, fused [(H+2KV)·hd] (Qwen2); nil without attention biases.
    public var qkvBias: Int? = nil
}

/// The parameter layout of a config (no storage): tensor table plus fast offsets.
public struct LlamaLayout: Sendable {
    public let config: LlamaConfig
    public let tensors: [LlamaTensorInfo]
    public let layers: [LlamaLayerOffsets]
    /// model.embed_tokens.weight [V, C]
    public let embed: Int
    /// model.norm.weight [C]
    public let finalNorm: Int
    /// lm_head.weight [V, C] (equals `embed` when tied)
    public let lmHead: Int
    /// Total float count (the LLaMA tensors, then the item memory when there is one).
    public let count: Int
    /// Items with a per-item vector (0: no item memory).
    public let items: Int
    /// `item_memory.residual` [items, C]: align's per-item vectors after the LLaMA tensors (not part of the
    /// Hugging Face checkpoint; see ItemMemory.swift). nil without item memory.
    public let itemMemory: LlamaTensorInfo?
    /// `item_memory.input` [items, C]: separate input residuals (`item_memory.untied`), after `itemMemory`; nil when
    /// the input adds `itemMemory`'s rows (the default) or without item memory.
    public let itemInput: LlamaTensorInfo?

    /// The layout of `c`, with an item memory of `items` rows after the LLaMA tensors when `items` > 0, and separate
    /// input residuals after it when `itemInput`.
    public init(_ c: LlamaConfig, items: Int = 0, itemInput: Bool = false) {
        config = c
        var t: [LlamaTensorInfo] = []
        var off = 0
        func add(_ name: String, _ shape: [Int], _ decay: Bool) -> Int {
            let info = LlamaTensorInfo(name: name, shape: shape, offset: off, decay: decay)
            t.append(info); off += info.count
            return info.offset
        }
        let C = c.hiddenSize, hd = c.headDim, H = c.numAttentionHeads, KV = c.numKeyValueHeads, F = c.intermediateSize
        embed = add("model.embed_tokens.weight", [c.vocabSize, C], true)
        var ls: [LlamaLayerOffsets] = []
        for i in 0..<c.numHiddenLayers {
            let p = "model.layers.\(i)."
            let ln1 = add(p + "input_layernorm.weight", [C], false)
            let q = add(p + "self_attn.q_proj.weight", [H * hd, C], true)
            _ = add(p + "self_attn.k_proj.weight", [KV * hd, C], true)
            _ = add(p + "self_attn.v_proj.weight", [KV * hd, C], true)
            var qkvBias: Int? = nil
            if c.attentionBias {
                qkvBias = add(p + "self_attn.q_proj.bias", [H * hd], false)
                _ = add(p + "self_attn.k_proj.bias", [KV * hd], false)
                _ = add(p + "self_attn.v_proj.bias", [KV * hd], false)
            }
            let o = add(p + "self_attn.o_proj.weight", [C, H * hd], true)
            let ln2 = add(p + "post_attention_layernorm.weight", [C], false)
            let gate = add(p + "mlp.gate_proj.weight", [F, C], true)
            _ = add(p + "mlp.up_proj.weight", [F, C], true)
            let down = add(p + "mlp.down_proj.weight", [C, F], true)
            ls.append(LlamaLayerOffsets(ln1: ln1, qkv: q, o: o, ln2: ln2, gateUp: gate, down: down, qkvBias: qkvBias))
        }
        layers = ls
        finalNorm = add("model.norm.weight", [C], false)
        lmHead = c.tieWordEmbeddings ? embed : add("lm_head.weight", [c.vocabSize, C], true)
        tensors = t
        self.items = max(0, items)
        itemMemory = items > 0 ? LlamaTensorInfo(name: "item_memory.residual", shape: [items, C], offset: off, decay: true) : nil
        let inputOffset = off + (itemMemory?.count ?? 0)
        self.itemInput = items > 0 && itemInput
            ? LlamaTensorInfo(name: "item_memory.input", shape: [items, C], offset: inputOffset, decay: true) : nil
        count = inputOffset + (self.itemInput?.count ?? 0)
    }

    /// Offset of the residuals the input adds: `item_memory.input` when untied, else the head's `item_memory.residual`.
    public var inputResidual: Int? { itemInput?.offset ?? itemMemory?.offset }

    /// Floats of the LLaMA tensors alone (the Hugging Face part).
    public var llamaCount: Int { itemMemory?.offset ?? count }

    /// AdamW groups: maximal contiguous runs of decayed / non-decayed tensors.
    public var paramGroups: [ParamGroup] {
        var g: [ParamGroup] = []
        for t in tensors + [itemMemory, itemInput].compactMap({ $0 }) {
            if let last = g.last, last.decay == t.decay, last.range.upperBound == t.offset {
                g[g.count - 1] = ParamGroup(range: last.range.lowerBound..<t.range.upperBound, decay: t.decay)
            } else {
                g.append(ParamGroup(range: t.range, decay: t.decay))
            }
        }
        return g
    }
}

/// Owns the flat parameter buffer of a LLaMA decoder.
public final class LlamaParameters: @unchecked Sendable {
    public let layout: LlamaLayout
    public var config: LlamaConfig { layout.config }
    /// All weights, `layout.count` floats.
    public let data: UnsafeMutableBufferPointer<Float>
    public var count: Int { layout.count }

    /// Zero-filled parameters (with an item memory of `items` rows when `items` > 0, and separate input residuals
    /// when `itemInput`).
    public init(config: LlamaConfig, items: Int = 0, itemInput: Bool = false) {
        layout = LlamaLayout(config, items: items, itemInput: itemInput)
        data = .allocate(capacity: layout.count)
        data.initialize(repeating: 0)
    }

    /// Seeded initialisation as transformers does it: matrices N(0, 0.02), norm weights 1.
    public convenience init(config: LlamaConfig, seed: UInt64, std: Float = 0.02) {
        self.init(config: config)
        var rng = Rng(seed: seed)
        for t in layout.tensors {
            if t.name.hasSuffix(".bias") {
                continue   // biases start at zero
            } else if t.decay {
                for i in t.range { data[i] = Float(rng.normal()) * std }
            } else {
                for i in t.range { data[i] = 1 }
            }
        }
    }

    deinit { data.deallocate() }

    /// Items of the item memory (0: none).
    public var items: Int { layout.items }

    /// An independent copy (e.g. the frozen reference model of DPO).
    public func copy() -> LlamaParameters {
        let p = LlamaParameters(config: config, items: items, itemInput: layout.itemInput != nil)
        p.data.baseAddress!.update(from: data.baseAddress!, count: count)
        return p
    }

    /// Overwrites these weights with `other`'s (same config).
    public func assign(from other: LlamaParameters) throws {
        guard other.config == config, other.items == items, (other.layout.itemInput == nil) == (layout.itemInput == nil) else {
            throw AlignError.invalidArgument("cannot copy weights between different LLaMA configs or item memories")
        }
        data.baseAddress!.update(from: other.data.baseAddress!, count: count)
    }

    /// Pointer to the tensor at `offset`.
    @inline(__always) public func ptr(_ offset: Int) -> UnsafeMutablePointer<Float> { data.baseAddress! + offset }

    /// The tensor called `name` (HF name) as an array, or nil when the layout has no such tensor.
    public func tensor(_ name: String) -> [Float]? {
        guard let t = layout.tensors.first(where: { $0.name == name }) else { return nil }
        return Array(data[t.range])
    }

    /// Loads from one safetensors file: every expected tensor present with its exact shape, no unknown
    /// tensors (a tied model's file may not carry `lm_head.weight`). F32/F16/BF16/F64 are converted.
    public static func load(config: LlamaConfig, from file: SafetensorsFile) throws -> LlamaParameters {
        try load(config: config, from: [file])
    }

    /// Loads from the shards of one checkpoint (each tensor in exactly one shard).
    public static func load(config: LlamaConfig, from files: [SafetensorsFile]) throws -> LlamaParameters {
        let p = LlamaParameters(config: config)
        var owner: [String: SafetensorsFile] = [:]
        for f in files {
            for name in f.names {
                if owner[name] != nil {
                    throw AlignError.tensor(path: f.path, name: name, message: "appears in more than one shard")
                }
                owner[name] = f
            }
        }
        let expected = Set(p.layout.tensors.map(\.name))
        for (name, f) in owner.sorted(by: { $0.key < $1.key }) where !expected.contains(name) {
            if name == "lm_head.weight" && config.tieWordEmbeddings { continue }
            throw AlignError.tensor(path: f.path, name: name,
                                    message: "unknown tensor for this LLaMA config (expected only the \(expected.count) tensors of a \(config.numHiddenLayers)-layer model)")
        }
        for t in p.layout.tensors {
            guard let f = owner[t.name] else {
                throw AlignError.tensor(path: files.first?.path ?? "<none>", name: t.name, message: "missing from the checkpoint")
            }
            let dst = UnsafeMutableBufferPointer(rebasing: p.data[t.range])
            try f.read(t.name, into: dst, expectShape: t.shape)
            if let bad = NonFinite.first(in: UnsafeBufferPointer(dst)) {
                throw AlignError.tensor(path: f.path, name: t.name, message: NonFinite.describe(bad, in: dst.count))
            }
        }
        return p
    }

    /// The first tensor holding NaN or ±inf, with the first bad value, or nil when every weight is finite.
    public func firstNonFinite() -> (tensor: String, index: Int, value: Float)? {
        for t in layout.tensors {
            if let bad = NonFinite.first(in: UnsafeBufferPointer(rebasing: data[t.range])) { return (t.name, bad.index, bad.value) }
        }
        return nil
    }

    /// All tensors under their HF names and shapes (F32), ready for `SafetensorsWriter`.
    public func exportTensors() -> [SafetensorsTensor] {
        layout.tensors.map { SafetensorsTensor(name: $0.name, shape: $0.shape, floats: Array(data[$0.range])) }
    }

    /// AdamW groups (matrices decayed, norm vectors not).
    public var paramGroups: [ParamGroup] { layout.paramGroups }

    /// A copy with the vocabulary grown to `newVocab` rows: old rows kept, each new row of the embedding
    /// (and of an untied lm_head) set to the mean of the existing rows.
    public func growingVocabulary(to newVocab: Int) throws -> LlamaParameters {
        let old = config.vocabSize, C = config.hiddenSize
        guard newVocab >= old else {
            throw AlignError.invalidArgument("cannot shrink the vocabulary from \(old) to \(newVocab)")
        }
        var c2 = config
        c2.vocabSize = newVocab
        let p = LlamaParameters(config: c2, items: items, itemInput: layout.itemInput != nil)
        if let a = layout.itemMemory, let b = p.layout.itemMemory {   // item_memory.residual and .input, adjacent
            p.data.baseAddress!.advanced(by: b.offset).update(from: data.baseAddress! + a.offset, count: count - a.offset)
        }
        for (a, b) in zip(layout.tensors, p.layout.tensors) {
            precondition(a.name == b.name)
            if a.count == b.count {
                p.data.baseAddress!.advanced(by: b.offset).update(from: data.baseAddress! + a.offset, count: a.count)
                continue
            }
            // embed_tokens / lm_head: copy rows, then fill the new rows with the mean row.
            let src = data.baseAddress! + a.offset, dst = p.data.baseAddress! + b.offset
            dst.update(from: src, count: a.count)
            var mean = [Double](repeating: 0, count: C)
            for r in 0..<old { for j in 0..<C { mean[j] += Double(src[r * C + j]) } }
            for r in old..<newVocab { for j in 0..<C { dst[r * C + j] = Float(mean[j] / Double(max(1, old))) } }
        }
        return p
    }
}
