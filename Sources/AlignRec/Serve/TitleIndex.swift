// Title lookup over a catalogue: exact lookup of normalised keys (TitleNormalizer) and fuzzy ranking for
// typos and partial titles. Owns the decision rule that turns scores into an answer — a match, an ambiguity
// (several close candidates, e.g. the same title in different years) or "not found" with suggestions — so
// that nothing is silently guessed. Extraction of titles from free text is TextMentions' job.
import Foundation

/// One ranked candidate for a title query.
public struct TitleCandidate: Sendable, Equatable, Codable {
    /// 1-based catalogue item.
    public var item: Int
    /// Similarity in [0, 1] (1 = same normalised key; year agreement/disagreement adjusts it).
    public var score: Double
    /// A candidate with its similarity.
    public init(item: Int, score: Double) { self.item = item; self.score = score }
}

/// The answer to a title query.
public struct TitleMatch: Sendable, Equatable {
    /// How the query was resolved.
    public enum Kind: String, Sendable, Codable {
        /// Same normalised title (and year, when the query had one): one item.
        case exact
        /// A small typo or spelling variant of exactly one item, far ahead of the next candidate.
        case corrected
        /// Several items fit about equally well (e.g. "Heat" for Heat (1986) and Heat (1995)).
        case ambiguous
        /// Nothing fits well enough; `candidates` may hold suggestions.
        case notFound = "not_found"
    }
    /// The text that was looked up.
    public var query: String
    /// How the query resolved.
    public var kind: Kind
    /// The resolved item for `.exact` and `.corrected`, else nil.
    public var item: Int?
    /// Best candidates, best first (for `.exact` the item itself first).
    public var candidates: [TitleCandidate]
}

/// Thresholds of the decision rule.
public struct TitleMatchOptions: Sendable, Equatable {
    /// A fuzzy best score at or above this can be accepted as a correction…
    public var accept: Double = 0.84
    /// …when the runner-up is at least this much lower.
    public var margin: Double = 0.08
    /// Candidates at or above this are offered as suggestions.
    public var suggest: Double = 0.5
    /// Suggestions returned at most.
    public var maxCandidates: Int = 5
    /// Score change when the query's year agrees (+) or disagrees (−) with an item's year.
    public var yearBonus: Double = 0.05
    /// (see yearBonus)
    public var yearPenalty: Double = 0.2
    /// Score removed when the query contains numbers and a title does not contain exactly those.
    public var numberPenalty: Double = 0.2
    /// The defaults above.
    public init() {}
}

/// Exact and fuzzy title lookup over a catalogue.
public final class TitleIndex: @unchecked Sendable {
    struct Alias { let item: Int; let key: String; let tokens: [String]; let grams: [String: Int] }

    /// The catalogue, by 1-based item.
    public let items: [Int: Item]
    let aliases: [Alias]
    /// Normalised key → items answering to it (ascending).
    let exact: [String: [Int]]
    /// Longest alias in words (bounds n-gram windows in TextMentions).
    public let maxWords: Int
    /// Thresholds of the decision rule.
    public var options: TitleMatchOptions

    /// Indexes every item's title aliases.
    public init(items: [Item], options: TitleMatchOptions = TitleMatchOptions()) {
        var byItem: [Int: Item] = [:]
        var aliases: [Alias] = []
        var exact: [String: [Int]] = [:]
        var maxWords = 1
        for it in items {
            byItem[it.item] = it
            for key in TitleNormalizer.aliases(ofCatalogueTitle: it.title) {
                let toks = key.split(separator: " ").map(String.init)
                aliases.append(Alias(item: it.item, key: key, tokens: toks, grams: TitleNormalizer.trigrams(key)))
                if !(exact[key]?.contains(it.item) ?? false) { exact[key, default: []].append(it.item) }
                maxWords = max(maxWords, toks.count)
            }
        }
        self.items = byItem; self.aliases = aliases; self.exact = exact.mapValues { $0.sorted() }
        self.maxWords = maxWords; self.options = options
    }

    /// Items whose normalised title (any alias) equals `key` exactly.
    public func exactItems(key: String) -> [Int] { exact[key] ?? [] }

    /// "Heat (1995)" (or "Heat" without a year) for messages.
    public func display(_ item: Int) -> String {
        guard let it = items[item] else { return "item \(item)" }
        return TaskSampleBuilder.displayTitle(it)
    }

