// Prompt templates: the instruction tasks, their paraphrased templates in `prompts/` and the one wrapper
// every stage (SFT, DPO, GRPO, evaluation, chat) puts around an instruction. Owns loading and validating
// `prompts/tasks.json` (format `align-prompts`, version 1), rendering, and drawing a template per sample.
import Foundation

/// An instruction task (docs/design.md §6).
public enum PromptTask: String, CaseIterable, Codable, Sendable, CodingKeyRepresentable {
    /// History as SIDs → next item's SID.
    case nextitem
    /// A SID → its title.
    case sid2title
    /// A title → its SID.
    case title2sid
    /// History as titles → next item's SID.
    case titlehist2sid
    /// History as SIDs → next item's title.
    case sidhist2title

    /// The slots every template of this task must use (and no others).
    public var slots: Set<String> {
        switch self {
        case .nextitem, .titlehist2sid, .sidhist2title: return ["history"]
        case .sid2title: return ["item"]
        case .title2sid: return ["title"]
        }
    }

    /// Whether the response is a SID (decoded under the trie) rather than a title.
    public var respondsWithSID: Bool { self == .nextitem || self == .title2sid || self == .titlehist2sid }

    /// Whether samples come from user sequences (one per training position) rather than catalogue items.
    public var isSequential: Bool { slots.contains("history") }

    /// Task weights as a config or task_config.json writes them (task name → weight); an unknown name is an
    /// error that suggests the closest known one and lists them all.
    public static func weights(_ named: [String: Double]) throws -> [PromptTask: Double] {
        var out: [PromptTask: Double] = [:]
        for (name, w) in named.sorted(by: { $0.key < $1.key }) {
            guard let t = PromptTask(rawValue: name) else { throw AlignError.invalidArgument(unknown(name)) }
            out[t] = w
        }
        return out
    }

    /// "unknown task 'nextitm' (did you mean 'nextitem'? known: …)".
    static func unknown(_ name: String, extra: [String] = []) -> String {
        let known = allCases.map(\.rawValue) + extra
        let hint = NameSuggestion.closest(to: name, in: known).map { "did you mean '\($0)'? " } ?? ""
        return "unknown task '\(name)' (\(hint)known: \(known.joined(separator: ", ")))"
    }

    /// Reads task weights at `key` of a config or task_config.json (absent: `fallback`); an unknown task name is
    /// a decoding error at `key` with the message of `weights(_:)`.
    public static func decodeWeights<K: CodingKey>(_ c: KeyedDecodingContainer<K>, _ key: K,
                                                   default fallback: [PromptTask: Double]) throws -> [PromptTask: Double] {
        guard let named = try c.decodeIfPresent([String: Double].self, forKey: key) else { return fallback }
        do { return try weights(named) } catch let e as AlignError {
            throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: e.description)
        }
    }

    /// Parses a comma-separated task list (`--tasks translate,nextitem`). `translate` expands to
    /// `sid2title,title2sid`; duplicates are kept once, in first-seen order.
    public static func parseList(_ text: String) throws -> [PromptTask] {
        var out: [PromptTask] = []
        for raw in text.split(separator: ",") {
            let name = raw.trimmingCharacters(in: .whitespaces)
            let expanded: [PromptTask]
            if name == "translate" {
                expanded = [.sid2title, .title2sid]
            } else if let t = PromptTask(rawValue: name) {
                expanded = [t]
            } else {
                throw AlignError.invalidArgument(unknown(name, extra: ["translate"]))
            }
            for t in expanded where !out.contains(t) { out.append(t) }
        }
        if out.isEmpty { throw AlignError.invalidArgument("empty task list '\(text)'") }
        return out
    }
}

/// A template split into literal text and named slots.
public struct PromptTemplate: Sendable, Equatable {
    /// One piece of a template: literal text or a slot name.
    public enum Piece: Sendable, Equatable { case text(String), slot(String) }
    /// Pieces in order.
    public let pieces: [Piece]
    /// The file it came from (for error messages).
    public let path: String

    /// Distinct slot names used.
    public var slotNames: Set<String> {
        Set(pieces.compactMap { if case let .slot(s) = $0 { return s } else { return nil } })
    }

