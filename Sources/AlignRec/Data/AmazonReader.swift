// Amazon review datasets. 2014/2018 (McAuley et al., Ni et al.): reviews `reviews_<Cat>.json(.gz)` or
// `<Cat>.json(.gz)`, one JSON object a line with reviewerID, asin, unixReviewTime (Unix seconds); meta
// `meta_<Cat>.json(.gz)` with asin, title, categories (list of lists, 2014) or category (list, 2018), brand,
// description (string or list) — either JSON or the older one-Python-dict-per-line style. 2023 (Hou et al.):
// reviews `<Cat>.jsonl(.gz)` with user_id, parent_asin (asin when absent), timestamp (Unix milliseconds; kept
// in ms); meta `meta_<Cat>.jsonl(.gz)` with parent_asin, title, main_category, categories, store, features,
// description. Reviews are read first; meta lines are kept only for items that were reviewed.
import Foundation

/// Reads Amazon review + meta files into `RawInteractions`.
public enum AmazonReader {
    /// The Amazon release: field names and timestamp units differ.
    public enum Release: String, Sendable { case v2018 = "amazon2018", v2023 = "amazon2023" }

    /// Finds the reviews and meta files: `src` is either a reviews file (meta given separately or found as
    /// `meta_<name>` beside it) or a directory holding exactly one `meta_*` file and one other `.json(l)(.gz)` file.
    public static func resolve(src: String, meta: String?) throws -> (reviews: String, meta: String) {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: src, isDirectory: &isDir) else { throw AlignError.io(path: src, message: "does not exist") }
        if !isDir.boolValue {
            if let meta { return (src, meta) }
            let dir = (src as NSString).deletingLastPathComponent
            let base = (src as NSString).lastPathComponent
            let stem = base.hasPrefix("reviews_") ? String(base.dropFirst("reviews_".count)) : base
            let cand = (dir as NSString).appendingPathComponent("meta_" + stem)
            guard fm.fileExists(atPath: cand) else {
                throw AlignError.invalidArgument("no meta file for \(src): expected \(cand) or --meta FILE")
            }
            return (src, cand)
        }
        let listing: [String]
        do { listing = try fm.contentsOfDirectory(atPath: src) } catch {
            throw AlignError.io(path: src, message: "cannot list directory: \(error.localizedDescription)")
        }
        let names = listing.sorted().filter { n in
            [".json", ".jsonl", ".json.gz", ".jsonl.gz"].contains { n.hasSuffix($0) } && !n.hasPrefix(".")
        }
        let metas = names.filter { $0.hasPrefix("meta_") }
        let reviews = names.filter { !$0.hasPrefix("meta_") }
        guard reviews.count == 1 else {
            throw AlignError.invalidArgument("\(src): expected exactly one reviews file (*.json[l][.gz] not starting with meta_), found \(reviews)")
        }
        let m: String
        if let meta { m = meta } else {
            guard metas.count == 1 else { throw AlignError.invalidArgument("\(src): expected exactly one meta_* file, found \(metas); pass --meta FILE") }
            m = (src as NSString).appendingPathComponent(metas[0])
        }
        return ((src as NSString).appendingPathComponent(reviews[0]), m)
    }

    /// Reads one release's reviews and meta files.
    public static func read(_ release: Release, reviews: String, meta: String, policy: BadLinePolicy) throws -> RawInteractions {
        var raw = RawInteractions(format: release.rawValue)
        raw.files = [reviews, meta]
        raw.timestampUnit = release == .v2023 ? "ms" : "s"
        let userKey = release == .v2023 ? "user_id" : "reviewerID"
        let timeKey = release == .v2023 ? "timestamp" : "unixReviewTime"

        var bad = 0
        try forEachObject(reviews, policy: policy, skipped: &bad) { obj, line in
            guard let user = obj[userKey]?.scalarText, !user.isEmpty else { throw missing(reviews, line, userKey) }
            let itemValue = release == .v2023 ? (obj["parent_asin"] ?? obj["asin"]) : obj["asin"]
            guard let item = itemValue?.scalarText, !item.isEmpty else {
                throw missing(reviews, line, release == .v2023 ? "parent_asin" : "asin")
            }
            guard let tv = obj[timeKey] else { throw missing(reviews, line, timeKey) }
            guard let ts = tv.scalarText.flatMap(parseTimestamp) else {
                throw AlignError.format(path: reviews, line: line, message: "\(timeKey) is not an integer timestamp")
            }
            raw.add(user: user, item: item, timestamp: ts)
        }
        if bad > 0 { raw.skippedLines[reviews] = bad }

        let wanted = Set(raw.itemIds)
        var metaMap: [String: ItemMeta] = [:]
        bad = 0
        try forEachObject(meta, policy: policy, skipped: &bad) { obj, line in
            let idValue = release == .v2023 ? (obj["parent_asin"] ?? obj["asin"]) : obj["asin"]
            guard let id = idValue?.scalarText, !id.isEmpty else { throw missing(meta, line, release == .v2023 ? "parent_asin" : "asin") }
            guard wanted.contains(id), metaMap[id] == nil else { return }
            metaMap[id] = itemMeta(obj, release: release)
        }
        if bad > 0 { raw.skippedLines[meta] = bad }
        raw.meta = metaMap
        return raw
    }

    /// Title, categories and text fields of one meta object.
    static func itemMeta(_ obj: LiteralValue, release: Release) -> ItemMeta {
        let title = obj["title"]?.scalarText ?? ""
        var cats: [String] = []
        var catSources: [LiteralValue?] = [obj["categories"], obj["category"]]
        if release == .v2023 { catSources.insert(obj["main_category"], at: 0) }
        for src in catSources {
            for c in src?.flattenedStrings ?? [] {
                let s = ItemMeta.squeeze(c)
                if !s.isEmpty && !cats.contains(s) { cats.append(s) }
            }
        }
        var extra: [(String, String)] = []
        if let brand = (obj["brand"] ?? obj["store"])?.scalarText, !brand.isEmpty { extra.append(("Brand", brand)) }
        if release == .v2023, let f = obj["features"]?.flattenedStrings, !f.isEmpty { extra.append(("Features", f.joined(separator: " "))) }
        if let d = obj["description"]?.flattenedStrings, !d.isEmpty { extra.append(("Description", d.joined(separator: " "))) }
        return ItemMeta(title: ItemMeta.squeeze(title), year: nil, genres: cats, genreLabel: "Categories", extra: extra)
    }

    private static func missing(_ path: String, _ line: Int, _ key: String) -> AlignError {
        AlignError.format(path: path, line: line, message: "missing or empty field '\(key)'")
    }

    /// Calls `body` with each non-empty line parsed as a JSON object or Python dict literal.
    static func forEachObject(_ path: String, policy: BadLinePolicy, skipped: inout Int,
                              _ body: (LiteralValue, Int) throws -> Void) throws {
        let reader = try LineReader(path: path)
        while true {
            var done = false
            try policy.handle(&skipped) {
                let parsed: Result<LiteralValue, LiteralParseError>?? = try reader.withNextLine { buf in
                    var k = 0
                    while k < buf.count, buf[k] == 0x20 || buf[k] == 0x09 { k += 1 }
                    if k == buf.count { return .none }  // blank line
                    do { return .some(.success(try LiteralParser.parse(buf))) } catch let e as LiteralParseError {
                        return .some(.failure(e))
                    } catch { return .some(.failure(LiteralParseError(offset: 0, message: "\(error)"))) }
                }
                guard let outcome = parsed else { done = true; return }
                guard let result = outcome else { return }
                let line = reader.lineNumber
                switch result {
                case let .failure(e):
                    throw AlignError.format(path: path, line: line, message: "not a JSON object or Python dict: \(e.message) at byte \(e.offset + 1)")
                case let .success(v):
                    guard case .object = v else { throw AlignError.format(path: path, line: line, message: "expected one object per line") }
                    try body(v, line)
                }
            }
            if done { break }
        }
    }
}
