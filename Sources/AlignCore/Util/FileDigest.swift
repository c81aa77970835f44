// Fingerprints of the files a checkpoint's weights depend on (tokenizer, SID map, catalogue, prompts), recorded
// in align.json when the checkpoint is written and compared when it is loaded: a tokenizer or SID map swapped
// for another valid one is an error instead of silently wrong recommendations. FNV-1a (64 bit): it detects
// accidental swaps and edits, not deliberate collisions.
import Foundation

public enum FileDigest {
    /// "fnv1a64:0123456789abcdef" of `data`.
    public static func of(_ data: Data) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        data.withUnsafeBytes { raw in
            for b in raw.bindMemory(to: UInt8.self) { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        }
        return "fnv1a64:" + String(format: "%016llx", h)
    }

    /// Digests of the regular files under `dir` whose relative path satisfies `include`, by relative path.
    public static func files(in dir: URL, include: (String) -> Bool) throws -> [String: String] {
        var out: [String: String] = [:]
        let base = dir.standardizedFileURL.path
        guard let walker = FileManager.default.enumerator(atPath: base) else { return out }
        for case let rel as String in walker where include(rel) {
            var isDir: ObjCBool = false
            let path = base + "/" + rel
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue else { continue }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw AlignError.io(path: path, message: "cannot read")
            }
            out[rel] = of(data)
        }
        return out
    }

    /// Checks `recorded` (relative path → digest) against the files in `dir`; the error names the first file
    /// that is missing or differs, and what it belongs with.
    public static func verify(_ recorded: [String: String], in dir: URL, recordedIn: String,
                              what: (String) -> String = { _ in "a file" }) throws {
        for (rel, want) in recorded.sorted(by: { $0.key < $1.key }) {
            let url = dir.appendingPathComponent(rel)
            guard let data = FileManager.default.contents(atPath: url.path) else {
                throw AlignError.io(path: url.path, message: "missing, but \(recordedIn) lists it as part of this checkpoint")
            }
            let got = of(data)
            guard got == want else {
                throw AlignError.format(path: url.path, line: nil,
                                        message: "\(what(rel)) that is not the one these weights were saved with (\(recordedIn) records \(want), the file is \(got)); restore the checkpoint's own copy")
            }
        }
    }
}
