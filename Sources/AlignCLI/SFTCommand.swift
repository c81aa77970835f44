// `align sft`: instruction SFT from a preset or an HF checkpoint (Sources/AlignRec/Train/SFTRun.swift).
import AlignCore
import AlignRec
import ArgumentParser
import Foundation

struct SFTCommand: DataParallelCommand {
    static let configuration = CommandConfiguration(
        commandName: "sft",
        abstract: "Supervised fine-tuning on instruction tasks (nextitem, translate, ...), with validation and exact resume.",
        discussion: """
        Samples come only from the protocol's training data. Loss is on response tokens (plus history SID tokens \
        of nextitem samples with sampling.dense_history_loss). Validation every eval.every steps: HR/NDCG@10 by \
        trie-constrained beam search on the validation split; best/ keeps the best NDCG@10, last/ the latest \
        weights with optimizer and resume state. Flags override single config fields; the resolved config is \
        saved as <out>/config.yaml. --resume continues <out>/last exactly (config from <out>/config.yaml unless \
        --config is given).
        """
    )

    @Option(name: .long, help: "Dataset directory (with sid/sid_map.json and tokenizer/).")
    var data: String
    @Option(name: .long, help: "Tasks, comma-separated (translate = sid2title,title2sid); weights from the config (default 1).")
    var tasks: String?
    @Option(name: .long, help: "YAML preset (configs/NAME.yaml).")
    var config: String?
    @Option(name: .customLong("init"), help: "Start from a LLaMA-family HF checkpoint directory instead of random weights.")
    var initFrom: String?
    @Option(name: .long, help: "Run directory.")
    var out: String
    @Option(name: .long, help: "Prompt templates directory.")
    var prompts: String = "prompts"
    @Option(name: .long, help: "Tokenizer directory (default <data>/tokenizer; ignored with --init).")
    var tokenizer: String?
    @Option(name: .customLong("sid-map"), help: "SID map (default <data>/sid/sid_map.json).")
    var sidMap: String?
    @Flag(name: .long, help: "Continue <out>/last exactly.")
    var resume = false
    @Flag(name: .long, help: "Replace the run already in <out> (without it, or --resume, an existing run is an error).")
    var overwrite = false
    @Option(name: .long, help: "Override optim.steps.") var steps: Int?
    @Option(name: .long, help: "Override optim.lr.") var lr: Float?
    @Option(name: .long, help: "Override optim.warmup.") var warmup: Int?
    @Option(name: .customLong("batch-size"), help: "Override optim.batch_size.") var batchSize: Int?
    @Option(name: .long, help: "Override seed.") var seed: UInt64?
    @Option(name: .long, help: "Override protocol (loo | chrono).") var `protocol`: EvalProtocol?
    @Option(name: .customLong("max-history"), help: "Override max_history.") var maxHistory: Int?
    @Option(name: .customLong("eval-every"), help: "Override eval.every.") var evalEvery: Int?
    @Option(name: .long, help: "Override eval.beam.") var beam: Int?
    @Option(name: .customLong("max-users"), help: "Override eval.max_users (validation subsample, 0 = all).") var maxUsers: Int?
    @Option(name: .long, help: "Override eval.patience.") var patience: Int?
    @Option(name: .long, help: "Override eval.keep: best (the highest validation NDCG@10 goes to best/) | final (the weights the run ends with).") var keep: String?
    @Option(name: .long, help: "Override sampling.stride.") var stride: Int?
    @Option(name: .long, help: "Override optim.dropout.") var dropout: Float?
    @Option(name: .customLong("dropout-tasks"), help: "Override optim.dropout_tasks: the tasks whose samples get dropout (comma-separated, e.g. nextitem; 'all' = every task).") var dropoutTasks: String?
    @Option(name: .long, help: "Override optim.ema (decay of the weights' moving average used for validation and best/; 0 = none).") var ema: Float?
    @Option(name: .customLong("dense-history-loss"), help: "Override sampling.dense_history_loss (true | false).") var dense: Bool?
    @Option(name: .customLong("item-memory"), help: "Override item_memory.enabled (true | false): per-item vectors and the item-scoring head beside the SID tokens.") var itemMemory: Bool?
    @Option(name: .customLong("offsets"), help: "Override sampling.offsets: fixed (windows counted back from each sequence's end) | random (a fresh offset per sequence and epoch).") var offsets: String?
    @Option(name: .long, help: "Override sampling.redraw: none | translation | all (which samples get fresh templates every epoch).") var redraw: String?
    @Option(name: .customLong("max-minutes"), help: "Wall-time budget of the training loop, validations included: when it runs out, validate and checkpoint there (--resume continues).") var maxMinutes: Double?
    @Flag(name: .customLong("no-progress"), help: "No progress bar.") var noProgress = false
    @OptionGroup var precisionOptions: PrecisionOptions

