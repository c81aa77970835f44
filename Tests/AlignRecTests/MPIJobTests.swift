// `mpirun -np 2 align …` against one process, on the tiny world and configs/tiny.yaml (docs/scale-out.md):
// - SFT (with item memory and dropout): 2 ranks × 1 thread give 1 process × 2 threads' loss curve, validations,
//   best/ and last/ (weights, item memory, optimizer state) bit for bit; eval.json and the export are identical;
// - GRPO and DPO: the same rollouts, rewards, pairs and starting scores exactly; losses and weights within the
//   stated tolerance (the ranks' gradients are added in another order than one process adds its micro-batches);
// - a rank killed mid-run ends the job with an error naming it, last/ holds the checkpoint before the kill, and
//   `--resume` under mpirun finishes with the uninterrupted run's weights and metrics, bit for bit.
// The binary is the one `swift build --build-tests` puts beside the test bundle; mpirun comes with openmpi-bin
// (scripts/setup installs it).
import AlignCore
import AlignRec
import Foundation
import Testing

/// The repository root (configs/ lives there).
private let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The `align` executable built with the tests.
private func alignBinary() throws -> URL {
    let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("align")
    let built = repo.appendingPathComponent(".build/debug/align")
    for u in [beside, built] where FileManager.default.isExecutableFile(atPath: u.path) { return u }
    throw AlignError.io(path: built.path, message: "the align binary is not built (run `swift build --build-tests`)")
}

/// `mpirun` on PATH.
private func mpirun() throws -> URL {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for dir in path.split(separator: ":") {
        let u = URL(fileURLWithPath: String(dir)).appendingPathComponent("mpirun")
        if FileManager.default.isExecutableFile(atPath: u.path) { return u }
    }
    throw AlignError.io(path: "mpirun", message: "not found on PATH: the MPI tests need Open MPI's launcher (scripts/setup installs openmpi-bin)")
}

/// What a command printed and how it ended.
private struct Outcome {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `align args…` as one process on 2 threads (`ranks` nil) or under `mpirun -np ranks` on 1 thread per rank,
/// with `env` added to the environment.
private func align(_ args: [String], ranks: Int? = nil, env: [String: String] = [:], in dir: URL) throws -> Outcome {
    let p = Process()
    let bin = try alignBinary()
    var environment = ProcessInfo.processInfo.environment
    environment["ALIGN_THREADS"] = ranks == nil ? "2" : "1"
    for (k, v) in env { environment[k] = v }
    if let ranks {
        p.executableURL = try mpirun()
        p.arguments = ["--allow-run-as-root", "--oversubscribe", "-np", "\(ranks)", "-x", "ALIGN_THREADS"]
            + env.keys.sorted().flatMap { ["-x", $0] } + [bin.path] + args
    } else {
        p.executableURL = bin
        p.arguments = args
    }
    p.environment = environment
    p.currentDirectoryURL = dir
    let out = dir.appendingPathComponent(".out-\(UUID().uuidString)"), err = dir.appendingPathComponent(".err-\(UUID().uuidString)")
    FileManager.default.createFile(atPath: out.path, contents: nil)
    FileManager.default.createFile(atPath: err.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: out); try? FileManager.default.removeItem(at: err) }
    p.standardInput = FileHandle.nullDevice
    p.standardOutput = try FileHandle(forWritingTo: out)
    p.standardError = try FileHandle(forWritingTo: err)
    try p.run()
    p.waitUntilExit()
    return Outcome(status: p.terminationStatus, stdout: try String(contentsOf: out, encoding: .utf8),
                   stderr: try String(contentsOf: err, encoding: .utf8))
}

/// Runs `align args…` and requires exit 0.
@discardableResult
private func succeed(_ args: [String], ranks: Int? = nil, env: [String: String] = [:], in dir: URL) throws -> Outcome {
    let o = try align(args, ranks: ranks, env: env, in: dir)
    #expect(o.status == 0, "align \(args.joined(separator: " ")) (ranks \(ranks ?? 1)) exited \(o.status): \(o.stderr)")
    if o.status != 0 { throw AlignError.invalidArgument("align \(args.first ?? "") failed") }
    return o
}

