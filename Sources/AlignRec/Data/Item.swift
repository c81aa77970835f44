// One catalogue item as every stage sees it (`items.jsonl` in a dataset directory, one JSON object a line,
// ordered by `item`). Item indices are 1-based and dense (1...N); 0 is padding and never a candidate.
import Foundation

/// A catalogue item. JSON keys: item, id, title, year, genres, text.
public struct Item: Codable, Sendable, Equatable {
    /// Dense 1-based index (1 + rank of the original id in ascending order).
    public var item: Int
    /// The source's own id (MovieLens movieId, Amazon ASIN, ...), as a string.
    public var id: String
    /// Display title without the year (MovieLens "Heat (1995)" → "Heat").
    public var title: String
    /// Release year when the source has one.
    public var year: Int?
    /// Genres / categories (MovieLens genres, Amazon categories); empty when unknown.
    public var genres: [String]
    /// The text the encoder embeds (title plus year, genres, brand, description, ...).
    public var text: String

    public init(item: Int, id: String, title: String, year: Int?, genres: [String], text: String) {
        self.item = item; self.id = id; self.title = title; self.year = year; self.genres = genres; self.text = text
    }
}