    func resolvedConfig() throws -> (TrainConfig, String) {
        var cfg: TrainConfig
        let source: String
        if let c = config {
            source = c
            cfg = try TrainConfig.load(URL(fileURLWithPath: c))
        } else if resume {
            let url = URL(fileURLWithPath: out).appendingPathComponent("config.yaml")
            source = url.path
            cfg = try TrainConfig.load(url)
        } else {
            throw AlignError.invalidArgument("--config is required (e.g. configs/movielens.yaml)")
        }
        var flags: [String] = []
        func set<T>(_ value: T?, _ flag: String, _ apply: (T) throws -> Void) rethrows {
            guard let value else { return }
            flags.append(flag)
            try apply(value)
        }
        try set(tasks, "--tasks") { t in
            let list = try PromptTask.parseList(t)
            var w: [PromptTask: Double] = [:]
            for task in list { w[task] = cfg.tasks[task] ?? 1 }
            cfg.tasks = w
        }
        set(steps, "--steps") { cfg.optim.steps = $0 }
        set(lr, "--lr") { cfg.optim.lr = $0 }
        set(warmup, "--warmup") { cfg.optim.warmup = $0 }
        set(batchSize, "--batch-size") { cfg.optim.batchSize = $0 }
        set(seed, "--seed") { cfg.seed = $0 }
        set(precisionOptions.precision, "--precision") { cfg.precision = $0 }
        set(`protocol`, "--protocol") { cfg.evalProtocol = $0 }
        set(maxHistory, "--max-history") { cfg.maxHistory = $0 }
        set(evalEvery, "--eval-every") { cfg.eval.every = $0 }
        set(beam, "--beam") { cfg.eval.beam = $0 }
        set(maxUsers, "--max-users") { cfg.eval.maxUsers = $0 }
        set(patience, "--patience") { cfg.eval.patience = $0 }
        try set(keep, "--keep") { v in
            let k = try CLIErrors.option.choice("--keep", v, as: KeptWeights.self)
            cfg.eval.keep = k
        }
        set(stride, "--stride") { cfg.sampling.stride = $0 }
        set(dropout, "--dropout") { cfg.optim.dropout = $0 }
        set(ema, "--ema") { cfg.optim.ema = $0 }
        try set(dropoutTasks, "--dropout-tasks") { cfg.optim.dropoutTasks = $0 == "all" ? nil : try PromptTask.parseList($0) }
        set(dense, "--dense-history-loss") { cfg.sampling.denseHistoryLoss = $0 }
        set(itemMemory, "--item-memory") { cfg.itemMemory.enabled = $0 }
        try set(offsets, "--offsets") { v in
            let o = try CLIErrors.option.choice("--offsets", v, as: WindowOffsets.self)
            cfg.sampling.offsets = o
        }
        try set(redraw, "--redraw") { v in
            let r = try CLIErrors.option.choice("--redraw", v, as: SampleRedraw.self)
            cfg.sampling.redraw = r
        }
        let label = flags.isEmpty ? source : "\(source) with \(flags.joined(separator: ", "))"
        try cfg.validate(path: label)
        return (cfg, label)
    }

    func run() throws {
        guard !(resume && overwrite) else { throw AlignError.invalidArgument("--resume and --overwrite exclude each other") }
        let (cfg, label) = try resolvedConfig()
        var o = SFTOptions(data: URL(fileURLWithPath: data), config: cfg, out: URL(fileURLWithPath: out),
                           prompts: URL(fileURLWithPath: prompts), initFrom: initFrom.map { URL(fileURLWithPath: $0) },
                           tokenizer: tokenizer.map { URL(fileURLWithPath: $0) }, sidMap: sidMap.map { URL(fileURLWithPath: $0) },
                           resume: resume, overwrite: overwrite, progress: !noProgress)
        o.configLabel = label
        if let maxMinutes {
            try CLIErrors.option.number("--max-minutes", maxMinutes, .openClosed(0, 1e6))
            o.maxSeconds = maxMinutes * 60
        }
        _ = try SFTRun.run(o) { Console.line($0) }
    }
}
