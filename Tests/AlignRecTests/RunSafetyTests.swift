// Run directories and training runs that cannot lose or corrupt work (issue 25): an existing run is never
// overwritten without --resume/--overwrite, a start that fails writes nothing, a diverging run stops with its
// last good checkpoint intact and loadable, resume cuts metrics.jsonl back to the checkpoint and keeps every
// invocation in run.json, leftovers of dead processes are cleaned, and a kill at any rename of the checkpoint
// writer leaves a run that `--resume` finishes with the uninterrupted run's weights, bit for bit.
import AlignCore
import AlignRec
import Foundation
import Testing


/// A file system that dies at rename number `killAt` (counting only `counts(from, to)` renames): that rename and
/// every call after it fail without touching the disk, as after a SIGKILL.
final class KillingFileSystem: AtomicFileSystem, @unchecked Sendable {
    struct Killed: Error {}
    let killAt: Int
    let counts: (URL, URL) -> Bool
    var seen = 0
    var dead = false
    init(killAt: Int, counts: @escaping (URL, URL) -> Bool) { self.killAt = killAt; self.counts = counts }

    func rename(_ from: URL, to: URL) throws {
        if dead { throw Killed() }
        if counts(from, to) {
            if seen == killAt { dead = true; throw Killed() }
            seen += 1
        }
        try PosixFileSystem().rename(from, to: to)
    }
    func remove(_ url: URL) throws {
        if dead { throw Killed() }
        try PosixFileSystem().remove(url)
    }
}

@Suite(.serialized) struct RunSafetyTests {
    init() { Blas.setThreads(1) }

    @Test func anExistingRunNeedsResumeOrOverwrite() throws {
        let w = try TinyRunWorld.make()
        defer { try? FileManager.default.removeItem(at: w.root) }
        let cfg = try TinyRunWorld.config()
        try w.sft(cfg, out: "run")
        let run = w.root.appendingPathComponent("run")
        let before = try TinyRunWorld.metrics(run)
        let e = failure { try w.sft(cfg, out: "run") }
        #expect(e.contains("already holds a run") && e.contains("--resume") && e.contains("--overwrite"), "\(e)")
        #expect(try TinyRunWorld.metrics(run) == before, "a refused start changed metrics.jsonl")
        // --resume of a finished run keeps its weights and adds an invocation to run.json.
        let last = try TinyRunWorld.weights(run.appendingPathComponent("last"))
        try w.sft(cfg, out: "run", resume: true)
        #expect(try TinyRunWorld.weights(run.appendingPathComponent("last")) == last)
        let info = try JSONDecoder().decode(RunInfo.self, from: Data(contentsOf: run.appendingPathComponent("run.json")))
        #expect(info.invocations?.count == 2 && info.invocations?[1].resumedAtStep == 6)
        // --overwrite starts again: same seed, same weights, one invocation.
        try w.sft(cfg, out: "run", overwrite: true)
        #expect(try TinyRunWorld.weights(run.appendingPathComponent("last")) == last)
        let again = try JSONDecoder().decode(RunInfo.self, from: Data(contentsOf: run.appendingPathComponent("run.json")))
        #expect(again.invocations?.count == 1)
        // Nothing to resume in a directory without a run.
        #expect(failure { try w.sft(cfg, out: "none", resume: true) }.contains("no run to resume"))
        // An unreadable run record is named, not silently replaced.
        try Data("{\"stage\": ".utf8).write(to: run.appendingPathComponent("run.json"))
        let bad = failure { try w.sft(cfg, out: "run", resume: true) }
        #expect(bad.contains("run.json") && bad.contains("--overwrite"), "\(bad)")
    }

    @Test func aFailedStartLeavesNothing() throws {
        let w = try TinyRunWorld.make()
        defer { try? FileManager.default.removeItem(at: w.root) }
        // Each fails after the config was accepted: memory, data, prompts.
        var huge = try TinyRunWorld.config(); huge.optim.batchSize = 1_000_000
        let e = failure { try w.sft(huge, out: "huge") }
        #expect(e.contains("needs about") && e.contains("this machine has"), "\(e)")
        #expect(!FileManager.default.fileExists(atPath: w.root.appendingPathComponent("huge").path))
        var o = w.options(try TinyRunWorld.config(), out: "nodata")
        o.data = w.root.appendingPathComponent("missing")
        #expect(failure { _ = try SFTRun.run(o) { _ in } } != "")
        #expect(!FileManager.default.fileExists(atPath: o.out.path))
        var bad = try TinyRunWorld.config(); bad.optim.lr = .infinity   // validated again by SFTRun itself
        #expect(failure { try w.sft(bad, out: "inf") }.contains("optim.lr = inf"))
        #expect(!FileManager.default.fileExists(atPath: w.root.appendingPathComponent("inf").path))
    }

