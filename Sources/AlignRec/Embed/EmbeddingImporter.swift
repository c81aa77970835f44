// `align embed --import FILE`: item vectors made elsewhere, checked and put in item order.
//   .npy          2-D float32/float64, C order, one row per item in item order (see NpyMatrix).
//   .safetensors  `--tensor NAME`, else the first 2-D float tensor in file (offset) order; when an integer tensor `items` [N] is
//                 present (align's own format) it gives each row's 1-based item index.
//   .csv / .tsv   one row per item; an optional header line (any non-numeric field); an optional leading
//                 item-index column, recognised when the first column holds the integers 1...N (any order)
//                 or the header names it `item`.
// Every importer checks rows == number of items and that all values are finite.
import Foundation

/// Loads externally computed item embeddings.
public enum EmbeddingImporter {
    /// Returns a flat [expectedCount, dim] matrix whose row i is item i+1.
    public static func load(_ url: URL, expectedCount n: Int, tensor: String? = nil) throws -> (vectors: [Float], dim: Int) {
        let ext = url.pathExtension.lowercased()
        if tensor != nil && ext != "safetensors" {
            throw AlignError.invalidArgument("--tensor applies to .safetensors imports only (got \(url.lastPathComponent))")
        }
        let (vectors, rows, dim): ([Float], Int, Int)
        switch ext {
        case "npy":
            let m = try NpyMatrix.read(url)
            (vectors, rows, dim) = (m.values, m.rows, m.cols)
        case "safetensors": (vectors, rows, dim) = try loadSafetensors(url, expectedCount: n, tensor: tensor)
        case "csv", "tsv": (vectors, rows, dim) = try loadCSV(url, expectedCount: n, separator: ext == "tsv" ? "\t" : ",")
        default:
            throw AlignError.invalidArgument("\(url.path): unknown import format '.\(ext)' (use .npy, .safetensors, .csv or .tsv)")
        }
        guard rows == n else {
            throw AlignError.format(path: url.path, line: nil, message: "has \(rows) vectors but the dataset has \(n) items (one row per item, in item order)")
        }
        guard dim >= 1 else { throw AlignError.format(path: url.path, line: nil, message: "vectors have dimension 0") }
        if let bad = vectors.firstIndex(where: { !$0.isFinite }) {
            throw AlignError.format(path: url.path, line: nil,
                                    message: "non-finite value (\(vectors[bad])) in the vector of item \(bad / dim + 1), component \(bad % dim)")
        }
        return (vectors, dim)
    }

    static func loadSafetensors(_ url: URL, expectedCount n: Int, tensor: String?) throws -> ([Float], Int, Int) {
        let st = try SafetensorsFile(url: url)
        let floatTypes: Set<SafetensorsDType> = [.f32, .f16, .bf16, .f64]
        let entry: SafetensorsFile.Entry
        if let name = tensor {
            entry = try st.entry(name)
            guard floatTypes.contains(entry.dtype), entry.shape.count == 2 else {
                throw AlignError.tensor(path: url.path, name: name, message: "is \(entry.dtype.rawValue) \(entry.shape); expected a 2-D float tensor")
            }
        } else {
            guard let e = st.entries.first(where: { floatTypes.contains($0.dtype) && $0.shape.count == 2 }) else {
                throw AlignError.format(path: url.path, line: nil, message: "no 2-D float tensor (tensors: \(st.names.joined(separator: ", ")))")
            }
            entry = e
        }
        let rows = entry.shape[0], dim = entry.shape[1]
        var v = try st.floats(entry.name)
        if st.contains("items"), rows == n {
            let ids = try st.int32s("items")
            guard ids.count == rows else {
                throw AlignError.tensor(path: url.path, name: "items", message: "has \(ids.count) entries for \(rows) vectors")
            }
            v = try permute(v, dim: dim, ids: ids.map(Int.init), n: n, path: url.path, what: "tensor 'items'")
        }
        return (v, rows, dim)
    }

    static func loadCSV(_ url: URL, expectedCount n: Int, separator: Character) throws -> ([Float], Int, Int) {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw AlignError.io(path: url.path, message: "cannot read: \(error.localizedDescription)")
        }
        var rows: [(line: Int, fields: [Double])] = []
        var headerFirst: String? = nil
        var width = -1
        for (k, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let parts = line.split(separator: separator, omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            let nums = parts.map { Double($0) }
            if rows.isEmpty && headerFirst == nil && nums.contains(where: { $0 == nil }) {
                headerFirst = parts[0].lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
                width = parts.count
                continue
            }
            if width >= 0 && parts.count != width {
                throw AlignError.format(path: url.path, line: k + 1, message: "\(parts.count) fields, the first row has \(width)")
            }
            width = parts.count
            guard nums.allSatisfy({ $0 != nil }) else {
                let bad = parts[nums.firstIndex { $0 == nil }!]
                throw AlignError.format(path: url.path, line: k + 1, message: "'\(bad)' is not a number")
            }
            rows.append((k + 1, nums.map { $0! }))
        }
        guard !rows.isEmpty else { throw AlignError.format(path: url.path, line: nil, message: "no data rows") }
        let firstCol = rows.map { $0.fields[0] }
        let idsLookValid = width >= 2 && rows.count == n && firstCol.allSatisfy { $0 == $0.rounded() && $0 >= 1 && $0 <= Double(n) }
            && Set(firstCol).count == n
        let hasIds = headerFirst == "item" || idsLookValid
        var v: [Float] = []
        v.reserveCapacity(rows.count * width)
        for r in rows { v.append(contentsOf: r.fields[(hasIds ? 1 : 0)...].map { Float($0) }) }
        let dim = hasIds ? width - 1 : width
        if hasIds {
            if rows.count != n {
                throw AlignError.format(path: url.path, line: nil, message: "has \(rows.count) vectors but the dataset has \(n) items")
            }
            for r in rows where !(r.fields[0] == r.fields[0].rounded() && r.fields[0] >= 1 && r.fields[0] <= Double(n)) {
                throw AlignError.format(path: url.path, line: r.line, message: "item index \(r.fields[0]) is not an integer in 1...\(n)")
            }
            v = try permute(v, dim: dim, ids: firstCol.map { Int($0) }, n: n, path: url.path, what: "the item column")
        }
        return (v, rows.count, dim)
    }

    /// Reorders rows so that row i is item i+1, given each row's 1-based item index.
    static func permute(_ v: [Float], dim: Int, ids: [Int], n: Int, path: String, what: String) throws -> [Float] {
        var out = [Float](repeating: 0, count: v.count)
        var seen = [Bool](repeating: false, count: n + 1)
        for (r, id) in ids.enumerated() {
            guard id >= 1 && id <= n else {
                throw AlignError.format(path: path, line: nil, message: "\(what): item index \(id) is outside 1...\(n)")
            }
            guard !seen[id] else { throw AlignError.format(path: path, line: nil, message: "\(what): item \(id) appears twice") }
            seen[id] = true
            for d in 0..<dim { out[(id - 1) * dim + d] = v[r * dim + d] }
        }
        return out
    }
}
