// The LLaMA-family variants align runs, and the config.json fields that would change the computation:
//   model_type llama / mistral / qwen2 (nil = llama). Qwen2 adds biases to the q, k and v projections.
//   RoPE: default, `linear` (positions divided by the factor) and `llama3` (Llama-3.1/3.2 frequency bands),
//   from `rope_scaling` or `rope_parameters`; any other rope_type is refused.
//   Mistral's `sliding_window` is accepted only when it does not bind (≥ max_position_embeddings); Qwen2's
//   `use_sliding_window: true` and `layer_types` with sliding layers are refused.
//   Fields of other families that change the math (soft-capping, multipliers, experts, q/k norms, partial rotary,
//   chunked attention) are refused by name when set to a value that matters.
import Foundation

/// How rotary frequencies are scaled (transformers' `rope_type`).
public enum RopeScaling: Sendable, Equatable {
    /// inv_freq / factor.
    case linear(factor: Float)
    /// Llama-3.1: low frequencies divided by `factor`, high kept, the band between interpolated.
    case llama3(factor: Float, lowFreqFactor: Float, highFreqFactor: Float, originalMaxPositions: Int)

    public var typeName: String {
        switch self {
        case .linear: return "linear"
        case .llama3: return "llama3"
        }
    }
}

/// The architectures align implements.
public enum LlamaArchitecture: String, Sendable, Equatable, CaseIterable {
    case llama, mistral, qwen2

    /// transformers' `architectures` entry.
    public var causalLMClass: String {
        switch self {
        case .llama: return "LlamaForCausalLM"
        case .mistral: return "MistralForCausalLM"
        case .qwen2: return "Qwen2ForCausalLM"
        }
    }
}

extension LlamaConfig {
    /// Rotary inverse frequencies [headDim/2], rounded to fp32 as transformers computes them, scaled by `ropeScaling`.
    public func ropeInverseFrequencies() -> [Float] {
        let half = headDim / 2
        var inv = (0..<half).map { i in Float(1.0 / Foundation.pow(Double(ropeTheta), Double(2 * i) / Double(headDim))) }
        switch ropeScaling {
        case nil: break
        case .linear(let f)?: inv = inv.map { $0 / f }
        case let .llama3(factor, low, high, old)?:
            let oldLen = Float(old), lowWavelen = oldLen / low, highWavelen = oldLen / high
            inv = inv.map { f in
                let wavelen = 2 * Float.pi / f
                let scaled = wavelen > lowWavelen ? f / factor : f
                guard !(wavelen < highWavelen) && !(wavelen > lowWavelen) else { return scaled }
                let smooth = (oldLen / wavelen - low) / (high - low)
                return (1 - smooth) * scaled / factor + smooth * scaled
            }
        }
        return inv
    }

    /// Floats of the q|k|v biases of one layer (0 without attention biases).
    public var qkvBiasCount: Int { attentionBias ? (numAttentionHeads + 2 * numKeyValueHeads) * headDim : 0 }

    /// Keys of other LLaMA-like families that change the computation, with the value that does not.
    static let refusedFields: [(key: String, neutral: @Sendable (JSONValue) -> Bool)] = [
        ("partial_rotary_factor", { $0.number == 1 }),
        ("attn_logit_softcapping", { $0 == .null }),
        ("final_logit_softcapping", { $0 == .null }),
        ("query_pre_attn_scalar", { $0 == .null }),
        ("embedding_multiplier", { $0 == .null || $0.number == 1 }),
        ("logits_scaling", { $0 == .null || $0.number == 1 }),
        ("residual_multiplier", { $0 == .null || $0.number == 1 }),
        ("attention_multiplier", { $0 == .null }),
        ("num_experts", { $0 == .null || $0.number == 0 }),
        ("num_local_experts", { $0 == .null || $0.number == 0 }),
        ("n_routed_experts", { $0 == .null || $0.number == 0 }),
        ("use_qk_norm", { $0 == .bool(false) }),
        ("qk_layernorm", { $0 == .bool(false) }),
        ("attention_chunk_size", { $0 == .null }),
        ("no_rope_layers", { $0 == .null }),
        ("use_bidirectional_attention", { $0 == .null || $0 == .bool(false) }),
    ]

