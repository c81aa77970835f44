// What a chat message asks for, decided from the mentions TextMentions found and a few keywords:
// SIDs in the text → "what is this SID" (sid2title); a title with "sid"/"which item"/"id of" → title2sid;
// ordinal references to the last list ("more like the second one", "#3", "the last one") or titles →
// recommendations from the session history; "more"/"again" → more from the same history; "reset"; "help".
// Titles that did not resolve are carried along so the reply can ask about them; the session keeps those
// questions, and a reply that is only a choice ("1", "the first one", "number 2") answers the first of them.
// Owns the session state (history, what was shown, open questions, excluded genres); answering is
// ChatEngine's job.
import Foundation

/// A parsed chat message.
public enum ChatIntent: Sendable, Equatable {
    /// Recommend after adding `add` (new titles and referenced items) to the session history.
    case recommend(add: [Int])
    /// More recommendations from the unchanged history (excluding what was shown).
    case more
    /// Titles for these SIDs.
    case sidToTitle([SIDMention])
    /// SIDs for these resolved items.
    case titleToSID([Int])
    /// The user picked candidate `n` (1-based) of the first open did-you-mean question.
    case choose(Int)
    /// Forget the session.
    case reset
    /// Nothing actionable was found (unresolved titles, if any, are in the mentions).
    case unclear
    case help
}

/// The conversation so far.
public struct ChatSession: Sendable, Equatable {
    /// Items the user said they liked, oldest first, without repeats.
    public var history: [Int] = []
    /// The last numbered list shown (items in order).
    public var lastList: [Int] = []
    /// Every item shown as a recommendation in this session.
    public var shown: [Int] = []
    /// Did-you-mean questions not answered yet, oldest first.
    public var pending: [PendingChoice] = []
    /// Genres the user excluded ("but no horror"); their items are never recommended in this session.
    public var excludedGenres: [String] = []
    /// An empty session.
    public init() {}

    /// Appends items not yet in the history.
    public mutating func add(_ items: [Int]) { for i in items where !history.contains(i) { history.append(i) } }
}

/// A did-you-mean question: the title as written, the candidates offered (in the order shown) and what the
/// title was for.
public struct PendingChoice: Sendable, Equatable {
    /// What to do with the chosen item.
    public enum Use: String, Sendable, Equatable { case recommend, titleToSID }
    public var text: String
    public var candidates: [Int]
    public var use: Use
    public init(text: String, candidates: [Int], use: Use) { self.text = text; self.candidates = candidates; self.use = use }
}

/// Keyword rules from mentions to an intent.
public enum ChatIntentParser {
    static let ordinals: [String: Int] = [
        "first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4, "fifth": 5, "5th": 5,
        "sixth": 6, "6th": 6, "seventh": 7, "7th": 7, "eighth": 8, "8th": 8, "ninth": 9, "9th": 9, "tenth": 10, "10th": 10,
    ]
    static let sidWords: Set<String> = ["sid", "sids", "semantic", "code", "codes", "token", "tokens", "id", "ids"]

    /// 1-based positions in the last list referred to: ordinal words, "#N", "number N"/"item N"/"no N", "last".
    public static func references(_ text: String, words: [String], listCount: Int) -> [Int] {
        guard listCount > 0 else { return [] }
        var out: [Int] = []
        func add(_ n: Int) { if n >= 1, n <= listCount, !out.contains(n) { out.append(n) } }
        for (i, w) in words.enumerated() {
            if let n = ordinals[w] { add(n) }
            if w == "last", i + 1 < words.count, ["one", "item", "movie", "film"].contains(words[i + 1]) { add(listCount) }
            if ["number", "item", "no", "nr"].contains(w), i + 1 < words.count, let n = Int(words[i + 1]) { add(n) }
        }
        // "#3" (the tokenizer drops '#').
        let chars = Array(text)
        for (i, c) in chars.enumerated() where c == "#" {
            var j = i + 1
            while j < chars.count, chars[j] == " " { j += 1 }
            var digits = ""
            while j < chars.count, chars[j].isASCIIDigit { digits.append(chars[j]); j += 1 }
            if let n = Int(digits) { add(n) }
        }
        return out
    }

    /// Words that may surround a choice ("I meant the second one, please").
    static let choiceWords: Set<String> = ["the", "one", "number", "no", "nr", "please", "i", "mean", "meant", "its", "it",
                                           "is", "that", "option", "choice", "pick", "take", "item", "movie", "film", "title",
                                           "yes", "ok", "okay", "id", "like", "want", "go", "with", "s"]

    /// n when the whole message is a choice among `count` options: one number or ordinal ("1", "#2", "the first
    /// one", "number 3 please", "the last one") and nothing else but `choiceWords`.
    public static func choice(_ text: String, count: Int) -> Int? {
        guard count > 0 else { return nil }
        let rest = TitleNormalizer.words(text).filter { !choiceWords.contains($0) }
        guard rest.count == 1, let w = rest.first else { return nil }
        let n = Int(w) ?? ordinals[w] ?? (w == "last" ? count : nil)
        return n.flatMap { (1...count).contains($0) ? $0 : nil }
    }

    /// Whether the message asks for a SID ("which item is …", "the sid of …").
    public static func asksSID(_ text: String, mentions m: Mentions) -> Bool {
        let trimmed = TitleNormalizer.words(text).joined(separator: " ")
        return m.residualWords.contains { sidWords.contains($0) } || trimmed.contains("which item")
    }

    /// The intent of `text` given its mentions and the session.
    public static func parse(_ text: String, mentions m: Mentions, session: ChatSession) -> ChatIntent {
        let words = m.residualWords
        let trimmed = TitleNormalizer.words(text).joined(separator: " ")
        if ["reset", "start over", "clear", "new session", "forget everything", "forget it"].contains(trimmed) { return .reset }
        if ["help", "h", ""].contains(trimmed) && m.sids.isEmpty { return .help }
        if !m.sids.isEmpty { return .sidToTitle(m.sids) }
        if m.titles.isEmpty, let first = session.pending.first, let n = choice(text, count: first.candidates.count) { return .choose(n) }
        let asksSID = asksSID(text, mentions: m)
        if asksSID, !m.resolvedItems.isEmpty, m.resolvedItems.count == m.titles.count || m.titles.allSatisfy({ $0.match.item != nil || $0.quoted }) {
            return .titleToSID(m.resolvedItems)
        }
        if asksSID, m.resolvedItems.isEmpty { return .unclear }
        let refs = references(text, words: words, listCount: session.lastList.count).map { session.lastList[$0 - 1] }
        let add = m.resolvedItems + refs.filter { !m.resolvedItems.contains($0) }
        if !add.isEmpty { return .recommend(add: add) }
        if !m.titles.isEmpty { return .unclear }
        let moreWords: Set<String> = ["more", "again", "another", "else", "others", "next"]
        if !session.history.isEmpty, words.contains(where: { moreWords.contains($0) }) { return .more }
        return .unclear
    }
}
