// Turning what a user passes to `align recommend`/`align export` into item histories, with one clear error
// per problem: a user id not in the dataset, an empty history, titles that are unknown or ambiguous (with
// the closest candidates), ids not in the catalogue. Owns the users-to-export selection (all | test | a file
// of user ids) as a lazily evaluated list, so exports never hold more than one batch of requests.
import Foundation

/// One user to recommend for.
public struct ServeUser: Sendable, Equatable {
    /// The source's user id.
    public var userId: String
    /// History, oldest first (truncated to max_history in the prompt by the model).
    public var history: [Int]
    /// Items never to return.
    public var exclude: [Int]
    /// A user with a history and exclusions.
    public init(userId: String, history: [Int], exclude: [Int]) { self.userId = userId; self.history = history; self.exclude = exclude }
}

/// Which users an export covers, resolved lazily by index.
public struct UserSelection: Sendable {
    /// Number of users.
    public let count: Int
    /// What was selected, for messages ("all 610 users").
    public let description: String
    let resolve: @Sendable (Int) -> ServeUser
    /// `count` users given by `resolve(0..<count)`.
    public init(count: Int, description: String, resolve: @escaping @Sendable (Int) -> ServeUser) {
        self.count = count; self.description = description; self.resolve = resolve
    }
    /// The i-th user (0-based).
    public func user(_ i: Int) -> ServeUser { resolve(i) }
}

/// Input resolution for the serving commands.
public enum ServeInputs {
    /// History items from "Toy Story; Heat (1995)" (separated by ';' or newlines). Any title that is unknown or
    /// ambiguous is an error listing its closest candidates, so nothing is guessed.
    public static func history(titles text: String, index: TitleIndex) throws -> [Int] {
        let parts = text.split(whereSeparator: { $0 == ";" || $0 == "\n" }).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !parts.isEmpty else { throw AlignError.invalidArgument("--history is empty; give titles separated by ';' (e.g. \"Toy Story; Heat (1995)\")") }
        var items: [Int] = []
        var problems: [String] = []
        for p in parts {
            let m = index.match(p)
            if let i = m.item {
                if !items.contains(i) { items.append(i) }
                continue
            }
            let cands = m.candidates.prefix(5).map { "\(index.display($0.item)) [id \(index.items[$0.item]?.id ?? "?")]" }
            let why = m.kind == .ambiguous ? "matches several items" : "is not in the catalogue"
            problems.append("'\(p)' \(why)" + (cands.isEmpty ? "" : "; closest: " + cands.joined(separator: ", ")))
        }
        if !problems.isEmpty {
            let head = items.isEmpty ? "none of the titles could be used" : "some titles could not be used"
            let hint = problems.contains { $0.contains("matches several") } ? " (add the year to pick one, e.g. \"Heat (1995)\")" : ""
            throw AlignError.invalidArgument("\(head): " + problems.joined(separator: " | ") + hint)
        }
        return items
    }

    /// History items from original catalogue ids "1,5,9" (the source's ids, as in items.jsonl "id").
    public static func history(ids text: String, items: [Item]) throws -> [Int] {
        let ids = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !ids.isEmpty else { throw AlignError.invalidArgument("--history-ids is empty; give item ids separated by commas (e.g. 1,5,9)") }
        var byId: [String: Int] = [:]
        for it in items { byId[it.id] = it.item }
        var out: [Int] = []
        var unknown: [String] = []
        for id in ids {
            if let i = byId[id] { if !out.contains(i) { out.append(i) } } else { unknown.append(id) }
        }
        if !unknown.isEmpty {
            throw AlignError.invalidArgument("item id(s) \(unknown.joined(separator: ", ")) are not in the model's catalogue (\(items.count) items; ids are the source's, as in items.jsonl \"id\")")
        }
        return out
    }

    /// A user's whole sequence (what they interacted with so far), by the source's user id.
    public static func user(_ id: String, dataset: Dataset) throws -> ServeUser {
        guard let s = dataset.sequences.first(where: { $0.userId == id }) else {
            let sample = dataset.sequences.prefix(3).map(\.userId).joined(separator: ", ")
            throw AlignError.invalidArgument("user '\(id)' is not in the dataset (\(dataset.sequences.count) users, e.g. \(sample))")
        }
        guard !s.items.isEmpty else { throw AlignError.invalidArgument("user '\(id)' has an empty history") }
        return ServeUser(userId: s.userId, history: s.items, exclude: s.items)
    }

    /// Checks that a model and a dataset share the catalogue (same size and ids), so item indices agree.
    public static func checkCatalogue(model: RecModel, dataset: Dataset, dataPath: String) throws {
        guard model.items.count == dataset.items.count,
              zip(model.items, dataset.items).allSatisfy({ $0.id == $1.id }) else {
            throw AlignError.invalidArgument("\(dataPath) is not the dataset this model was trained on (catalogues differ: \(dataset.items.count) vs \(model.items.count) items)")
        }
    }

    /// Users to export: "all" (every user's whole sequence → what comes next), "test" (leave-one-out test
    /// examples: the history before each user's held-out item, excluding their earlier items, as evaluation
    /// does), or a file with one user id per line ('#' comments and blank lines ignored).
    public static func selection(_ spec: String, dataset: Dataset) throws -> UserSelection {
        let ds = dataset
        switch spec {
        case "all":
            let seqs = ds.sequences.filter { !$0.items.isEmpty }
            return UserSelection(count: seqs.count, description: "all \(seqs.count) users (whole sequences)") { i in
                ServeUser(userId: seqs[i].userId, history: seqs[i].items, exclude: seqs[i].items)
            }
        case "test":
            let ex = ds.looTest.filter { !$0.history.isEmpty }
            return UserSelection(count: ex.count, description: "\(ex.count) users' leave-one-out test histories") { i in
                ServeUser(userId: ex[i].userId, history: ex[i].history, exclude: Array(ds.excluded(for: ex[i])))
            }
        default:
            let url = URL(fileURLWithPath: spec)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw AlignError.invalidArgument("--users must be all, test or a file of user ids; '\(spec)' is none of these")
            }
            let text: String
            do { text = try String(contentsOf: url, encoding: .utf8) } catch {
                throw AlignError.io(path: url.path, message: "cannot read: \(error.localizedDescription)")
            }
            var index: [String: Int] = [:]
            for (i, s) in ds.sequences.enumerated() { index[s.userId] = i }
            var picked: [Int] = []
            for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = raw.trimmingCharacters(in: .whitespaces)
                if line.isEmpty || line.hasPrefix("#") { continue }
                guard let i = index[line] else {
                    throw AlignError.format(path: url.path, line: n + 1, message: "user '\(line)' is not in the dataset")
                }
                guard !ds.sequences[i].items.isEmpty else {
                    throw AlignError.format(path: url.path, line: n + 1, message: "user '\(line)' has an empty history")
                }
                picked.append(i)
            }
            guard !picked.isEmpty else { throw AlignError.format(path: url.path, line: nil, message: "no user ids in the file") }
            let rows = picked
            return UserSelection(count: rows.count, description: "\(rows.count) users from \(url.lastPathComponent)") { i in
                let s = ds.sequences[rows[i]]
                return ServeUser(userId: s.userId, history: s.items, exclude: s.items)
            }
        }
    }
}
