// `align sft` end to end: resolve the model (from scratch with a preset, from a LLaMA-family HF checkpoint
// whose vocabulary grows by the SID tokens, or resumed from the run's `last/`), build the training samples
// from the protocol's training data only, run SFTLoop with periodic validation (HR/NDCG@10 by constrained
// beam search on the validation split), keep `best/` (by validation NDCG@10, or the final weights under
// `eval.keep: final`) and `last/` (with optimizer state and the exact resume state), log metrics.jsonl, stop early
// on patience.
import Foundation

/// Everything `align sft` needs.
public struct SFTOptions {
    /// Dataset directory (items, splits, `sid/sid_map.json`, `tokenizer/`).
    public var data: URL
    /// Resolved config (preset + flag overrides).
    public var config: TrainConfig
    /// Run directory.
    public var out: URL
    /// Prompt templates directory.
    public var prompts: URL
    /// HF checkpoint to start from (nil: from scratch).
    public var initFrom: URL?
    /// Tokenizer directory for from-scratch runs (default `<data>/tokenizer`).
    public var tokenizer: URL?
    /// SID map (default `<data>/sid/sid_map.json`).
    public var sidMap: URL?
    /// Continue `out/last` exactly.
    public var resume: Bool
    /// Replace a run already in `out` (without it or `resume`, an existing run is an error).
    public var overwrite: Bool
    /// Progress bar on stderr.
    public var progress: Bool
    /// Where the config came from, for errors (e.g. "configs/x.yaml with --lr").
    public var configLabel = "<resolved config>"
    /// Wall-time budget of this invocation's training loop, validations included (nil: none). When it runs out the
    /// run validates and checkpoints where it is, and `--resume` can continue it.
    public var maxSeconds: Double?

    public init(data: URL, config: TrainConfig, out: URL, prompts: URL, initFrom: URL? = nil, tokenizer: URL? = nil,
                sidMap: URL? = nil, resume: Bool = false, overwrite: Bool = false, progress: Bool = true) {
        self.data = data; self.config = config; self.out = out; self.prompts = prompts; self.initFrom = initFrom
        self.tokenizer = tokenizer; self.sidMap = sidMap; self.resume = resume; self.overwrite = overwrite; self.progress = progress
    }
}

/// What a finished SFT run reports.
public struct SFTSummary: Sendable {
    public var steps: Int
    public var seconds: Double
    public var tokensPerSecond: Double
    /// Validation NDCG@10 and step of the weights in best/ (`eval.keep`).
    public var keptValidNDCG10: Double
    public var keptStep: Int
    public var stoppedEarly: Bool
    public var samples: Int
}

/// The SFT stage.
public enum SFTRun {
    /// The model a fresh run starts from: a preset with random weights (vocabulary = the tokenizer's), or an
    /// HF checkpoint whose tokenizer gains the specials and SID tokens (new embedding rows = mean row).
    public static func initialModel(_ o: SFTOptions, dataset: Dataset, sidMap: SIDMap, prompts: PromptLibrary) throws -> RecModel {
        let cfg = o.config
        let tokenizer: Tokenizer
        let params: LlamaParameters
        var prompts = prompts
        if let dir = o.initFrom {
            let pm = try PretrainedModel.open(dir)
            guard let base = pm.tokenizer else {
                throw AlignError.io(path: dir.path, message: "no tokenizer (tokenizer.model or tokenizer.json) in the --init model")
            }
            // A model whose tokenizer names its own BOS/EOS keeps them; align's specials fill only missing roles.
            let specials = base.text.ownsSpecialRoles
                ? TokenizerTraining.specials.filter { ($0 == "<s>" && base.bosId == nil) || ($0 == "</s>" && base.eosId == nil) }
                : TokenizerTraining.specials
            let missing = (specials + sidMap.vocabulary).filter { base.id($0) == nil }
            tokenizer = missing.isEmpty ? base : try base.adding(missing)
            try TokenizerTraining.checkCovers(tokenizer, sidMap: sidMap, path: dir.path)
            let loaded = try pm.parameters()
            params = tokenizer.vocabSize > loaded.config.vocabSize ? try loaded.growingVocabulary(to: tokenizer.vocabSize) : loaded
            // A chat model is prompted as it was tuned: its chat template becomes the instruction wrapper.
            if let source = pm.chatTemplate {
                prompts = try prompts.withWrapper(try ChatTemplate(source: source).prompt(user: "{instruction}"))
            }
        } else {
            let tdir = o.tokenizer ?? o.data.appendingPathComponent("tokenizer")
            guard Tokenizer.exists(in: tdir) else {
                throw AlignError.io(path: tdir.path, message: "no tokenizer here; run `align tokenizer train --data \(o.data.path) --vocab-size \(cfg.textVocabSize)` first")
            }
            tokenizer = try Tokenizer.load(from: tdir)
            try TokenizerTraining.checkCovers(tokenizer, sidMap: sidMap, path: tdir.path)
            let lc = cfg.model.llamaConfig(vocabSize: tokenizer.vocabSize, bos: tokenizer.bosId!, eos: tokenizer.eosId!, pad: tokenizer.padId)
            var need = MemoryEstimate()
            need.add("weights", floats: lc.parameterFloats)
            try need.check("the model with \(lc.summary)", file: o.configLabel)
            params = LlamaParameters(config: lc, seed: cfg.seed)
        }
        let info = AlignInfo(stage: "sft", sidMap: "sid_map.json", tasks: cfg.activeTasks.map(\.rawValue))
        return try RecModel(params: params, tokenizer: tokenizer, sidMap: sidMap, items: dataset.items, prompts: prompts,
                            taskConfig: cfg.taskConfig, info: info)
    }

