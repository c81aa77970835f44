// Finding catalogue items in free text ("I loved Toy Story and Heat, what should I watch next?"). Owns the
// extraction rules; TitleIndex decides what a span matches. Rules, in order (designed for precision):
// 1. SID strings (`<a_3><b_17><c_250>`: consecutive level tokens a, b, c, …) are taken out first.
// 2. Quoted spans ("…", “…”, '…' when the quotes stand at word edges) are titles as a whole: exact match,
//    else fuzzy; always reported, resolved or not.
// 3. The rest is scanned left to right for the longest run of words (up to the longest catalogue title,
//    plus an optional "(1995)") whose normalised key is exactly some catalogue title. A run made only of
//    filler words (function words, chat words such as "watch", "next", "more", numbers) counts only when
//    every word is capitalised and it is not sentence-initial — so "what should I watch next" finds no
//    title "Next", but "I loved Up and Her" finds both films.
// 3a. An exact span directly followed by a year or a sequel number the catalogue does not have with that
//    title ("Toy Story (1990)", "Toy Story 4", "Godfather Part IV") names another film: the whole text is the
//    mention, looked up as written, so it is asked about and never mapped to the shorter title.
// 3b. An exact span directly followed by uncovered content words is re-read as one span when that is a
//    confident typo correction ("Toy Stroy": "Toy" is a film too, but "Toy Stroy" reads as "Toy Story").
// 4. Words left over between matches are grouped into runs split at punctuation; each run with its filler
//    words trimmed from both ends is fuzzy-matched (typos: "Toy Stroy"); when the whole run is not a
//    confident match it is also split at the connectors "and"/"then"/"or"/"&" and each part tried. Runs
//    with no content word are dropped; an unresolved run is reported (with candidates) only when it looks
//    like a title — a capital letter or a digit — so "what else would I like" is not a failed title.
import Foundation

/// A SID written in the text.
public struct SIDMention: Sendable, Equatable {
    /// The SID as written: "<a_3><b_17><c_250>".
    public var text: String
    /// Codes per level.
    public var codes: [Int]
    /// The catalogue item with exactly this SID, when one exists.
    public var item: Int?
}

/// A title found in the text and what it resolved to.
public struct TitleMention: Sendable, Equatable {
    /// The words as written.
    public var text: String
    /// It was in quotes.
    public var quoted: Bool
    /// The lookup result.
    public var match: TitleMatch
}

/// Everything found in one message.
public struct Mentions: Sendable, Equatable {
    /// Titles in order of appearance.
    public var titles: [TitleMention]
    /// SIDs in order of appearance.
    public var sids: [SIDMention]
    /// Folded words of the text outside titles and SIDs (for intent keywords).
    public var residualWords: [String]
    /// Items resolved (exact or corrected), in order, without repeats.
    public var resolvedItems: [Int] {
        var out: [Int] = []
        for t in titles { if let i = t.match.item, !out.contains(i) { out.append(i) } }
        return out
    }
    /// Title mentions that did not resolve to one item.
    public var unresolved: [TitleMention] { titles.filter { $0.match.item == nil } }
}

/// Extraction of SIDs and titles from free text.
public enum TextMentions {
    /// Words that never make a title on their own (unless capitalised mid-sentence) and are trimmed from the
    /// ends of leftover runs before fuzzy matching.
    public static let filler: Set<String> = [
        "i", "im", "ive", "id", "me", "kids", "kid", "family", "friends", "friend", "wife", "husband", "son", "daughter",
        "children", "else", "whatever", "stuff", "things", "thing", "up", "down", "out", "off", "her", "him", "his", "hers", "my", "mine", "we", "us", "our", "you", "your", "he", "she", "it", "its", "they",
        "them", "their", "this", "that", "these", "those", "there", "here", "a", "an", "the", "and", "or", "but", "then",
        "also", "too", "plus", "so", "if", "of", "to", "in", "on", "at", "by", "for", "with", "from", "about", "as",
        "into", "like", "likes", "liked", "love", "loved", "loves", "enjoy", "enjoyed", "enjoys", "watch", "watched",
        "watching", "saw", "seen", "see", "read", "bought", "played", "listened", "really", "very", "quite", "much",
        "lot", "lots", "both", "all", "some", "any", "more", "most", "less", "other", "others", "another", "similar",
        "same", "what", "which", "who", "whom", "whose", "why", "how", "when", "where", "should", "would", "could",
        "can", "will", "shall", "may", "might", "must", "do", "does", "did", "done", "is", "are", "was", "were", "be",
        "been", "being", "am", "have", "has", "had", "next", "now", "again", "please", "recommend", "recommendation",
        "recommendations", "suggest", "suggestion", "suggestions", "give", "show", "tell", "find", "get", "want",
        "need", "try", "something", "anything", "one", "ones", "movie", "movies", "film", "films", "item", "items",
        "title", "titles", "book", "books", "product", "products", "recently", "yesterday", "today", "last", "night",
        "week", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
        "number", "no", "not", "yes", "ok", "okay", "thanks", "thank", "hi", "hello", "hey", "great", "good", "best",
        "favorite", "favourite", "favorites", "fan", "sid", "sids", "semantic", "ids", "code", "codes",
        "mean", "means", "called", "named", "just", "only", "even", "still", "well", "maybe", "think",
        "based", "after", "before", "than", "s", "t", "don", "dont", "didn", "didnt",
    ]
    /// Words that separate titles in a list.
    static let connectors: Set<String> = ["and", "then", "or", "plus", "also"]

