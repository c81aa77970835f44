// MovieLens readers. `movielens`: GroupLens' ml-latest(-small)/ml-20m/ml-25m layout — `ratings.csv`
// (userId,movieId,rating,timestamp) and `movies.csv` (movieId,title,genres; "Title (Year)", genres joined by
// "|", RFC 4180 quoting). `ml-1m`: the `::`-separated `ratings.dat` (UserID::MovieID::Rating::Timestamp) and
// `movies.dat` (MovieID::Title::Genres) of ml-1m and ml-10m, titles in Latin-1 (UTF-8 accepted when valid).
// "(no genres listed)" means no genres. The rating value is ignored (every row is an implicit interaction).
import Foundation

/// Reads MovieLens directories into `RawInteractions`.
public enum MovieLensReader {
    /// Reads `dir/ratings.csv` and `dir/movies.csv` (files may be gzip-compressed under the same names).
    public static func readCSV(directory dir: String, policy: BadLinePolicy) throws -> RawInteractions {
        var raw = RawInteractions(format: "movielens")
        let moviesPath = try existing(dir, "movies.csv")
        let ratingsPath = try existing(dir, "ratings.csv")
        raw.files = [ratingsPath, moviesPath]

        let movies = try CSVReader(path: moviesPath)
        try expectHeader(movies, ["movieId", "title", "genres"])
        var bad = 0
        while true {
            var done = false
            try policy.handle(&bad) {
                guard let rec = try movies.next() else { done = true; return }
                guard rec.fields.count == 3 else {
                    throw AlignError.format(path: moviesPath, line: rec.line, message: "expected 3 fields (movieId,title,genres), found \(rec.fields.count)")
                }
                let id = rec.fields[0].trimmingCharacters(in: .whitespaces)
                guard Int64(id) != nil else { throw AlignError.format(path: moviesPath, line: rec.line, message: "movieId '\(id)' is not an integer") }
                guard raw.meta[id] == nil else { throw AlignError.format(path: moviesPath, line: rec.line, message: "movieId \(id) appears twice") }
                raw.meta[id] = movieMeta(title: rec.fields[1], genres: rec.fields[2])
            }
            if done { break }
        }
        if bad > 0 { raw.skippedLines[moviesPath] = bad }

        let ratings = try CSVReader(path: ratingsPath)
        try expectHeader(ratings, ["userId", "movieId", "rating", "timestamp"])
        bad = 0
        while true {
            var done = false
            try policy.handle(&bad) {
                guard let rec = try ratings.next() else { done = true; return }
                guard rec.fields.count == 4 else {
                    throw AlignError.format(path: ratingsPath, line: rec.line, message: "expected 4 fields (userId,movieId,rating,timestamp), found \(rec.fields.count)")
                }
                try addRating(&raw, path: ratingsPath, line: rec.line, user: rec.fields[0], movie: rec.fields[1], rating: rec.fields[2], time: rec.fields[3])
            }
            if done { break }
        }
        if bad > 0 { raw.skippedLines[ratingsPath] = bad }
        return raw
    }

