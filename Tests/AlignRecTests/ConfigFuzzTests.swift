// Config fuzzing (issue 25): random SFT/DPO/GRPO YAML presets and HF config.json files — every known key with
// values from 0, −1, huge, NaN, ±inf, wrong types, lists and mappings, plus misspelt and repeated keys — must be
// refused with an AlignError or accepted; nothing else. An accepted config must round-trip through its saved
// YAML, and one whose model fits a small budget is built and run (one training step, or a decoder prefill and
// step) with finite results: a config that passes validation cannot crash or poison the engine later.
// ALIGN_FUZZ_CASES sets the case count (default 12,000: 3,000 per kind), ALIGN_FUZZ_SECONDS runs for that long
// instead, ALIGN_FUZZ_SEED picks the generator (default 0). A crash fails the test run itself.
@testable import AlignCore
@testable import AlignRec
import Foundation
import Testing

/// Random config documents.
struct ConfigFuzzer {
    var rng: Rng

    static let numbers = ["0", "-1", "1", "2", "3", "4", "7", "8", "16", "64", "100", "1000000", "1000000000",
                          "2147483648", "9223372036854775807", "-9223372036854775808", "99999999999999999999",
                          "0.5", "-0.5", "1.5", "0.999", "1e-8", "1e-45", "1e30", "1e39", "1e300", "-1e300", "3.4e38",
                          // the ceilings and one past them (FieldCheck, LlamaConfig)
                          "4096", "4097", "65536", "65537", "1048576", "4194304", "4194305", "16777215", "16777216",
                          "16777217", "1000000001"]
    static let yamlSpecials = [".nan", ".inf", "-.inf", "true", "no", "null", "~", "''", "abc", "1e6", "0x10", "[1, 2]",
                               "{a: 1}", "[]", "{}", "\"5\"", "loo", "chrono", "beam", "sample", "token", "random", "fixed",
                               "nextitem", "all", "2000"]
    static let jsonSpecials = ["NaN", "Infinity", "-Infinity", "true", "null", "\"abc\"", "\"5\"", "[1, 2]", "{\"a\": 1}",
                               "[]", "[2, 3]", "\"default\"", "\"yarn\"", "\"silu\"", "\"gelu\"", "false"]

    mutating func pick<T>(_ xs: [T]) -> T { xs[rng.int(below: xs.count)] }
    mutating func chance(_ p: Double) -> Bool { rng.uniform() < p }

    /// A value: mostly a number of the pool or near the field's sane range, sometimes anything.
    mutating func value(json: Bool) -> String {
        switch rng.int(below: 10) {
        case 0..<5: return pick(Self.numbers)
        case 5..<7: return String(rng.int(below: 300) - 20)
        case 7: return String(format: "%.4g", rng.uniform() * 2)
        default: return pick(json ? Self.jsonSpecials : Self.yamlSpecials)
        }
    }

    /// A misspelling of `key` (one character dropped, doubled or changed).
    mutating func misspell(_ key: String) -> String {
        var c = Array(key)
        guard !c.isEmpty else { return "x" }
        let i = rng.int(below: c.count)
        switch rng.int(below: 3) {
        case 0: c.remove(at: i)
        case 1: c.insert(c[i], at: i)
        default: c[i] = Character(UnicodeScalar(UInt8(97 + rng.int(below: 26))))
        }
        return String(c)
    }