    @Test func aDivergingRunStopsWithItsLastGoodCheckpointIntact() throws {
        let w = try TinyRunWorld.make()
        defer { try? FileManager.default.removeItem(at: w.root) }
        var cfg = try TinyRunWorld.config(steps: 40, lr: 1e9)
        cfg.optim.warmup = 0; cfg.optim.gradClip = 0; cfg.eval.every = 1   // a checkpoint after every step
        let e = failure { try w.sft(cfg, out: "nan") }
        #expect(e.contains("training diverged at step") && e.contains("last good checkpoint: /") && e.contains("optim.lr (now 1000000000)"), "\(e)")
        let run = w.root.appendingPathComponent("nan")
        // The last good checkpoint is intact, loads (RecModel.load refuses non-finite tensors) and is the step
        // before the one that diverged.
        let last = try RecModel.load(run.appendingPathComponent("last"))
        #expect(try last.params.firstNonFinite() == nil && RecModel.load(run.appendingPathComponent("best")).params.firstNonFinite() == nil)
        let step = try #require(try last.info.state?.decode(SFTState.self).step)
        #expect(e.contains("diverged at step \(step + 1):") && e.contains("last (step \(step))"), "\(e)")
        let lines = try MetricsLog.read(run.appendingPathComponent("metrics.jsonl"))
        #expect(lines.contains { ($0["stage"] as? String) == "sft_diverged" })
        // Saving non-finite weights is refused and leaves no directory.
        let m = try RecModel(params: w.world.params(), tokenizer: w.world.tokenizer, sidMap: w.world.sidMap, items: w.world.items,
                             prompts: w.world.prompts, taskConfig: TaskConfig(maxHistory: 4), info: AlignInfo())
        m.params.data[m.params.layout.layers[0].down + 3] = .nan
        let save = failure { try m.save(to: w.root.appendingPathComponent("nan-ckpt"), stage: "test") }
        #expect(save.contains("model.layers.0.mlp.down_proj.weight") && save.contains("not saved"), "\(save)")
        #expect(!FileManager.default.fileExists(atPath: w.root.appendingPathComponent("nan-ckpt").path))
    }

    @Test func resumeCutsMetricsBackAndLeftoversOfDeadProcessesGo() throws {
        let w = try TinyRunWorld.make()
        defer { try? FileManager.default.removeItem(at: w.root) }
        let cfg = try TinyRunWorld.config()
        try w.sft(cfg, out: "full")
        let full = try TinyRunWorld.metrics(w.root.appendingPathComponent("full"))
        // Killed as the last validation (step 6) moves the step-4 last/ aside: last/ stays at step 4 while
        // metrics.jsonl already holds step 6's lines.
        let fs = KillingFileSystem(killAt: 1) { from, _ in from.lastPathComponent == "last" }
        #expect(throws: (any Error).self) { try AtomicFile.$fileSystem.withValue(fs) { try w.sft(cfg, out: "cut") } }
        #expect(fs.dead)
        let run = w.root.appendingPathComponent("cut")
        #expect(try TinyRunWorld.metrics(run).contains { $0.contains("sft_valid") && $0.contains("\"step\":6") })
        // A half-written last line, as a kill during a write leaves it.
        let log = run.appendingPathComponent("metrics.jsonl")
        let text = try String(contentsOf: log, encoding: .utf8) + #"{"stage":"sft_tr"#
        try text.write(to: log, atomically: true, encoding: .utf8)
        // Leftovers of a process that no longer runs (pid above pid_max).
        let fm = FileManager.default
        for name in [".last.99999999.tmpdir", ".best.99999999.ready", ".metrics.jsonl.99999999.tmp"] {
            try fm.createDirectory(at: run.appendingPathComponent(name), withIntermediateDirectories: true)
        }
        try w.sft(cfg, out: "cut", resume: true)
        // The resumed run's log is the uninterrupted run's: no line twice, none half-written.
        let resumed = try TinyRunWorld.metrics(run)
        #expect(resumed == full, "\(resumed.joined(separator: "\n"))\n--- uninterrupted:\n\(full.joined(separator: "\n"))")
        #expect(try TinyRunWorld.weights(run.appendingPathComponent("last")) == TinyRunWorld.weights(w.root.appendingPathComponent("full/last")))
        let left = try fm.contentsOfDirectory(atPath: run.path).filter { $0.hasPrefix(".") }
        #expect(left.isEmpty, "left behind: \(left)")
    }