    /// Parses `{name}` slots (name: letters, digits, `_`). Any other `{` or `}` is an error naming file and line.
    public init(text: String, path: String) throws {
        var pieces: [Piece] = []
        var literal = ""
        var line = 1
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            if c == "\n" { line += 1 }
            if c == "}" { throw AlignError.format(path: path, line: line, message: "unmatched '}'") }
            if c == "{" {
                guard let close = text[i...].firstIndex(of: "}") else {
                    throw AlignError.format(path: path, line: line, message: "unclosed '{'")
                }
                let name = String(text[text.index(after: i)..<close])
                let ok = !name.isEmpty && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
                guard ok else {
                    throw AlignError.format(path: path, line: line, message: "bad slot '{\(name)}' (slots are {letters_digits})")
                }
                if !literal.isEmpty { pieces.append(.text(literal)); literal = "" }
                pieces.append(.slot(name))
                i = text.index(after: close)
                continue
            }
            literal.append(c)
            i = text.index(after: i)
        }
        if !literal.isEmpty { pieces.append(.text(literal)) }
        self.pieces = pieces
        self.path = path
    }

    /// Substitutes every slot; a slot without a value is an error.
    public func render(_ values: [String: String]) throws -> String {
        var out = ""
        for p in pieces {
            switch p {
            case let .text(t): out += t
            case let .slot(s):
                guard let v = values[s] else {
                    throw AlignError.invalidArgument("\(path): no value for slot {\(s)} (given: \(values.keys.sorted()))")
                }
                out += v
            }
        }
        return out
    }

    /// Line (1-based) of the first use of a slot, for messages.
    func line(ofSlot name: String) -> Int? {
        var line = 1
        for p in pieces {
            switch p {
            case let .text(t): line += t.filter { $0 == "\n" }.count
            case let .slot(s): if s == name { return line }
            }
        }
        return nil
    }
}

/// All templates of a prompt directory, validated.
public struct PromptLibrary: Sendable {
    /// `version` of tasks.json.
    public let version: Int
    /// The wrapper, with exactly one `{instruction}` slot.
    public let wrapper: PromptTemplate
    /// Templates per task, in tasks.json order.
    public let templates: [PromptTask: [PromptTemplate]]
    /// Index of each task's fixed evaluation template.
    public let evalTemplate: [PromptTask: Int]
    /// Raw bytes of tasks.json and every file it names, by relative path (for `save`).
    public let sourceFiles: [String: Data]

    /// The current format version this code reads.
    public static let formatVersion = 1

    private struct IndexFile: Decodable {
        struct TaskEntry: Decodable {
            let templates: [String]
            let evalTemplate: Int
            enum CodingKeys: String, CodingKey { case templates, evalTemplate = "eval_template" }
        }
        let format: String
        let version: Int
        let wrapper: String
        let tasks: [String: TaskEntry]
    }

    /// Loads `dir/tasks.json`, the wrapper and every template file, checking that each task is present, each
    /// template uses exactly its task's slots and the wrapper has `{instruction}`. Errors name the file.
    public static func load(_ dir: URL) throws -> PromptLibrary {
        let indexURL = dir.appendingPathComponent("tasks.json")
        let indexPath = indexURL.path
        let data: Data
        do { data = try Data(contentsOf: indexURL) } catch {
            throw AlignError.io(path: indexPath, message: "cannot read prompt index: \(error.localizedDescription)")
        }
        let index: IndexFile
        do { index = try JSONDecoder().decode(IndexFile.self, from: data) } catch {
            throw AlignError.format(path: indexPath, line: nil, message: "not a valid prompt index: \(error)")
        }
        guard index.format == "align-prompts" else {
            throw AlignError.format(path: indexPath, line: nil, message: "format is '\(index.format)', expected 'align-prompts'")
        }
        guard index.version == formatVersion else {
            throw AlignError.format(path: indexPath, line: nil,
                                    message: "version \(index.version) unsupported (this build reads \(formatVersion))")
        }
        for name in index.tasks.keys where PromptTask(rawValue: name) == nil {
            throw AlignError.format(path: indexPath, line: nil, message: "unknown task '\(name)'")
        }
        var files: [String: Data] = ["tasks.json": data]
        let wrapper = try readTemplate(dir, index.wrapper, &files)
        guard wrapper.slotNames == ["instruction"],
              wrapper.pieces.filter({ $0 == .slot("instruction") }).count == 1 else {
            throw AlignError.format(path: wrapper.path, line: nil,
                                    message: "the wrapper must contain {instruction} exactly once and no other slot")
        }
        var templates: [PromptTask: [PromptTemplate]] = [:]
        var evalTemplate: [PromptTask: Int] = [:]
        for task in PromptTask.allCases {
            guard let entry = index.tasks[task.rawValue] else {
                throw AlignError.format(path: indexPath, line: nil, message: "task '\(task.rawValue)' missing")
            }
            guard !entry.templates.isEmpty else {
                throw AlignError.format(path: indexPath, line: nil, message: "task '\(task.rawValue)' has no templates")
            }
            guard entry.templates.indices.contains(entry.evalTemplate) else {
                throw AlignError.format(path: indexPath, line: nil,
                                        message: "task '\(task.rawValue)': eval_template \(entry.evalTemplate) out of range 0..<\(entry.templates.count)")
            }
            var list: [PromptTemplate] = []
            for rel in entry.templates {
                let t = try readTemplate(dir, rel, &files)
                let used = t.slotNames
                if let unknown = used.subtracting(task.slots).sorted().first {
                    throw AlignError.format(path: t.path, line: t.line(ofSlot: unknown),
                                            message: "unknown slot {\(unknown)} for task \(task.rawValue) (allowed: \(task.slots.sorted()))")
                }
                if let missing = task.slots.subtracting(used).sorted().first {
                    throw AlignError.format(path: t.path, line: nil,
                                            message: "missing slot {\(missing)} required by task \(task.rawValue)")
                }
                list.append(t)
            }
            templates[task] = list
            evalTemplate[task] = entry.evalTemplate
        }
        return PromptLibrary(version: index.version, wrapper: wrapper, templates: templates, evalTemplate: evalTemplate,
                             sourceFiles: files)
    }