/// configs/tiny.yaml with item memory on, written into `dir`.
private func tinyConfig(in dir: URL) throws -> String {
    let text = try String(contentsOf: repo.appendingPathComponent("configs/tiny.yaml"), encoding: .utf8)
    let url = dir.appendingPathComponent("tiny-item-memory.yaml")
    try (text + "item_memory:\n  enabled: true\n").write(to: url, atomically: true, encoding: .utf8)
    return url.path
}

/// The objects of a JSON file or of every line of a JSONL file, without the given (wall-clock) keys.
private func jsonObjects(_ url: URL, dropping keys: Set<String>) throws -> [[String: Any]] {
    let text = try String(contentsOf: url, encoding: .utf8)
    let lines = url.pathExtension == "jsonl" ? text.split(separator: "\n").map(String.init) : [text]
    return try lines.map { line in
        var o = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        for k in keys { o[k] = nil }
        return o
    }
}

private let clockKeys: Set<String> = ["time", "seconds", "tokens_per_s", "rollout_seconds", "train_seconds", "minutes",
                                      "users_per_second", "model"]

/// The JSON texts of `jsonObjects` (sorted keys), for exact comparison.
private func canonical(_ url: URL) throws -> [String] {
    try jsonObjects(url, dropping: clockKeys).map {
        String(decoding: try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]), as: UTF8.self)
    }
}

/// The float values of a safetensors file's tensors, by name.
private func floats(_ url: URL) throws -> [Float] {
    let f = try SafetensorsFile(url: url)
    return try f.names.sorted().flatMap { try f.floats($0) }
}

/// Whether two checkpoint files hold the same content: the same bits in every tensor (and the same tensor names) for
/// safetensors, the same bytes otherwise. (Safetensors metadata is JSON whose key order may vary between processes.)
private func sameContent(_ a: URL, _ b: URL) throws -> Bool {
    guard a.pathExtension == "safetensors" else { return try Data(contentsOf: a) == Data(contentsOf: b) }
    let fa = try SafetensorsFile(url: a), fb = try SafetensorsFile(url: b)
    guard fa.names.sorted() == fb.names.sorted() else { return false }
    for n in fa.names where try fa.floats(n).map(\.bitPattern) != fb.floats(n).map(\.bitPattern) { return false }
    return true
}

