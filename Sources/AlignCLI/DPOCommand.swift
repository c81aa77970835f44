// `align dpo`: DPO / S-DPO alignment of an SFT recommender (Sources/AlignRec/Align/DPORun.swift).
import AlignCore
import AlignRec
import ArgumentParser
import Foundation

struct DPOCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dpo",
        abstract: "Direct preference optimisation of an SFT recommender (chosen = true next item, rejected = hard/random/popular negatives).",
        discussion: """
        Pairs come from the protocol's training examples with the evaluation prompt. Rejected items: the SFT \
        model's top wrong beam items (beam, mined once up front), uniform (random) or popularity-sampled \
        (popular). One negative: TRL's sigmoid loss −log σ(βΔ); several: S-DPO's softmax loss. Reference \
        log-probs are computed once before training. Validation every eval.every steps keeps the best weights \
        in <out>/best; the run ends with SFT vs DPO on the full validation and test splits (summary.json).
        """
    )

    @Option(name: .long, help: "SFT run or checkpoint directory.") var from: String
    @Option(name: .long, help: "Dataset directory the SFT model was trained on.") var data: String
    @Option(name: .long, help: "Run directory.") var out: String
    @Option(name: .long, help: "YAML config (configs/dpo.yaml); defaults when absent.") var config: String?
    @Option(name: .long, help: "Override negatives (beam | random | popular).") var negatives: String?
    @Option(name: .customLong("num-negatives"), help: "Override num_negatives (> 1: S-DPO).") var numNegatives: Int?
    @Option(name: .long, help: "Override beta.") var beta: Double?
    @Option(name: .customLong("max-pairs"), help: "Override max_pairs (0 = every training example).") var maxPairs: Int?
    @Option(name: .long, help: "Override optim.steps.") var steps: Int?
    @Option(name: .long, help: "Override optim.lr.") var lr: Float?
    @Option(name: .customLong("batch-size"), help: "Override optim.batch_size (pairs per step).") var batchSize: Int?
    @Option(name: .customLong("eval-every"), help: "Override eval.every.") var evalEvery: Int?
    @Option(name: .customLong("max-users"), help: "Override eval.max_users (validation subsample during training).") var maxUsers: Int?
    @Option(name: .long, help: "Override protocol (loo | chrono).") var `protocol`: String?
    @Option(name: .long, help: "Override seed.") var seed: UInt64?
    @Flag(name: .customLong("no-progress"), help: "No progress bar.") var noProgress = false

    func resolved() throws -> DPOConfig {
        var c = try config.map { try DPOConfig.load(URL(fileURLWithPath: $0)) } ?? DPOConfig()
        if let v = negatives {
            guard let n = NegativeSource(rawValue: v) else { throw AlignError.invalidArgument("--negatives must be beam, random or popular (got '\(v)')") }
            c.negatives = n
        }
        if let v = numNegatives { c.numNegatives = v; c.negativeBeam = max(c.negativeBeam, v + 1) }
        if let v = beta { c.beta = v }
        if let v = maxPairs { c.maxPairs = v }
        if let v = steps { c.optim.steps = v }
        if let v = lr { c.optim.lr = v }
        if let v = batchSize { c.optim.batchSize = v }
        if let v = evalEvery { c.eval.every = v }
        if let v = maxUsers { c.eval.maxUsers = v }
        if let v = `protocol` { c.protocolName = v }
        if let v = seed { c.seed = v }
        try c.validate(path: config ?? "<defaults + flags>")
        return c
    }

    func run() throws {
        do {
            let o = DPOOptions(from: URL(fileURLWithPath: from), data: URL(fileURLWithPath: data), out: URL(fileURLWithPath: out),
                               config: try resolved(), progress: !noProgress)
            try DPORun.run(o) { FileHandle.standardOutput.write(Data(($0 + "\n").utf8)) }
        } catch let e as AlignError {
            FileHandle.standardError.write(Data("error: \(e.description)\n".utf8))
            throw ExitCode.failure
        }
    }
}