    /// Writes the exact files this library was loaded from into `dir` (atomically, replacing it), so a run
    /// directory keeps the prompts it was trained and evaluated with.
    public func save(to dir: URL) throws {
        try AtomicFile.writeDirectory(dir) { tmp in
            for (rel, data) in sourceFiles.sorted(by: { $0.key < $1.key }) {
                let url = tmp.appendingPathComponent(rel)
                do {
                    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try data.write(to: url)
                } catch {
                    throw AlignError.io(path: dir.appendingPathComponent(rel).path, message: "could not write prompt file: \(error.localizedDescription)")
                }
            }
        }
    }

    /// Reads one template file; its final newline (if any) is not part of the template.
    private static func readTemplate(_ dir: URL, _ rel: String, _ files: inout [String: Data]) throws -> PromptTemplate {
        guard !rel.hasPrefix("/"), !rel.split(separator: "/").contains("..") else {
            throw AlignError.format(path: dir.appendingPathComponent("tasks.json").path, line: nil,
                                    message: "template path '\(rel)' must be relative and inside the prompts directory")
        }
        let url = dir.appendingPathComponent(rel)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw AlignError.io(path: url.path, message: "template file missing or unreadable (listed in tasks.json)")
        }
        guard var text = String(data: data, encoding: .utf8) else {
            throw AlignError.format(path: url.path, line: nil, message: "not UTF-8")
        }
        files[rel] = data
        if text.hasSuffix("\n") { text.removeLast() }
        if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw AlignError.format(path: url.path, line: nil, message: "empty template")
        }
        return try PromptTemplate(text: text, path: url.path)
    }

    /// The same library with another wrapper text (one `{instruction}` slot), saved under the wrapper's file name:
    /// a pretrained model's chat template rendered around the instruction (ChatTemplate.wrapper).
    public func withWrapper(_ text: String) throws -> PromptLibrary {
        guard let rel = sourceFiles.keys.first(where: { wrapper.path.hasSuffix("/" + $0) || wrapper.path == $0 }) else {
            throw AlignError.invalidArgument("\(wrapper.path): the wrapper file is not among the library's files")
        }
        let t = try PromptTemplate(text: text, path: wrapper.path)
        guard t.slotNames == ["instruction"], t.pieces.filter({ $0 == .slot("instruction") }).count == 1 else {
            throw AlignError.invalidArgument("the chat wrapper must contain {instruction} exactly once and no other slot")
        }
        var files = sourceFiles
        files[rel] = Data((text + "\n").utf8)   // the reader drops one final newline
        return PromptLibrary(version: version, wrapper: t, templates: templates, evalTemplate: evalTemplate, sourceFiles: files)
    }

    /// Number of templates of a task.
    public func templateCount(_ task: PromptTask) -> Int { templates[task]!.count }

    /// Index of the task's fixed evaluation template.
    public func evalTemplateIndex(_ task: PromptTask) -> Int { evalTemplate[task]! }

    /// Draws one template index uniformly with the caller's generator.
    public func drawTemplate(_ task: PromptTask, rng: inout Rng) -> Int { rng.int(below: templateCount(task)) }

    /// The instruction alone (template with slots filled, no wrapper).
    public func instruction(_ task: PromptTask, slots: [String: String], templateIndex: Int) throws -> String {
        let list = templates[task]!
        guard list.indices.contains(templateIndex) else {
            throw AlignError.invalidArgument("task \(task.rawValue) has \(list.count) templates; index \(templateIndex) is out of range")
        }
        return try list[templateIndex].render(slots)
    }

    /// Puts the wrapper around an instruction (also used for free-form chat).
    public func wrap(_ instruction: String) -> String {
        // The wrapper was validated to have only the {instruction} slot.
        var out = ""
        for p in wrapper.pieces {
            switch p {
            case let .text(t): out += t
            case .slot: out += instruction
            }
        }
        return out
    }

    /// The full prompt text for a task: wrapper around the rendered template.
    public func render(_ task: PromptTask, slots: [String: String], templateIndex: Int) throws -> String {
        wrap(try instruction(task, slots: slots, templateIndex: templateIndex))
    }

    /// The prompt with the task's evaluation template.
    public func renderEval(_ task: PromptTask, slots: [String: String]) throws -> String {
        try render(task, slots: slots, templateIndex: evalTemplateIndex(task))
    }

    /// Draws a template with `rng` and renders it; returns the prompt and the template index used.
    public func renderRandom(_ task: PromptTask, slots: [String: String], rng: inout Rng) throws -> (prompt: String, templateIndex: Int) {
        let k = drawTemplate(task, rng: &rng)
        return (try render(task, slots: slots, templateIndex: k), k)
    }
}
