// Instruction samples: turns catalogue items, their SIDs and users' training sequences into (prompt,
// response) pairs for the chosen tasks, and encodes a pair into token ids with the loss mask built together
// with the ids. Owns the history layout (most recent `max_history` items, oldest first, separators from the
// config) and the per-task sampling weights.
import Foundation

/// What the instruction pipeline needs from a tokenizer. The SentencePiece + SID tokenizer conforms.
public protocol TokenizerProtocol {
    /// Token ids of a text, without BOS/EOS.
    func encode(_ text: String) throws -> [Int32]
    /// Beginning-of-sequence id (first token of every sequence).
    var bosId: Int32 { get }
    /// End-of-sequence id (closes every response).
    var eosId: Int32 { get }
    /// Whether prompts start with BOS (false for models whose chat template opens the sequence itself).
    var addsBos: Bool { get }
}

extension TokenizerProtocol {
    public var addsBos: Bool { true }
}

/// How samples are built. JSON/YAML keys are snake_case.
public struct TaskConfig: Codable, Sendable, Equatable {
    /// At most this many most recent history items go into a prompt (oldest first).
    public var maxHistory: Int
    /// Between SIDs in a SID history. Default "": each SID starts with its first-level token, so SIDs
    /// delimit themselves and a 20-item history costs exactly 20 × levels tokens.
    public var sidSeparator: String
    /// Between titles in a title history. Default "; " (titles contain commas).
    public var titleSeparator: String
    /// Titles shown as "Heat (1995)" when the item has a year (disambiguates remakes).
    public var titleWithYear: Bool
    /// Per-task weight (default 1). Weight w puts each candidate sample ⌊w⌋ times into the set, plus once
    /// more with probability w − ⌊w⌋ (seeded); 0 drops the task.
    public var taskWeights: [PromptTask: Double]

    /// Defaults: 20 history items, SIDs unseparated, titles "; ", titles with year, all weights 1.
    public init(maxHistory: Int = 20, sidSeparator: String = "", titleSeparator: String = "; ",
                titleWithYear: Bool = true, taskWeights: [PromptTask: Double] = [:]) {
        self.maxHistory = maxHistory; self.sidSeparator = sidSeparator; self.titleSeparator = titleSeparator
        self.titleWithYear = titleWithYear; self.taskWeights = taskWeights
    }

    enum CodingKeys: String, CodingKey {
        case maxHistory = "max_history", sidSeparator = "sid_separator", titleSeparator = "title_separator"
        case titleWithYear = "title_with_year", taskWeights = "task_weights"
    }

    /// Missing keys take the defaults.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = TaskConfig()
        maxHistory = try c.decodeIfPresent(Int.self, forKey: .maxHistory) ?? d.maxHistory
        sidSeparator = try c.decodeIfPresent(String.self, forKey: .sidSeparator) ?? d.sidSeparator
        titleSeparator = try c.decodeIfPresent(String.self, forKey: .titleSeparator) ?? d.titleSeparator
        titleWithYear = try c.decodeIfPresent(Bool.self, forKey: .titleWithYear) ?? d.titleWithYear
        taskWeights = try PromptTask.decodeWeights(c, .taskWeights, default: d.taskWeights)
    }

    /// Weight of a task (1 when not listed).
    public func weight(_ task: PromptTask) -> Double { taskWeights[task] ?? 1 }

    /// Checks ranges (task names are checked where they are read).
    public func validate() throws {
        guard maxHistory >= 1 else { throw AlignError.invalidArgument("max_history must be ≥ 1 (got \(maxHistory))") }
        for (task, w) in taskWeights {
            guard w >= 0, w.isFinite else { throw AlignError.invalidArgument("task_weights.\(task.rawValue) must be ≥ 0 (got \(w))") }
        }
    }
}

/// One (prompt, response) sample and where it came from.
public struct InstructionExample: Sendable, Equatable {
    /// The task.
    public var task: PromptTask
    /// Template used (index into the library's list for the task).
    public var templateIndex: Int
    /// The subject (translation tasks) or target item (sequence tasks).
    public var item: Int
    /// History items, oldest first (empty for translation tasks).
    public var history: [Int]
    /// Full prompt text (wrapper included).
    public var prompt: String
    /// Response text (a SID string or a title).
    public var response: String
}

