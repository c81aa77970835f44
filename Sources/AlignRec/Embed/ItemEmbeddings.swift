// The item-embedding file `align embed` writes and `align sid build` reads (safetensors, versioned):
//   embeddings F32 [N, D]  row i is item i+1
//   items      I32 [N]     1...N
//   metadata   format "align-embeddings", version "1", encoder, dim, normalized ("true"/"false"),
//              interactions ("loo"/"chrono", only for vectors built from a protocol's training interactions)
import Foundation

/// One vector per catalogue item, row i = item i+1.
public struct ItemEmbeddings: Sendable, Equatable {
    /// Flat [count, dim] row-major vectors.
    public var vectors: [Float]
    /// Number of items N.
    public var count: Int
    /// Vector width D.
    public var dim: Int
    /// Where the vectors came from: the encoder's name or "import:<file>".
    public var encoder: String
    /// Whether every row has unit L2 norm.
    public var normalized: Bool
    /// The protocol whose training interactions shaped the vectors (collaborative vectors), nil for text only.
    /// Carried into the SID map so a model is never trained or evaluated on another protocol's split with it.
    public var interactions: EvalProtocol?

    /// Metadata `format` of the file.
    public static let format = "align-embeddings"
    /// Metadata `version` of the file.
    public static let version = "1"

    /// Wraps flat [count, dim] vectors.
    public init(vectors: [Float], count: Int, dim: Int, encoder: String, normalized: Bool) {
        precondition(vectors.count == count * dim, "vectors hold \(vectors.count) floats, expected \(count) × \(dim)")
        self.vectors = vectors; self.count = count; self.dim = dim; self.encoder = encoder; self.normalized = normalized
    }

    /// True when every row's L2 norm is within `tolerance` of 1.
    public static func rowsAreUnit(_ v: [Float], dim: Int, tolerance: Double = 1e-4) -> Bool {
        stride(from: 0, to: v.count, by: dim).allSatisfy { s in
            let n = v[s ..< s + dim].reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            return abs(n - 1) <= tolerance
        }
    }

    /// Writes the file atomically.
    public func write(to url: URL) throws {
        try SafetensorsWriter.write([
            SafetensorsTensor(name: "embeddings", shape: [count, dim], floats: vectors),
            SafetensorsTensor(name: "items", shape: [count], ints: (0..<count).map { Int32($0 + 1) }),
        ], metadata: ["format": Self.format, "version": Self.version, "encoder": encoder,
                      "dim": String(dim), "normalized": normalized ? "true" : "false"]
                      .merging(interactions.map { ["interactions": $0.rawValue] } ?? [:]) { a, _ in a }, to: url)
    }

    /// Reads and validates a file written by `write(to:)`.
    public static func load(_ url: URL) throws -> ItemEmbeddings {
        let st = try SafetensorsFile(url: url)
        guard st.metadata["format"] == format else {
            throw AlignError.format(path: url.path, line: nil, message: "not an align-embeddings file (metadata format is \(st.metadata["format"] ?? "missing")); make one with `align embed`")
        }
        guard st.metadata["version"] == version else {
            throw AlignError.format(path: url.path, line: nil, message: "unsupported align-embeddings version \(st.metadata["version"] ?? "missing") (this build reads \(version))")
        }
        let e = try st.entry("embeddings")
        guard e.shape.count == 2, e.shape[0] >= 1, e.shape[1] >= 1 else {
            throw AlignError.tensor(path: url.path, name: "embeddings", message: "shape \(e.shape), expected [N, D]")
        }
        let items = try st.int32s("items")
        guard items == (1...e.shape[0]).map({ Int32($0) }) else {
            throw AlignError.tensor(path: url.path, name: "items", message: "must be 1...\(e.shape[0]) in order")
        }
        let v = try st.floats("embeddings")
        if let bad = v.firstIndex(where: { !$0.isFinite }) {
            throw AlignError.tensor(path: url.path, name: "embeddings", message: "non-finite value for item \(bad / e.shape[1] + 1)")
        }
        var out = ItemEmbeddings(vectors: v, count: e.shape[0], dim: e.shape[1], encoder: st.metadata["encoder"] ?? "",
                                 normalized: st.metadata["normalized"] == "true")
        out.interactions = try EvalProtocol.metadata(st.metadata["interactions"], path: url.path, field: "metadata interactions")
        return out
    }
}
