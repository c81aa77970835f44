// SFT loop: the loss falls, a tiny model learns a deterministic next-item rule (HR@1 by constrained beam
// search), N steps + resume M steps equals N+M steps bit for bit (optimizer state, schedule, data order and
// run state round-tripped through their file encodings), dense history targets sit exactly on history SIDs,
// and early stopping counts non-improving validations.
import AlignCore
import AlignRec
import Foundation
import TestSupport
import Testing

@Test func denseHistoryLossTargetsExactlyTheHistorySIDTokens() throws {
    let w = try TinySFTWorld.make(users: 4)
    let (plain, _) = try w.samples([.nextitem], dense: false)
    let (dense, _) = try w.samples([.nextitem], dense: true)
    #expect(plain.examples.count == dense.examples.count)
    for (p, d) in zip(plain.examples, dense.examples) {
        #expect(p.inputs == d.inputs)
        for t in 0..<p.targets.count {
            if t >= p.promptLength - 1 {
                #expect(d.targets[t] == p.targets[t])                       // response + EOS unchanged
            } else if w.tokenizer.isSIDToken(Int(p.inputs[t + 1])) {
                #expect(p.targets[t] == ignoreTarget && d.targets[t] == p.inputs[t + 1])
            } else {
                #expect(d.targets[t] == ignoreTarget)                      // never on instruction text
            }
        }
    }
    // A 4-item history of 2-level SIDs adds 8 targets.
    let last = dense.examples.indices.max { dense.examples[$0].inputs.count < dense.examples[$1].inputs.count }!
    let extra = zip(dense.examples[last].targets, plain.examples[last].targets).filter { $0 != $1 }.count
    #expect(extra == 8)
}

@Test func strideSamplesCountBackFromTheLastItem() throws {
    let w = try TinySFTWorld.make(users: 2, length: 8)
    let (s1, _) = try w.samples([.nextitem], dense: false, stride: 1)
    let (s3, _) = try w.samples([.nextitem], dense: false, stride: 3)
    #expect(s1.examples.count == 2 * 7)
    #expect(s3.examples.count == 2 * 3)  // targets at positions 7, 4, 1
}

@Test func randomOffsetsShiftEachSequencesWindows() throws {
    let w = try TinySFTWorld.make(users: 2, length: 8)
    // Offsets 0 and 2 with stride 3: targets at positions 7, 4, 1 and 7 (the last item's window is always
    // kept), 5, 2.
    let (s, _) = try w.samples([.nextitem], dense: false, stride: 3, offsets: [0, 2])
    #expect(s.examples.count == 3 + 3)
    let (fixed1, _) = try w.samples([.nextitem], dense: false, stride: 3, offsets: [0, 0])
    #expect(s.examples[3] == fixed1.examples[3])   // sequence 1's window ending at its last item, same template draw
    #expect(s.examples[4] != fixed1.examples[4])   // then 5 instead of 4
    let (fixed, _) = try w.samples([.nextitem], dense: false, stride: 3)
    #expect(Array(s.examples.prefix(3)) == Array(fixed.examples.prefix(3)))   // offset 0 = the fixed windows
    #expect(throws: AlignError.self) { try w.samples([.nextitem], dense: false, stride: 3, offsets: [0, 3]) }
    #expect(throws: AlignError.self) { try w.samples([.nextitem], dense: false, stride: 3, offsets: [0]) }
    // Per-epoch offsets: a pure function of (seed, epoch, sequence), in range, different across epochs.
    let e1 = SFTRun.epochOffsets(seed: 4, epoch: 1, sequences: 500, stride: 10)
    #expect(e1 == SFTRun.epochOffsets(seed: 4, epoch: 1, sequences: 500, stride: 10))
    #expect(e1 != SFTRun.epochOffsets(seed: 4, epoch: 2, sequences: 500, stride: 10))
    #expect(e1 != SFTRun.epochOffsets(seed: 5, epoch: 1, sequences: 500, stride: 10))
    #expect(Set(e1) == Set(0..<10))
    #expect(SFTRun.epochOffsets(seed: 4, epoch: 3, sequences: 50, stride: 1).allSatisfy { $0 == 0 })
}