    /// Builds the training samples of `cfg` for `model` (deterministic for the config's seed): epoch 0's, or with
    /// `epoch` > 0 that epoch's (which differ from epoch 0's only under `sampling.offsets: random` or
    /// `sampling.redraw`). Returns them and the generator after this call's draws. `epochZero` (epoch 0's samples, as this
    /// function returns them) saves rebuilding the sequence samples that `redraw: translation` keeps.
    public static func samples(model: RecModel, dataset: Dataset, config cfg: TrainConfig, epoch: Int = 0,
                               epochZero: SFTSamples? = nil) throws -> (SFTSamples, Rng) {
        let p = cfg.evalProtocol
        try model.sidMap.checkProtocol(p, what: "SFT")
        let sequences = dataset.trainingSequences(p)
        let random = cfg.sampling.offsets == .random
        // Epoch 0 draws its templates from the run's sample generator (whose end state resume checks); later
        // epochs from one derived from the epoch, so any epoch can be rebuilt on its own.
        let first = cfg.seed ^ 0x5F7_5A3D, derived = mix64(cfg.seed ^ 0x5F7_5A3D ^ mix64(UInt64(epoch)))
        let redrawAll = random || cfg.sampling.redraw == .all
        func build(_ tasks: [PromptTask], seed: UInt64) throws -> (SFTSamples, Rng) {
            var rng = Rng(seed: seed)
            let s = try SFTSamples.build(builder: model.builder, tokenizer: model.instructionTokenizer, tasks: tasks,
                                         sequences: sequences, stride: cfg.sampling.stride,
                                         denseHistoryLoss: cfg.sampling.denseHistoryLoss,
                                         maxLength: model.params.config.maxPositionEmbeddings,
                                         offsets: random ? epochOffsets(seed: cfg.seed, epoch: epoch, sequences: sequences.count,
                                                                        stride: cfg.sampling.stride) : nil,
                                         exclude: dataset.coldItems,
                                         isSID: { model.tokenizer.isSIDToken(Int($0)) }, rng: &rng)
            return (s, rng)
        }
        guard epoch > 0 && !redrawAll && cfg.sampling.redraw == .translation else {
            return try build(cfg.activeTasks, seed: epoch == 0 || !redrawAll ? first : derived)
        }
        // Sequence samples stay epoch 0's; the translation samples are drawn again from the epoch's generator.
        var s = try epochZero ?? build(cfg.activeTasks, seed: first).0
        s.keep { $0.isSequential }
        let (t, rng) = try build(cfg.activeTasks.filter { !$0.isSequential }, seed: derived)
        s.examples += t.examples; s.tasks += t.tasks
        return (s, rng)
    }