    /// Reads `dir/ratings.dat` and `dir/movies.dat` (ml-1m / ml-10m `::` format).
    public static func readDat(directory dir: String, policy: BadLinePolicy) throws -> RawInteractions {
        var raw = RawInteractions(format: "ml-1m")
        let moviesPath = try existing(dir, "movies.dat")
        let ratingsPath = try existing(dir, "ratings.dat")
        raw.files = [ratingsPath, moviesPath]

        let movies = try LineReader(path: moviesPath)
        var bad = 0
        while true {
            var done = false
            try policy.handle(&bad) {
                guard let line = try movies.withNextLine({ TextDecoding.utf8OrLatin1($0) }) else { done = true; return }
                if line.isEmpty { return }
                let f = line.components(separatedBy: "::")
                guard f.count == 3 else {
                    throw AlignError.format(path: moviesPath, line: movies.lineNumber, message: "expected MovieID::Title::Genres (3 fields), found \(f.count)")
                }
                let id = f[0].trimmingCharacters(in: .whitespaces)
                guard Int64(id) != nil else { throw AlignError.format(path: moviesPath, line: movies.lineNumber, message: "MovieID '\(id)' is not an integer") }
                guard raw.meta[id] == nil else { throw AlignError.format(path: moviesPath, line: movies.lineNumber, message: "MovieID \(id) appears twice") }
                raw.meta[id] = movieMeta(title: f[1], genres: f[2])
            }
            if done { break }
        }
        if bad > 0 { raw.skippedLines[moviesPath] = bad }

        let ratings = try LineReader(path: ratingsPath)
        bad = 0
        while true {
            var done = false
            try policy.handle(&bad) {
                guard let line = try ratings.withNextLine({ TextDecoding.utf8OrLatin1($0) }) else { done = true; return }
                if line.isEmpty { return }
                let f = line.components(separatedBy: "::")
                guard f.count == 4 else {
                    throw AlignError.format(path: ratingsPath, line: ratings.lineNumber, message: "expected UserID::MovieID::Rating::Timestamp (4 fields), found \(f.count)")
                }
                try addRating(&raw, path: ratingsPath, line: ratings.lineNumber, user: f[0], movie: f[1], rating: f[2], time: f[3])
            }
            if done { break }
        }
        if bad > 0 { raw.skippedLines[ratingsPath] = bad }
        return raw
    }

    /// Title/year/genres of one movie row; the text recipe is `ItemMeta.text`.
    static func movieMeta(title: String, genres: String) -> ItemMeta {
        let (t, y) = ItemMeta.splitYear(title)
        var g: [String] = []
        if genres != "(no genres listed)" {
            for part in genres.split(separator: "|") {
                let s = part.trimmingCharacters(in: .whitespaces)
                if !s.isEmpty && !g.contains(s) { g.append(s) }
            }
        }
        return ItemMeta(title: t, year: y, genres: g, genreLabel: "Genres")
    }

    private static func addRating(_ raw: inout RawInteractions, path: String, line: Int, user: String, movie: String, rating: String, time: String) throws {
        let u = user.trimmingCharacters(in: .whitespaces), m = movie.trimmingCharacters(in: .whitespaces)
        guard Int64(u) != nil else { throw AlignError.format(path: path, line: line, message: "userId '\(u)' is not an integer") }
        guard Int64(m) != nil else { throw AlignError.format(path: path, line: line, message: "movieId '\(m)' is not an integer") }
        guard Double(rating.trimmingCharacters(in: .whitespaces)) != nil else {
            throw AlignError.format(path: path, line: line, message: "rating '\(rating)' is not a number")
        }
        guard let t = parseTimestamp(time) else { throw AlignError.format(path: path, line: line, message: "timestamp '\(time)' is not an integer") }
        raw.add(user: u, item: m, timestamp: t)
    }

    private static func expectHeader(_ r: CSVReader, _ want: [String]) throws {
        guard let h = try r.next() else { throw AlignError.format(path: r.path, line: 1, message: "empty file, expected header \(want.joined(separator: ","))") }
        let got = h.fields.map { $0.trimmingCharacters(in: .whitespaces) }
        guard got == want else {
            throw AlignError.format(path: r.path, line: h.line, message: "expected header '\(want.joined(separator: ","))', found '\(got.joined(separator: ","))'")
        }
    }

    /// `dir/name` or `dir/name.gz`, whichever exists.
    static func existing(_ dir: String, _ name: String) throws -> String {
        let fm = FileManager.default
        for cand in [name, name + ".gz"] {
            let p = (dir as NSString).appendingPathComponent(cand)
            if fm.fileExists(atPath: p) { return p }
        }
        throw AlignError.io(path: (dir as NSString).appendingPathComponent(name), message: "missing (expected \(name) in \(dir))")
    }
}