    struct Word {
        let folded: String
        let start: Int, end: Int        // character offsets [start, end)
        let capitalised: Bool
        let sentenceStart: Bool
        let isYear: Bool
    }

    /// Finds SIDs and titles in `text`.
    public static func extract(_ text: String, index: TitleIndex, sidMap: SIDMap? = nil) -> Mentions {
        var chars = Array(text)
        var sids: [SIDMention] = []
        // 1. SIDs: blank them out of `chars` (a space keeps word boundaries).
        var i = 0
        while i < chars.count {
            if chars[i] == "<", let (mention, len) = parseSID(chars, at: i) {
                var m = mention
                m.item = sidMap?.item(forCodes: m.codes)
                sids.append(m)
                for k in i..<(i + len) { chars[k] = " " }
                i += len
            } else { i += 1 }
        }
        // 2. Quoted spans, blanked to a sentence break so words on either side are not joined.
        var titles: [(offset: Int, mention: TitleMention)] = []
        for (s, e) in quotedSpans(chars) {
            let inner = String(chars[(s + 1)..<e]).trimmingCharacters(in: .whitespaces)
            if !inner.isEmpty {
                titles.append((s, TitleMention(text: inner, quoted: true, match: index.match(inner))))
            }
            for k in s...e { chars[k] = " " }
            chars[s] = "."
        }
        // 3. Longest exact windows.
        let words = tokenize(chars)
        var covered = [Bool](repeating: false, count: words.count)
        var exactSpans: [(span: Range<Int>, mention: TitleMention)] = []
        var w = 0
        while w < words.count {
            var taken = 0
            var L = min(index.maxWords + 1, words.count - w)
            while L >= 1 {
                let span = w..<(w + L)
                if acceptable(words, span), spansNoBreak(chars, words, span) {
                    let s = String(chars[words[span.lowerBound].start..<closingParenEnd(chars, words[span.upperBound - 1].end)])
                    // Exact keys only here (a hash lookup); fuzzy matching is for leftovers.
                    if !index.exactItems(key: TitleNormalizer.normalize(s).key).isEmpty,
                       case let m = index.match(s), m.kind == .exact || (m.kind == .ambiguous && m.candidates.first?.score == 1) {
                        let end = numberTail(chars, words, after: span.upperBound)
                        if end > span.upperBound {   // 3a
                            let long = String(chars[words[w].start..<closingParenEnd(chars, words[end - 1].end)])
                            exactSpans.append((w..<end, TitleMention(text: long, quoted: false, match: index.match(long))))
                            taken = end - w
                        } else {
                            exactSpans.append((span, TitleMention(text: s, quoted: false, match: m)))
                            taken = L
                        }
                        break
                    }
                }
                L -= 1
            }
            if taken > 0 { for k in w..<(w + taken) { covered[k] = true }; w += taken } else { w += 1 }
        }
        // 3b. A short exact title glued to a misspelt continuation ("Toy Stroy" = title "Toy" + "Stroy"):
        // when the exact span plus the directly following uncovered content words is a confident correction,
        // the longer reading wins.
        for (n, e) in exactSpans.enumerated() {
            var end = e.span.upperBound
            while end < words.count, end - e.span.lowerBound < index.maxWords, !covered[end],
                  !filler.contains(words[end].folded),
                  chars[words[end - 1].end..<words[end].start].allSatisfy({ $0 == " " }) { end += 1 }
            guard end > e.span.upperBound else { continue }
            for stop in stride(from: end, to: e.span.upperBound, by: -1) {
                let s = String(chars[words[e.span.lowerBound].start..<words[stop - 1].end])
                let m = index.match(s)
                if m.kind == .corrected {
                    exactSpans[n] = (e.span.lowerBound..<stop, TitleMention(text: s, quoted: false, match: m))
                    for k in e.span.upperBound..<stop { covered[k] = true }
                    break
                }
            }
        }
        for e in exactSpans { titles.append((words[e.span.lowerBound].start, e.mention)) }
        // 4. Leftover runs → fuzzy.
        for run in leftoverRuns(chars, words, covered) {
            for (offset, mention) in fuzzyRun(chars, words, run, index: index) { titles.append((offset, mention)) }
        }
        titles.sort { $0.offset < $1.offset }
        let residual = words.indices.filter { !covered[$0] }.map { words[$0].folded }
        return Mentions(titles: titles.map(\.mention), sids: sids, residualWords: residual)
    }

