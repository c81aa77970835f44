// Encoder throughput benchmark for `align bench`: MovieLens-like item texts (~10 words: a title, a year
// and genres, generated from a seeded Rng) embedded with the native encoder, reported as items/s.
import Foundation

/// Measures sentence-embedding throughput.
public enum BertBench {
    static let words = ["the", "night", "story", "love", "man", "last", "city", "return", "dark", "king", "girl",
                        "life", "day", "war", "house", "lost", "blue", "secret", "dead", "star", "american", "little",
                        "big", "time", "world", "summer", "island", "murder", "dream", "road", "home", "ghost"]
    static let genres = ["Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama",
                         "Fantasy", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]

    /// `count` synthetic MovieLens-style texts, e.g. "Dark City Return (1987). Crime|Drama|Thriller".
    public static func titles(count: Int, seed: UInt64 = 1) -> [String] {
        var rng = Rng(seed: seed)
        return (0..<count).map { _ in
            let title = (0..<(2 + rng.int(below: 4))).map { _ in words[rng.int(below: words.count)].capitalized }.joined(separator: " ")
            let g = (0..<(1 + rng.int(below: 3))).map { _ in genres[rng.int(below: genres.count)] }.joined(separator: "|")
            return "\(title) (\(1930 + rng.int(below: 90))). \(g)"
        }
    }

    /// Loads the encoder in `encoderDir`, embeds `items` synthetic titles in batches of `batch` (after one
    /// warm-up batch) and returns items per second (tokenization included, model loading excluded).
    public static func run(encoderDir: URL, items: Int = 2048, batch: Int = 64) throws -> Double {
        guard items >= 1, batch >= 1 else { throw AlignError.invalidArgument("items and batch must be ≥ 1") }
        let model = try BertModel(directory: encoderDir)
        let texts = titles(count: items)
        let maxLength = min(256, model.config.maxPositionEmbeddings)
        let longest = model.tokenizer.encodeAll(texts, maxLength: maxLength).map(\.count).max()!
        let enc = try BertEncoder(model: model, maxBatch: min(batch, items), maxLength: longest)
        _ = enc.embed(tokenized: model.tokenizer.encodeAll(Array(texts.prefix(batch)), maxLength: maxLength))  // warm-up
        let start = Date()
        let v = enc.embed(tokenized: model.tokenizer.encodeAll(texts, maxLength: maxLength))
        let secs = Date().timeIntervalSince(start)
        precondition(v.count == items * model.dim)
        return Double(items) / max(secs, 1e-9)
    }
}
