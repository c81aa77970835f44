// LoRA fine-tuning of a pretrained LLaMA with the new token rows (the SID tokens) trained in full:
//   W = W0 + (alpha / rank) · B·A for each target matrix (q/k/v/o/gate/up/down of every layer), A [r, in], B [out, r];
//   the embedding (and an untied LM head) rows of the new tokens train directly; every other weight stays frozen.
// The adapters are kept merged: before each forward the parameters hold W0 + s·B·A for the targets (W0 kept aside,
// so the sum is recomputed exactly from it, never accumulated), and the trainer's full gradient dL/dW of a target
// gives the adapters' by the chain rule, dB = s·dW·Aᵀ, dA = s·Bᵀ·dW. The engine (fp32 or bf16, data-parallel or
// not) is the one full fine-tuning runs, unchanged; the merged weights are a plain Hugging Face checkpoint at any
// step. The cost over LoRA computed in the forward is the weight-gradient products of the frozen matrices
// (about a third of a step's products); memory adds one copy of the target matrices.
// Dropout on the adapters' input cannot be expressed on merged weights: `dropout` must be 0 (checked).
// Embedding-only warm-up: for the first `warmupSteps` steps only the new rows get gradients (A and B keep their
// initial values: B = 0, so the model is the pretrained one plus the new rows).
// Trainable values live in one flat buffer (adapters, then new rows), which AdamW updates and a checkpoint saves
// (`lora.safetensors`); with W0 read again from the base model, a resumed run continues bit-exactly.
import Foundation

/// `lora:` in a training config.
public struct LoRAConfig: Codable, Sendable, Equatable {
    public var rank: Int = 8
    public var alpha: Float = 16
    public var dropout: Float = 0
    /// Projection names: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj.
    public var targets: [String] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    /// Steps at the start that train only the new token rows.
    public var warmupSteps: Int = 0
    public init() {}

    public static let allTargets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

    enum CodingKeys: String, CodingKey { case rank, alpha, dropout, targets, warmupSteps = "warmup_steps" }

    public init(from decoder: Decoder) throws {
        let d = LoRAConfig()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        rank = try c.decodeIfPresent(Int.self, forKey: .rank) ?? d.rank
        alpha = try c.decodeIfPresent(Float.self, forKey: .alpha) ?? d.alpha
        dropout = try c.decodeIfPresent(Float.self, forKey: .dropout) ?? d.dropout
        targets = try c.decodeIfPresent([String].self, forKey: .targets) ?? d.targets
        warmupSteps = try c.decodeIfPresent(Int.self, forKey: .warmupSteps) ?? d.warmupSteps
    }

    public var scale: Float { alpha / Float(rank) }

    public func validate(_ check: FieldCheck) throws {
        try check.int("rank", rank, 1...4096)
        try check.number("alpha", alpha, .openClosed(0, 1e6))
        guard dropout == 0 else {
            throw check.failure("dropout", FieldCheck.describe(dropout), allowed: "0 (align merges the adapters into the weights every step, where dropout on their input cannot be applied)")
        }
        for t in targets where !Self.allTargets.contains(t) {
            throw check.failure("targets", "'\(t)'", allowed: Self.allTargets.joined(separator: ", "))
        }
        guard Set(targets).count == targets.count else { throw check.failure("targets", "\(targets)", allowed: "each projection once") }
        try check.int("warmup_steps", warmupSteps, 0...FieldCheck.maxSteps)
    }
}

/// The adapters and new rows of one model, merged into its parameters.
public final class LoRAAdapters: @unchecked Sendable {
    public struct Target: Sendable {
        /// The HF tensor name (e.g. model.layers.3.self_attn.q_proj.weight) and its place in the parameters.
        public let name: String
        public let offset: Int
        public let rows: Int, cols: Int
        /// A [rank, cols] and B [rows, rank] in the trainable buffer; W0 in `base`.
        public let a: Int, b: Int, w0: Int
    }

    public let config: LoRAConfig
    public let params: LlamaParameters
    public let targets: [Target]
    /// Vocabulary rows trained in full (the added tokens).
    public let newRows: Range<Int>
    /// Trainable values: every A and B, then the new embedding rows, then the new LM-head rows (untied only).
    public let trainable: UnsafeMutableBufferPointer<Float>
    public let grads: UnsafeMutableBufferPointer<Float>
    let base: UnsafeMutableBufferPointer<Float>
    let embedRows: Int, headRows: Int?
    public var count: Int { trainable.count }
    /// fp32 products of the merge and the gradient chain rule.
    let gemm = Gemm(precision: .fp32, backend: .openblas)
    /// Floats of the adapters (the rows follow them).
    public let adapterCount: Int
    /// Where W0 comes from (the pretrained model's path), recorded in the checkpoint so a resumed run reads it again.
    public var baseSource: String = ""