    /// `model` with an item memory: one row per catalogue item, warm for the items the training samples contain
    /// (completed in an input or a head target), initialised from the config's seed.
    public static func withItemMemory(_ model: RecModel, samples: SFTSamples, config cfg: TrainConfig) throws -> RecModel {
        let all = try ItemTable(sids: model.sidIds, vocabSize: model.config.vocabSize)
        var warm = [Bool](repeating: false, count: all.count)
        for ex in samples.examples { for it in all.completions(ex.inputs) where it > 0 { warm[Int(it) - 1] = true } }
        let zeros = [Float](repeating: 0, count: all.count * model.config.hiddenSize)
        let params = try ItemMemoryFile.attach(zeros, input: cfg.itemMemory.untied ? zeros : nil, items: all.count, to: model.params)
        ItemMemoryFile.initialise(params, items: try all.with(warm: warm), seed: cfg.seed, std: cfg.itemMemory.initStd)
        var info = model.info
        info.itemMemory = ItemMemoryInfo(items: all.count, sidWeight: cfg.itemMemory.sidWeights.first ?? 0)
        let withMemory = try RecModel(params: params, tokenizer: model.tokenizer, sidMap: model.sidMap, items: model.items,
                                      prompts: model.prompts, taskConfig: model.taskConfig, info: info, itemWarm: warm,
                                      itemCarry: cfg.itemMemory.carry)
        withMemory.precision = model.precision   // validation decodes at the run's precision, as after a resume
        return withMemory
    }

    /// `sampling.offsets: random`: each training sequence's window offset in 0..<stride for an epoch, a pure
    /// function of (seed, epoch, sequence index).
    public static func epochOffsets(seed: UInt64, epoch: Int, sequences: Int, stride: Int) -> [Int] {
        var rng = Rng(seed: mix64(seed ^ 0x0FF5_E75E ^ mix64(UInt64(epoch) &+ 1)))
        return (0..<sequences).map { _ in rng.int(below: stride) }
    }

    /// Memory SFT holds at once: weights, AdamW moments, the moving average, the data-parallel trainers for
    /// [batch_size, longest sample] and the validation beam search's decoders.
    public static func memoryEstimate(_ c: LlamaConfig, config cfg: TrainConfig, maxLength: Int, sidDepth: Int,
                                      items: Int = 0, workers: Int = Parallel.workers) -> MemoryEstimate {
        var e = MemoryEstimate()
        let p = c.parameterFloats + Double(items) * Double(c.hiddenSize)
        e.add("weights, AdamW moments and checkpoint copy", floats: 4 * p + (cfg.optim.ema > 0 ? 2 * p : 0))
        let w = max(1, min(workers, cfg.optim.batchSize)), per = (cfg.optim.batchSize + w - 1) / w
        e.add("trainer activations and gradients for batch_size \(cfg.optim.batchSize) × \(maxLength) tokens",
              floats: Double(w) * LlamaTrainer.plannedFloats(c, maxBatch: per, maxSeq: maxLength, dropout: cfg.optim.dropout > 0,
                                                                  items: items, levels: max(1, sidDepth - 1)))
        e.add("validation beam search with eval.beam \(cfg.eval.beam)",
              floats: Double(workers) * LlamaDecoder.plannedFloats(c, maxGroups: 16, maxWidth: max(cfg.eval.beam, 20),
                                                                   maxPrompt: maxLength, maxSuffix: sidDepth + 1))
        return e
    }

