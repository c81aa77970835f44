// Reading and writing align's YAML configs strictly: a key given twice, a key no field reads (with the closest
// known key suggested) and a value of the wrong type are errors naming the file, the line and the field; a
// config is saved with its floats as written (0.001, not 0.0010000000474974513), so the resolved config.yaml of
// a run reads back to the same values.
import AlignCore
import Foundation
import Yams

public enum ConfigYAML {
    /// Decodes `T` from YAML `text`; `path` names the file in errors. An empty document decodes as an empty mapping
    /// (every field takes its default).
    public static func decode<T: Decodable>(_ type: T.Type, from text: String, path: String) throws -> T {
        func bad(_ line: Int?, _ message: String) -> AlignError { .format(path: path, line: line, message: message) }
        let root: Node
        do { root = try Yams.compose(yaml: text) ?? Node([(Node, Node)]()) } catch let e as YamlError {
            throw bad(nil, "not valid YAML: \(e)")
        } catch {
            throw bad(nil, "not valid YAML: \(error)")
        }
        guard case .mapping = root else { throw bad(root.mark?.line, "expected a mapping of fields at the top of the file") }
        try checkKeys(root, path: "", bad: bad)
        let log = ConfigDecodingLog()
        let value: T
        do { value = try NodeDecoder(node: root, codingPath: [], log: log).decode(T.self) } catch let e as ConfigFieldError {
            throw bad(e.line, e.path.isEmpty ? e.message : "\(e.path): \(e.message)")
        }
        try checkUnknown(log, schema: { ConfigSchema.keyPaths(of: T.self) }, bad: bad)
        return value
    }

    /// Reads and decodes a YAML file; errors name the file.
    public static func load<T: Decodable>(_ type: T.Type, from url: URL) throws -> T {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw AlignError.io(path: url.path, message: "cannot read config: \(error.localizedDescription)")
        }
        return try decode(type, from: text, path: url.path)
    }

    /// Every mapping key is a plain scalar given once.
    static func checkKeys(_ node: Node, path: String, bad: (Int?, String) -> AlignError) throws {
        switch node {
        case .scalar: return
        case .sequence(let s):
            for (i, n) in s.enumerated() { try checkKeys(n, path: "\(path)[\(i)]", bad: bad) }
        case .mapping(let m):
            var seen: [String: Int?] = [:]
            for (k, v) in m {
                guard case .scalar(let ks) = k else { throw bad(k.mark?.line, "\(path.isEmpty ? "" : path + ": ")keys must be plain names, found a \(k.mapping != nil ? "mapping" : "list")") }
                let name = path.isEmpty ? ks.string : "\(path).\(ks.string)"
                if let first = seen[ks.string] {
                    throw bad(k.mark?.line, "\(name) is given twice (lines \(first.map(String.init) ?? "?") and \(k.mark.map { String($0.line) } ?? "?")); keep one")
                }
                seen[ks.string] = k.mark?.line
                try checkKeys(v, path: name, bad: bad)
            }
        }
    }

    /// Keys of a visited mapping that no field read.
    static func checkUnknown(_ log: ConfigDecodingLog, schema: () -> [String], bad: (Int?, String) -> AlignError) throws {
        var unknown: [(line: Int, message: String)] = []
        for v in log.visited.values where !v.open {
            let known = v.asked.sorted()
            for (k, _) in v.mapping {
                guard let name = k.string, !v.asked.contains(name) else { continue }
                let full = v.path.isEmpty ? name : "\(v.path).\(name)"
                var hint = ""
                if let c = NameSuggestion.closest(to: name, in: known) {
                    hint = "; did you mean '\(v.path.isEmpty ? c : v.path + "." + c)'?"
                } else if let c = closestAnywhere(name, schema()) {
                    hint = "; did you mean '\(c)'?"
                } else {
                    hint = "; known keys\(v.path.isEmpty ? "" : " of \(v.path)"): \(known.joined(separator: ", "))"
                }
                unknown.append((k.mark?.line ?? 0, "unknown key '\(full)'\(hint)"))
            }
        }
        if let first = unknown.min(by: { $0.line < $1.line }) { throw bad(first.line == 0 ? nil : first.line, first.message) }
    }

    /// The known key path (of any level) whose last name is closest to `name`: `stepz` → `optim.steps`.
    static func closestAnywhere(_ name: String, _ paths: [String]) -> String? {
        var byName: [String: String] = [:]
        for p in paths {
            let last = String(p.split(separator: ".").last ?? "")
            if byName[last] == nil { byName[last] = p }
        }
        return NameSuggestion.closest(to: name, in: Array(byName.keys)).flatMap { byName[$0] }
    }

    /// YAML text of `value` with every float written in its shortest form that reads back exactly (ConfigEncoder).
    public static func encode<T: Encodable>(_ value: T) throws -> String {
        let root = EncodedNode()
        try NodeEncoder.encode(value, into: root, path: [])
        return try Yams.serialize(node: root.node)
    }
}
