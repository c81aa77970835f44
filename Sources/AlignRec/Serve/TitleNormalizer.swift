// Title normalisation for matching what people type against catalogue titles. Owns the canonical "key" of
// a title: accents folded, lower case, punctuation dropped, leading articles ("The Matrix") and MovieLens'
// trailing-article form ("American President, The", also ", A"/", An" and common foreign articles) removed,
// a trailing "(1995)" year split off, whitespace collapsed. Also the catalogue side: every title's aliases
// (MovieLens alternative titles in parentheses, "Léon: The Professional (a.k.a. The Professional)").
// Similarity measures used by fuzzy matching live here too (restricted Damerau–Levenshtein, trigram Dice,
// token Dice), each a small pure function.
import Foundation

/// A normalised title: the matching key and the year when one was given.
public struct NormalizedTitle: Sendable, Equatable, Hashable {
    /// Lower-case ASCII-folded words joined by single spaces, articles removed.
    public var key: String
    /// The year in a trailing "(1995)", if any.
    public var year: Int?
    /// A key and an optional year.
    public init(key: String, year: Int?) { self.key = key; self.year = year }
    /// Words of `key`.
    public var tokens: [String] { key.split(separator: " ").map(String.init) }
}

/// Normalisation and string similarity for titles.
public enum TitleNormalizer {
    /// English articles removed at the start of a title.
    static let leadingArticles: Set<String> = ["the", "a", "an"]
    /// Articles MovieLens moves to the end ("Matrix, The"; "Cité des enfants perdus, La").
    static let trailingArticles: Set<String> = ["the", "a", "an", "la", "le", "les", "l'", "il", "el", "los", "las",
                                                "der", "die", "das", "den", "det", "lo", "gli", "un", "une"]

    /// Folds accents and case ("Cité" → "cite"), keeping every other character.
    public static func fold(_ s: String) -> String {
        s.folding(options: [.diacriticInsensitive, .caseInsensitive, .widthInsensitive], locale: nil).lowercased()
    }

    /// Splits a trailing "(1995)" (or "(1995-1998)", first year kept) from a title.
    public static func splitYear(_ s: String) -> (title: String, year: Int?) {
        let t = s.trimmingCharacters(in: .whitespacesAndNewlines)
        guard t.hasSuffix(")"), let open = t.lastIndex(of: "(") else { return (t, nil) }
        let inner = t[t.index(after: open)..<t.index(before: t.endIndex)].trimmingCharacters(in: .whitespaces)
        let digits = inner.prefix(4)
        guard digits.count == 4, digits.allSatisfy(\.isASCIIDigit), let y = Int(digits), y >= 1800, y <= 2100,
              inner.count == 4 || inner.dropFirst(4).allSatisfy({ $0 == "-" || $0 == "–" || $0.isASCIIDigit }) else {
            return (t, nil)
        }
        return (String(t[..<open]).trimmingCharacters(in: .whitespaces), y)
    }

    /// Words of a title after folding: letters and digits; apostrophes are dropped inside words
    /// ("Schindler's" → "schindlers"), "&" reads as "and", every other character separates words.
    public static func words(_ s: String) -> [String] {
        var out: [String] = []
        var cur = ""
        for ch in fold(s) {
            if ch.isLetter || ch.isNumber {
                cur.append(ch)
            } else if ch == "'" || ch == "’" || ch == "`" {
                continue
            } else {
                if !cur.isEmpty { out.append(cur); cur = "" }
                if ch == "&" { out.append("and") }
            }
        }
        if !cur.isEmpty { out.append(cur) }
        return out
    }

    /// Moves MovieLens' trailing article back: "American President, The" → "The American President".
    /// Applies to the last comma-separated part only when it is a single article word.
    public static func unsuffixArticle(_ s: String) -> String {
        guard let comma = s.lastIndex(of: ",") else { return s }
        let tail = s[s.index(after: comma)...].trimmingCharacters(in: .whitespaces)
        guard trailingArticles.contains(fold(tail)) else { return s }
        let head = s[..<comma].trimmingCharacters(in: .whitespaces)
        return head.isEmpty ? s : tail + " " + head
    }

    /// Roman numerals read as numbers after the first word ("Part II" = "Part 2", "Rocky IV" = "Rocky 4");
    /// "v", "x" and "i" stay words ("V for Vendetta", "Malcolm X").
    static let romans: [String: String] = ["ii": "2", "iii": "3", "iv": "4", "vi": "6", "vii": "7", "viii": "8", "ix": "9"]

    /// The matching key and year of a title as written by a person or a catalogue.
    public static func normalize(_ s: String) -> NormalizedTitle {
        let (t, year) = splitYear(s)
        var w = words(unsuffixArticle(t))
        for k in w.indices.dropFirst() { if let r = romans[w[k]] { w[k] = r } }
        if w.count > 1, leadingArticles.contains(w[0]) { w.removeFirst() }
        return NormalizedTitle(key: w.joined(separator: " "), year: year)
    }