    /// Killing SFT at each rename of its writes — run.json, config.yaml, metrics, and the three renames of every
    /// best/ and last/ checkpoint (plus a rename inside each checkpoint being built) — then resuming gives the
    /// uninterrupted run's final weights, bit for bit, and its metrics.
    @Test func resumeAfterAKillAtEveryRenameFinishesLikeTheUninterruptedRun() throws {
        let w = try TinyRunWorld.make()
        defer { try? FileManager.default.removeItem(at: w.root) }
        let cfg = try TinyRunWorld.config()
        try w.sft(cfg, out: "reference")
        let ref = w.root.appendingPathComponent("reference")
        let refLast = try TinyRunWorld.weights(ref.appendingPathComponent("last"))
        let refBest = try TinyRunWorld.weights(ref.appendingPathComponent("best"))
        let refMetrics = try TinyRunWorld.metrics(ref)

        // Which renames count: everything outside a directory being built, and the first one inside each build.
        var firstInside = Set<String>()
        func counts(_ from: URL, _ to: URL) -> Bool {
            if to.lastPathComponent.hasSuffix(".ready") { firstInside.remove(from.lastPathComponent) }   // build done
            let parent = from.deletingLastPathComponent().lastPathComponent
            guard parent.hasSuffix(".tmpdir") || from.path.contains(".tmpdir/") else { return true }
            return firstInside.insert(parent).inserted
        }
        var k = 0, kills = 0
        while true {
            firstInside = []
            let out = "kill-\(k)"
            let fs = KillingFileSystem(killAt: k, counts: counts)
            var killed = false
            do { try AtomicFile.$fileSystem.withValue(fs) { try w.sft(cfg, out: out) } } catch {
                guard fs.dead else { throw error }   // (a kill may surface wrapped in the writer's AlignError)
                killed = true
            }
            guard killed else { break }   // k is past the last rename: the run completed
            kills += 1
            let run = w.root.appendingPathComponent(out)
            do { try w.sft(cfg, out: out, resume: true) } catch let e as AlignError where "\(e)".contains("to resume") {
                try w.sft(cfg, out: out, overwrite: true)   // killed before its first checkpoint (or before run.json)
            }
            #expect(try TinyRunWorld.weights(run.appendingPathComponent("last")) == refLast, "kill at rename \(k): last/ differs")
            #expect(try TinyRunWorld.weights(run.appendingPathComponent("best")) == refBest, "kill at rename \(k): best/ differs")
            #expect(try TinyRunWorld.metrics(run) == refMetrics, "kill at rename \(k): metrics differ")
            let left = try FileManager.default.contentsOfDirectory(atPath: run.path).filter { $0.hasPrefix(".") }
            #expect(left.isEmpty, "kill at rename \(k): left behind \(left)")
            try FileManager.default.removeItem(at: run)
            k += 1
        }
        // run.json, config.yaml, then 3 or 4 per checkpoint write (2 best/, 3 last/ in this run).
        #expect(kills >= 16, "\(kills) kill points")
        print("kill at every rename: \(kills) kill points, each resumed to the uninterrupted weights")
    }
}

