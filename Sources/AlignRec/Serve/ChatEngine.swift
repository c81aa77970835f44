// Answers chat messages with a model: finds titles/SIDs (TextMentions), decides the intent (ChatIntentParser),
// runs the right task (titlehist2sid recommendations from the history as titles, sid2title by free
// generation, title2sid by constrained decoding) through RecService, updates the session, and renders the
// reply as numbered text or JSON. Unresolved titles are always answered with their closest candidates, and a
// reply that only picks one of them ("1", "the first one") uses it. Genre exclusions ("but no horror",
// GenreExclusions) hold for the rest of the conversation and reach the beam search as excluded items.
import Foundation

/// A title that could not be used, with what it might have meant.
public struct UnresolvedTitle: Codable, Sendable, Equatable {
    /// The title as the user wrote it.
    public var text: String
    /// "ambiguous" or "not_found".
    public var reason: String
    /// Closest catalogue items, best first (score = title similarity).
    public var candidates: [Recommendation]
}

/// One reply (the `--json` form).
public struct ChatReply: Codable, Sendable, Equatable {
    /// recommend | sid2title | title2sid | clarify | help | reset.
    public var kind: String
    /// Task prompt used, when the model was asked.
    public var task: String?
    /// The history the recommendations are for (titles in order).
    public var history: [Recommendation]
    /// Numbered list: recommendations, or the model's predicted SIDs for title2sid.
    public var items: [Recommendation]
    /// Answers to "what is <SID>?".
    public var sidAnswers: [SIDAnswer]
    /// Answers to "which item is <title>?".
    public var titleAnswers: [TitleAnswer]
    /// Titles that could not be used, with candidates.
    public var unresolved: [UnresolvedTitle]
    /// Typo corrections and other remarks ("'Toy Stroy' read as Toy Story (1995)").
    public var notes: [String]
    /// Whether the message was answered (false for clarify/help: nothing could be done).
    public var answered: Bool
    /// Genres excluded in this conversation (their items are never recommended).
    public var excludedGenres: [String] = []
    /// An instruct model's free-text reason for the list (ChatExplanation.swift); nil otherwise.
    public var explanation: String? = nil

    enum CodingKeys: String, CodingKey {
        case kind, task, history, items, sidAnswers = "sid_answers", titleAnswers = "title_answers", unresolved, notes, answered
        case excludedGenres = "excluded_genres", explanation
    }
}

/// A chat conversation with one model.
public final class ChatEngine {
    /// The model and catalogue being served.
    public let service: RecService
    /// The conversation so far.
    public var session = ChatSession()
    /// List length.
    public var k: Int
    /// The nextitem fallback was already mentioned in this conversation.
    var fallbackNoted = false
    /// Whether a model with a chat template also explains its lists in free text.
    public var explain = true

    /// A conversation with `k` items per list.
    public init(service: RecService, k: Int = 10) throws {
        guard k >= 1 else { throw AlignError.invalidArgument("--k must be ≥ 1 (got \(k))") }
        self.service = service; self.k = k
    }

    static let helpText = """
    Tell me titles you liked and I will suggest what to watch next, e.g.
      I loved Toy Story and Heat (1995), what should I watch next?
      more like the second one        (uses the last list)
      what is <a_3><b_17><c_250>?     (the title of a Semantic ID)
      which item is "The Matrix"?     (the Semantic ID of a title)
      reset                           (forget this conversation)
    Put a title in quotes when it is an ordinary word ("Up"); add the year to pick a remake ("Heat (1986)").
    "but no horror" keeps a genre out of every list; answer a did-you-mean list with its number ("1").
    """

    /// The catalogue's genre names (for exclusions).
    lazy var genres: [String] = Array(Set(service.model.items.flatMap(\.genres))).sorted()