/// Token ids and the loss mask of one sample. With ids = [bos] + prompt + response + [eos] (n tokens):
/// `inputs` = ids[0..<n−1] and `targets[t]` = ids[t+1] where ids[t+1] is a response or EOS token, else −100.
public struct EncodedExample: Sendable, Equatable {
    /// Model inputs, [bos] + prompt + response.
    public var inputs: [Int32]
    /// Next-token targets, −100 where no loss applies.
    public var targets: [Int32]
    /// Tokens of [bos] + prompt (the prefix a decoder is prefilled with at inference).
    public var promptLength: Int
    /// Wraps already-built arrays (same length).
    public init(inputs: [Int32], targets: [Int32], promptLength: Int) {
        self.inputs = inputs; self.targets = targets; self.promptLength = promptLength
    }

    /// Number of positions with a target (response tokens + EOS).
    public var responseLength: Int { inputs.count - promptLength + 1 }
}

/// The ignored-target value (PyTorch's ignore_index).
public let ignoreTarget: Int32 = -100

/// Builds samples for the instruction tasks.
public struct TaskSampleBuilder: Sendable {
    /// Templates and wrapper.
    public let library: PromptLibrary
    /// History length, separators, weights.
    public let config: TaskConfig
    /// SID string per item index.
    public let sids: [Int: String]
    /// Display title per item index.
    public let titles: [Int: String]
    /// Every catalogue item index, ascending.
    public let itemIndices: [Int]

    /// `sids` must hold a SID for every catalogue item.
    public init(library: PromptLibrary, items: [Item], sids: [Int: String], config: TaskConfig = TaskConfig()) throws {
        try config.validate()
        var titles: [Int: String] = [:]
        for it in items {
            guard sids[it.item] != nil else {
                throw AlignError.invalidArgument("item \(it.item) ('\(it.title)') has no SID; rebuild the SID map for this catalogue")
            }
            titles[it.item] = TaskSampleBuilder.displayTitle(it, withYear: config.titleWithYear)
        }
        self.library = library; self.config = config; self.sids = sids; self.titles = titles
        self.itemIndices = items.map(\.item).sorted()
    }

    /// Convenience: SIDs given by a closure (e.g. the SID map's formatter).
    public init(library: PromptLibrary, items: [Item], sid: (Int) -> String?, config: TaskConfig = TaskConfig()) throws {
        var map: [Int: String] = [:]
        for it in items { if let s = sid(it.item) { map[it.item] = s } }
        try self.init(library: library, items: items, sids: map, config: config)
    }

    /// The title shown in prompts and expected from sid2title: "Heat (1995)" or "Heat".
    public static func displayTitle(_ item: Item, withYear: Bool = true) -> String {
        if withYear, let y = item.year { return "\(item.title) (\(y))" }
        return item.title
    }

    private func sid(_ i: Int) throws -> String {
        guard let s = sids[i] else { throw AlignError.invalidArgument("item \(i) is not in the catalogue (no SID)") }
        return s
    }

    private func title(_ i: Int) throws -> String {
        guard let t = titles[i] else { throw AlignError.invalidArgument("item \(i) is not in the catalogue (no title)") }
        return t
    }

    /// The `{history}` text of a task: SIDs joined by `sid_separator` or titles by `title_separator`.
    public func historyText(_ task: PromptTask, _ history: [Int]) throws -> String {
        if task == .titlehist2sid { return try history.map(title).joined(separator: config.titleSeparator) }
        return try history.map(sid).joined(separator: config.sidSeparator)
    }

    /// One sample with a given template. `item` is the subject (translation) or the target (sequence tasks);
    /// `history` (oldest first) is cut to the most recent `max_history` items.
    public func example(_ task: PromptTask, item: Int, history: [Int] = [], templateIndex: Int) throws -> InstructionExample {
        let hist = Array(history.suffix(config.maxHistory))
        var slots: [String: String] = [:]
        switch task {
        case .sid2title: slots["item"] = try sid(item)
        case .title2sid: slots["title"] = try title(item)
        case .nextitem, .titlehist2sid, .sidhist2title:
            guard !hist.isEmpty else { throw AlignError.invalidArgument("task \(task.rawValue) needs a non-empty history") }
            slots["history"] = try historyText(task, hist)
        }
        let prompt = try library.render(task, slots: slots, templateIndex: templateIndex)
        let response = task.respondsWithSID ? try sid(item) : try title(item)
        return InstructionExample(task: task, templateIndex: templateIndex, item: item, history: hist,
                                  prompt: prompt, response: response)
    }