    /// A YAML document over `paths` ("optim.lr", …): a random subset of keys, sometimes misspelt or repeated.
    mutating func yaml(paths: [String], head: String, base: [(String, String)] = []) -> String {
        var tree: [(String, [(String, String)])] = []   // top key → [(sub key, value)] ("" = scalar at top)
        func add(_ top: String, _ sub: String, _ v: String) {
            if let i = tree.firstIndex(where: { $0.0 == top }) {
                if let j = tree[i].1.firstIndex(where: { $0.0 == sub }), base.contains(where: { $0.0 == "\(top).\(sub)" }) {
                    tree[i].1[j].1 = v   // a random value replaces the base's
                } else {
                    tree[i].1.append((sub, v))
                }
            } else { tree.append((top, [(sub, v)])) }
        }
        if chance(0.7) {
            for (path, v) in base {
                let parts = path.split(separator: ".", maxSplits: 1).map(String.init)
                add(parts[0], parts.count > 1 ? parts[1] : "", v)
            }
        }
        let n = 1 + rng.int(below: 6)
        for _ in 0..<n {
            var parts = pick(paths).split(separator: ".").map(String.init)
            if chance(0.05) { parts[parts.count - 1] = misspell(parts[parts.count - 1]) }
            let v = value(json: false)
            if parts.count == 1 { add(parts[0], "", v) } else { add(parts[0], parts[1...].joined(separator: "."), v) }
            if chance(0.02) { add(parts[0], parts.count == 1 ? "" : parts[1...].joined(separator: "."), v) }   // repeated
        }
        var text = chance(0.9) ? head + "\n" : ""
        for (top, subs) in tree {
            if subs.allSatisfy({ $0.0.isEmpty }) {
                for (_, v) in subs { text += "\(top): \(v)\n" }
            } else {
                text += "\(top):\n"
                for (sub, v) in subs where !sub.isEmpty { text += "  \(sub): \(v)\n" }
            }
        }
        return text
    }

    static let jsonKeys = ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                           "num_key_value_heads", "head_dim", "rms_norm_eps", "rope_theta", "max_position_embeddings",
                           "tie_word_embeddings", "bos_token_id", "eos_token_id", "pad_token_id", "attention_bias",
                           "mlp_bias", "hidden_act", "rope_parameters", "rope_scaling", "torch_dtype"]

    /// A config.json: a small valid base with a few fields replaced (or dropped, or repeated).
    mutating func configJSON() -> String {
        var fields: [(String, String)] = [("vocab_size", "48"), ("hidden_size", "16"), ("intermediate_size", "24"),
                                          ("num_hidden_layers", "1"), ("num_attention_heads", "2"),
                                          ("max_position_embeddings", "16"), ("bos_token_id", "1"), ("eos_token_id", "2")]
        for _ in 0..<(1 + rng.int(below: 4)) {
            let k = pick(Self.jsonKeys)
            let v = k == "rope_parameters" || k == "rope_scaling"
                ? "{\"rope_theta\": \(value(json: true)), \"rope_type\": \(pick(["\"default\"", "\"yarn\"", "null", "3"]))}"
                : value(json: true)
            if chance(0.1), let i = fields.firstIndex(where: { $0.0 == k }) { fields.remove(at: i); continue }
            if chance(0.03) { fields.append((k, v)) } else if let i = fields.firstIndex(where: { $0.0 == k }) { fields[i].1 = v } else { fields.append((k, v)) }
        }
        return "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
    }
}

/// What a fuzz run met.
struct FuzzTally {
    var cases = 0, accepted = 0, refused = 0, exercised = 0
    var problems: [String] = []
}