/// The SFT tests that run the engine go one at a time with single-threaded BLAS: OpenBLAS picks other
/// kernels when it has fewer threads available (e.g. while another test's GEMMs hold them), which changes
/// float rounding — bit-exact comparisons need the same kernels on both sides.
@Suite(.serialized) struct SFTEngineTests {
    init() { Blas.setThreads(1) }

    @Test func sftLossFallsAndTinyModelLearnsTheRule() throws {
        // 10 items with one-token SIDs, next = item % 10 + 1; the nextitem prompt ends with the history, so the
        // rule is a bigram the dense history loss trains at every position.
        let n = 10
        let w = try TinySFTWorld.make(users: 24, length: 6, items: n, oneLevel: true, maxHistory: 3)
        let (samples, rng) = try w.samples([.nextitem], dense: true)
        let params = w.params(hidden: 32)
        let loop = try SFTLoop(params: params, samples: samples, optim: TinySFTWorld.optim(steps: 60, lr: 2e-2), seed: 5,
                               padId: Int32(w.tokenizer.padId!), state: SFTState(sampleRng: rng))
        var losses: [Float] = []
        for _ in 0..<60 { losses.append(try loop.step().loss) }
        let first = losses.prefix(3).reduce(0, +) / 3, last = losses.suffix(5).reduce(0, +) / 5
        #expect(first > 2.0)
        #expect(last < 0.5 * first, "loss \(first) → \(last)")

        // A 2-item rule history starting at every item: HR@1 by trie-constrained beam search, history excluded.
        let tok = try InstructionTokenizer(w.tokenizer)
        let trie = try SIDTrie(sids: Dictionary(uniqueKeysWithValues: w.items.map { ($0.item, w.sidMap.tokenString($0.item)!) }),
                               tokenizer: tok, endToken: tok.eosId)
        let histories = (1...n).map { s in [s, TinySFTWorld.next(s, of: n)] }
        let prompts = try histories.map { try w.builder.encodePrompt(w.builder.evalExample(.nextitem, item: 1, history: $0).prompt, tokenizer: tok) }
        let decoder = LlamaDecoder(params: params, maxGroups: prompts.count, maxWidth: 4, maxPrompt: 64, maxSuffix: 4)
        let top = try ConstrainedBeamSearch(trie: trie).search(decoder: decoder, prompts: prompts, beamWidth: 4, topK: 3, exclude: histories)
        let hits = zip(histories, top).filter { h, list in list.first?.item == TinySFTWorld.next(h.last!, of: n) }.count
        #expect(Double(hits) / Double(histories.count) >= 0.9, "HR@1 \(hits)/\(histories.count)")
    }

    @Test func dropoutTasksChooseWhichSamplesGetDropout() throws {
        let w = try TinySFTWorld.make(users: 12)
        let (samples, rng) = try w.samples([.nextitem, .title2sid, .sid2title], dense: true)
        func losses(dropout: Float, only: [PromptTask]?) throws -> [Float] {
            var optim = TinySFTWorld.optim(steps: 12, lr: 5e-3, batch: 8)
            optim.dropout = dropout; optim.dropoutTasks = only
            let loop = try SFTLoop(params: w.params(hidden: 16), samples: samples, optim: optim, seed: 3,
                                   padId: Int32(w.tokenizer.padId!), state: SFTState(sampleRng: rng))
            return try (0..<12).map { _ in try loop.step().loss }
        }
        let none = try losses(dropout: 0, only: nil), all = try losses(dropout: 0.3, only: nil)
        #expect(maxAbsDiff(none, all) > 1e-4)
        #expect(try losses(dropout: 0.3, only: []) == none, "no task with dropout: the exact model")
        #expect(try losses(dropout: 0.3, only: [.nextitem, .title2sid, .sid2title]) == all, "every task: plain dropout")
        let some = try losses(dropout: 0.3, only: [.nextitem])
        #expect(maxAbsDiff(some, none) > 1e-4 && maxAbsDiff(some, all) > 1e-4)
    }

