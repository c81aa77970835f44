// The lines DPO and GRPO write to metrics.jsonl (Run/MetricRecord.swift), told apart by "event": the SFT weights'
// scores at the start, each validation, each training step, DPO's pairs, the final scores and a divergence. Keys
// are those of the file format; `align report` reads them back.
import Foundation

/// `start`: the SFT weights on the whole validation and test splits, and on the validation subsample
/// (`check_ndcg10`, what later validations are compared with).
public struct AlignStartRecord: MetricRecord {
    public static let event: String? = "start"
    public var step = 0
    public var validHR10, validNDCG10, testHR10, testNDCG10, checkNDCG10: Double

    public init(validHR10: Double, validNDCG10: Double, testHR10: Double, testNDCG10: Double, checkNDCG10: Double) {
        self.validHR10 = validHR10; self.validNDCG10 = validNDCG10; self.testHR10 = testHR10; self.testNDCG10 = testNDCG10
        self.checkNDCG10 = checkNDCG10
    }

    enum CodingKeys: String, CodingKey {
        case step, validHR10 = "valid_hr10", validNDCG10 = "valid_ndcg10", testHR10 = "test_hr10", testNDCG10 = "test_ndcg10"
        case checkNDCG10 = "check_ndcg10"
    }
}

/// `valid`: one validation during alignment.
public struct AlignValidRecord: MetricRecord {
    public static let event: String? = "valid"
    public var step: Int
    public var validHR10, validNDCG10: Double
    public var best: Bool
    public var examples: Int

    public init(step: Int, validHR10: Double, validNDCG10: Double, best: Bool, examples: Int) {
        self.step = step; self.validHR10 = validHR10; self.validNDCG10 = validNDCG10; self.best = best; self.examples = examples
    }

    enum CodingKeys: String, CodingKey {
        case step, validHR10 = "valid_hr10", validNDCG10 = "valid_ndcg10", best, examples
    }
}

/// `final`: the best step's scores on the whole splits.
public struct AlignFinalRecord: MetricRecord {
    public static let event: String? = "final"
    public var bestStep: Int
    public var validNDCG10, testNDCG10, minutes: Double

    public init(bestStep: Int, validNDCG10: Double, testNDCG10: Double, minutes: Double) {
        self.bestStep = bestStep; self.validNDCG10 = validNDCG10; self.testNDCG10 = testNDCG10; self.minutes = minutes
    }

    enum CodingKeys: String, CodingKey {
        case bestStep = "best_step", validNDCG10 = "valid_ndcg10", testNDCG10 = "test_ndcg10", minutes
    }
}

/// `diverged`: the step whose loss or gradient norm was not finite.
public struct AlignDivergedRecord: MetricRecord {
    public static let event: String? = "diverged"
    public var step: Int
    public init(step: Int) { self.step = step }
}

/// DPO `pairs`: the preference pairs built before training.
public struct DPOPairsRecord: MetricRecord {
    public static let event: String? = "pairs"
    public var pairs: Int
    public var negatives: NegativeSource
    public var numNegatives: Int
    /// Share of the pairs' prompts whose SFT top-1 is the target.
    public var sftTrainTop1: Double
    public var maxSeq: Int
    public var seconds: Double

    public init(pairs: Int, negatives: NegativeSource, numNegatives: Int, sftTrainTop1: Double, maxSeq: Int, seconds: Double) {
        self.pairs = pairs; self.negatives = negatives; self.numNegatives = numNegatives; self.sftTrainTop1 = sftTrainTop1
        self.maxSeq = maxSeq; self.seconds = seconds
    }

    enum CodingKeys: String, CodingKey {
        case pairs, negatives, numNegatives = "num_negatives", sftTrainTop1 = "sft_train_top1", maxSeq = "max_seq", seconds
    }
}

/// DPO `train`: one optimiser step.
public struct DPOTrainRecord: MetricRecord {
    public static let event: String? = "train"
    public var step: Int
    public var loss, rewardsChosen, rewardsRejected, rewardsMargin, rewardsAccuracy, chosenLogratio: Double
    public var gradNorm, lr, seconds: Double

    public init(step: Int, _ s: DPOStepStats, lr: Double, seconds: Double) {
        self.step = step; loss = s.loss; rewardsChosen = s.chosenReward; rewardsRejected = s.rejectedReward
        rewardsMargin = s.margin; rewardsAccuracy = s.accuracy; chosenLogratio = s.chosenLogRatio
        gradNorm = Double(s.gradNorm); self.lr = lr; self.seconds = seconds
    }

    enum CodingKeys: String, CodingKey {
        case step, loss, rewardsChosen = "rewards_chosen", rewardsRejected = "rewards_rejected", rewardsMargin = "rewards_margin"
        case rewardsAccuracy = "rewards_accuracy", chosenLogratio = "chosen_logratio", gradNorm = "grad_norm", lr, seconds
    }
}

/// GRPO `train`: one rollout batch and its updates. The token statistics exist only when some group has
/// reward variance (`active` > 0).
public struct GRPOTrainRecord: MetricRecord {
    public static let event: String? = "train"
    public var step: Int
    public var meanReward, hitRate, fracZeroStd: Double
    public var active, sequences: Int
    public var lr, rolloutSeconds, trainSeconds: Double
    public var loss, kl, clipFraction, entropy, gradNorm: Double?

    public init(step: Int, _ s: GRPOStepStats, lr: Double, rolloutSeconds: Double, trainSeconds: Double) {
        self.step = step; meanReward = s.meanReward; hitRate = s.hitRate; fracZeroStd = s.fracZeroStd
        active = s.activeSequences; sequences = s.sequences
        self.lr = lr; self.rolloutSeconds = rolloutSeconds; self.trainSeconds = trainSeconds
        if s.activeSequences > 0 {
            loss = s.loss; kl = s.kl; clipFraction = s.clipFraction; entropy = s.entropy; gradNorm = Double(s.gradNorm)
        }
    }

    enum CodingKeys: String, CodingKey {
        case step, meanReward = "mean_reward", hitRate = "hit_rate", fracZeroStd = "frac_zero_std", active, sequences
        case lr, rolloutSeconds = "rollout_seconds", trainSeconds = "train_seconds", loss, kl, clipFraction = "clip_fraction"
        case entropy, gradNorm = "grad_norm"
    }
}