    /// Answers one message and updates the session.
    public func respond(_ text: String) throws -> ChatReply {
        let ex = GenreExclusions.extract(text, genres: genres)
        let m = TextMentions.extract(ex.remainder, index: service.titles, sidMap: service.model.sidMap)
        var reply = ChatReply(kind: "clarify", task: nil, history: [], items: [], sidAnswers: [], titleAnswers: [],
                              unresolved: unresolved(m), notes: corrections(m), answered: false)
        let newGenres = ex.genres.filter { !session.excludedGenres.contains($0) }
        session.excludedGenres += newGenres
        if !newGenres.isEmpty {
            let n = excludedItems(newGenres).count
            reply.notes.append("excluding \(newGenres.joined(separator: ", ")) (\(n) items) from now on; say \"reset\" to start over")
        }
        let intent = ChatIntentParser.parse(ex.remainder, mentions: m, session: session)
        let asked = session.pending
        session.pending = []
        switch intent {
        case .help:
            reply.kind = "help"; reply.notes = [ChatEngine.helpText]; reply.unresolved = []
            session.pending = asked
        case .reset:
            session = ChatSession(); reply.kind = "reset"; reply.answered = true; reply.unresolved = []
            reply.notes = ["Forgot the conversation."]
        case let .choose(n):
            let q = asked[0], item = q.candidates[n - 1]
            reply.notes.append("took \"\(q.text)\" as \(service.titles.display(item))")
            session.pending = Array(asked.dropFirst())
            reply.unresolved = session.pending.map { p in
                UnresolvedTitle(text: p.text, reason: TitleMatch.Kind.ambiguous.rawValue,
                                candidates: p.candidates.enumerated().map { service.recommendation(item: $0.element, rank: $0.offset + 1, score: 0) })
            }
            switch q.use {
            case .recommend:
                session.add([item])
                try recommend(into: &reply)
            case .titleToSID:
                reply.kind = "title2sid"; reply.task = PromptTask.title2sid.rawValue; reply.answered = true
                reply.titleAnswers.append(try service.sid(forItem: item, k: min(k, 5)))
                session.lastList = [item]
            }
            reply.excludedGenres = session.excludedGenres
            return reply
        case .unclear:
            if !newGenres.isEmpty, !session.history.isEmpty, m.titles.isEmpty {
                // "no horror please" after a list: the same history again under the new exclusion.
                try recommend(into: &reply, excludeShown: false)
            } else if reply.unresolved.isEmpty && newGenres.isEmpty {
                reply.notes.append("I found no title I know in that. Say \"help\" for examples.")
            }
        case let .sidToTitle(sids):
            reply.kind = "sid2title"; reply.task = PromptTask.sid2title.rawValue; reply.answered = true
            if !service.trained(.sid2title) { reply.notes.append("this model was not trained on sid2title; its titles are guesses") }
            for s in sids { reply.sidAnswers.append(try service.title(forSID: s.codes)) }
        case let .titleToSID(items):
            reply.kind = "title2sid"; reply.task = PromptTask.title2sid.rawValue; reply.answered = true
            if !service.trained(.title2sid) { reply.notes.append("this model was not trained on title2sid; its SIDs are guesses") }
            for i in items { reply.titleAnswers.append(try service.sid(forItem: i, k: min(k, 5))) }
            session.lastList = items
        case let .recommend(add):
            session.add(add)
            try recommend(into: &reply)
        case .more:
            try recommend(into: &reply)
        }
        // Titles asked about in this reply become the open questions ("1" picks the first candidate).
        let use: PendingChoice.Use = ChatIntentParser.asksSID(ex.remainder, mentions: m) ? .titleToSID : .recommend
        if reply.kind != "help" {
            session.pending = reply.unresolved.filter { !$0.candidates.isEmpty }
                .map { PendingChoice(text: $0.text, candidates: $0.candidates.map(\.item), use: use) }
        }
        reply.excludedGenres = session.excludedGenres
        return reply
    }

    /// Items of the given genres.
    func excludedItems(_ genres: [String]) -> [Int] {
        let g = Set(genres)
        return service.model.items.filter { !g.isDisjoint(with: $0.genres) }.map(\.item)
    }

    /// Recommendations for the session history. The request excludes the history, the excluded genres' items
    /// and (unless `excludeShown` is false) everything shown before; the beam search masks those items out.
    func recommend(into reply: inout ChatReply, excludeShown: Bool = true) throws {
        let task = service.historyTask(preferred: .titlehist2sid)
        if task != .titlehist2sid && !fallbackNoted {
            reply.notes.append("this model was not trained on titlehist2sid; using nextitem (history as SIDs)")
            fallbackNoted = true
        }
        let exclude = Array(Set(session.history + (excludeShown ? session.shown : []) + excludedItems(session.excludedGenres))).sorted()
        let lists = try service.recommend([RecommendRequest(history: session.history, exclude: exclude)], k: k, task: task)
        reply.kind = "recommend"; reply.task = task.rawValue; reply.answered = true
        reply.history = session.history.enumerated().map { service.recommendation(item: $0.element, rank: $0.offset + 1, score: 0) }
        reply.items = lists[0]
        session.lastList = lists[0].map(\.item)
        for i in session.lastList where !session.shown.contains(i) { session.shown.append(i) }
        if lists[0].isEmpty { reply.notes.append("every item is already in the history or was shown; say \"reset\" to start over") }
        if explain { reply.explanation = try service.explanation(history: session.history, items: lists[0].map(\.item)) }
    }