    /// Checks the raw config.json object for fields align cannot honour (see the file header); `file` names it.
    static func checkUnsupportedFields(_ obj: [String: JSONValue], architecture: LlamaArchitecture, maxPositions: Int) throws {
        for (key, neutral) in refusedFields {
            if let v = obj[key], !neutral(v) {
                throw AlignError.invalidArgument("config.json: \(key)=\(v.text) is not supported (it changes the computation; align implements \(LlamaArchitecture.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
        }
        if case .array(let types)? = obj["layer_types"], let other = types.first(where: { $0 != .string("full_attention") }) {
            throw AlignError.invalidArgument("config.json: layer_types lists '\(other.text)' layers; align implements full attention only")
        }
        if architecture == .qwen2, obj["use_sliding_window"] == .bool(true) {
            throw AlignError.invalidArgument("config.json: use_sliding_window=true is not supported (align's attention has no sliding window)")
        }
        if architecture != .qwen2, let w = obj["sliding_window"]?.number, w < Double(maxPositions) {
            throw AlignError.invalidArgument("config.json: sliding_window \(w) is shorter than max_position_embeddings \(maxPositions); align's attention has no sliding window, so longer sequences would decode differently (not supported)")
        }
    }

    /// Parses one `rope_scaling` / `rope_parameters` object: nil for the default rotary embedding.
    static func ropeScaling(_ obj: [String: JSONValue], key: String) throws -> RopeScaling? {
        let type = obj["rope_type"]?.stringValue ?? obj["type"]?.stringValue ?? "default"
        func num(_ k: String) throws -> Float {
            guard let v = obj[k]?.number.map(Float.init), v.isFinite, v > 0 else {
                throw AlignError.invalidArgument("config.json: \(key).\(k) is missing or not a positive number (needed by rope_type '\(type)')")
            }
            return v
        }
        switch type {
        case "default": return nil
        case "linear":
            let f = try num("factor")
            guard f >= 1 else { throw AlignError.invalidArgument("config.json: \(key).factor \(f) must be ≥ 1") }
            return .linear(factor: f)
        case "llama3":
            let f = try num("factor"), low = try num("low_freq_factor"), high = try num("high_freq_factor")
            let old = try num("original_max_position_embeddings")
            guard high > low else {
                throw AlignError.invalidArgument("config.json: \(key).high_freq_factor \(high) must exceed low_freq_factor \(low)")
            }
            guard f >= 1, old >= 1, old <= Float(LlamaConfig.maxPositions), old == old.rounded() else {
                throw AlignError.invalidArgument("config.json: \(key) factor \(f) must be ≥ 1 and original_max_position_embeddings \(old) a positive integer")
            }
            return .llama3(factor: f, lowFreqFactor: low, highFreqFactor: high, originalMaxPositions: Int(old))
        default:
            throw AlignError.invalidArgument("config.json: rope_type '\(type)' is not supported (align implements default, linear and llama3)")
        }
    }

    /// The `rope_parameters` object transformers reads.
    func ropeParametersObject() -> [String: Any] {
        var o: [String: Any] = ["rope_theta": Double(ropeTheta), "rope_type": ropeScaling?.typeName ?? "default"]
        switch ropeScaling {
        case nil: break
        case .linear(let f)?: o["factor"] = Double(f)
        case let .llama3(f, low, high, old)?:
            o["factor"] = Double(f); o["low_freq_factor"] = Double(low); o["high_freq_factor"] = Double(high)
            o["original_max_position_embeddings"] = old
        }
        return o
    }
}

extension JSONValue {
    /// The value as a number (integers and doubles), nil otherwise.
    public var number: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .uint(let u): return Double(u)
        case .double(let d): return d
        default: return nil
        }
    }
    /// The value as a string, nil otherwise.
    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    /// A short rendering for messages.
    public var text: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return "\(b)"
        case .int(let i): return "\(i)"
        case .uint(let u): return "\(u)"
        case .double(let d): return "\(d)"
        case .string(let s): return s
        case .array(let a): return "[\(a.map(\.text).joined(separator: ", "))]"
        case .object: return "{…}"
        }
    }
}