@Suite(.serialized) struct MPIJobTests {
    @Test func sftEvalExportAndGRPOUnderMPIMatchOneProcess() throws {
        let w = try TinyRunWorld.make()
        defer { try? FileManager.default.removeItem(at: w.root) }
        let root = w.root, cfg = try tinyConfig(in: root)
        func sft(_ out: String) -> [String] {
            ["sft", "--data", w.data.path, "--prompts", w.prompts.path, "--config", cfg, "--out", root.appendingPathComponent(out).path,
             "--steps", "12", "--eval-every", "4", "--dropout", "0.1", "--no-progress"]
        }
        try succeed(sft("one"), in: root)
        try succeed(sft("two"), ranks: 2, in: root)
        let one = root.appendingPathComponent("one"), two = root.appendingPathComponent("two")
        // The loss curve and every validation, exactly.
        let curve = try canonical(one.appendingPathComponent("metrics.jsonl"))
        #expect(curve.count == 5 && curve.contains { $0.contains("\"item_loss\"") }, "\(curve)")   // steps 10, 12; validations 4, 8, 12
        #expect(try canonical(two.appendingPathComponent("metrics.jsonl")) == curve)
        // The checkpoints, bit for bit: weights, item memory, optimizer moments, resume state.
        for file in ["last/model.safetensors", "last/item_memory.safetensors", "last/optimizer.safetensors", "last/align.json",
                     "best/model.safetensors", "best/item_memory.safetensors"] {
            let same = try sameContent(one.appendingPathComponent(file), two.appendingPathComponent(file))
            #expect(same, "\(file) differs between 1 process × 2 threads and 2 ranks × 1 thread")
        }
        // Only rank 0 wrote: no file of another process in the run directory.
        let names = try FileManager.default.contentsOfDirectory(atPath: two.path).sorted()
        #expect(names == ["best", "config.yaml", "last", "metrics.jsonl", "run.json"], "\(names)")

        // eval.json and the export of one checkpoint, in one process and over two ranks.
        for (name, ranks) in [("one", nil), ("two", 2)] as [(String, Int?)] {
            try succeed(["eval", "--model", one.path, "--data", w.data.path, "--out", root.appendingPathComponent("eval-\(name).json").path,
                         "--no-progress"], ranks: ranks, in: root)
            try succeed(["export", "--model", one.path, "--data", w.data.path, "--users", "all", "--k", "10",
                         "--out", root.appendingPathComponent("recs-\(name).jsonl").path, "--no-progress"], ranks: ranks, in: root)
        }
        let report = try canonical(root.appendingPathComponent("eval-one.json"))
        #expect(report.first?.contains("\"translation\"") == true && report.first?.contains("\"metrics\"") == true)
        #expect(try canonical(root.appendingPathComponent("eval-two.json")) == report)
        let rows = try Data(contentsOf: root.appendingPathComponent("recs-one.jsonl"))
        #expect(String(decoding: rows, as: UTF8.self).split(separator: "\n").count == 12)
        let sameRows = try Data(contentsOf: root.appendingPathComponent("recs-two.jsonl")) == rows
        #expect(sameRows, "export rows differ")

        // GRPO and DPO from the SFT run, with micro-batches of 8 sequences so that both ranks score and back-propagate.
        for stage in ["grpo", "dpo"] {
            let text = try String(contentsOf: repo.appendingPathComponent("configs/\(stage).yaml"), encoding: .utf8)
                .replacingOccurrences(of: "micro_batch: 32", with: "micro_batch: 8")
            #expect(text.contains("micro_batch: 8"))
            let config = root.appendingPathComponent("\(stage).yaml")
            try text.write(to: config, atomically: true, encoding: .utf8)
            let extra = stage == "grpo" ? ["--batch-size", "8", "--group-size", "4", "--iterations", "2"]
                                        : ["--batch-size", "16", "--max-pairs", "48", "--negatives", "random"]
            func args(_ out: String) -> [String] {
                [stage, "--from", one.path, "--data", w.data.path, "--config", config.path, "--out", root.appendingPathComponent(out).path,
                 "--steps", "3", "--lr", "0.001", "--eval-every", "2", "--no-progress"] + extra
            }
            try succeed(args("\(stage)-one"), in: root)
            try succeed(args("\(stage)-two"), ranks: 2, in: root)
            try expectClose(root.appendingPathComponent("\(stage)-one"), root.appendingPathComponent("\(stage)-two"),
                            splitKey: stage == "grpo" ? "active" : nil)
        }
    }

    /// A JSON value as text, objects with sorted keys (nested records such as "goals" compare by content).
    func jsonText(_ v: Any) -> String {
        guard JSONSerialization.isValidJSONObject(v),
              let d = try? JSONSerialization.data(withJSONObject: v, options: [.sortedKeys]) else { return "\(v)" }
        return String(decoding: d, as: UTF8.self)
    }

