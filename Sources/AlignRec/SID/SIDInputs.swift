// Inputs of `align sid build`: the item vectors (`embeddings.safetensors`: `embeddings` F32 [N, D], row i =
// item i + 1, and `items` I32 [N] = 1...N) and, for the genre purity, the catalogue `items.jsonl` (one `Item`
// per line). Every problem is reported with the file (and line) and what was wrong.
import Foundation

/// Item vectors loaded for quantization.
public struct SIDVectors: Sendable {
    /// Row-major [n, dim]; row i = item i + 1.
    public var values: [Float]
    public var n: Int
    public var dim: Int
    /// The protocol whose training interactions shaped the vectors (metadata "interactions"), nil for text only.
    public var interactions: EvalProtocol?
    public init(values: [Float], n: Int, dim: Int, interactions: EvalProtocol? = nil) {
        self.values = values; self.n = n; self.dim = dim; self.interactions = interactions
    }
}

public enum SIDInputs {
    /// Reads `embeddings.safetensors` and checks shapes, item order and finiteness.
    public static func loadEmbeddings(_ url: URL) throws -> SIDVectors {
        let f = try SafetensorsFile(url: url)
        let e = try f.entry("embeddings")
        guard e.shape.count == 2, e.shape[0] >= 1, e.shape[1] >= 1 else {
            throw AlignError.tensor(path: url.path, name: "embeddings", message: "shape \(e.shape), expected [N, D] with N, D ≥ 1")
        }
        let n = e.shape[0], dim = e.shape[1]
        var v = [Float](repeating: 0, count: n * dim)
        try v.withUnsafeMutableBufferPointer { try f.read("embeddings", into: $0) }
        if f.contains("items") {
            let ids = try f.int32s("items")
            guard ids.count == n else {
                throw AlignError.tensor(path: url.path, name: "items", message: "has \(ids.count) ids, embeddings has \(n) rows")
            }
            for (i, id) in ids.enumerated() where Int(id) != i + 1 {
                throw AlignError.tensor(path: url.path, name: "items", message: "row \(i) holds item \(id), expected \(i + 1) (rows must be items 1...N in order)")
            }
        }
        for i in 0..<(n * dim) where !v[i].isFinite {
            throw AlignError.tensor(path: url.path, name: "embeddings", message: "non-finite value at item \(i / dim + 1), dim \(i % dim)")
        }
        return SIDVectors(values: v, n: n, dim: dim,
                          interactions: try EvalProtocol.metadata(f.metadata["interactions"], path: url.path, field: "metadata interactions"))
    }

    /// Reads `items.jsonl`: one Item per line (blank lines skipped), items must be 1...N in order.
    public static func loadItems(_ url: URL) throws -> [Item] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw AlignError.io(path: url.path, message: "cannot read: \(error.localizedDescription)")
        }
        let dec = JSONDecoder()
        var items: [Item] = []
        var lineNo = 0
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNo += 1
            if line.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { continue }
            let item: Item
            do { item = try dec.decode(Item.self, from: Data(line)) } catch {
                throw AlignError.format(path: url.path, line: lineNo, message: "not an item record (item, id, title, year, genres, text): \(describe(error))")
            }
            guard item.item == items.count + 1 else {
                throw AlignError.format(path: url.path, line: lineNo, message: "item \(item.item) out of order, expected \(items.count + 1)")
            }
            items.append(item)
        }
        return items
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case let DecodingError.keyNotFound(k, _): return "missing key \"\(k.stringValue)\""
        case let DecodingError.typeMismatch(_, c): return "wrong type at \(c.codingPath.map(\.stringValue).joined(separator: ".")): \(c.debugDescription)"
        case let DecodingError.valueNotFound(_, c): return "null at \(c.codingPath.map(\.stringValue).joined(separator: "."))"
        case let DecodingError.dataCorrupted(c): return "invalid JSON: \(c.debugDescription)"
        default: return "\(error)"
        }
    }
}
