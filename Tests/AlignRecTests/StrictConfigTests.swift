// Strict configs (issue 25): unknown keys suggest the closest known key, repeated keys and wrong types are
// errors naming file, line and field, every number is range-checked before anything divides by it, and a
// saved config keeps its floats as written. Each input below once crashed align or was silently accepted.
import AlignCore
import AlignRec
import Foundation
import Testing

/// The error message of parsing `yaml` as an SFT config, or nil when it is accepted.
private func sftError(_ yaml: String) -> String? {
    do { _ = try TrainConfig.parse(yaml, path: "bad.yaml"); return nil } catch let e as AlignError {
        return e.description
    } catch {
        return "not an AlignError: \(error)"
    }
}

@Test func unknownKeysAreErrorsWithTheClosestKnownKey() throws {
    let cases: [(String, [String])] = [
        ("optim: {stepz: 5}", ["unknown key 'optim.stepz'", "did you mean 'optim.steps'"]),
        ("stepz: 5", ["unknown key 'stepz'", "did you mean 'optim.steps'"]),
        ("optim:\n  learning_rate: 0.1\n", ["bad.yaml:2:", "unknown key 'optim.learning_rate'", "known keys of optim:", "lr"]),
        ("model: {hidden_sise: 64}", ["did you mean 'model.hidden_size'"]),
        ("sampling: {offsets: fixd}", ["sampling.offsets", "'fixd' is not one of fixed, random", "did you mean 'fixed'"]),
        ("item_memory: {enabled: true, trunk_gradient: balance}",
         ["item_memory.trunk_gradient", "'balance' is not one of full, balanced, none", "did you mean 'balanced'"]),
        ("tasks: {nextitm: 1}", ["tasks: unknown task 'nextitm'", "did you mean 'nextitem'"]),
        ("protocol: chrnoo", ["protocol: 'chrnoo' is not one of loo, chrono", "did you mean 'chrono'"]),
        ("eval: {keep: finall}", ["eval.keep", "'finall' is not one of best, final", "did you mean 'final'"]),
        ("protocol: random", ["protocol: 'random' is not one of loo, chrono"]),
    ]
    for (yaml, needles) in cases {
        let e = try #require(sftError(yaml), "accepted: \(yaml)")
        for n in needles { #expect(e.contains(n), "\(yaml) → \(e)") }
        #expect(e.hasPrefix("bad.yaml"))
    }
    // Task weights are data, not fields: any task name is read (and then checked against the task list).
    #expect(sftError("tasks: {nextitem: 1, sid2title: 0.5}") == nil)
}

@Test func repeatedKeysAndWrongTypesNameTheFieldAndLine() throws {
    let cases: [(String, [String])] = [
        ("optim:\n  lr: 0.1\n  lr: 0.2\n", ["bad.yaml:3:", "optim.lr is given twice (lines 2 and 3)"]),
        ("seed: 1\nseed: 2\n", ["seed is given twice"]),
        ("optim: {steps: many}", ["optim.steps: expected an integer, found 'many'"]),
        ("optim: {steps: 1e6}", ["optim.steps: expected an integer", "1e6"]),
        ("optim: {lr: fast}", ["optim.lr: expected a number, found 'fast'"]),
        ("optim: [1, 2]", ["optim: expected a mapping of fields, found a list"]),
        ("model: {tie_word_embeddings: maybe}", ["model.tie_word_embeddings: expected true or false"]),
        ("optim: {steps: 99999999999999999999}", ["optim.steps: expected an integer in"]),
        ("optim: {dropout_tasks: [nextitem, nope]}", ["optim.dropout_tasks", "nope"]),
        ("- a\n- b\n", ["expected a mapping of fields at the top"]),
        ("optim: {steps: [1}", ["not valid YAML"]),
    ]
    for (yaml, needles) in cases {
        let e = try #require(sftError(yaml), "accepted: \(yaml)")
        for n in needles { #expect(e.contains(n), "\(yaml) → \(e)") }
    }
}

@Test func everyNumberIsRangeCheckedBeforeUse() throws {
    // Each of these once crashed (division by zero, allocation) or trained silently to NaN.
    let cases: [(String, String)] = [
        ("model: {num_attention_heads: 0}", "model.num_attention_heads = 0; allowed: an integer in 1...4096"),
        ("model: {num_attention_heads: -2}", "model.num_attention_heads = -2"),
        ("model: {num_hidden_layers: -1}", "model.num_hidden_layers = -1"),
        ("model: {hidden_size: 1000000000}", "model.hidden_size = 1000000000; allowed: an integer in 1...65536"),
        ("model: {hidden_size: 100, num_attention_heads: 3}", "model.hidden_size = 100; allowed: a multiple of num_attention_heads"),
        ("model: {num_attention_heads: 4, num_key_value_heads: 3}", "model.num_attention_heads = 4; allowed: a multiple of num_key_value_heads (3)"),
        ("model: {num_key_value_heads: 0}", "model.num_key_value_heads = 0"),
        ("model: {hidden_size: 12, num_attention_heads: 4}", "model.head_dim = 3; allowed: an even number"),
        ("model: {rope_theta: 0}", "model.rope_theta = 0"),
        ("model: {rms_norm_eps: -1}", "model.rms_norm_eps = -1; allowed: a number in (0, 1]"),
        ("model: {rms_norm_eps: .nan}", "model.rms_norm_eps = nan"),
        ("model: {max_position_embeddings: 0}", "model.max_position_embeddings = 0"),
        ("optim: {lr: .inf}", "optim.lr = inf; allowed: a number in (0, 10000000000]"),
        ("optim: {lr: -.inf}", "optim.lr = -inf"),
        ("optim: {lr: 0}", "optim.lr = 0"),
        ("optim: {weight_decay: .nan}", "optim.weight_decay = nan"),
        ("optim: {weight_decay: -10}", "optim.weight_decay = -10; allowed: a finite number ≥ 0"),
        ("optim: {lr: 1, weight_decay: 2}", "optim.weight_decay = 2; allowed: lr × weight_decay < 1"),
        ("optim: {beta1: 1.5}", "optim.beta1 = 1.5; allowed: a number in [0, 1)"),
        ("optim: {beta2: .nan}", "optim.beta2 = nan"),
        ("optim: {grad_clip: .inf}", "optim.grad_clip = inf"),
        ("optim: {batch_size: 0}", "optim.batch_size = 0"),
        ("optim: {batch_size: -1}", "optim.batch_size = -1"),
        ("optim: {steps: 0}", "optim.steps = 0"),
        ("optim: {warmup: -1}", "optim.warmup = -1"),
        ("optim: {dropout: 1}", "optim.dropout = 1"),
        ("optim: {ema: -0.5}", "optim.ema = -0.5"),
        ("optim: {window_batches: 0}", "optim.window_batches = 0"),
        ("eval: {beam: 0}", "eval.beam = 0"),
        ("eval: {every: -1}", "eval.every = -1"),
        ("sampling: {stride: 0}", "sampling.stride = 0"),
        ("max_history: 0", "max_history = 0"),
        ("text_vocab_size: 3", "text_vocab_size = 3"),
        ("tasks: {nextitem: .inf}", "tasks.nextitem = inf"),
        ("tasks: {nextitem: 1e300}", "tasks.nextitem = 1e+300"),
        ("tasks: {nextitem: 0}", "at least one task with a positive weight"),
    ]
    for (yaml, needle) in cases {
        let e = try #require(sftError(yaml), "accepted: \(yaml)")
        #expect(e.contains(needle) && e.hasPrefix("bad.yaml: "), "\(yaml) → \(e)")
    }
}

@Test func alignmentConfigsAreStrictAndRangeChecked() throws {
    func err<T: Decodable>(_ type: T.Type, _ yaml: String, validate: (T) throws -> Void) -> String? {
        do { try validate(try ConfigYAML.decode(T.self, from: yaml, path: "a.yaml")); return nil } catch let e as AlignError {
            return e.description
        } catch { return "not an AlignError: \(error)" }
    }
    let dpo: [(String, String)] = [
        ("num_negatives: 1000000000", "num_negatives = 1000000000"),
        ("num_negatives: 16777216", "num_negatives = 16777216"),   // at the ceiling: negative_beam's range would be empty
        ("num_negatives: 4\nnegative_beam: 3", "negative_beam = 3; allowed: an integer in 5...16777216"),
        ("beta: .nan", "beta = nan"),
        ("negatives: beams", "did you mean 'beam'"),
        ("optim: {micro_batch: 0}", "optim.micro_batch = 0"),
        ("optim: {lr: .inf}", "optim.lr = inf"),
        ("future_windw: 3", "did you mean 'future_window'"),
        ("protocol: chrnoo", "protocol: 'chrnoo' is not one of loo, chrono (did you mean 'chrono'?)"),
    ]
    for (yaml, needle) in dpo {
        let e = try #require(err(DPOConfig.self, "format: align-dpo-config\n" + yaml) { try $0.validate(path: "a.yaml") }, "accepted: \(yaml)")
        #expect(e.contains(needle) && e.hasPrefix("a.yaml"), "\(yaml) → \(e)")
    }
    let grpo: [(String, String)] = [
        ("group_size: 0", "group_size = 0"),
        ("temperature: 0", "temperature = 0"),
        ("reward: {ranking: .inf}", "reward.ranking = inf"),
        ("reward: {rankng: 1}", "did you mean 'reward.ranking'"),
        ("loss_normalization: tokens", "did you mean 'token'"),
        ("epsilon: .nan", "epsilon = nan"),
        ("optim: {steps: 1000000, batch_size: 100000}", "steps × batch_size"),
        ("embeddings: ''", "embeddings = ''"),
        ("protocol: leave-one-out", "protocol: 'leave-one-out' is not one of loo, chrono"),
    ]
    for (yaml, needle) in grpo {
        let e = try #require(err(GRPOConfig.self, "format: align-grpo-config\n" + yaml) { try $0.validate(path: "a.yaml") }, "accepted: \(yaml)")
        #expect(e.contains(needle) && e.hasPrefix("a.yaml"), "\(yaml) → \(e)")
    }
}

@Test func savedConfigsKeepTheirFloatsAsWritten() throws {
    let cfg = try TrainConfig.parse("""
    optim: {lr: 0.001, min_lr_ratio: 0.1, weight_decay: 0.05, beta2: 0.95, ema: 0.999, dropout: 0.2}
    model: {rms_norm_eps: 1e-5, rope_theta: 500000}
    tasks: {nextitem: 1, sid2title: 0.25, title2sid: 0.1}
    """, path: "t.yaml")
    let text = try cfg.yaml()
    for line in ["lr: 0.001", "min_lr_ratio: 0.1", "weight_decay: 0.05", "beta2: 0.95", "ema: 0.999", "dropout: 0.2",
                 "rms_norm_eps: 1e-05", "rope_theta: 500000.0", "title2sid: 0.1"] {
        #expect(text.contains(line), "missing \(line) in:\n\(text)")
    }
    #expect(!text.contains("0000000"), "long float in:\n\(text)")
    #expect(try TrainConfig.parse(text, path: "resolved") == cfg)
    var g = GRPOConfig(); g.futureDecay = 0.7; g.optim.lr = 3e-4
    let gtext = try g.yaml()
    #expect(gtext.contains("future_decay: 0.7") && gtext.contains("lr: 0.0003"), "\(gtext)")
    #expect(try ConfigYAML.decode(GRPOConfig.self, from: gtext, path: "g") == g)
    // Strings that would read back as another type are quoted (found by the config fuzz test: '' became null).
    for s in ["", "null", "true", "12", "1e5", "~", "no", "a: b", "- x"] {
        var d = DPOConfig(); d.format = s
        let back = try ConfigYAML.decode(DPOConfig.self, from: try d.yaml(), path: "d")
        #expect(back.format == s, "\(s) → \(back.format)")
    }
}

@Test func configJSONIsRangeCheckedBeforeAnyDivision() throws {
    let base: [String: Any] = ["vocab_size": 64, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                               "num_attention_heads": 2, "max_position_embeddings": 32]
    func err(_ change: [String: Any]) -> String? {
        let obj = base.merging(change) { $1 }
        let data = try! JSONSerialization.data(withJSONObject: obj)
        do { _ = try JSONDecoder().decode(LlamaConfig.self, from: data); return nil } catch let e as AlignError {
            return e.description
        } catch { return "not an AlignError: \(error)" }
    }
    #expect(err([:]) == nil)
    let cases: [([String: Any], String)] = [
        (["num_attention_heads": 0], "num_attention_heads = 0"),
        (["num_hidden_layers": -1], "num_hidden_layers = -1"),
        (["num_key_value_heads": 0], "num_key_value_heads = 0"),
        (["hidden_size": 0], "hidden_size = 0"),
        (["vocab_size": 0], "vocab_size = 0"),
        (["intermediate_size": -5], "intermediate_size = -5"),
        (["head_dim": 3], "head_dim = 3"),
        (["head_dim": 0], "head_dim = 0"),
        (["hidden_size": 18, "num_attention_heads": 4], "hidden_size = 18; allowed: a multiple of num_attention_heads"),
        (["rope_theta": 0], "rope_theta = 0"),
        (["rms_norm_eps": -1], "rms_norm_eps = -1"),
        (["max_position_embeddings": 0], "max_position_embeddings = 0"),
        (["eos_token_id": 64], "eos_token_id = 64; allowed: an integer in 0...63"),
        (["hidden_size": 1 << 20], "hidden_size = 1048576"),
    ]
    for (change, needle) in cases {
        let e = try #require(err(change), "accepted \(change)")
        #expect(e.contains("config.json") && e.contains(needle), "\(change) → \(e)")
    }
    // Old LLaMA configs carry pad_token_id -1 for "none".
    let data = try JSONSerialization.data(withJSONObject: base.merging(["pad_token_id": -1]) { $1 })
    #expect(try JSONDecoder().decode(LlamaConfig.self, from: data).padTokenId == nil)
}