@Test func recoverPutsTheNewestCompleteVersionBackAndCleansOnlyDeadLeftovers() throws {
    let fm = FileManager.default
    let dir = fm.temporaryDirectory.appendingPathComponent("align-recover-\(UUID().uuidString)")
    defer { try? fm.removeItem(at: dir) }
    func make(_ name: String, _ content: String) throws {
        try fm.createDirectory(at: dir.appendingPathComponent(name), withIntermediateDirectories: true)
        try content.write(to: dir.appendingPathComponent(name).appendingPathComponent("step"), atomically: true, encoding: .utf8)
    }
    func read(_ name: String) -> String? { try? String(contentsOf: dir.appendingPathComponent(name).appendingPathComponent("step"), encoding: .utf8) }
    let dead: Int32 = 99_999_999, alive: Int32 = 1   // above pid_max; init
    // Killed between "last → .old" and ".ready → last": the new complete version wins.
    try make(".last.\(dead).old", "old"); try make(".last.\(dead).ready", "new"); try make(".last.\(dead).tmpdir", "partial")
    #expect(try AtomicFile.recover(dir.appendingPathComponent("last")))
    #expect(read("last") == "new")
    // Killed after "last → .old" of a writer from an earlier align (".last.old.PID"), no ready: the old one returns.
    try make(".best.old.\(dead)", "old")
    #expect(try AtomicFile.recover(dir.appendingPathComponent("best")))
    #expect(read("best") == "old")
    // With the target in place, a stale ready/old/tmp of a dead process goes; a running process's stays.
    try make(".last.\(dead).ready", "stale"); try make(".last.\(alive).tmpdir", "in progress")
    try "x".write(to: dir.appendingPathComponent(".run.json.\(dead).tmp"), atomically: true, encoding: .utf8)
    try AtomicFile.recoverAll(in: dir)
    #expect(read("last") == "new")
    let left = try fm.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }.sorted()
    #expect(left == [".last.\(alive).tmpdir"], "\(left)")
    // `data prepare`'s dataset directory: a dead writer's temp directory is removed by the next write.
    try make(".ds.\(dead).tmpdir", "partial")
    try AtomicFile.writeDirectory(dir.appendingPathComponent("ds")) { tmp in
        try "ok".write(to: tmp.appendingPathComponent("step"), atomically: true, encoding: .utf8)
    }
    #expect(read("ds") == "ok" && !fm.fileExists(atPath: dir.appendingPathComponent(".ds.\(dead).tmpdir").path))
}

@Test func dpoAndGRPOStopWhenTheyDivergeAndKeepLoadableBestWeights() throws {
    Blas.setThreads(1)
    let w = try TinyRunWorld.make()
    defer { try? FileManager.default.removeItem(at: w.root) }
    try w.sft(try TinyRunWorld.config(), out: "sft")
    let sft = w.root.appendingPathComponent("sft")
    var dpo = DPOConfig()
    dpo.negatives = .random; dpo.maxPairs = 8; dpo.optim.steps = 20; dpo.optim.batchSize = 4; dpo.optim.microBatch = 8
    dpo.optim.lr = 1e9; dpo.optim.warmup = 0; dpo.optim.gradClip = 0; dpo.eval.every = 1; dpo.eval.beam = 6; dpo.eval.maxUsers = 4
    let out = w.root.appendingPathComponent("dpo")
    let e = failure { try DPORun.run(DPOOptions(from: sft, data: w.data, out: out, config: dpo, progress: false)) { _ in } }
    #expect(e.contains("training diverged at step") && e.contains("last good checkpoint") && e.contains("/best"), "\(e)")
    let best = try RecModel.load(out.appendingPathComponent("best"))
    #expect(best.params.firstNonFinite() == nil)
    var grpo = GRPOConfig()
    grpo.groupSize = 4; grpo.reward = RewardMix(ranking: 1); grpo.optim.steps = 20; grpo.optim.batchSize = 6
    grpo.optim.microBatch = 8; grpo.optim.lr = 1e9; grpo.optim.warmup = 0; grpo.optim.gradClip = 0
    grpo.eval.every = 1; grpo.eval.beam = 6; grpo.eval.maxUsers = 4
    let gout = w.root.appendingPathComponent("grpo")
    let g = failure { try GRPORun.run(GRPOOptions(from: sft, data: w.data, out: gout, config: grpo, progress: false)) { _ in } }
    #expect(g.contains("training diverged at step") && g.contains("last good checkpoint"), "\(g)")
    #expect(try RecModel.load(gout.appendingPathComponent("best")).params.firstNonFinite() == nil)
}
