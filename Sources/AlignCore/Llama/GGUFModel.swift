// A LLaMA-family model read from a GGUF file (llama.cpp's naming), as the Hugging Face layout align uses:
//   general.architecture  llama | qwen2          {arch}.block_count, .embedding_length, .feed_forward_length,
//   .context_length, .attention.head_count(_kv), .attention.key_length, .attention.layer_norm_rms_epsilon,
//   .rope.freq_base, .rope.dimension_count, .rope.scaling.type/.factor
//   token_embd → model.embed_tokens, output_norm → model.norm, output → lm_head (absent: tied),
//   blk.N.attn_norm / attn_q / attn_k / attn_v / attn_output / ffn_norm / ffn_gate / ffn_up / ffn_down
//   → model.layers.N.input_layernorm / self_attn.{q,k,v,o}_proj / post_attention_layernorm / mlp.{gate,up,down}_proj
// llama.cpp's converter permutes the rows of LLaMA's q and k projections (each head's two rotary halves
// interleaved, for its rotate-adjacent RoPE); reading undoes it, as transformers' GGUF loader does: HF row
// h·hd + p·hd/2 + i is GGUF row h·hd + 2i + p. Qwen2 files are stored unpermuted.
import Foundation

extension GGUFFile {
    /// The architecture, as `general.architecture` names it.
    public var architectureName: String? { metadata["general.architecture"]?.string }

    func fail(_ message: String) -> AlignError { AlignError.format(path: path, line: nil, message: message) }

    func int(_ key: String) throws -> Int? {
        guard let v = metadata[key] else { return nil }
        guard let i = v.int else { throw fail("metadata '\(key)' is \(v.summary), not an integer") }
        return i
    }

    func requiredInt(_ key: String) throws -> Int {
        guard let i = try int(key) else { throw fail("metadata '\(key)' is missing") }
        return i
    }

    func float(_ key: String) throws -> Float? {
        guard let v = metadata[key] else { return nil }
        guard let d = v.double else { throw fail("metadata '\(key)' is \(v.summary), not a number") }
        return Float(d)
    }

    /// The LLaMA config the file describes (architecture, sizes, norms, RoPE, tying, special tokens); every field
    /// checked as config.json's are.
    public func llamaConfig() throws -> LlamaConfig {
        guard let name = architectureName else { throw fail("metadata 'general.architecture' is missing") }
        let arch: LlamaArchitecture
        switch name {
        case "llama": arch = .llama
        case "qwen2": arch = .qwen2
        default: throw fail("general.architecture '\(name)' is not supported (align reads llama and qwen2 GGUF files)")
        }
        let a = name + "."
        guard let embed = tensor("token_embd.weight"), embed.dims.count == 2 else {
            throw AlignError.tensor(path: path, name: "token_embd.weight", message: "missing or not a matrix")
        }
        let hidden = try requiredInt(a + "embedding_length")
        let heads = try requiredInt(a + "attention.head_count")
        let vocab = try int(a + "vocab_size") ?? metadata["tokenizer.ggml.tokens"]?.array?.count ?? embed.dims[1]
        var c = LlamaConfig(vocabSize: vocab, hiddenSize: hidden, intermediateSize: try requiredInt(a + "feed_forward_length"),
                            numHiddenLayers: try requiredInt(a + "block_count"), numAttentionHeads: heads,
                            numKeyValueHeads: try int(a + "attention.head_count_kv") ?? heads,
                            headDim: try int(a + "attention.key_length") ?? (heads > 0 ? hidden / heads : 0),
                            rmsNormEps: try float(a + "attention.layer_norm_rms_epsilon") ?? 1e-5,
                            ropeTheta: try float(a + "rope.freq_base") ?? 10000,
                            maxPositionEmbeddings: try int(a + "context_length") ?? 2048,
                            tieWordEmbeddings: !contains("output.weight"),
                            bosTokenId: try int("tokenizer.ggml.bos_token_id"), eosTokenId: try int("tokenizer.ggml.eos_token_id"),
                            padTokenId: try int("tokenizer.ggml.padding_token_id"))
        c.architecture = arch
        c.attentionBias = contains("blk.0.attn_q.bias")
        if let v = try int(a + "attention.value_length"), v != c.headDim {
            throw fail("\(a)attention.value_length \(v) differs from key_length \(c.headDim); align needs equal key and value head sizes")
        }
        if let r = try int(a + "rope.dimension_count"), r != c.headDim {
            throw fail("\(a)rope.dimension_count \(r) differs from the head size \(c.headDim) (partial rotary embeddings are not supported)")
        }
        if let t = metadata[a + "rope.scaling.type"]?.string, t != "none" {
            guard t == "linear", let f = try float(a + "rope.scaling.factor") else {
                throw fail("\(a)rope.scaling.type '\(t)' is not supported (align implements none and linear in GGUF files)")
            }
            c.ropeScaling = .linear(factor: f)
        }
        if contains("rope_freqs.weight") {
            throw AlignError.tensor(path: path, name: "rope_freqs.weight",
                                    message: "per-frequency RoPE factors (Llama-3.1 rope scaling as llama.cpp stores it) are not supported in GGUF files; load the Hugging Face checkpoint, whose rope_type llama3 align implements")
        }
        do { try c.validate(FieldCheck(file: path)) } catch let e as AlignError { throw e }
        return c
    }