    /// Looks up one title as typed ("the matrix", "Heat (1995)", "Toy Stroy").
    public func match(_ query: String) -> TitleMatch {
        let q = TitleNormalizer.normalize(query)
        guard !q.key.isEmpty else { return TitleMatch(query: query, kind: .notFound, item: nil, candidates: []) }
        let exactHits = exactItems(key: q.key)
        if !exactHits.isEmpty {
            let withYear = q.year.map { y in exactHits.filter { items[$0]?.year == y } } ?? exactHits
            if withYear.count == 1 {
                return TitleMatch(query: query, kind: .exact, item: withYear[0], candidates: [TitleCandidate(item: withYear[0], score: 1)])
            }
            if withYear.count > 1 {
                return TitleMatch(query: query, kind: .ambiguous, item: nil,
                                  candidates: rankByYear(withYear, score: 1))
            }
            // The title exists but not in that year: offer the existing years, never pick one.
            let cands = rankByYear(exactHits, score: 1 - options.yearPenalty)
            return TitleMatch(query: query, kind: .notFound, item: nil, candidates: cands)
        }
        let ranked = rank(q)
        guard let best = ranked.first, best.score >= options.suggest else {
            return TitleMatch(query: query, kind: .notFound, item: nil, candidates: [])
        }
        let runnerUp = ranked.count > 1 ? ranked[1].score : 0
        if best.score >= options.accept && best.score - runnerUp >= options.margin {
            return TitleMatch(query: query, kind: .corrected, item: best.item, candidates: ranked)
        }
        let close = ranked.filter { $0.score >= best.score - options.margin }
        let kind: TitleMatch.Kind = close.count > 1 && best.score >= options.accept ? .ambiguous : .notFound
        return TitleMatch(query: query, kind: kind, item: nil, candidates: ranked)
    }

    /// Same-score candidates ordered by year (newest first), then item.
    func rankByYear(_ hits: [Int], score: Double) -> [TitleCandidate] {
        hits.sorted { (items[$0]?.year ?? 0, -$0) > (items[$1]?.year ?? 0, -$1) }
            .prefix(options.maxCandidates).map { TitleCandidate(item: $0, score: score) }
    }

    /// A query that is the opening words of a longer title ("Star Wars" → "Star Wars: Episode IV - A New
    /// Hope", "Shawshank" → "Shawshank Redemption"): 0.85 + 0.1 × (query words / title words); 0 otherwise
    /// or when the query has fewer than 4 letters.
    static func prefixScore(_ q: [String], _ t: [String]) -> Double {
        guard !q.isEmpty, q.count < t.count, q.reduce(0, { $0 + $1.count }) >= 4, Array(t.prefix(q.count)) == q else { return 0 }
        return 0.85 + 0.1 * Double(q.count) / Double(t.count)
    }

    /// Fuzzy similarity of a normalised query to every item (best alias), best first, at most
    /// `maxCandidates` above `suggest`. Score = max(edit similarity, token Dice, trigram Dice) of the keys,
    /// then the year adjustment.
    public func rank(_ q: NormalizedTitle) -> [TitleCandidate] {
        let qTokens = q.tokens
        let qGrams = TitleNormalizer.trigrams(q.key)
        let qLen = q.key.unicodeScalars.count
        let qNumbers = Set(qTokens.filter { $0.allSatisfy(\.isASCIIDigit) })
        var best: [Int: Double] = [:]
        for a in aliases {
            // Cheap bound first: trigram Dice ≥ a fraction of the others in practice; skip hopeless pairs.
            let tri = TitleNormalizer.trigramDice(qGrams, a.grams)
            let tok = TitleNormalizer.tokenDice(qTokens, a.tokens)
            if tri < 0.25 && tok < 0.3 { continue }
            let aLen = a.key.unicodeScalars.count
            let edit = abs(aLen - qLen) <= max(3, qLen / 4) ? TitleNormalizer.editSimilarity(q.key, a.key) : 0
            var s = max(edit, tok, tri, TitleIndex.prefixScore(qTokens, a.tokens))
            // Numbers the query gives are never typos: "Toy Story 3" is not "Toy Story" or "Toy Story 2".
            if !qNumbers.isEmpty, qNumbers != Set(a.tokens.filter { $0.allSatisfy(\.isASCIIDigit) }) { s -= options.numberPenalty }
            if let y = q.year, let iy = items[a.item]?.year {
                s = y == iy ? min(1, s + options.yearBonus) : s - options.yearPenalty
            }
            if s > best[a.item] ?? -1 { best[a.item] = s }
        }
        return best.filter { $0.value >= options.suggest }
            .sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .prefix(options.maxCandidates).map { TitleCandidate(item: $0.key, score: $0.value) }
    }
}