    /// Adapters over `params` (whose target weights are W0 now), with `newRows` trained in full. A is drawn
    /// uniformly in ±1/√in (PEFT's Kaiming-uniform default) from `seed`, B is 0, so the merged model starts as W0.
    /// `w0` (same config) supplies W0 instead of `params` (a resumed run, whose parameters hold merged weights).
    public init(params: LlamaParameters, config: LoRAConfig, newRows: Range<Int>, seed: UInt64, w0 source: LlamaParameters? = nil) throws {
        let c = params.config
        guard newRows.lowerBound >= 0, newRows.upperBound <= c.vocabSize else {
            throw AlignError.invalidArgument("LoRA: new rows \(newRows) outside the vocabulary 0..<\(c.vocabSize)")
        }
        self.config = config; self.params = params; self.newRows = newRows
        var t: [Target] = []
        var off = 0, w0 = 0
        let r = config.rank
        for info in params.layout.tensors {
            guard info.shape.count == 2, let kind = config.targets.first(where: { info.name.hasSuffix("." + $0 + ".weight") }) else { continue }
            _ = kind
            let rows = info.shape[0], cols = info.shape[1]
            t.append(Target(name: info.name, offset: info.offset, rows: rows, cols: cols, a: off, b: off + r * cols, w0: w0))
            off += r * cols + rows * r
            w0 += rows * cols
        }
        targets = t
        adapterCount = off
        let C = c.hiddenSize
        embedRows = off
        off += newRows.count * C
        headRows = c.tieWordEmbeddings ? nil : off
        if !c.tieWordEmbeddings { off += newRows.count * C }
        trainable = .allocate(capacity: off); trainable.initialize(repeating: 0)
        grads = .allocate(capacity: off); grads.initialize(repeating: 0)
        base = .allocate(capacity: w0)
        let src = source ?? params
        for x in t {
            guard let info = src.layout.tensors.first(where: { $0.name == x.name }), info.shape == [x.rows, x.cols] else {
                base.deallocate(); trainable.deallocate(); grads.deallocate()
                throw AlignError.invalidArgument("LoRA: the base model has no \(x.name) of shape [\(x.rows), \(x.cols)]")
            }
            (base.baseAddress! + x.w0).update(from: src.data.baseAddress! + info.offset, count: x.rows * x.cols)
        }
        var rng = Rng(seed: mix64(seed ^ 0x10_4A))
        for x in t {
            let bound = 1 / Float(x.cols).squareRoot()
            for i in 0..<(r * x.cols) { trainable[x.a + i] = Float(rng.uniform() * 2 - 1) * bound }
        }
        copyRows(toTrainable: true)
    }

    deinit { trainable.deallocate(); grads.deallocate(); base.deallocate() }

    /// AdamW groups of the trainable buffer (everything decayed, as PEFT's default optimiser groups do).
    public var paramGroups: [ParamGroup] { [ParamGroup(range: 0..<count, decay: true)] }

    func copyRows(toTrainable: Bool) {
        let C = params.config.hiddenSize, n = newRows.count * C, lay = params.layout
        var pairs = [(lay.embed, embedRows)]
        if let h = headRows { pairs.append((lay.lmHead, h)) }
        for (tensor, slot) in pairs {
            let p = params.data.baseAddress! + tensor + newRows.lowerBound * C, q = trainable.baseAddress! + slot
            if toTrainable { q.update(from: p, count: n) } else { p.update(from: q, count: n) }
        }
    }

    /// Writes W0 + s·B·A into every target and the trainable rows into the embedding (and LM head).
    public func merge() {
        let s = config.scale, r = config.rank
        let tb = trainable.baseAddress!
        for x in targets {
            let w = params.data.baseAddress! + x.offset
            w.update(from: base.baseAddress! + x.w0, count: x.rows * x.cols)
            gemm.mm(false, false, x.rows, x.cols, r, s, .f32(UnsafePointer(tb + x.b)), r, .f32(UnsafePointer(tb + x.a)), x.cols, 1, w, x.cols)
        }
        copyRows(toTrainable: false)
    }