    @Test func resumeContinuesBitExactly() throws {
        let w = try TinySFTWorld.make(users: 12)
        let (samples, rng) = try w.samples([.nextitem, .title2sid, .sid2title], dense: true)
        var optim = TinySFTWorld.optim(steps: 22, lr: 5e-3, batch: 8)
        optim.dropout = 0.1   // masks are keyed by (seed, step): the resumed half must draw the same ones
        optim.ema = 0.9       // the weights' moving average travels in optimizer.safetensors and continues exactly
        let pad = Int32(w.tokenizer.padId!)
        // Straight run of N + M = 22 steps; 12·7 + 2·24 = 132 samples make 17 batches, so the resumed part crosses
        // into epoch 1 (a new shuffled plan).
        let pa = w.params(seed: 9)
        let a = try SFTLoop(params: pa, samples: samples, optim: optim, seed: 11, padId: pad, state: SFTState(sampleRng: rng))
        for _ in 0..<22 { try a.step() }

        // N steps, save everything through its on-disk encodings, then M more steps in a fresh loop.
        let pb = w.params(seed: 9)
        let b = try SFTLoop(params: pb, samples: samples, optim: optim, seed: 11, padId: pad, state: SFTState(sampleRng: rng))
        for _ in 0..<10 { try b.step() }
        let savedParams = Array(pb.data)
        let optBytes = try OptimizerState(b.optimizer, ema: b.average!.snapshot).encoded()
        let info = AlignInfo(stage: "sft", state: try JSONValue(encoding: b.state))
        let infoBack = try JSONDecoder().decode(AlignInfo.self, from: try info.jsonData())

        let pc = LlamaParameters(config: pb.config)
        for i in 0..<pc.count { pc.data[i] = savedParams[i] }
        let adam = AdamW(count: pc.count, groups: pc.paramGroups, config: optim.adamW)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("align-sft-opt-\(UUID().uuidString).safetensors")
        try AtomicFile.write(optBytes, to: dir)
        defer { try? FileManager.default.removeItem(at: dir) }
        let saved = try OptimizerState.read(from: dir)
        try saved.restore(into: adam)
        let state = try infoBack.state!.decode(SFTState.self)
        #expect(state == b.state)
        // Resuming an EMA run without its average cannot continue exactly: refused.
        #expect(throws: AlignError.self) {
            _ = try SFTLoop(params: LlamaParameters(config: pb.config), samples: samples, optim: optim, seed: 11, padId: pad, state: state,
                            optimizer: AdamW(count: pc.count, groups: pc.paramGroups, config: optim.adamW))
        }
        let c = try SFTLoop(params: pc, samples: samples, optim: optim, seed: 11, padId: pad, state: state, optimizer: adam,
                            ema: saved.ema)
        for _ in 0..<12 { try c.step() }
        #expect(c.state.step == 22 && a.state.step == 22)
        #expect(c.state == a.state)
        let same = Array(pc.data) == Array(pa.data)
        #expect(same, "parameters differ after resume")
        let sameMoments = Array(c.optimizer.m) == Array(a.optimizer.m) && Array(c.optimizer.v) == Array(a.optimizer.v)
        #expect(sameMoments)
        #expect(Array(c.average!.average) == Array(a.average!.average), "moving average differs after resume")
        #expect(Array(a.average!.average) != Array(pa.data), "the average should lag the raw weights")
        // Evaluation weights are the average, and the raw weights come back afterwards.
        let raw = Array(pa.data)
        let inside = a.withEvaluationWeights { Array(pa.data) }
        #expect(inside == Array(a.average!.average) && Array(pa.data) == raw)
        #expect(a.state.epoch == 1, "the test should cross an epoch boundary")
    }
}