    func unresolved(_ m: Mentions) -> [UnresolvedTitle] {
        m.unresolved.map { t in
            UnresolvedTitle(text: t.text, reason: t.match.kind.rawValue,
                            candidates: t.match.candidates.enumerated().map { service.recommendation(item: $0.element.item, rank: $0.offset + 1, score: $0.element.score) })
        }
    }

    func corrections(_ m: Mentions) -> [String] {
        m.titles.compactMap { t in
            guard t.match.kind == .corrected, let i = t.match.item else { return nil }
            return "read \"\(t.text)\" as \(service.titles.display(i))"
        }
    }

    // MARK: rendering

    /// "Heat (1995)".
    static func label(_ r: Recommendation) -> String { r.year.map { "\(r.title) (\($0))" } ?? r.title }

    /// A numbered list: rank, title (year), SID, score.
    public static func renderList(_ list: [Recommendation], scores: Bool = true) -> String {
        let width = min(56, list.map { label($0).count }.max() ?? 0)
        let sidWidth = list.map(\.sid.count).max() ?? 0
        return list.map { r in
            var line = String(format: "%3d. ", r.rank) + label(r).padding(toLength: max(width, label(r).count), withPad: " ", startingAt: 0)
            line += "  " + (scores ? r.sid.padding(toLength: sidWidth, withPad: " ", startingAt: 0) : r.sid)
            if scores { line += String(format: "  %8.3f", r.score) }
            return line
        }.joined(separator: "\n")
    }

    /// The reply as text for a terminal.
    public static func renderText(_ r: ChatReply) -> String {
        var out: [String] = []
        for n in r.notes where r.kind != "help" { out.append("(\(n))") }
        if r.kind == "help" { out.append(contentsOf: r.notes) }
        for u in r.unresolved {
            let what = u.reason == TitleMatch.Kind.ambiguous.rawValue ? "\"\(u.text)\" matches several items" : "I don't know \"\(u.text)\""
            if u.candidates.isEmpty { out.append("\(what)."); continue }
            out.append("\(what) — did you mean:")
            out.append(renderList(u.candidates, scores: false))
        }
        if r.unresolved.contains(where: { !$0.candidates.isEmpty }) { out.append("(answer with a number to use one)") }
        switch r.kind {
        case "recommend":
            out.append("Because you liked " + r.history.map(label).joined(separator: "; ") + " (\(r.task ?? "")):")
            out.append(r.items.isEmpty ? "(nothing left to recommend)" : renderList(r.items))
            if let e = r.explanation { out.append(e) }
        case "sid2title":
            for a in r.sidAnswers {
                let g = a.generatedTitle ?? "—"
                var s = "\(a.sid): model says \"\(g.count > 100 ? String(g.prefix(100)) + "…" : g)\""
                if a.generatedTitle == nil { s = "\(a.sid): not a valid SID for this model (wrong length or code out of range)" }
                s += a.item.map { "; catalogue: \(label($0)) (item \($0.item), id \($0.id))" } ?? "; no catalogue item has this SID"
                out.append(s)
            }
        case "title2sid":
            for a in r.titleAnswers {
                out.append("\(label(a.item)): catalogue SID \(a.item.sid) (item \(a.item.item), id \(a.item.id)); model's SIDs:")
                out.append(renderList(a.predicted))
            }
        default: break
        }
        return out.joined(separator: "\n")
    }

    /// The reply as one line of JSON (sorted keys).
    public static func renderJSON(_ r: ChatReply) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do { return String(decoding: try e.encode(r), as: UTF8.self) } catch {
            throw AlignError.invalidArgument("reply could not be encoded as JSON: \(error)")
        }
    }
}
