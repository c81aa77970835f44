// metrics.jsonl lines as typed records: each kind writes exactly the keys the file format has (tools reading the
// JSON see the same lines as before the records existed) and reads back equal, non-finite values included.
import AlignRec
import Foundation
import Testing

@Test func metricRecordsWriteTheFileFormatKeysAndReadBackEqual() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("align-metrics-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: dir) }
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let url = dir.appendingPathComponent("metrics.jsonl")
    let log = try MetricsLog(url: url, append: false)

    let train = SFTTrainRecord(step: 10, loss: 2.5, itemLoss: 1.25, lr: 1e-3, gradNorm: .infinity, tokensPerSecond: 900,
                               epoch: 1, tokens: 4096)
    var valid = SFTValidRecord(step: 10, hr10: 0.2, ndcg10: 0.1, users: 16, seconds: 0.5, best: true)
    valid.rawHR10 = 0.19; valid.rawNDCG10 = 0.09; valid.sidWeight = 0.25; valid.sidNDCG10 = 0.05; valid.sidHR10 = 0.1
    valid.mix = [SIDWeightScore(sidWeight: 0, ndcg10: 0.08), SIDWeightScore(sidWeight: 0.25, ndcg10: 0.1), SIDWeightScore(sidWeight: 1, ndcg10: 0.07)]
    let diverged = SFTDivergedRecord(TrainingDiverged(step: 11, quantity: "gradient norm", value: .nan))
    var grpo = GRPOStepStats(); grpo.meanReward = 0.5; grpo.activeSequences = 0; grpo.sequences = 16
    log.log(train)
    log.log(valid)
    log.log(diverged)
    log.log(SFTValidRecord(step: 20, hr10: 0, ndcg10: 0, users: 16, seconds: 0.5, best: false))
    log.log(GRPOTrainRecord(step: 3, grpo, lr: 1e-5, rolloutSeconds: 1, trainSeconds: 2), stage: "grpo")

    // The keys on disk, as the file format documents them (time on every line; event on alignment lines).
    let keys = try MetricsLog.read(url).map { Set($0.keys) }
    #expect(keys == [
        ["stage", "time", "step", "loss", "item_loss", "lr", "grad_norm", "tokens_per_s", "epoch", "tokens"],
        ["stage", "time", "step", "hr10", "ndcg10", "users", "seconds", "best", "raw_hr10", "raw_ndcg10", "sid_weight",
         "ndcg10_w0", "ndcg10_w0.25", "ndcg10_w1", "ndcg10_sid", "hr10_sid"],
        ["stage", "time", "step", "grad_norm"],
        ["stage", "time", "step", "hr10", "ndcg10", "users", "seconds", "best"],
        ["stage", "event", "time", "step", "mean_reward", "hit_rate", "frac_zero_std", "active", "sequences", "lr",
         "rollout_seconds", "train_seconds"],   // no token statistics without an active sequence
    ])
    let raw = try MetricsLog.read(url)
    #expect(raw[0]["grad_norm"] as? String == "inf" && raw[2]["grad_norm"] as? String == "nan")
    #expect(raw.map { $0["stage"] as? String } == ["sft_train", "sft_valid", "sft_diverged", "sft_valid", "grpo"])

    let read = try MetricsLog.records(url)
    #expect(read.unread.isEmpty)
    #expect(read.lines.map(\.entry.step) == [10, 10, 11, 20, 3])
    guard case .sftTrain(let t) = read.lines[0].entry, case .sftValid(let v) = read.lines[1].entry,
          case .sftDiverged(let d) = read.lines[2].entry, case .grpoTrain(let g) = read.lines[4].entry else {
        Issue.record("lines read back as other kinds: \(read.lines.map(\.entry))"); return
    }
    #expect(t == train && v == valid)
    #expect(d.step == 11 && d.gradNorm?.isNaN == true && d.loss == nil)
    #expect(g.meanReward == 0.5 && g.sequences == 16 && g.loss == nil && g.kl == nil)
}