    /// `<a_3><b_17>…` at `i`: the mention and its length in characters (levels must run a, b, c, …).
    static func parseSID(_ c: [Character], at i: Int) -> (SIDMention, Int)? {
        var j = i
        var codes: [Int] = []
        while j < c.count, c[j] == "<", let close = c[j...].prefix(12).firstIndex(of: ">") {
            guard let (level, code) = SIDMap.parseToken(String(c[j...close])), level == codes.count else { break }
            codes.append(code)
            j = close + 1
        }
        guard !codes.isEmpty else { return nil }
        return (SIDMention(text: String(c[i..<j]), codes: codes, item: nil), j - i)
    }

    /// (open, close) offsets of quoted spans. Double quotes and “ ” always pair; a single quote opens only at
    /// a word start and closes only at a word end, so apostrophes ("Schindler's") are left alone.
    static func quotedSpans(_ c: [Character]) -> [(Int, Int)] {
        var out: [(Int, Int)] = []
        var i = 0
        while i < c.count {
            let ch = c[i]
            var close: Character? = nil
            if ch == "\"" { close = "\"" } else if ch == "“" { close = "”" } else if ch == "«" { close = "»" }
            else if ch == "'" || ch == "‘", i == 0 || !(c[i - 1].isLetter || c[i - 1].isNumber) { close = ch == "'" ? "'" : "’" }
            if let cl = close, let e = (c.index(after: i)..<c.count).first(where: { k in
                c[k] == cl && (cl == "\"" || cl == "”" || cl == "»" || k + 1 == c.count || !(c[k + 1].isLetter || c[k + 1].isNumber))
            }) {
                out.append((i, e)); i = e + 1
            } else { i += 1 }
        }
        return out
    }

    /// Words: runs of letters/digits (apostrophes inside a word kept), with offsets and case.
    static func tokenize(_ c: [Character]) -> [Word] {
        var out: [Word] = []
        var i = 0
        var sentenceStart = true
        while i < c.count {
            let ch = c[i]
            if ch.isLetter || ch.isNumber {
                var j = i
                while j < c.count, c[j].isLetter || c[j].isNumber || ((c[j] == "'" || c[j] == "’") && j + 1 < c.count && c[j + 1].isLetter) { j += 1 }
                let word = String(c[i..<j])
                let folded = TitleNormalizer.words(word).joined()
                let isYear = word.count == 4 && word.allSatisfy(\.isASCIIDigit) && i > 0 && c[i - 1] == "(" && j < c.count && c[j] == ")"
                out.append(Word(folded: folded, start: i, end: j, capitalised: ch.isUppercase || ch.isNumber,
                                sentenceStart: sentenceStart, isYear: isYear))
                sentenceStart = false
                i = j
            } else {
                if ch == "." || ch == "?" || ch == "!" || ch == "\n" || ch == ":" { sentenceStart = true }
                i += 1
            }
        }
        return out
    }

    /// A window is a title candidate unless it is made only of filler words / numbers and is not written as
    /// a capitalised, mid-sentence name.
    static func acceptable(_ words: [Word], _ span: Range<Int>) -> Bool {
        if words[span.lowerBound].isYear { return false }
        let allFiller = span.allSatisfy { filler.contains(words[$0].folded) || words[$0].folded.allSatisfy(\.isASCIIDigit) }
        guard allFiller else { return true }
        if words[span.lowerBound].sentenceStart { return false }
        return span.allSatisfy { words[$0].capitalised && !words[$0].folded.allSatisfy(\.isASCIIDigit) }
    }