    /// Runs (or resumes) SFT. `log` receives human-readable lines. Nothing is written into `o.out` until every
    /// check has passed (config, data, model, memory); a run that diverges stops with the last good checkpoint
    /// intact.
    public static func run(_ o: SFTOptions, log: (String) -> Void) throws -> SFTSummary {
        let cfg = o.config
        try cfg.validate(path: o.configLabel)
        let mode: RunMode = o.resume ? .resume : o.overwrite ? .overwrite : .fresh
        try RunDirectory.prepare(o.out, mode: mode)
        let p = cfg.evalProtocol
        let dataset = try Dataset.load(from: o.data)
        let lastDir = o.out.appendingPathComponent("last"), bestDir = o.out.appendingPathComponent("best")

        var model: RecModel
        var state: SFTState
        var optimizer: AdamW? = nil
        var ema: [Float]? = nil
        if o.resume {
            guard FileManager.default.fileExists(atPath: lastDir.path) else {
                throw AlignError.io(path: lastDir.path, message: "nothing to resume (no last/ checkpoint: the run stopped before its first one); start it again with --overwrite")
            }
            model = try RecModel.load(lastDir)
            guard let st = model.info.state else {
                throw AlignError.format(path: lastDir.appendingPathComponent("align.json").path, line: nil, message: "no training state to resume from")
            }
            state = try st.decode(SFTState.self)
            try state.validate()
            if cfg.lora == nil, FileManager.default.fileExists(atPath: lastDir.appendingPathComponent(LoRAAdapters.fileName).path) {
                throw AlignError.invalidArgument("the run trained LoRA adapters but the config has no lora: section; resume with the run's config")
            }
            let os = try OptimizerState.read(from: lastDir.appendingPathComponent(OptimizerState.fileName))
            let adam = cfg.lora == nil ? AdamW(count: model.params.count, groups: model.params.paramGroups, config: cfg.optim.adamW)
                : AdamW(count: os.m.count, groups: [ParamGroup(range: 0..<os.m.count, decay: true)], config: cfg.optim.adamW)
            try os.restore(into: adam)
            optimizer = adam
            ema = os.ema
            log("resuming \(lastDir.path) at step \(state.step) (epoch \(state.epoch), batch \(state.batchInEpoch))")
        } else {
            let sidURL = o.sidMap ?? o.data.appendingPathComponent("sid/sid_map.json")
            let sidMap = try SIDMap.read(sidURL)
            let prompts = try PromptLibrary.load(o.prompts)
            model = try initialModel(o, dataset: dataset, sidMap: sidMap, prompts: prompts)
            state = SFTState(sampleRng: Rng(seed: 0))
        }
        var lora: LoRAAdapters? = nil
        if let lc = cfg.lora {
            if o.resume {
                lora = try SFTLoRA.resume(model: model, config: lc, lastDir: lastDir, seed: cfg.seed)
            } else {
                guard let initDir = o.initFrom else {
                    throw AlignError.invalidArgument("\(o.configLabel): lora: adapts a pretrained model; give it with --init")
                }
                lora = try SFTLoRA.start(model: model, config: lc, initFrom: initDir, seed: cfg.seed)
            }
            log("LoRA rank \(lc.rank), alpha \(lc.alpha) on \(lora!.targets.count) matrices (\(lora!.adapterCount) values) + \(lora!.newRows.count) new token rows; \(lc.warmupSteps) embedding-only steps first")
        }
        let (precision, note) = Precision.resolve(cfg.precision)
        if let note { log(note) }
        log(precision.summary)
        model.precision = precision

        let (samples, rngAfter) = try samples(model: model, dataset: dataset, config: cfg)
        guard o.resume || !cfg.itemMemory.enabled || model.itemTable == nil else {
            throw AlignError.invalidArgument("the --init checkpoint already has an item memory; start from its LLaMA weights alone")
        }
        if cfg.itemMemory.enabled && !o.resume { model = try withItemMemory(model, samples: samples, config: cfg) }
        guard cfg.itemMemory.enabled == (model.itemTable != nil) else {
            throw AlignError.invalidArgument("the run was \(model.itemTable == nil ? "started without" : "started with") item memory but the config says item_memory.enabled: \(cfg.itemMemory.enabled); resume with the run's config")
        }
        guard !cfg.itemMemory.enabled || cfg.itemMemory.untied == (model.params.layout.itemInput != nil) else {
            throw AlignError.invalidArgument("the run's item memory is \(cfg.itemMemory.untied ? "tied" : "untied") but the config says item_memory.untied: \(cfg.itemMemory.untied); resume with the run's config")
        }
        if model.itemTable != nil {   // new or resumed, the checkpoints record the setting this training runs with
            model.info.itemMemory?.trunkGradient = cfg.itemMemory.trunkGradient
        }
        if o.resume {
            guard rngAfter == state.sampleRng else {
                throw AlignError.invalidArgument("the training samples differ from the saved run's (data, tasks, seed or sampling changed); cannot resume exactly")
            }
        } else {
            state.sampleRng = rngAfter
        }
        var lenByTask: [PromptTask: Int] = [:]
        for (e, t) in zip(samples.examples, samples.tasks) { lenByTask[t, default: 0] += e.inputs.count }
        let counts = samples.countsByTask.sorted { $0.key.rawValue < $1.key.rawValue }.map {
            "\($0.key.rawValue) \($0.value) × \(lenByTask[$0.key]! / max($0.value, 1)) tokens"
        }
        log("protocol \(p.rawValue): \(samples.examples.count) samples (\(counts.joined(separator: ", "))), \(samples.targetTokens) trained tokens, longest \(samples.maxLength)")
        log("model: d \(model.params.config.hiddenSize), \(model.params.config.numHiddenLayers) layers, vocab \(model.params.config.vocabSize), \(model.params.count) parameters")
        if let t = model.itemTable {
            let untied = model.params.layout.itemInput != nil ? ", separate input residuals" : ""
            log("item memory: \(t.count) items (\(t.warmCount) warm), \(model.params.count - model.params.layout.llamaCount) parameters\(untied); head weight \(cfg.itemMemory.headWeight), input dropout \(cfg.itemMemory.inputDropout), trunk gradient \(cfg.itemMemory.trunkGradient.rawValue)")
        }

        let padId = Int32(model.tokenizer.padId ?? model.tokenizer.eosId!)
        let resample: ((Int) throws -> SFTSamples)? = cfg.sampling.variesPerEpoch
            ? { epoch in try Self.samples(model: model, dataset: dataset, config: cfg, epoch: epoch, epochZero: samples).0 } : nil
        try FieldCheck(file: o.configLabel).beam("eval.beam", cfg.eval.beam, items: model.items.count)
        let planned = max(samples.maxLength, resample == nil ? 0 : model.params.config.maxPositionEmbeddings)
        try memoryEstimate(model.config, config: cfg, maxLength: planned, sidDepth: model.trie.maxDepth, items: model.params.items)
            .check("optim.batch_size \(cfg.optim.batchSize) with samples of up to \(planned) tokens, eval.beam \(cfg.eval.beam)", file: o.configLabel)
        let loop = try SFTLoop(params: model.params, samples: samples, optim: cfg.optim, seed: cfg.seed, padId: padId,
                               state: state, optimizer: optimizer, ema: ema, resample: resample,
                               maxLength: resample == nil ? 0 : model.params.config.maxPositionEmbeddings,
                               items: model.itemTable, itemMemory: cfg.itemMemory, precision: precision, lora: lora)
        let run = try RunDirectory(url: o.out, stage: "sft", seed: cfg.seed, resolvedConfig: try cfg.yaml(), mode: mode,
                                   resumeStep: state.step, precision: precision)
        let total = cfg.optim.steps, startStep = loop.state.step
        let bar = o.progress ? ProgressBar(total: total - loop.state.step, label: "sft", unit: "steps") : nil
        let t0 = Date()
        var windowTokens = 0, windowStart = Date()
        var tokensThisRun = 0

        func saveLast() throws {
            try Cluster.world.checkSame(UnsafeBufferPointer(model.params.data), what: "the weights at step \(loop.state.step)")
            guard run.writes else { return }   // rank 0 of a data-parallel job writes for it
            try model.save(to: lastDir, stage: "sft", state: try JSONValue(encoding: loop.state), optimizer: loop.optimizer,
                           ema: loop.average?.snapshot,
                           extra: lora.map { l in { try l.write(to: $0.appendingPathComponent(LoRAAdapters.fileName)) } })
        }
        func saveBest() throws {
            guard run.writes else { return }
            try loop.withEvaluationWeights { try model.save(to: bestDir, stage: "sft", state: try JSONValue(encoding: loop.state)) }
        }
        /// `final`: the run ends here (last step, early stop or time budget), which `eval.keep: final` keeps.
        func validate(final: Bool) throws {
            let exs = Validation.examples(dataset, p, .valid, maxExamples: cfg.eval.maxUsers)
            let weights = model.itemTable == nil ? nil : cfg.itemMemory.sidWeights
            func score() throws -> ValidationResult {
                try Validation.run(model: model, dataset: dataset, examples: exs, beam: cfg.eval.beam, sidWeights: weights)
            }
            // With a moving average, validation and best/ use the averaged weights (last/ keeps the raw ones); the
            // raw weights are scored too and logged beside, so a run shows what the average buys. With item memory the
            // best SID weight of the mix becomes the model's.
            let r = try loop.withEvaluationWeights(score)
            if let w = r.sidWeight { model.info.itemMemory?.sidWeight = w }
            let raw = loop.average == nil ? nil : try score().metrics
            let improved = loop.recordValidation(r.metrics.ndcg(at: 10), patience: cfg.eval.patience)
            let keepFinal = cfg.eval.keep == .final
            let kept = keepFinal ? final || loop.state.stoppedEarly : improved
            var line = SFTValidRecord(step: loop.state.step, scores: ValidationScores(r), best: improved)
            if keepFinal { line.kept = kept }
            if let raw { line.rawHR10 = raw.hr(at: 10); line.rawNDCG10 = raw.ndcg(at: 10) }
            run.metrics.log(line)
            let rawText = raw.map { String(format: " (raw weights: HR@10 %.4f NDCG@10 %.4f)", $0.hr(at: 10), $0.ndcg(at: 10)) } ?? ""
            let tag = (improved ? " (best)" : "") + (keepFinal && kept ? " (final, kept)" : "")
            log(String(format: "step %d valid (%@, %d users): %@%@%@ [%.0fs]", loop.state.step, p.rawValue, r.metrics.count,
                       Validation.describe(r), tag, rawText, r.seconds))
            if kept { try saveBest() }
            try saveLast()
        }

        /// The checkpoint a diverged run can restart from.
        func lastGood() -> String {
            let fm = FileManager.default
            var parts: [String] = []
            if fm.fileExists(atPath: lastDir.path), let st = try? RecModel.load(lastDir).info.state?.decode(SFTState.self) {
                parts.append("\(lastDir.path) (step \(st.step))")
            }
            if fm.fileExists(atPath: bestDir.path) {
                let step = cfg.eval.keep == .best ? "step \(loop.state.bestStep)" : "the final weights of an earlier run"
                parts.append("best weights \(bestDir.path) (\(step))")
            }
            return parts.isEmpty ? "none yet (the run diverged before its first validation)" : parts.joined(separator: ", ")
        }
        var outOfTime = false, lastValidated = -1
        while loop.state.step < total && !loop.state.stoppedEarly {
            if let budget = o.maxSeconds, Date().timeIntervalSince(t0) >= budget { outOfTime = true; break }
            let s: SFTStepStats
            do { s = try loop.step() } catch let d as TrainingDiverged {
                bar?.finish()
                run.metrics.log(SFTDivergedRecord(d))
                throw d.error(lastGood: lastGood(), lr: cfg.optim.lr)
            }
            windowTokens += s.tokens; tokensThisRun += s.tokens
            FaultInjection.afterStep(s.step)
            if s.step % 10 == 0 || s.step == total {
                let dt = Date().timeIntervalSince(windowStart)
                let tps = dt > 0 ? Double(windowTokens) / dt : 0
                let (loss, itemLoss) = loop.takeLoggedLosses()
                run.metrics.log(SFTTrainRecord(step: s.step, loss: loss, itemLoss: itemLoss, lr: Double(s.lr), gradNorm: Double(s.gradNorm),
                                                tokensPerSecond: tps, epoch: s.epoch, tokens: loop.state.tokensSeen))
                let itemText = itemLoss.map { String(format: ", item %.3f", $0) } ?? ""
                bar?.advance(0, info: String(format: "loss %.3f%@, %.0f tok/s, epoch %d", loss, itemText, tps, s.epoch))
                windowTokens = 0; windowStart = Date()
            }
            bar?.advance(1)
            if cfg.eval.every > 0 && s.step % cfg.eval.every == 0 && s.step < total { try validate(final: false); lastValidated = s.step }
        }
        bar?.finish()
        if outOfTime {
            log(String(format: "wall-time budget of %.0f s reached at step %d of %d", o.maxSeconds!, loop.state.step, total))
            if lastValidated != loop.state.step && loop.state.step > startStep { try validate(final: true) }
            else if cfg.eval.keep == .final && lastValidated == loop.state.step { try saveBest() }   // validated just now
        }
        // A checkpoint is written only by a validation, so a run resumed at `total` has had its final one.
        if loop.state.step == total && loop.state.step > startStep && !loop.state.stoppedEarly { try validate(final: true) }
        if !FileManager.default.fileExists(atPath: bestDir.path) { try validate(final: true) }
        let secs = Date().timeIntervalSince(t0)
        if loop.state.stoppedEarly { log("early stop at step \(loop.state.step): no improvement in \(cfg.eval.patience) validations") }
        // Under `final` best/ holds the last validated weights: the step the run ended at.
        let (keptScore, keptStep) = cfg.eval.keep == .best ? (loop.state.bestScore, loop.state.bestStep)
            : (loop.state.lastScore ?? loop.state.bestScore, loop.state.step)
        let bestText = cfg.eval.keep == .best ? "" : String(format: " (final weights; the best validation was %.4f at step %d)",
                                                            loop.state.bestScore, loop.state.bestStep)
        log(String(format: "done: %d steps in %.0fs (%.0f tok/s); kept valid NDCG@10 %.4f at step %d%@ → %@",
                   loop.state.step, secs, Double(tokensThisRun) / max(secs, 1e-9), keptScore, keptStep, bestText, bestDir.path))
        return SFTSummary(steps: loop.state.step, seconds: secs, tokensPerSecond: Double(tokensThisRun) / max(secs, 1e-9),
                          keptValidNDCG10: keptScore, keptStep: keptStep,
                          stoppedEarly: loop.state.stoppedEarly, samples: samples.examples.count)
    }
}