    /// The trainable gradient from the trainer's full one (`full`, the parameters' layout); A and B get none while
    /// `adapters` is false (embedding-only warm-up).
    public func gatherGradients(from full: UnsafePointer<Float>, adapters: Bool) {
        let s = config.scale, r = config.rank
        let tb = UnsafePointer(trainable.baseAddress!), g = grads.baseAddress!
        if adapters {
            for x in targets {
                let dw = full + x.offset
                gemm.mm(false, true, x.rows, r, x.cols, s, .f32(dw), x.cols, .f32(tb + x.a), x.cols, 0, g + x.b, r)   // dB = s·dW·Aᵀ
                gemm.mm(true, false, r, x.cols, x.rows, s, .f32(tb + x.b), r, .f32(dw), x.cols, 0, g + x.a, x.cols)   // dA = s·Bᵀ·dW
            }
        } else {
            (g).update(repeating: 0, count: adapterCount)
        }
        let C = params.config.hiddenSize, n = newRows.count * C, lay = params.layout
        (g + embedRows).update(from: full + lay.embed + newRows.lowerBound * C, count: n)
        if let h = headRows { (g + h).update(from: full + lay.lmHead + newRows.lowerBound * C, count: n) }
    }

    // MARK: files

    public static let fileName = "lora.safetensors"

    /// A, B of every target and the new rows, with the config and row range in the metadata.
    public func write(to url: URL) throws {
        var t: [SafetensorsTensor] = []
        for x in targets {
            let stem = String(x.name.dropLast(".weight".count))
            t.append(SafetensorsTensor(name: stem + ".lora_A.weight", shape: [config.rank, x.cols], floats: Array(trainable[x.a..<(x.a + config.rank * x.cols)])))
            t.append(SafetensorsTensor(name: stem + ".lora_B.weight", shape: [x.rows, config.rank], floats: Array(trainable[x.b..<(x.b + x.rows * config.rank)])))
        }
        let C = params.config.hiddenSize
        t.append(SafetensorsTensor(name: "new_rows.embed_tokens", shape: [newRows.count, C], floats: Array(trainable[embedRows..<(embedRows + newRows.count * C)])))
        if let h = headRows {
            t.append(SafetensorsTensor(name: "new_rows.lm_head", shape: [newRows.count, C], floats: Array(trainable[h..<(h + newRows.count * C)])))
        }
        let enc = JSONEncoder()
        enc.outputFormatting = .sortedKeys   // the same bytes for the same adapters in every process
        let cfg = String(decoding: try enc.encode(config), as: UTF8.self)
        try SafetensorsWriter.write(t, metadata: ["format": "align-lora", "version": "1", "config": cfg, "base": baseSource,
                                                  "new_rows": "\(newRows.lowerBound)..<\(newRows.upperBound)"], to: url)
    }

    /// The metadata of a file `write` wrote: config, base model path, new rows.
    public static func header(_ url: URL) throws -> (config: LoRAConfig, base: String, newRows: Range<Int>) {
        let f = try SafetensorsFile(url: url)
        func bad(_ m: String) -> AlignError { AlignError.format(path: url.path, line: nil, message: m) }
        guard f.metadata["format"] == "align-lora", f.metadata["version"] == "1" else { throw bad("not an align-lora v1 file") }
        guard let c = f.metadata["config"], let config = try? JSONDecoder().decode(LoRAConfig.self, from: Data(c.utf8)) else {
            throw bad("metadata 'config' is not a LoRA config")
        }
        let parts = (f.metadata["new_rows"] ?? "").components(separatedBy: "..<").compactMap { Int($0) }
        guard parts.count == 2, parts[0] >= 0, parts[0] <= parts[1] else { throw bad("metadata 'new_rows' is not a row range") }
        return (config, f.metadata["base"] ?? "", parts[0]..<parts[1])
    }

    /// Restores A, B and the rows written by `write` (same targets and shapes) and merges them.
    public func restore(from url: URL) throws {
        let f = try SafetensorsFile(url: url)
        guard f.metadata["format"] == "align-lora", f.metadata["version"] == "1" else {
            throw AlignError.format(path: url.path, line: nil, message: "not an align-lora v1 file")
        }
        guard f.metadata["new_rows"] == "\(newRows.lowerBound)..<\(newRows.upperBound)" else {
            throw AlignError.format(path: url.path, line: nil, message: "new rows \(f.metadata["new_rows"] ?? "?") differ from the model's \(newRows)")
        }
        func load(_ name: String, _ at: Int, _ shape: [Int]) throws {
            let dst = UnsafeMutableBufferPointer(rebasing: trainable[at..<(at + shape.reduce(1, *))])
            try f.read(name, into: dst, expectShape: shape)
        }
        for x in targets {
            let stem = String(x.name.dropLast(".weight".count))
            try load(stem + ".lora_A.weight", x.a, [config.rank, x.cols])
            try load(stem + ".lora_B.weight", x.b, [x.rows, config.rank])
        }
        let C = params.config.hiddenSize
        try load("new_rows.embed_tokens", embedRows, [newRows.count, C])
        if let h = headRows { try load("new_rows.lm_head", h, [newRows.count, C]) }
        merge()
    }
}
