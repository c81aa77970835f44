// Genre exclusions in chat messages: "… but no horror", "without comedies", "nothing sci-fi or horror",
// "avoid war films". Owns the phrase rule and the genre vocabulary (the catalogue's own genre names, their
// plurals and a few common spellings); ChatEngine turns the genres into excluded items, which the
// recommender's constrained beam search removes through its decoding mask, so no such item can be returned.
// Rule: a negation cue (no, not, without, except, excluding, exclude, avoid, skip, nothing, none, never,
// minus, "don't want/like") followed within three words (any, more, of, the, a, an, too, really, want,
// like, to, watch, see, please) by a genre; further genres joined by "or", "and", "nor", "," or "/" are
// excluded too. The matched words are cut from the text before titles are looked up, so "no war films"
// never reads as the film "War".
import Foundation

/// Genre exclusions found in one message.
public struct GenreExclusions: Sendable, Equatable {
    /// Catalogue genre names, in order of mention, without repeats.
    public var genres: [String]
    /// The message with the exclusion phrases replaced by sentence breaks.
    public var remainder: String

    static let cues: Set<String> = ["no", "not", "without", "except", "excluding", "exclude", "avoid", "skip", "nothing",
                                    "none", "never", "minus"]
    static let between: Set<String> = ["any", "more", "of", "the", "a", "an", "too", "really", "want", "like", "to",
                                       "watch", "see", "please", "much", "so", "for"]
    static let joiners: Set<String> = ["or", "and", "nor"]
    static let nouns: Set<String> = ["movie", "movies", "film", "films", "ones", "stuff", "titles", "items"]
    /// Spellings people use for MovieLens genres (folded words → the genre's folded key).
    static let synonyms: [String: String] = [
        "kids": "children", "childrens": "children", "family": "children", "animated": "animation", "cartoon": "animation",
        "cartoons": "animation", "scifi": "sci fi", "science fiction": "sci fi", "noir": "film noir", "romantic": "romance",
        "romcom": "romance", "romcoms": "romance", "scary": "horror", "documentaries": "documentary", "comedies": "comedy",
        "mysteries": "mystery", "fantasies": "fantasy", "musicals": "musical", "westerns": "western", "thrillers": "thriller",
        "dramas": "drama", "adventures": "adventure", "romances": "romance", "horrors": "horror", "crimes": "crime",
        "wars": "war",
    ]

    /// Finds genre exclusions in `text` among `genres` (the catalogue's genre names).
    public static func extract(_ text: String, genres: [String]) -> GenreExclusions {
        var byKey: [String: String] = [:]
        for g in genres { let k = TitleNormalizer.words(g).joined(separator: " "); if !k.isEmpty { byKey[k] = g } }
        guard !byKey.isEmpty else { return GenreExclusions(genres: [], remainder: text) }
        let chars = Array(text)
        // Words with character offsets (letters/digits, apostrophes dropped as TitleNormalizer does).
        var words: [(w: String, start: Int, end: Int)] = []
        var i = 0
        while i < chars.count {
            guard chars[i].isLetter || chars[i].isNumber else { i += 1; continue }
            var j = i
            while j < chars.count, chars[j].isLetter || chars[j].isNumber || chars[j] == "'" || chars[j] == "’" { j += 1 }
            words.append((TitleNormalizer.words(String(chars[i..<j])).joined(), i, j))
            i = j
        }
        /// The genre named by the words at `k` (one or two words), and how many words it spans.
        func genre(at k: Int) -> (String, Int)? {
            for n in [2, 1] where k + n <= words.count {
                let key = words[k..<(k + n)].map(\.w).joined(separator: " ")
                let canonical = synonyms[key] ?? key
                for cand in [canonical, canonical.hasSuffix("s") ? String(canonical.dropLast()) : canonical] {
                    if let g = byKey[cand] { return (g, n) }
                }
            }
            return nil
        }
        var found: [String] = []
        var cut: [Range<Int>] = []
        var k = 0
        while k < words.count {
            let w = words[k].w
            let cue = cues.contains(w) || ((w == "dont" || w == "do") && k + 1 < words.count && ["want", "like", "not"].contains(words[k + 1].w))
            guard cue else { k += 1; continue }
            var g = k + 1, gap = 0
            while g < words.count, gap < 3, genre(at: g) == nil, between.contains(words[g].w) { g += 1; gap += 1 }
            guard g < words.count, var (name, n) = genre(at: g) else { k += 1; continue }
            var end = g + n
            while true {
                if !found.contains(name) { found.append(name) }
                while end < words.count, nouns.contains(words[end].w) { end += 1 }
                // "or thriller", ", war", "/ comedy"
                var next = end
                if next < words.count, joiners.contains(words[next].w) { next += 1 }
                let punct = end < words.count ? chars[words[end - 1].end..<words[end].start].contains { $0 == "," || $0 == "/" } : false
                guard next < words.count, next > end || punct, let (n2, len) = genre(at: next) else { break }
                name = n2; n = len; end = next + len
            }
            cut.append(words[k].start..<words[end - 1].end)
            k = end
        }
        var rest = chars
        for r in cut { for c in r { rest[c] = " " }; rest[r.lowerBound] = "." }
        return GenreExclusions(genres: found, remainder: String(rest))
    }
}
