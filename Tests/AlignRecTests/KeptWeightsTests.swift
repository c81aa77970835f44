// `eval.keep` (TrainConfig.swift, SFTRun.swift): which validated weights an SFT run keeps in best/. `best` keeps the
// highest validation NDCG@10; `final` keeps the weights the run ends with — the moving average where there is one,
// as every validation scores — at whatever step the validations peaked.
import AlignCore
import AlignRec
import Foundation
import Testing

@Suite(.serialized) struct KeptWeightsTests {
    init() { Blas.setThreads(1) }

    /// The validation lines of a run: (step, best, kept).
    func validations(_ run: URL) throws -> [(Int, Bool, Bool?)] {
        try MetricsLog.read(run.appendingPathComponent("metrics.jsonl")).filter { ($0["stage"] as? String) == "sft_valid" }
            .map { ($0["step"] as! Int, $0["best"] as! Bool, $0["kept"] as? Bool) }
    }

    /// The training step recorded in a run's best/.
    func savedStep(_ run: URL) throws -> Int? {
        try RecModel.load(run.appendingPathComponent("best")).info.state?.decode(SFTState.self).step
    }

    @Test func finalKeepsTheLastStepsAveragedWeightsWhereBestKeepsThePeak() throws {
        let w = try TinyRunWorld.make()
        defer { try? FileManager.default.removeItem(at: w.root) }
        var cfg = try TinyRunWorld.config(steps: 8, lr: 1e-2)
        cfg.optim.ema = 0.5
        cfg.eval.keep = .final
        let final = try w.sft(cfg, out: "final")
        cfg.eval.keep = .best
        let best = try w.sft(cfg, out: "best")
        let fRun = w.root.appendingPathComponent("final"), bRun = w.root.appendingPathComponent("best")

        // Same seed, same training: the two runs differ only in what best/ holds.
        let fLast = try TinyRunWorld.weights(fRun.appendingPathComponent("last"))
        #expect(try fLast == TinyRunWorld.weights(bRun.appendingPathComponent("last")))
        let fLines = try validations(fRun), bLines = try validations(bRun)
        #expect(fLines.map(\.0) == [2, 4, 6, 8] && fLines.map(\.1) == bLines.map(\.1))
        #expect(fLines.map(\.2) == [false, false, false, true] && bLines.allSatisfy { $0.2 == nil })

        // final: best/ = the moving average at step 8 (saved in last/'s optimizer state), not the raw weights.
        let ema = try #require(try OptimizerState.read(from: fRun.appendingPathComponent("last").appendingPathComponent(OptimizerState.fileName)).ema)
        let kept = try TinyRunWorld.weights(fRun.appendingPathComponent("best"))
        #expect(kept == ema.prefix(kept.count).map(\.bitPattern))
        #expect(kept != fLast)
        let fStep = try savedStep(fRun)
        #expect(final.keptStep == 8 && fStep == 8)

        // best: the step of the highest validation, whose score the summary reports.
        let scores = try MetricsLog.read(bRun.appendingPathComponent("metrics.jsonl")).filter { ($0["stage"] as? String) == "sft_valid" }
            .map { ($0["step"] as! Int, $0["ndcg10"] as! Double) }
        let peak = scores.max { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 > $1.0) }!
        #expect(peak.0 < 8, "validation must peak before the end for the two rules to differ: \(scores)")
        #expect(best.keptStep == peak.0 && abs(best.keptValidNDCG10 - peak.1) < 1e-12)   // JSON text may differ in the last bit
        #expect(try TinyRunWorld.weights(bRun.appendingPathComponent("best")) != kept)
        let bStep = try savedStep(bRun)
        #expect(bStep == peak.0)
        #expect(abs(final.keptValidNDCG10 - scores.last!.1) < 1e-12)
    }

    @Test func finalKeepsWhereATimeBudgetOrEarlyStoppingEndsTheRun() throws {
        let w = try TinyRunWorld.make()
        defer { try? FileManager.default.removeItem(at: w.root) }
        var cfg = try TinyRunWorld.config(steps: 40)
        cfg.eval.keep = .final
        // A budget of 0 s ends the loop before its first step: the starting weights are validated and kept.
        var o = w.options(cfg, out: "budget")
        o.maxSeconds = 0
        let s = try SFTRun.run(o) { _ in }
        #expect(s.steps == 0 && s.keptStep == 0)
        #expect(try validations(o.out).map(\.2) == [true])
        // Early stopping after one validation without improvement keeps the weights of the step it stopped at.
        cfg.eval.patience = 1; cfg.eval.every = 1
        let stopped = try w.sft(cfg, out: "patience")
        let lines = try validations(w.root.appendingPathComponent("patience"))
        #expect(stopped.stoppedEarly && stopped.keptStep == stopped.steps && lines.last?.0 == stopped.steps)
        #expect(lines.map(\.2) == Array(repeating: false, count: lines.count - 1) + [true])
        let pStep = try savedStep(w.root.appendingPathComponent("patience"))
        #expect(pStep == stopped.steps)
    }
}
