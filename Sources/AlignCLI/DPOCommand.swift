// `align dpo`: DPO / S-DPO alignment of an SFT recommender (Sources/AlignRec/Align/DPORun.swift).
import AlignCore
import AlignRec
import ArgumentParser
import Foundation

struct DPOCommand: DataParallelCommand {
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

    @Option(name: .long, help: "Override negatives (beam | random | popular | reward).") var negatives: String?
    @Option(name: .long, help: "Override reward (negatives: reward): a kind or a mix like ranking=1,longtail=0.3.") var reward: String?
    @Option(name: .customLong("num-negatives"), help: "Override num_negatives (> 1: S-DPO).") var numNegatives: Int?
    @Option(name: .long, help: "Override beta.") var beta: Double?
    @Option(name: .customLong("max-pairs"), help: "Override max_pairs (0 = every training example).") var maxPairs: Int?
    @Option(name: .customLong("sft-weight"), help: "Override sft_weight (RPO: + α · chosen NLL; 0 = plain DPO).") var sftWeight: Double?
    @Option(name: .customLong("future-window"), help: "Override future_window: never a negative among the user's next N training items (0 = off).") var futureWindow: Int?
    @OptionGroup var common: AlignmentOptions

    func resolved() throws -> (DPOConfig, String) {
        var c = try common.config.map { try DPOConfig.load(URL(fileURLWithPath: $0)) } ?? DPOConfig()
        var flags: [String] = []
        if let v = negatives {
            let n = try CLIErrors.option.choice("--negatives", v, as: NegativeSource.self)
            c.negatives = n; flags.append("--negatives")
        }
        if let v = numNegatives {
            c.numNegatives = v; flags.append("--num-negatives")
            if v >= 1, v < FieldCheck.maxCount { c.negativeBeam = max(c.negativeBeam, v + 1) }
        }
        if let v = beta { c.beta = v; flags.append("--beta") }
        if let v = maxPairs { c.maxPairs = v; flags.append("--max-pairs") }
        if let v = sftWeight { c.sftWeight = v; flags.append("--sft-weight") }
        if let v = futureWindow { c.futureWindow = v; flags.append("--future-window") }
        if let v = reward { c.reward = try RewardMix.parse(v); flags.append("--reward") }
        flags += try common.applyGoals(policy: &c.policy, goalK: &c.goalK, headFraction: &c.headFraction)
        flags += try common.apply(optim: &c.optim, eval: &c.eval, evalProtocol: &c.evalProtocol, seed: &c.seed,
                                  recentPositions: &c.recentPositions, promptSampling: &c.promptSampling, precision: &c.precision)
        try c.validate(path: common.configLabel(flags))
        return (c, common.configLabel(flags))
    }

    func run() throws {
        let (cfg, label) = try resolved()
        var o = DPOOptions(from: common.fromURL, data: common.dataURL, out: common.outURL,
                           config: cfg, progress: !common.noProgress, overwrite: common.overwrite)
        o.configLabel = label
        _ = try DPORun.run(o, say: common.say)
    }
}