/// Runs one engine step on an accepted model shape when it is small: a training step with the config's optimiser
/// (finite loss and gradient norm), and a decoder prefill and step (finite logits).
func exerciseModel(_ c: LlamaConfig, optim: OptimPreset? = nil, batch: Int = 2) throws -> Bool {
    guard c.parameterFloats < 200_000, c.maxPositionEmbeddings >= 2 else { return false }
    let seq = min(c.maxPositionEmbeddings, 6)
    guard LlamaTrainer.plannedFloats(c, maxBatch: batch, maxSeq: seq, dropout: (optim?.dropout ?? 0) > 0) < 4_000_000 else { return false }
    let params = LlamaParameters(config: c, seed: 1)
    let trainer = LlamaTrainer(params: params, maxBatch: batch, maxSeq: seq, dropout: optim?.dropout ?? 0)
    trainer.dropoutKey = 7
    var rng = Rng(seed: 2)
    let tokens = (0..<(batch * seq)).map { _ in Int32(rng.int(below: c.vocabSize)) }
    let targets = tokens.enumerated().map { $0.offset % seq == seq - 1 ? ignoreIndex : tokens[$0.offset + 1] }
    try trainer.forward(tokens: tokens, targets: targets, batch: batch, seq: seq)
    let loss = trainer.meanCrossEntropy()
    guard loss.isFinite else { throw AlignError.invalidArgument("non-finite loss \(loss) for an accepted config \(c)") }
    try trainer.backwardMeanCrossEntropy()
    if let o = optim {
        let g = trainer.grads.baseAddress!
        let norm = o.gradClip > 0 ? clipGradNorm(g, params.count, maxNorm: o.gradClip) : gradNorm(g, params.count)
        guard norm.isFinite else { throw AlignError.invalidArgument("non-finite gradient norm for an accepted config") }
        let adam = AdamW(count: params.count, groups: params.paramGroups, config: o.adamW)
        for s in [0, o.warmup, o.steps - 1] {
            let lr = o.schedule.lr(at: s)
            guard lr.isFinite, lr >= 0 else { throw AlignError.invalidArgument("learning rate \(lr) at step \(s) for an accepted config") }
        }
        adam.update(params: params.data.baseAddress!, grads: g, lr: o.schedule.lr(at: 0))
    }
    let dec = try LlamaDecoder.planned(params: params, maxGroups: 1, maxWidth: 2, maxPrompt: 1, maxSuffix: 1, purpose: "fuzz")
    let logits = try dec.prefill([[Int32(c.bosTokenId ?? 0)]], width: 2)
    guard logits.allSatisfy(\.isFinite) else { throw AlignError.invalidArgument("non-finite logits for an accepted config") }
    return true
}