    /// GGUF tensor name → Hugging Face name (nil: not a LLaMA tensor).
    static func huggingFaceName(_ g: String) -> String? {
        switch g {
        case "token_embd.weight": return "model.embed_tokens.weight"
        case "output_norm.weight": return "model.norm.weight"
        case "output.weight": return "lm_head.weight"
        default: break
        }
        let parts = g.split(separator: ".", maxSplits: 2).map(String.init)
        guard parts.count == 3, parts[0] == "blk", let n = Int(parts[1]) else { return nil }
        let map = ["attn_norm.weight": "input_layernorm.weight", "ffn_norm.weight": "post_attention_layernorm.weight",
                   "attn_q.weight": "self_attn.q_proj.weight", "attn_k.weight": "self_attn.k_proj.weight",
                   "attn_v.weight": "self_attn.v_proj.weight", "attn_output.weight": "self_attn.o_proj.weight",
                   "attn_q.bias": "self_attn.q_proj.bias", "attn_k.bias": "self_attn.k_proj.bias",
                   "attn_v.bias": "self_attn.v_proj.bias",
                   "ffn_gate.weight": "mlp.gate_proj.weight", "ffn_up.weight": "mlp.up_proj.weight",
                   "ffn_down.weight": "mlp.down_proj.weight"]
        return map[parts[2]].map { "model.layers.\(n).\($0)" }
    }

    /// The weights as one flat LlamaParameters buffer (dequantised to F32, q/k rows restored to the HF order for
    /// LLaMA files). Every tensor the config implies must be present with its shape; no other tensor may be.
    public func llamaParameters(config: LlamaConfig) throws -> LlamaParameters {
        var need = MemoryEstimate()
        need.add("weights", floats: config.parameterFloats)
        try need.check("the model with \(config.summary)", file: path)
        var byHF: [String: GGUFTensorInfo] = [:]
        for t in tensors {
            guard let hf = Self.huggingFaceName(t.name) else {
                throw AlignError.tensor(path: path, name: t.name, message: "not a tensor of a \(architectureName ?? "LLaMA") model align reads")
            }
            byHF[hf] = t
        }
        let p = LlamaParameters(config: config)
        if config.tieWordEmbeddings { byHF["lm_head.weight"] = nil }
        let expected = Set(p.layout.tensors.map(\.name))
        for (hf, t) in byHF.sorted(by: { $0.key < $1.key }) where !expected.contains(hf) {
            throw AlignError.tensor(path: path, name: t.name, message: "unexpected for this config (\(config.summary))")
        }
        let permuted = config.architecture == .llama
        for info in p.layout.tensors {
            guard let t = byHF[info.name] else {
                throw AlignError.tensor(path: path, name: info.name, message: "missing from the GGUF file")
            }
            guard t.shape == info.shape else {
                throw AlignError.tensor(path: path, name: t.name, message: "shape \(t.shape), expected \(info.shape) for \(info.name)")
            }
            let dst = UnsafeMutableBufferPointer(rebasing: p.data[info.range])
            try read(t.name, into: dst)
            if permuted {
                if info.name.hasSuffix("q_proj.weight") { Self.unpermuteRows(dst, heads: config.numAttentionHeads, cols: config.hiddenSize) }
                if info.name.hasSuffix("k_proj.weight") { Self.unpermuteRows(dst, heads: config.numKeyValueHeads, cols: config.hiddenSize) }
            }
            if let bad = NonFinite.first(in: UnsafeBufferPointer(dst)) {
                throw AlignError.tensor(path: path, name: t.name, message: NonFinite.describe(bad, in: dst.count))
            }
        }
        return p
    }

    /// Undoes llama.cpp's q/k row permutation in place: [heads, hd/2, 2] rows → [heads, 2, hd/2].
    static func unpermuteRows(_ w: UnsafeMutableBufferPointer<Float>, heads: Int, cols: Int) {
        let rows = w.count / cols, hd = rows / heads, half = hd / 2
        let src = Array(w)
        for h in 0..<heads {
            for part in 0..<2 {
                for i in 0..<half {
                    let to = (h * hd + part * half + i) * cols, from = (h * hd + 2 * i + part) * cols
                    for j in 0..<cols { w[to + j] = src[from + j] }
                }
            }
        }
    }
}