    /// An alignment run over two ranks against one process: the same events, rollouts, rewards and validations; the
    /// loss statistics and the weights within `AlignmentTolerance`. With `splitKey`, some step must have had more than
    /// one micro-batch of work (so both ranks trained).
    func expectClose(_ a: URL, _ b: URL, splitKey: String?) throws {
        let g1 = try jsonObjects(a.appendingPathComponent("metrics.jsonl"), dropping: clockKeys)
        let g2 = try jsonObjects(b.appendingPathComponent("metrics.jsonl"), dropping: clockKeys)
        #expect(g1.count == g2.count && g1.count >= 5, "\(a.lastPathComponent): \(g1.count) against \(g2.count) metrics lines")
        let statistics: Set<String> = ["loss", "kl", "kl_item", "entropy", "grad_norm", "rewards_chosen", "rewards_rejected",
                                       "rewards_margin", "chosen_logratio"]
        var split = splitKey == nil
        for (x, y) in zip(g1, g2) {
            #expect(Set(x.keys) == Set(y.keys))
            for (k, vx) in x {
                if statistics.contains(k), let p = vx as? Double, let q = y[k] as? Double {
                    #expect(abs(p - q) <= AlignmentTolerance.statistic * max(1, abs(p)), "\(a.lastPathComponent) \(k): \(p) vs \(q)")
                } else {
                    #expect(jsonText(vx) == jsonText(y[k] ?? "none"), "\(a.lastPathComponent) \(k) at step \(x["step"] ?? "?"): \(vx) vs \(y[k] ?? "none")")
                }
            }
            if let splitKey, (x[splitKey] as? Int ?? 0) > 8 { split = true }
        }
        #expect(split, "no step trained on more than one micro-batch: the comparison would not split any work")
        let wa = try floats(a.appendingPathComponent("last/model.safetensors")), wb = try floats(b.appendingPathComponent("last/model.safetensors"))
        #expect(wa.count == wb.count)
        let diff = zip(wa, wb).map { abs($0 - $1) }.max() ?? 0, scale = wa.map(abs).max() ?? 1
        #expect(diff <= AlignmentTolerance.weights * scale, "\(a.lastPathComponent): weights differ by \(diff) (largest weight \(scale))")
    }

    @Test func aKilledRankEndsTheJobAndResumeFinishesWithTheUninterruptedWeights() throws {
        let w = try TinyRunWorld.make()
        defer { try? FileManager.default.removeItem(at: w.root) }
        let root = w.root, cfg = try tinyConfig(in: root)
        func sft(_ out: String, _ extra: [String] = []) -> [String] {
            ["sft", "--data", w.data.path, "--prompts", w.prompts.path, "--out", root.appendingPathComponent(out).path,
             "--no-progress"] + (extra.contains("--resume") ? [] : ["--config", cfg, "--steps", "12", "--eval-every", "4"]) + extra
        }
        try succeed(sft("whole"), in: root)
        // Rank 1 dies (SIGKILL) right after step 6: the job ends with an error, nothing after step 4 was kept.
        let killed = try align(sft("killed"), ranks: 2, env: ["ALIGN_FAULT_KILL": "1:6"], in: root)
        #expect(killed.status != 0)
        #expect(killed.stderr.contains("rank 1") && killed.stderr.contains("signal 9"), "\(killed.stderr)")
        #expect(killed.stderr.contains("stopped by the MPI launcher"), "\(killed.stderr)")
        let run = root.appendingPathComponent("killed")
        let state = try #require(try RecModel.load(run.appendingPathComponent("last")).info.state?.decode(SFTState.self))
        #expect(state.step == 4)
        // --resume under mpirun finishes the run: the uninterrupted weights and metrics, bit for bit.
        try succeed(sft("killed", ["--resume"]), ranks: 2, in: root)
        for file in ["last/model.safetensors", "last/item_memory.safetensors", "last/optimizer.safetensors", "best/model.safetensors"] {
            let same = try sameContent(run.appendingPathComponent(file), root.appendingPathComponent("whole/\(file)"))
            #expect(same, "\(file) of the resumed run differs from the uninterrupted one")
        }
        let resumed = try canonical(run.appendingPathComponent("metrics.jsonl")), whole = try canonical(root.appendingPathComponent("whole/metrics.jsonl"))
        #expect(resumed == whole, "\(resumed) against \(whole)")
    }

    @Test func commandsThatAreNotDataParallelRefuseSeveralRanks() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("align-mpi-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let o = try align(["report", dir.path], ranks: 2, in: dir)
        #expect(o.status == 1)
        #expect(o.stderr.contains("error: this command runs in one process") && o.stderr.contains("sft, dpo, grpo, eval and export"), "\(o.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("report.html").path))
    }
}

/// How far DPO and GRPO over two ranks may be from one process after the tests' 3 steps: a step statistic relative
/// to its value (at least 1), a weight relative to the largest weight. Measured on the tiny world: statistics within
/// 1.5e-8 (DPO's Float gradient norm), weights within 7.5e-9 of 1.06 (docs/scale-out.md): margins of about 70 and
/// 1,000.
enum AlignmentTolerance {
    static let statistic = 1e-6
    static let weights: Float = 1e-5
}