/// One case of each kind; problems are recorded in `tally`.
func fuzzOnce(_ f: inout ConfigFuzzer, kind: Int, dir: URL, tally: inout FuzzTally) {
    tally.cases += 1
    func record(_ what: String, _ doc: String, _ error: Error) {
        if tally.problems.count < 20 { tally.problems.append("\(what): \(type(of: error)) \(error)\n--- document:\n\(doc)") }
    }
    switch kind {
    case 0:
        let doc = f.yaml(paths: ConfigSchema.keyPaths(of: TrainConfig.self), head: "format: align-config", base: [
            ("model.hidden_size", "16"), ("model.intermediate_size", "24"), ("model.num_hidden_layers", "1"),
            ("model.num_attention_heads", "2"), ("model.max_position_embeddings", "16")])
        let cfg: TrainConfig
        do { cfg = try TrainConfig.parse(doc, path: "fuzz.yaml") } catch is AlignError { tally.refused += 1; return } catch {
            record("sft config", doc, error); return
        }
        tally.accepted += 1
        do {
            let back = try TrainConfig.parse(try cfg.yaml(), path: "resolved")
            if back != cfg { record("sft round trip", doc, AlignError.invalidArgument("saved config reads back differently")) }
            let c = cfg.model.llamaConfig(vocabSize: 40, bos: 1, eos: 2, pad: 3)
            try c.validate(FieldCheck(file: "derived"))
            if try exerciseModel(c, optim: cfg.optim, batch: min(cfg.optim.batchSize, 3)) { tally.exercised += 1 }
        } catch { record("sft accepted", doc, error) }
    case 1:
        let doc = f.yaml(paths: ConfigSchema.keyPaths(of: DPOConfig.self), head: "format: align-dpo-config")
        do {
            let cfg = try ConfigYAML.decode(DPOConfig.self, from: doc, path: "fuzz.yaml")
            try cfg.validate(path: "fuzz.yaml")
            tally.accepted += 1
            let back = try ConfigYAML.decode(DPOConfig.self, from: try cfg.yaml(), path: "resolved")
            if back != cfg { record("dpo round trip", doc, AlignError.invalidArgument("saved config reads back differently")) }
            for s in [0, cfg.optim.warmup, cfg.optim.steps - 1] where !cfg.optim.schedule(total: cfg.optim.steps).lr(at: s).isFinite {
                record("dpo schedule", doc, AlignError.invalidArgument("non-finite lr at \(s)"))
            }
        } catch is AlignError { tally.refused += 1 } catch { record("dpo config", doc, error) }
    case 2:
        let doc = f.yaml(paths: ConfigSchema.keyPaths(of: GRPOConfig.self), head: "format: align-grpo-config")
        do {
            let cfg = try ConfigYAML.decode(GRPOConfig.self, from: doc, path: "fuzz.yaml")
            try cfg.validate(path: "fuzz.yaml")
            tally.accepted += 1
            let back = try ConfigYAML.decode(GRPOConfig.self, from: try cfg.yaml(), path: "resolved")
            if back != cfg { record("grpo round trip", doc, AlignError.invalidArgument("saved config reads back differently")) }
            if !cfg.reward.needsEmbeddings { _ = try GRPOObjective.advantages(rewards: GRPORewards.mixed(items: Array(1...cfg.groupSize.clamped(2, 64)), target: 1,
                                                                         mix: cfg.reward, embeddings: nil, ahead: [2: 1], decay: cfg.futureDecay),
                                             groupSize: cfg.groupSize.clamped(2, 64)) }
        } catch is AlignError { tally.refused += 1 } catch { record("grpo config", doc, error) }
    default:
        let doc = f.configJSON()
        let url = dir.appendingPathComponent("config.json")
        do {
            try Data(doc.utf8).write(to: url)
            let c = try LlamaConfig.load(url)
            tally.accepted += 1
            try c.jsonData().write(to: url)
            let back = try LlamaConfig.load(url)
            if back != c { record("config.json round trip", doc, AlignError.invalidArgument("written config reads back differently")) }
            if try exerciseModel(c) { tally.exercised += 1 }
        } catch is AlignError { tally.refused += 1 } catch { record("config.json", doc, error) }
    }
}

extension Int {
    func clamped(_ lo: Int, _ hi: Int) -> Int { Swift.min(Swift.max(self, lo), hi) }
}

@Test func configFuzzRefusesOrAcceptsEveryDocumentWithoutCrashing() throws {
    let env = ProcessInfo.processInfo.environment
    let seconds = env["ALIGN_FUZZ_SECONDS"].flatMap(Double.init)
    let cases = env["ALIGN_FUZZ_CASES"].flatMap(Int.init) ?? 12_000
    var f = ConfigFuzzer(rng: Rng(seed: env["ALIGN_FUZZ_SEED"].flatMap(UInt64.init) ?? 0))
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("align-fuzz-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    var tally = FuzzTally()
    let start = Date()
    var i = 0
    while seconds.map({ Date().timeIntervalSince(start) < $0 }) ?? (i < cases) {
        fuzzOnce(&f, kind: i % 4, dir: dir, tally: &tally)
        i += 1
    }
    let secs = Date().timeIntervalSince(start)
    print(String(format: "config fuzz: %d cases (%d accepted, %d refused, %d models built and run), %d problems, 0 crashes, %.1f s",
                 tally.cases, tally.accepted, tally.refused, tally.exercised, tally.problems.count, secs))
    #expect(tally.problems.isEmpty, "\(tally.problems.joined(separator: "\n\n"))")
    // The generator reaches both outcomes and the engine (else the test could not fail).
    #expect(tally.accepted > tally.cases / 50 && tally.refused > tally.cases / 4 && tally.exercised > tally.cases / 200,
            "accepted \(tally.accepted), refused \(tally.refused), exercised \(tally.exercised) of \(tally.cases)")
}
