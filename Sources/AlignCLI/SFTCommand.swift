// `align sft`: instruction SFT from a preset or an HF checkpoint (Sources/AlignRec/Train/SFTRun.swift).
import AlignCore
import AlignRec
import ArgumentParser
import Foundation

struct SFTCommand: ParsableCommand {
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
    @Option(name: .long, help: "Override optim.steps.") var steps: Int?
    @Option(name: .long, help: "Override optim.lr.") var lr: Float?
    @Option(name: .long, help: "Override optim.warmup.") var warmup: Int?
    @Option(name: .customLong("batch-size"), help: "Override optim.batch_size.") var batchSize: Int?
    @Option(name: .long, help: "Override seed.") var seed: UInt64?
    @Option(name: .long, help: "Override protocol (loo | chrono).") var `protocol`: String?
    @Option(name: .customLong("max-history"), help: "Override max_history.") var maxHistory: Int?
    @Option(name: .customLong("eval-every"), help: "Override eval.every.") var evalEvery: Int?
    @Option(name: .long, help: "Override eval.beam.") var beam: Int?
    @Option(name: .customLong("max-users"), help: "Override eval.max_users (validation subsample, 0 = all).") var maxUsers: Int?
    @Option(name: .long, help: "Override eval.patience.") var patience: Int?
    @Option(name: .long, help: "Override sampling.stride.") var stride: Int?
    @Option(name: .long, help: "Override optim.dropout.") var dropout: Float?
    @Option(name: .customLong("dropout-tasks"), help: "Override optim.dropout_tasks: the tasks whose samples get dropout (comma-separated, e.g. nextitem; 'all' = every task).") var dropoutTasks: String?
    @Option(name: .long, help: "Override optim.ema (decay of the weights' moving average used for validation and best/; 0 = none).") var ema: Float?
    @Option(name: .customLong("dense-history-loss"), help: "Override sampling.dense_history_loss (true | false).") var dense: Bool?
    @Option(name: .customLong("offsets"), help: "Override sampling.offsets: fixed (windows counted back from each sequence's end) | random (a fresh offset per sequence and epoch).") var offsets: String?
    @Option(name: .long, help: "Override sampling.redraw: none | translation | all (which samples get fresh templates every epoch).") var redraw: String?
    @Flag(name: .customLong("no-progress"), help: "No progress bar.") var noProgress = false
    @OptionGroup var precisionOptions: PrecisionOptions

    func resolvedConfig() throws -> TrainConfig {
        var cfg: TrainConfig
        if let c = config {
            cfg = try TrainConfig.load(URL(fileURLWithPath: c))
        } else if resume {
            cfg = try TrainConfig.load(URL(fileURLWithPath: out).appendingPathComponent("config.yaml"))
        } else {
            throw AlignError.invalidArgument("--config is required (e.g. configs/movielens.yaml)")
        }
        if let t = tasks {
            let list = try PromptTask.parseList(t)
            var w: [String: Double] = [:]
            for task in list { w[task.rawValue] = cfg.tasks[task.rawValue] ?? 1 }
            cfg.tasks = w
        }
        if let v = steps { cfg.optim.steps = v }
        if let v = lr { cfg.optim.lr = v }
        if let v = warmup { cfg.optim.warmup = v }
        if let v = batchSize { cfg.optim.batchSize = v }
        if let v = seed { cfg.seed = v }
        if let v = precisionOptions.precision { cfg.precision = v }
        if let v = `protocol` { cfg.protocolName = v }
        if let v = maxHistory { cfg.maxHistory = v }
        if let v = evalEvery { cfg.eval.every = v }
        if let v = beam { cfg.eval.beam = v }
        if let v = maxUsers { cfg.eval.maxUsers = v }
        if let v = patience { cfg.eval.patience = v }
        if let v = stride { cfg.sampling.stride = v }
        if let v = dropout { cfg.optim.dropout = v }
        if let v = ema { cfg.optim.ema = v }
        if let v = dropoutTasks { cfg.optim.dropoutTasks = v == "all" ? nil : try PromptTask.parseList(v) }
        if let v = dense { cfg.sampling.denseHistoryLoss = v }
        if let v = offsets {
            guard let o = WindowOffsets(rawValue: v) else { throw ValidationError("--offsets must be fixed or random (got '\(v)')") }
            cfg.sampling.offsets = o
        }
        if let v = redraw {
            guard let r = SampleRedraw(rawValue: v) else { throw ValidationError("--redraw must be none, translation or all (got '\(v)')") }
            cfg.sampling.redraw = r
        }
        try cfg.validate(path: config ?? "<config + flags>")
        return cfg
    }

    func run() throws {
        do {
            let cfg = try resolvedConfig()
            let o = SFTOptions(data: URL(fileURLWithPath: data), config: cfg, out: URL(fileURLWithPath: out),
                               prompts: URL(fileURLWithPath: prompts), initFrom: initFrom.map { URL(fileURLWithPath: $0) },
                               tokenizer: tokenizer.map { URL(fileURLWithPath: $0) }, sidMap: sidMap.map { URL(fileURLWithPath: $0) },
                               resume: resume, progress: !noProgress)
            _ = try SFTRun.run(o) { FileHandle.standardOutput.write(Data(($0 + "\n").utf8)) }
        } catch let e as AlignError {
            FileHandle.standardError.write(Data("error: \(e.description)\n".utf8))
            throw ExitCode.failure
        }
    }
}
