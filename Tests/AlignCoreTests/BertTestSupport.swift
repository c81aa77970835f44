// Shared helpers of the BERT tests: locating the real all-MiniLM-L6-v2 (fetched by scripts/fetch-minilm)
// and reading the golden cases of Fixtures/minilm.
import AlignCore
import Foundation
import TestSupport
import Testing

enum MiniLM {
    /// The encoder directory: $ALIGN_MINILM_DIR, else models/all-MiniLM-L6-v2 under the package root.
    static var directory: URL {
        if let d = ProcessInfo.processInfo.environment["ALIGN_MINILM_DIR"], !d.isEmpty { return URL(fileURLWithPath: d) }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent("models/all-MiniLM-L6-v2")
    }

    /// The loaded model, or a recorded failure telling how to fetch it (never a silent skip).
    static func model() throws -> BertModel? {
        let dir = directory
        let files = ["config.json", "vocab.txt", "model.safetensors"]
        if files.allSatisfy({ FileManager.default.fileExists(atPath: dir.appendingPathComponent($0).path) }) {
            return try shared.get()
        }
        let ci = ProcessInfo.processInfo.environment["CI"] == "true"
        Issue.record("all-MiniLM-L6-v2 not found in \(dir.path)\(ci ? " (CI=true)" : ""): run scripts/fetch-minilm (or set ALIGN_MINILM_DIR) before swift test")
        return nil
    }

    private static let shared: Result<BertModel, Error> = Result { try BertModel(directory: directory) }

    struct Case: Decodable { let text: String; let input_ids: [Int32]; let embedding: [Float]? }

    static func cases(_ file: String) throws -> [Case] {
        let url = FixturePath.url("minilm/\(file)", bundle: .module)
        let text = try String(contentsOf: url, encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(Case.self, from: Data($0.utf8)) }
    }
}