extension SFTEngineTests {
    @Test func resampledEpochsResumeBitExactly() throws {
        // Random window offsets: every epoch's samples are rebuilt from (seed, epoch). A run resumed in epoch 1
        // must rebuild epoch 1's samples and continue exactly as the straight run.
        let w = try TinySFTWorld.make(users: 12)
        let tasks: [PromptTask] = [.nextitem, .title2sid]
        let stride = 3
        func epoch(_ e: Int) throws -> SFTSamples {
            try w.samples(tasks, dense: true, stride: stride, seed: 100 + UInt64(e),
                          offsets: SFTRun.epochOffsets(seed: 11, epoch: e, sequences: w.sequences.count, stride: stride)).0
        }
        let (first, rng) = try w.samples(tasks, dense: true, stride: stride,
                                         offsets: SFTRun.epochOffsets(seed: 11, epoch: 0, sequences: w.sequences.count, stride: stride))
        #expect(try epoch(1).examples != first.examples)
        let optim = TinySFTWorld.optim(steps: 14, lr: 5e-3, batch: 8)
        let pad = Int32(w.tokenizer.padId!)
        let pa = w.params(seed: 9)
        let a = try SFTLoop(params: pa, samples: first, optim: optim, seed: 11, padId: pad, state: SFTState(sampleRng: rng),
                            resample: epoch, maxLength: 64)
        let perEpoch = try a.batchesPerEpoch
        for _ in 0..<14 { try a.step() }
        #expect(a.state.epoch >= 1, "the run should cross into a resampled epoch (\(perEpoch) batches per epoch)")
        let pb = w.params(seed: 9)
        let b = try SFTLoop(params: pb, samples: first, optim: optim, seed: 11, padId: pad, state: SFTState(sampleRng: rng),
                            resample: epoch, maxLength: 64)
        let cut = perEpoch + 1   // resume inside epoch 1
        for _ in 0..<cut { try b.step() }
        let pc = LlamaParameters(config: pb.config)
        pc.data.baseAddress!.update(from: pb.data.baseAddress!, count: pb.count)
        let c = try SFTLoop(params: pc, samples: first, optim: optim, seed: 11, padId: pad, state: b.state,
                            optimizer: b.optimizer, resample: epoch, maxLength: 64)
        for _ in cut..<14 { try c.step() }
        #expect(c.state == a.state)
        #expect(Array(pc.data) == Array(pa.data), "parameters differ after resuming a resampled epoch")
        // Without resampling the same steps give other weights (epoch 1 reuses epoch 0's samples).
        let pd = w.params(seed: 9)
        let d = try SFTLoop(params: pd, samples: first, optim: optim, seed: 11, padId: pad, state: SFTState(sampleRng: rng))
        for _ in 0..<14 { try d.step() }
        #expect(Array(pd.data) != Array(pa.data))
    }
}

@Test func resumeRejectsMismatchedOptimizerAndEarlyStoppingCounts() throws {
    let w = try TinySFTWorld.make(users: 4)
    let (samples, rng) = try w.samples([.nextitem], dense: false)
    let p = w.params()
    var st = SFTState(sampleRng: rng)
    st.step = 3
    #expect(throws: AlignError.self) {
        _ = try SFTLoop(params: p, samples: samples, optim: TinySFTWorld.optim(steps: 5), seed: 1, padId: 0, state: st)
    }
    let loop = try SFTLoop(params: p, samples: samples, optim: TinySFTWorld.optim(steps: 5), seed: 1, padId: 0,
                           state: SFTState(sampleRng: rng))
    #expect(loop.recordValidation(0.2, patience: 2))
    #expect(!loop.recordValidation(0.1, patience: 2) && !loop.state.stoppedEarly)
    #expect(!loop.recordValidation(0.2, patience: 2) && loop.state.stoppedEarly)   // equal is not better
    #expect(loop.state.bestScore == 0.2 && loop.state.badValidations == 2)
}