    /// The sample with the task's fixed evaluation template (evaluation, DPO, GRPO).
    public func evalExample(_ task: PromptTask, item: Int, history: [Int] = []) throws -> InstructionExample {
        try example(task, item: item, history: history, templateIndex: library.evalTemplateIndex(task))
    }

    /// All training samples of the tasks. Sequence tasks: for every user sequence (training items only,
    /// chronological) each position t ≥ 1 gives target seq[t] with history seq[..<t]; translation tasks: every
    /// catalogue item. Each sample draws its template from `rng`; weights apply as in `TaskConfig`. Order:
    /// tasks as given, then users, then positions (shuffling is the batcher's job). Deterministic for a seed.
    /// Items in `exclude` (cold items) get no translation samples.
    public func trainingExamples(tasks: [PromptTask], sequences: [[Int]], exclude: Set<Int> = [], rng: inout Rng) throws -> [InstructionExample] {
        var out: [InstructionExample] = []
        for task in tasks {
            let w = config.weight(task)
            func copies() -> Int {
                let whole = Int(w.rounded(.down))
                return whole + (rng.uniform() < w - Double(whole) ? 1 : 0)
            }
            if task.isSequential {
                for seq in sequences where seq.count >= 2 {
                    for t in 1..<seq.count {
                        for _ in 0..<copies() {
                            let k = library.drawTemplate(task, rng: &rng)
                            out.append(try example(task, item: seq[t], history: Array(seq[..<t]), templateIndex: k))
                        }
                    }
                }
            } else {
                for i in itemIndices where !exclude.contains(i) {
                    for _ in 0..<copies() {
                        let k = library.drawTemplate(task, rng: &rng)
                        out.append(try example(task, item: i, templateIndex: k))
                    }
                }
            }
        }
        return out
    }

    /// [bos] + tokens of a prompt (no BOS where the tokenizer adds none): what a decoder is prefilled with.
    public func encodePrompt(_ prompt: String, tokenizer: some TokenizerProtocol) throws -> [Int32] {
        (tokenizer.addsBos ? [tokenizer.bosId] : []) + (try tokenizer.encode(prompt))
    }

    /// Encodes a sample; prompt and response are tokenized separately so the mask is exact. When the
    /// sequence would exceed `maxLength` inputs, the oldest history items are dropped (re-rendering with the
    /// same template) until it fits; a sample that cannot fit is an error.
    public func encode(_ ex: InstructionExample, tokenizer: some TokenizerProtocol, maxLength: Int = .max) throws -> EncodedExample {
        var ex = ex
        while true {
            let p = try encodePrompt(ex.prompt, tokenizer: tokenizer)
            let r = try tokenizer.encode(ex.response)
            let n = p.count + r.count + 1
            if n - 1 <= maxLength {
                return TaskSampleBuilder.assemble(prompt: p, response: r, eos: tokenizer.eosId)
            }
            guard ex.history.count > 1 else {
                throw AlignError.invalidArgument("a \(ex.task.rawValue) sample for item \(ex.item) needs \(n - 1) tokens, more than max length \(maxLength); raise the model's context or shorten titles")
            }
            ex = try example(ex.task, item: ex.item, history: Array(ex.history.dropFirst()), templateIndex: ex.templateIndex)
        }
    }

    /// inputs/targets from prompt ids (starting with BOS) and response ids (EOS appended here).
    public static func assemble(prompt: [Int32], response: [Int32], eos: Int32) -> EncodedExample {
        let ids = prompt + response + [eos]
        let n = ids.count
        var targets = [Int32](repeating: ignoreTarget, count: n - 1)
        for t in (prompt.count - 1)..<(n - 1) { targets[t] = ids[t + 1] }
        return EncodedExample(inputs: Array(ids[0..<(n - 1)]), targets: targets, promptLength: prompt.count)
    }
}
