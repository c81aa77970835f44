// The RL set of `align grpo`: which prompts GRPO rolls out, by task (`tasks` in configs/grpo*.yaml). MiniOneRec's
// rl.py trains on the concatenation of nextitem (every training example), title2sid (every item) and title-history →
// SID (10,000 training examples with the history shown as titles); align builds the same set from the protocol's
// training split, each prompt with the task's evaluation template:
//
//   nextitem       training examples: history as SIDs → the target's SID; the user's earlier items excluded.
//   titlehist2sid  training examples: history as titles (oldest dropped until the prompt fits) → the target's SID;
//                  the same exclusions.
//   title2sid      catalogue items with training interactions (cold items have no translation samples in SFT
//                  either): the title → the item's SID; nothing excluded.
//
// Each task takes `all` or a count (0: none), drawn with the run's seed; for nextitem `all` keeps the earlier
// behaviour when `optim.epochs` is 0 (steps × batch_size examples, or max_prompts) and means every training example
// when epochs are set. Goal rewards score the sequence tasks only (GoalRewards.swift).
import Foundation

/// How many prompts a task contributes.
public enum RLAmount: Codable, Sendable, Equatable {
    case all
    case count(Int)

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let n = try? c.decode(Int.self) { self = .count(n); return }
        let s = try c.decode(String.self)
        guard s == "all" else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "'\(s)' is neither `all` nor a count ≥ 0")
        }
        self = .all
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .all: try c.encode("all")
        case .count(let n): try c.encode(n)
        }
    }

    /// Whether the task contributes anything.
    public var isOn: Bool { if case .count(0) = self { false } else { true } }
}

/// `tasks`: the RL set by task.
public struct RLTaskSet: Codable, Sendable, Equatable {
    public var nextitem: RLAmount = .all
    public var title2sid: RLAmount = .count(0)
    public var titlehist2sid: RLAmount = .count(0)
    public init(nextitem: RLAmount = .all, title2sid: RLAmount = .count(0), titlehist2sid: RLAmount = .count(0)) {
        self.nextitem = nextitem; self.title2sid = title2sid; self.titlehist2sid = titlehist2sid
    }
    enum CodingKeys: String, CodingKey { case nextitem, title2sid, titlehist2sid }
    public init(from decoder: Decoder) throws {
        let d = RLTaskSet(), c = try decoder.container(keyedBy: CodingKeys.self)
        nextitem = try c.decodeIfPresent(RLAmount.self, forKey: .nextitem) ?? d.nextitem
        title2sid = try c.decodeIfPresent(RLAmount.self, forKey: .title2sid) ?? d.title2sid
        titlehist2sid = try c.decodeIfPresent(RLAmount.self, forKey: .titlehist2sid) ?? d.titlehist2sid
    }

    /// Parses `nextitem=all,title2sid=all,titlehist2sid=10000`; a task left out contributes nothing.
    public static func parse(_ text: String) throws -> RLTaskSet {
        var t = RLTaskSet(nextitem: .count(0))
        for part in text.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            let amount: RLAmount
            if kv.count == 1 || kv[1] == "all" { amount = .all } else if let n = Int(kv[1]), n >= 0 { amount = .count(n) } else {
                throw AlignError.invalidArgument("--tasks: '\(kv[1])' for \(kv[0]) is neither `all` nor a count ≥ 0")
            }
            switch kv[0] {
            case "nextitem": t.nextitem = amount
            case "title2sid": t.title2sid = amount
            case "titlehist2sid": t.titlehist2sid = amount
            default: throw AlignError.invalidArgument("--tasks: unknown task '\(kv[0])'; use nextitem, title2sid, titlehist2sid")
            }
        }
        return t
    }

    func validate(_ check: FieldCheck) throws {
        for (name, a) in [("nextitem", nextitem), ("title2sid", title2sid), ("titlehist2sid", titlehist2sid)] {
            if case .count(let n) = a { try check.int(name, n, 0...FieldCheck.maxSteps, "`all` or a count, 0 = none") }
        }
        guard nextitem.isOn || title2sid.isOn || titlehist2sid.isOn else {
            throw check.failure("nextitem", "0", allowed: "at least one task with prompts")
        }
    }
}

/// One prompt of the RL set.
public struct RLPrompt: Sendable {
    public var task: PromptTask
    /// [bos] + the wrapped prompt.
    public var prompt: [Int32]
    public var target: Int
    /// Items rollouts may not return (the user's earlier history for the sequence tasks).
    public var exclude: [Int]
    /// The user's later training items by distance (future reward; empty for title2sid).
    public var ahead: [Int: Int]
    /// Whether goal rewards score it (sequence tasks).
    public var recommendation: Bool { task != .title2sid }
}

extension RLTaskSet {
    /// Builds the RL set: the sequence tasks' training examples (`ctx.trainingExamples` with the config's recent
    /// positions and prompt sampling), then title2sid items, in that order (the step loop shuffles). `nextitemCap`
    /// is the nextitem draw for `all` (0: every example); `futureWindow` > 0 fills the future reward's maps.
    public func build(ctx: AlignmentContext, rec: Recommender, nextitemCap: Int, recent: Int, sampling: PromptSampling,
                      futureWindow: Int, rng: inout Rng) throws -> [RLPrompt] {
        var out: [RLPrompt] = []
        func sequence(_ task: PromptTask, _ amount: RLAmount, cap: Int, rng: inout Rng) throws {
            guard amount.isOn else { return }
            let n: Int
            switch amount { case .all: n = cap; case .count(let c): n = c }
            let examples = ctx.trainingExamples(max: n, recent: recent, sampling: sampling, rng: &rng)
            let ahead = GRPORewards.aheadMaps(of: examples, in: ctx.trainingSet, window: futureWindow)
            for (k, ex) in examples.enumerated() {
                out.append(RLPrompt(task: task, prompt: try rec.promptIds(task: task, history: ex.history), target: ex.target,
                                    exclude: Array(ctx.dataset.excluded(for: ex)), ahead: ahead[k]))
            }
        }
        try sequence(.nextitem, nextitem, cap: nextitemCap, rng: &rng)
        var other = rng.split()
        try sequence(.titlehist2sid, titlehist2sid, cap: 0, rng: &other)
        if title2sid.isOn {
            let cold = ctx.dataset.coldItems
            var items = (1...ctx.dataset.numItems).filter { !cold.contains($0) }
            if case .count(let n) = title2sid, n < items.count { other.shuffle(&items); items = Array(items.prefix(n)).sorted() }
            for i in items {
                out.append(RLPrompt(task: .title2sid, prompt: try rec.promptIds(title2sid: i), target: i, exclude: [], ahead: [:]))
            }
        }
        return out
    }
}