/// `sampling.redraw`: which samples SFTRun draws afresh per epoch, on the tiny bundle and its dataset.
@Test func redrawTranslationRedrawsOnlyTheTranslationSamples() throws {
    let base = try tinyRecModel()
    // sid2title at weight 0.5: each epoch a different half of the catalogue gets a sample.
    let model = try RecModel(params: base.params, tokenizer: base.tokenizer, sidMap: base.sidMap, items: base.items,
                             prompts: base.prompts,
                             taskConfig: TaskConfig(taskWeights: [.nextitem: 1, .sid2title: 0.5, .title2sid: 1]),
                             info: base.info)
    let ds = try tinyServeDataset()
    var cfg = TrainConfig()
    cfg.tasks = [.nextitem: 1, .sid2title: 0.5, .title2sid: 1]
    cfg.sampling.stride = 1
    cfg.seed = 3
    func split(_ s: SFTSamples) -> (seq: [EncodedExample], tr: [EncodedExample]) {
        (s.tasks.indices.filter { s.tasks[$0].isSequential }.map { s.examples[$0] },
         s.tasks.indices.filter { !s.tasks[$0].isSequential }.map { s.examples[$0] })
    }
    let (e0, _) = try SFTRun.samples(model: model, dataset: ds, config: cfg)
    // redraw none: every epoch is epoch 0's.
    #expect(try SFTRun.samples(model: model, dataset: ds, config: cfg, epoch: 4).0.examples == e0.examples)
    #expect(!cfg.sampling.variesPerEpoch)
    cfg.sampling.redraw = .translation
    #expect(cfg.sampling.variesPerEpoch)
    #expect(try SFTRun.samples(model: model, dataset: ds, config: cfg, epoch: 0).0.examples == e0.examples, "epoch 0 unchanged")
    let (seq0, tr0) = split(e0)
    #expect(!seq0.isEmpty && !tr0.isEmpty)
    var prompts = Set<[Int32]>(), s2tCounts: [Int] = []
    for e in 1...6 {
        let s = try SFTRun.samples(model: model, dataset: ds, config: cfg, epoch: e).0
        #expect(try SFTRun.samples(model: model, dataset: ds, config: cfg, epoch: e).0.examples == s.examples, "epoch \(e) rebuilds")
        #expect(try SFTRun.samples(model: model, dataset: ds, config: cfg, epoch: e, epochZero: e0).0.examples == s.examples,
                "epoch \(e) from the run's epoch-0 samples")
        let (seq, tr) = split(s)
        #expect(seq == seq0, "epoch \(e): sequence samples must stay epoch 0's")
        #expect(tr != tr0, "epoch \(e): translation samples must be redrawn")
        // title2sid (weight 1) still has exactly one sample per item; sid2title a weight-0.5 draw.
        #expect(s.tasks.filter { $0 == .title2sid }.count == model.items.count)
        s2tCounts.append(s.tasks.filter { $0 == .sid2title }.count)
        for i in s.tasks.indices where s.tasks[i] == .title2sid { prompts.insert(Array(s.examples[i].inputs.prefix(s.examples[i].promptLength))) }
    }
    // Over the epochs the items are trained with several templates, not one each.
    #expect(prompts.count > model.items.count, "\(prompts.count) distinct title2sid prompts for \(model.items.count) items")
    #expect(Set(s2tCounts).count > 1 || s2tCounts.allSatisfy { $0 > 0 && $0 < model.items.count })
    // redraw all: sequence samples get new templates too.
    cfg.sampling.redraw = .all
    let (seqAll, _) = split(try SFTRun.samples(model: model, dataset: ds, config: cfg, epoch: 1).0)
    #expect(seqAll != seq0)
}

@Test func redrawIsReadFromTheConfig() throws {
    let yaml = "format: align-config\nversion: 1\nsampling:\n  stride: 2\n  redraw: translation\n"
    let c = try TrainConfig.parse(yaml, path: "t.yaml")
    #expect(c.sampling.redraw == .translation && c.sampling.stride == 2)
    #expect(try TrainConfig.parse("format: align-config\nversion: 1\n", path: "t.yaml").sampling.redraw == SampleRedraw.none)
    #expect(throws: (any Error).self) { _ = try TrainConfig.parse("format: align-config\nversion: 1\nsampling:\n  redraw: sometimes\n", path: "t.yaml") }
}

@Test func dropoutTasksAreReadFromTheConfig() throws {
    let c = try TrainConfig.parse("format: align-config\nversion: 1\noptim:\n  dropout: 0.2\n  dropout_tasks: [nextitem]\n", path: "t.yaml")
    #expect(c.optim.dropoutTasks == [.nextitem] && c.optim.dropout == 0.2)
    #expect(try TrainConfig.parse(try c.yaml(), path: "t.yaml") == c)
    #expect(try TrainConfig.parse("format: align-config\nversion: 1\n", path: "t.yaml").optim.dropoutTasks == nil)
    #expect(try TrainConfig.parse("format: align-config\nversion: 1\noptim:\n  dropout_tasks: [translate]\n", path: "t.yaml").optim.dropoutTasks == [.sid2title, .title2sid])
    #expect(try TrainConfig.parse("format: align-config\nversion: 1\noptim:\n  dropout_tasks: []\n", path: "t.yaml").optim.dropoutTasks == [])
    do {
        _ = try TrainConfig.parse("format: align-config\nversion: 1\noptim:\n  dropout_tasks: [nextitems]\n", path: "t.yaml")
        Issue.record("accepted an unknown task")
    } catch let e as AlignError {
        #expect(e.description.contains("t.yaml") && e.description.contains("nextitems"), "\(e.description)")
    }
}
