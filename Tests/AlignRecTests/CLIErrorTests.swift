// Every input issue 25 lists, given to the `align` binary the way a user would: each must print exactly one
// `error:` line naming the file or option, the value and the allowed range, exit with status 1 and write nothing.
// Before the fixes these crashed (SIGFPE, SIGILL, "failed to allocate", unbounded memory), or ran to exit 0 with
// wrong results. The binary is the one `swift build --build-tests` puts beside the test bundle.
import AlignCore
import AlignRec
import Foundation
import Testing

/// The `align` executable built with the tests.
private func alignBinary() throws -> URL {
    let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("align")
    let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/debug/align")
    for u in [beside, repo] where FileManager.default.isExecutableFile(atPath: u.path) { return u }
    throw AlignError.io(path: repo.path, message: "the align binary is not built (run `swift build --build-tests`)")
}

/// Runs `align args…`; returns (status, stdout, stderr).
private func align(_ args: [String], in dir: URL) throws -> (Int32, String, String) {
    let p = Process()
    p.executableURL = try alignBinary()
    p.arguments = args
    p.currentDirectoryURL = dir
    let out = Pipe(), err = Pipe()
    p.standardOutput = out; p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// A copy of checkpoint `src` at `dst` with config.json fields changed.
private func editedCheckpoint(_ src: URL, _ dst: URL, _ change: [String: Any]) throws {
    try FileManager.default.copyItem(at: src, to: dst)
    let url = dst.appendingPathComponent("config.json")
    var obj = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    for (k, v) in change { obj[k] = v }
    try JSONSerialization.data(withJSONObject: obj).write(to: url)
}

@Suite(.serialized) struct CLIErrorTests {
    init() { Blas.setThreads(1) }

    @Test func everyListedInputIsOneErrorLineAndExitOne() throws {
        let w = try TinyRunWorld.make()
        defer { try? FileManager.default.removeItem(at: w.root) }
        let root = w.root, fm = FileManager.default
        try w.sft(try TinyRunWorld.config(), out: "sft")
        let run = root.appendingPathComponent("sft").path, best = root.appendingPathComponent("sft/best")
        let data = w.data.path, prompts = w.prompts.path

        // Configs: a valid tiny preset, and one bad line added to it per case.
        let tiny = """
        model: {hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 2, max_position_embeddings: 64}
        max_history: 4
        tasks: {nextitem: 1}
        optim: {steps: 2, batch_size: 8, warmup: 0, window_batches: 2}
        eval: {every: 0, beam: 6, max_users: 6}
        """
        func preset(_ name: String, _ text: String) throws -> String {
            let url = root.appendingPathComponent(name)
            try text.write(to: url, atomically: true, encoding: .utf8)
            return url.path
        }
        let good = try preset("tiny.yaml", tiny)
        func sft(_ yaml: String, _ extra: [String] = []) throws -> [String] {
            ["sft", "--data", data, "--prompts", prompts, "--config", try preset("c\(UUID().uuidString.prefix(6)).yaml", yaml),
             "--out", root.appendingPathComponent("new-run").path, "--no-progress"] + extra
        }
        // Checkpoints with a bad config.json or weights.
        let heads0 = root.appendingPathComponent("heads0"), layersNeg = root.appendingPathComponent("layers-1")
        let pos1 = root.appendingPathComponent("pos1"), nan = root.appendingPathComponent("nan")
        try editedCheckpoint(best, heads0, ["num_attention_heads": 0])
        try editedCheckpoint(best, layersNeg, ["num_hidden_layers": -1])
        try editedCheckpoint(best, pos1, ["max_position_embeddings": 1])
        try fm.copyItem(at: best, to: nan)
        let sf = try SafetensorsFile(url: nan.appendingPathComponent("model.safetensors"))
        let tensors = try sf.names.map { n -> SafetensorsTensor in
            var v = try sf.floats(n)
            if n == "model.norm.weight" { v[0] = .nan }
            return SafetensorsTensor(name: n, shape: try sf.entry(n).shape, floats: v)
        }
        try SafetensorsWriter.write(tensors, metadata: ["format": "pt"], to: nan.appendingPathComponent("model.safetensors"))

        let cases: [([String], String)] = [
            // Crashes before: SIGFPE / SIGILL on a zero head count, unbounded memory on -1 layers.
            (["generate", "--model", heads0.path, "--prompt-ids", "1,2"], "num_attention_heads = 0"),
            (["eval", "--model", heads0.path, "--data", data, "--no-progress"], "num_attention_heads = 0"),
            (["recommend", "--model", heads0.path, "--history-ids", "1"], "num_attention_heads = 0"),
            (["eval", "--model", layersNeg.path, "--data", data, "--no-progress"], "num_hidden_layers = -1"),
            (try sft(tiny.replacingOccurrences(of: "num_attention_heads: 2", with: "num_attention_heads: 0")), "model.num_attention_heads = 0"),
            // Sizes the machine cannot hold, and beams or lists wider than the catalogue.
            (try sft(tiny.replacingOccurrences(of: "batch_size: 8", with: "batch_size: 1000000")), "needs about"),
            (try sft(tiny.replacingOccurrences(of: "hidden_size: 32", with: "hidden_size: 1000000000")), "model.hidden_size = 1000000000"),
            (try sft(tiny.replacingOccurrences(of: "beam: 6", with: "beam: 100000")), "eval.beam = 100000"),
            (["dpo", "--from", run, "--data", data, "--out", root.appendingPathComponent("dpo").path, "--num-negatives", "1000000"], "num_negatives = 1000000"),
            (["grpo", "--from", run, "--data", data, "--out", root.appendingPathComponent("grpo").path, "--goal-groups", "hits"], "--goal-groups = 'hits'; allowed: all, hit"),
            (["recommend", "--model", run, "--history-ids", "1", "--beam", "1000000"], "--beam = 1000000"),
            (["recommend", "--model", run, "--history-ids", "1", "--beam", "0"], "--beam = 0"),
            (["chat", "--model", run, "--prompt", "what is <a_1><b_2>?", "--k", "1000000"], "--k = 1000000"),
            (["recommend", "--model", run, "--history-ids", "1", "--k", "0"], "--k = 0"),
            // Decoding-time remedies: values, combinations and options without their method.
            (["recommend", "--model", run, "--history-ids", "1", "--mmr-lambda", "1.5"], "--mmr-lambda = 1.5"),
            (["recommend", "--model", run, "--history-ids", "1", "--k", "4", "--mmr-lambda", "0.5", "--mmr-pool", "3"], "--mmr-pool = 3"),
            (["recommend", "--model", run, "--history-ids", "1", "--mmr-pool", "30"], "--mmr-pool = 30; allowed: only with --mmr-lambda"),
            (["recommend", "--model", run, "--history-ids", "1", "--k", "2", "--beam", "6", "--diverse-groups", "4"], "--diverse-groups = 4"),
            (["recommend", "--model", run, "--history-ids", "1", "--diverse-groups", "2", "--diversity-penalty=-1"], "--diversity-penalty = -1"),
            (["eval", "--model", run, "--data", data, "--no-progress", "--mmr-lambda", "0.5", "--diverse-groups", "2"], "not both"),
            // Silent wrong results before: non-finite settings, unknown/repeated keys, wrong types.
            (try sft(tiny.replacingOccurrences(of: "warmup: 0", with: "warmup: 0, lr: .inf")), "optim.lr = inf"),
            (try sft(tiny.replacingOccurrences(of: "warmup: 0", with: "warmup: 0, weight_decay: .nan")), "optim.weight_decay = nan"),
            (try sft(tiny.replacingOccurrences(of: "warmup: 0", with: "warmup: 0, beta2: .nan")), "optim.beta2 = nan"),
            (try sft(tiny.replacingOccurrences(of: "warmup: 0", with: "warmup: 0, weight_decay: -10")), "optim.weight_decay = -10"),
            (try sft(tiny.replacingOccurrences(of: "warmup: 0", with: "warmup: 0, beta1: 1.5")), "optim.beta1 = 1.5"),
            (try sft(tiny.replacingOccurrences(of: "max_position_embeddings: 64", with: "max_position_embeddings: 64, rope_theta: 0")), "model.rope_theta = 0"),
            (try sft(tiny.replacingOccurrences(of: "max_position_embeddings: 64", with: "max_position_embeddings: 64, rms_norm_eps: -1")), "model.rms_norm_eps = -1"),
            (try sft(tiny + "\nstepz: 5\n"), "did you mean 'optim.steps'"),
            (try sft(tiny.replacingOccurrences(of: "steps: 2", with: "steps: 2, learning_rate: 0.1")), "unknown key 'optim.learning_rate'"),
            (try sft(tiny + "\nmax_history: 5\n"), "max_history is given twice"),
            (try sft(tiny.replacingOccurrences(of: "steps: 2", with: "steps: two")), "optim.steps: expected an integer"),
            // Protocol and task names are read typed where the file enters.
            (try sft(tiny + "\nprotocol: chrnoo\n"), "protocol: 'chrnoo' is not one of loo, chrono (did you mean 'chrono'?)"),
            (try sft(tiny.replacingOccurrences(of: "tasks: {nextitem: 1}", with: "tasks: {nextitm: 1}")), "tasks: unknown task 'nextitm' (did you mean 'nextitem'?"),
            (["sft", "--data", data, "--prompts", prompts, "--config", good, "--out", root.appendingPathComponent("new-run").path, "--lr", "inf"],
             "with --lr: optim.lr = inf"),
            (["sft", "--data", data, "--prompts", prompts, "--config", good, "--out", root.appendingPathComponent("new-run").path, "--keep", "last"],
             "--keep = 'last'; allowed: best, final"),
            // Checkpoints that do not hold together.
            (["eval", "--model", nan.path, "--data", data, "--no-progress"], "model.norm.weight"),
            (["recommend", "--model", nan.path, "--history-ids", "1"], "non-finite"),
            (["generate", "--model", nan.path, "--prompt-ids", "1,2"], "non-finite"),
            (["eval", "--model", pos1.path, "--data", data, "--no-progress"], "max_position_embeddings"),
            (["recommend", "--model", pos1.path, "--history-ids", "1"], "max_position_embeddings"),
            // Options.
            (["generate", "--model", run, "--prompt-ids", "1", "--top-p", "2"], "--top-p = 2"),
            (["generate", "--model", run, "--prompt-ids", "1", "--temperature", "nan"], "--temperature = nan"),
            (["eval", "--model", run, "--data", data, "--max-examples=-3"], "--max-examples = -3"),
            (["eval", "--model", run, "--data", data, "--split", "train"], "--split = train; allowed: valid or test"),
            (["compare", "--a", run, "--b", run, "--data", data, "--k", "50"], "--k = 50"),
            (["tokenizer", "train", "--data", data, "--vocab-size", "0", "--out", root.appendingPathComponent("tok").path], "--vocab-size = 0"),
            (["sid", "build", "--data", data, "--levels", "0", "--out", root.appendingPathComponent("sid").path], "--levels = 0"),
            (["sid", "bench", "--n=-5"], "--n = -5"),
            (["embed", "--data", data, "--collaborative", "--cf-weight", "2"], "--cf-weight = 2"),
            (["data", "prepare", "--format", "movielens", data, "--out", root.appendingPathComponent("ds").path, "--min-count", "0"], "--min-count = 0"),
            // An existing run is not overwritten without --resume or --overwrite.
            (["sft", "--data", data, "--prompts", prompts, "--config", good, "--out", run], "already holds a run"),
            (["grpo", "--from", run, "--data", data, "--out", run], "already holds a run"),
        ]
        let runBefore = try TinyRunWorld.metrics(URL(fileURLWithPath: run))
        for (args, needle) in cases {
            let (status, _, err) = try align(args, in: root)
            let lines = err.split(separator: "\n", omittingEmptySubsequences: true)
            #expect(status == 1, "\(args.joined(separator: " ")) → status \(status), stderr: \(err)")
            #expect(lines.count == 1 && lines[0].hasPrefix("error: ") && err.contains(needle),
                    "\(args.joined(separator: " ")) → \(err)")
        }
        for name in ["new-run", "dpo", "tok", "sid", "ds"] {
            #expect(!fm.fileExists(atPath: root.appendingPathComponent(name).path), "\(name) was written")
        }
        #expect(try TinyRunWorld.metrics(URL(fileURLWithPath: run)) == runBefore, "the existing run was changed")
        // The same commands with good values succeed (so the cases fail for the value, not the command).
        for args in [["recommend", "--model", run, "--history-ids", "1", "--k", "3"],
                     ["recommend", "--model", run, "--history-ids", "1", "--k", "3", "--mmr-lambda", "0.5", "--mmr-pool", "6"],
                     ["recommend", "--model", run, "--history-ids", "1", "--k", "3", "--beam", "4", "--diverse-groups", "2",
                      "--diversity-penalty", "2"],
                     ["generate", "--model", run, "--prompt-ids", "1,2", "--max-new-tokens", "2"],
                     ["sft", "--data", data, "--prompts", prompts, "--config", good, "--out", root.appendingPathComponent("ok").path, "--no-progress"]] {
            let (status, _, err) = try align(args, in: root)
            #expect(status == 0, "\(args.joined(separator: " ")) → \(status): \(err)")
        }
    }
}