    /// No sentence punctuation (? ! ; newline) between the window's words.
    static func spansNoBreak(_ c: [Character], _ words: [Word], _ span: Range<Int>) -> Bool {
        guard span.count > 1 else { return true }
        for k in words[span.lowerBound].end..<words[span.upperBound - 1].start where "?!;\n".contains(c[k]) { return false }
        return true
    }

    /// Words counted after a number that make it a count, not a sequel ("Heat 2 times").
    static let countNouns: Set<String> = ["times", "time", "x", "stars", "star", "hours", "hour", "out", "of"]

    /// The end of a year or sequel number directly after word `k` (only spaces, or " (" for a year, between):
    /// "(1990)", "4", "IV", "Part 2", "Part II". Returns `k` when there is none.
    static func numberTail(_ c: [Character], _ words: [Word], after k: Int) -> Int {
        guard k > 0, k < words.count else { return k }
        func adjacent(_ a: Int, _ b: Int) -> Bool { c[words[a].end..<words[b].start].allSatisfy { $0 == " " || $0 == "(" } }
        func isNumber(_ i: Int) -> Bool {
            let w = words[i]
            let roman = TitleNormalizer.romans[w.folded] != nil && c[w.start].isUppercase
            guard w.folded.allSatisfy(\.isASCIIDigit) || roman else { return false }
            return i + 1 >= words.count || !countNouns.contains(words[i + 1].folded)
        }
        guard adjacent(k - 1, k) else { return k }
        if words[k].isYear { return k + 1 }
        if isNumber(k) { return k + 1 }
        if words[k].folded == "part", k + 1 < words.count, adjacent(k, k + 1), isNumber(k + 1) { return k + 2 }
        return k
    }

    /// Extends a window end over a directly following ")" (so "Heat (1995" becomes "Heat (1995)").
    static func closingParenEnd(_ c: [Character], _ end: Int) -> Int { end < c.count && c[end] == ")" ? end + 1 : end }

    /// Maximal runs of uncovered words not crossing punctuation other than spaces, apostrophes and hyphens.
    static func leftoverRuns(_ c: [Character], _ words: [Word], _ covered: [Bool]) -> [[Int]] {
        var runs: [[Int]] = []
        var cur: [Int] = []
        for k in words.indices {
            if covered[k] { if !cur.isEmpty { runs.append(cur); cur = [] }; continue }
            if let last = cur.last {
                let gap = c[words[last].end..<words[k].start]
                if !gap.allSatisfy({ $0 == " " || $0 == "-" || $0 == ":" }) { runs.append(cur); cur = [] }
            }
            cur.append(k)
        }
        if !cur.isEmpty { runs.append(cur) }
        return runs
    }

    /// Fuzzy matches for one leftover run: the whole trimmed run, or else its connector-separated parts.
    static func fuzzyRun(_ c: [Character], _ words: [Word], _ run: [Int], index: TitleIndex) -> [(Int, TitleMention)] {
        func trimmed(_ r: ArraySlice<Int>) -> ArraySlice<Int> {
            var r = r
            while let f = r.first, filler.contains(words[f].folded) || words[f].isYear { r = r.dropFirst() }
            while let l = r.last, filler.contains(words[l].folded) { r = r.dropLast() }
            return r
        }
        func attempt(_ r: ArraySlice<Int>) -> (Int, TitleMention)? {
            let t = trimmed(r)
            guard let f = t.first, let l = t.last else { return nil }
            let letters = t.reduce(0) { $0 + words[$1].folded.count }
            guard letters >= 3 else { return nil }
            let s = String(c[words[f].start..<closingParenEnd(c, words[l].end)])
            return (words[f].start, TitleMention(text: s, quoted: false, match: index.match(s)))
        }
        // An unresolved lower-case run without digits is ordinary language ("what else would I like"), not
        // a title: dropped. Capitalised words or digits make it a title attempt that is reported.
        func titleLike(_ m: (Int, TitleMention)) -> Bool {
            m.1.match.item != nil || m.1.text.contains { $0.isUppercase || $0.isNumber }
        }
        guard let whole = attempt(run[...]) else { return [] }
        if whole.1.match.item != nil { return [whole] }
        var parts: [ArraySlice<Int>] = []
        var start = 0
        for (k, w) in run.enumerated() where connectors.contains(words[w].folded) {
            parts.append(run[start..<k]); start = k + 1
        }
        parts.append(run[start...])
        guard parts.count > 1 else { return titleLike(whole) ? [whole] : [] }
        let results = parts.compactMap(attempt).filter(titleLike)
        return results.isEmpty ? (titleLike(whole) ? [whole] : []) : results
    }
}
