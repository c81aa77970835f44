// Minimal reader of a dataset's `items.jsonl` for `align embed`: one JSON `Item` per line, items dense and
// in order (line k holds item k). Errors name the file and line.
import Foundation

/// Reads the catalogue items of a dataset directory.
public enum ItemsJSONL {
    /// Parses `items.jsonl`; every non-empty line must decode as an `Item` with `item` == its 1-based rank.
    public static func read(_ url: URL) throws -> [Item] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw AlignError.io(path: url.path, message: "cannot read items (is this a dataset directory made by `align data prepare`?): \(error.localizedDescription)")
        }
        var items: [Item] = []
        let decoder = JSONDecoder()
        var lineNo = 0
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNo += 1
            if line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\t") }) { continue }
            let item: Item
            do { item = try decoder.decode(Item.self, from: Data(line)) } catch {
                throw AlignError.format(path: url.path, line: lineNo, message: "not a JSON item object: \(describe(error))")
            }
            guard item.item == items.count + 1 else {
                throw AlignError.format(path: url.path, line: lineNo,
                                        message: "item index \(item.item) where \(items.count + 1) was expected (items must be dense, 1-based and in order)")
            }
            items.append(item)
        }
        guard !items.isEmpty else { throw AlignError.format(path: url.path, line: nil, message: "no items") }
        return items
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing field '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let ctx), DecodingError.valueNotFound(_, let ctx):
            return "field '\(ctx.codingPath.map(\.stringValue).joined(separator: "."))': \(ctx.debugDescription)"
        case DecodingError.dataCorrupted(let ctx): return ctx.debugDescription
        default: return "\(error)"
        }
    }
}