    /// Every title a catalogue entry answers to: the title itself and, for MovieLens' "Main (Alternative)"
    /// form, the main part and each parenthesised alternative ("a.k.a." removed). Keys are distinct.
    public static func aliases(ofCatalogueTitle title: String) -> [String] {
        var keys: [String] = []
        func add(_ s: String) {
            let k = normalize(s).key
            if !k.isEmpty, !keys.contains(k) { keys.append(k) }
            // A foreign article moved back to the front ("Cité des enfants perdus, La") also answers without it.
            let w = k.split(separator: " ")
            if w.count > 1, trailingArticles.contains(String(w[0])), !leadingArticles.contains(String(w[0])) {
                let bare = w.dropFirst().joined(separator: " ")
                if !keys.contains(bare) { keys.append(bare) }
            }
        }
        add(title)
        // Peel trailing "(...)" groups: "City of Lost Children, The (Cité des enfants perdus, La)".
        var rest = title.trimmingCharacters(in: .whitespaces)
        while rest.hasSuffix(")"), let open = rest.lastIndex(of: "(") {
            var inner = String(rest[rest.index(after: open)..<rest.index(before: rest.endIndex)])
            for prefix in ["a.k.a.", "aka", "a.k.a"] where fold(inner).hasPrefix(prefix) {
                inner = String(inner.dropFirst(prefix.count)); break
            }
            add(inner)
            rest = String(rest[..<open]).trimmingCharacters(in: .whitespaces)
            add(rest)
        }
        return keys
    }

    // MARK: similarity

    /// Restricted Damerau–Levenshtein (optimal string alignment) distance over characters: insertions,
    /// deletions, substitutions and adjacent transpositions cost 1 ("stroy" ↔ "story" = 1).
    public static func editDistance(_ a: String, _ b: String) -> Int {
        let x = Array(a.unicodeScalars), y = Array(b.unicodeScalars)
        let n = x.count, m = y.count
        if n == 0 { return m }
        if m == 0 { return n }
        // Three rolling rows of the DP table (row i-2, i-1, i).
        var prev2 = [Int](repeating: 0, count: m + 1)
        var prev = Array(0...m)
        var cur = [Int](repeating: 0, count: m + 1)
        for i in 1...n {
            cur[0] = i
            for j in 1...m {
                let cost = x[i - 1] == y[j - 1] ? 0 : 1
                var v = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
                if i > 1, j > 1, x[i - 1] == y[j - 2], x[i - 2] == y[j - 1] { v = min(v, prev2[j - 2] + 1) }
                cur[j] = v
            }
            swap(&prev2, &prev)
            swap(&prev, &cur)
        }
        return prev[m]
    }

    /// 1 − distance / longer length, in [0, 1].
    public static func editSimilarity(_ a: String, _ b: String) -> Double {
        let l = max(a.unicodeScalars.count, b.unicodeScalars.count)
        return l == 0 ? 1 : 1 - Double(editDistance(a, b)) / Double(l)
    }

    /// Character trigrams of " key " (space-padded so word edges count).
    public static func trigrams(_ s: String) -> [String: Int] {
        let u = Array((" " + s + " ").unicodeScalars)
        var out: [String: Int] = [:]
        guard u.count >= 3 else { return out }
        for i in 0...(u.count - 3) {
            var g = String.UnicodeScalarView()
            g.append(contentsOf: u[i..<(i + 3)])
            out[String(g), default: 0] += 1
        }
        return out
    }

    /// Dice coefficient of two trigram multisets: 2|A∩B| / (|A| + |B|).
    public static func trigramDice(_ a: [String: Int], _ b: [String: Int]) -> Double {
        let na = a.values.reduce(0, +), nb = b.values.reduce(0, +)
        guard na + nb > 0 else { return 0 }
        var common = 0
        for (g, c) in a { if let d = b[g] { common += min(c, d) } }
        return 2 * Double(common) / Double(na + nb)
    }

    /// Token Dice with tolerant word equality: each query word pairs with at most one title word; equal words
    /// count 1, words of ≥ 4 letters one edit apart count 0.8. Word order is ignored.
    public static func tokenDice(_ q: [String], _ t: [String]) -> Double {
        guard !q.isEmpty || !t.isEmpty else { return 1 }
        var used = [Bool](repeating: false, count: t.count)
        var sum = 0.0
        for w in q {
            if let j = t.indices.first(where: { !used[$0] && t[$0] == w }) {
                used[j] = true; sum += 1; continue
            }
            guard w.count >= 4 else { continue }
            if let j = t.indices.first(where: { !used[$0] && t[$0].count >= 4 && editDistance(t[$0], w) == 1 }) {
                used[j] = true; sum += 0.8
            }
        }
        return 2 * sum / Double(q.count + t.count)
    }
}

extension Character {
    /// 0–9 only (not other scripts' digits).
    var isASCIIDigit: Bool { isASCII && isNumber }
}
