// A strict Decoder over a YAML node tree (Yams.Node) for align's configs. Any Codable config type decodes
// through it unchanged; on top of YAMLDecoder it
//   - records which keys each type asked for, so that the caller (ConfigYAML) can reject keys nobody read —
//     the known keys are exactly those the type's `init(from:)` decodes, so adding a field needs nothing else;
//   - names the field path and the line in every error ("optim.steps: expected an integer, found '1e6'");
//   - checks the value of a `ConfigChoice` enum against its cases and suggests the closest one.
// Dictionaries (task weights) are open: their keys are data, not fields.
import AlignCore
import Foundation
import Yams

/// An error inside a config document: the field path, its line and what was wrong.
struct ConfigFieldError: Error {
    var path: String
    var line: Int?
    var message: String
}

/// A string enum read from a config: its cases are listed in errors and misspellings get a suggestion.
public protocol ConfigChoice {
    static var choices: [String] { get }
}

extension ConfigChoice where Self: CaseIterable & RawRepresentable, Self.RawValue == String {
    public static var choices: [String] { allCases.map(\.rawValue) }
}

/// The mappings a decode visited and the keys read from each.
final class ConfigDecodingLog {
    struct Visited {
        var path: String
        var mapping: Node.Mapping
        var asked: Set<String> = []
        /// A dictionary: every key is data.
        var open = false
    }
    var visited: [String: Visited] = [:]

    func visit(_ path: String, _ m: Node.Mapping) { if visited[path] == nil { visited[path] = Visited(path: path, mapping: m) } }
    func ask(_ path: String, _ key: String) { visited[path]?.asked.insert(key) }
    func open(_ path: String) { visited[path]?.open = true }
}

/// A coding key for list positions and dictionary keys.
struct ConfigKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) { self.stringValue = "[\(intValue)]"; self.intValue = intValue }
}

/// "optim.lr", "tasks.nextitem", "dropout_tasks[1]".
func configPath(_ keys: [CodingKey]) -> String { DecodingErrorText.path(keys) }

struct NodeDecoder: Decoder {
    let node: Node
    let codingPath: [CodingKey]
    let log: ConfigDecodingLog
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    var path: String { configPath(codingPath) }
    var line: Int? { node.mark?.line }

    func fail(_ message: String) -> ConfigFieldError { ConfigFieldError(path: path, line: line, message: message) }

    /// "a mapping", "a list", "'abc'", "null" — what the document holds here.
    var found: String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .scalar(let s): return isNull ? "null" : (s.style == .plain || s.style == .any ? "'\(s.string)'" : "\"\(s.string)\"")
        }
    }

    var isNull: Bool {
        guard case .scalar(let s) = node else { return false }
        return node.tag.description == Tag.Name.null.rawValue || ((s.style == .plain || s.style == .any) && ["", "~", "null", "Null", "NULL"].contains(s.string))
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .mapping(let m) = node else { throw fail("expected a mapping of fields, found \(found)") }
        log.visit(path, m)
        return KeyedDecodingContainer(NodeKeyedContainer<Key>(decoder: self, mapping: m))
    }

    func unkeyedContainer() throws -> UnkeyedDecodingContainer {
        guard case .sequence(let s) = node else { throw fail("expected a list, found \(found)") }
        return NodeUnkeyedContainer(decoder: self, nodes: Array(s))
    }

    func singleValueContainer() throws -> SingleValueDecodingContainer { NodeSingleValue(decoder: self) }

    /// A child decoder at `key`.
    func child(_ node: Node, _ key: CodingKey) -> NodeDecoder {
        NodeDecoder(node: node, codingPath: codingPath + [key], log: log)
    }

    /// Decodes `T` from this node: a `ConfigChoice` is checked against its cases first; errors from `T`'s own
    /// `init(from:)` get this field's path.
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        if let choice = T.self as? ConfigChoice.Type {
            guard case .scalar(let s) = node, !isNull else { throw fail("expected one of \(choice.choices.joined(separator: ", ")), found \(found)") }
            guard choice.choices.contains(s.string) else {
                let hint = NameSuggestion.closest(to: s.string, in: choice.choices).map { " (did you mean '\($0)'?)" } ?? ""
                throw fail("'\(s.string)' is not one of \(choice.choices.joined(separator: ", "))\(hint)")
            }
        }
        do { return try T(from: self) } catch let e as ConfigFieldError {
            throw e
        } catch let e as DecodingError {
            // Its coding path is absolute (this decoder's containers carry the full path).
            let (at, message) = DecodingErrorText.parts(e)
            throw ConfigFieldError(path: at.isEmpty ? path : at, line: line, message: message)
        } catch let e as AlignError {
            throw fail(e.description)
        } catch {
            throw fail("\(error)")
        }
    }

    // MARK: scalars

    func scalar(_ expected: String) throws -> Node.Scalar {
        guard case .scalar(let s) = node, !isNull else { throw fail("expected \(expected), found \(found)") }
        return s
    }

    func integer<I: FixedWidthInteger & ScalarConstructible>(_ type: I.Type) throws -> I {
        let s = try scalar("an integer")
        if let v = I.construct(from: s) { return v }
        if Double.construct(from: s) != nil || Int.construct(from: s) != nil {
            throw fail("expected an integer in \(I.min)...\(I.max), found \(found)")
        }
        throw fail("expected an integer, found \(found)")
    }

    func real<F: BinaryFloatingPoint & ScalarConstructible>(_ type: F.Type) throws -> F {
        let s = try scalar("a number")
        guard let v = F.construct(from: s) else { throw fail("expected a number, found \(found)") }
        return v
    }
}

struct NodeKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: NodeDecoder
    let mapping: Node.Mapping
    var codingPath: [CodingKey] { decoder.codingPath }

    var allKeys: [Key] {
        decoder.log.open(decoder.path)
        return mapping.keys.compactMap { $0.string.flatMap { Key(stringValue: $0) } }
    }

    func value(_ key: Key) -> Node? {
        decoder.log.ask(decoder.path, key.stringValue)
        return mapping.first { $0.key.string == key.stringValue }?.value
    }

    func child(_ key: Key) throws -> NodeDecoder {
        guard let v = value(key) else {
            throw ConfigFieldError(path: configPath(codingPath + [key]), line: decoder.line, message: "missing (this field is required)")
        }
        return decoder.child(v, key)
    }

    func contains(_ key: Key) -> Bool { value(key) != nil }
    func decodeNil(forKey key: Key) throws -> Bool { try child(key).isNull }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try child(key).decode(T.self) }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try child(key).decode(type) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try child(key).decode(type) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try child(key).decode(type) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try child(key).decode(type) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try child(key).decode(type) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try child(key).decode(type) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try child(key).decode(type) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try child(key).decode(type) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try child(key).decode(type) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try child(key).decode(type) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try child(key).decode(type) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try child(key).decode(type) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try child(key).decode(type) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try child(key).decode(type) }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try child(key).container(keyedBy: type)
    }
    func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer { try child(key).unkeyedContainer() }
    func superDecoder() throws -> Decoder { decoder }
    func superDecoder(forKey key: Key) throws -> Decoder { try child(key) }
}

struct NodeUnkeyedContainer: UnkeyedDecodingContainer {
    let decoder: NodeDecoder
    let nodes: [Node]
    var currentIndex = 0
    var codingPath: [CodingKey] { decoder.codingPath }
    var count: Int? { nodes.count }
    var isAtEnd: Bool { currentIndex >= nodes.count }

    mutating func next() throws -> NodeDecoder {
        guard !isAtEnd else { throw decoder.fail("the list has only \(nodes.count) entries") }
        defer { currentIndex += 1 }
        return decoder.child(nodes[currentIndex], ConfigKey(intValue: currentIndex))
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { return false }
        if decoder.child(nodes[currentIndex], ConfigKey(intValue: currentIndex)).isNull { currentIndex += 1; return true }
        return false
    }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().decode(T.self) }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next().container(keyedBy: type)
    }
    mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer { try next().unkeyedContainer() }
    mutating func superDecoder() throws -> Decoder { try next() }
}

struct NodeSingleValue: SingleValueDecodingContainer {
    let decoder: NodeDecoder
    var codingPath: [CodingKey] { decoder.codingPath }

    func decodeNil() -> Bool { decoder.isNull }
    func decode(_ type: Bool.Type) throws -> Bool {
        let s = try decoder.scalar("true or false")
        guard let v = Bool.construct(from: s) else { throw decoder.fail("expected true or false, found \(decoder.found)") }
        return v
    }
    func decode(_ type: String.Type) throws -> String { try decoder.scalar("a string").string }
    func decode(_ type: Double.Type) throws -> Double { try decoder.real(type) }
    func decode(_ type: Float.Type) throws -> Float { try decoder.real(type) }
    func decode(_ type: Int.Type) throws -> Int { try decoder.integer(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { Int8(try narrow(decoder.integer(Int.self), type)) }
    func decode(_ type: Int16.Type) throws -> Int16 { Int16(try narrow(decoder.integer(Int.self), type)) }
    func decode(_ type: Int32.Type) throws -> Int32 { Int32(try narrow(decoder.integer(Int.self), type)) }
    func decode(_ type: Int64.Type) throws -> Int64 { try decoder.integer(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try decoder.integer(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { UInt8(try narrow(decoder.integer(Int.self), type)) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { UInt16(try narrow(decoder.integer(Int.self), type)) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { UInt32(try narrow(decoder.integer(Int.self), type)) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decoder.integer(type) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.decode(T.self) }

    func narrow<I: FixedWidthInteger>(_ v: Int, _ type: I.Type) throws -> Int {
        guard I(exactly: v) != nil else { throw decoder.fail("expected an integer in \(I.min)...\(I.max), found \(v)") }
        return v
    }
}

/// Every key path a config type reads ("optim.steps", "sampling.offsets", …), found by decoding it from an
/// imaginary document that holds every key: ConfigYAML suggests `optim.steps` for a `stepz` at the top level.
/// Dictionaries contribute their own path only; decoding stops at depth 8.
enum ConfigSchema {
    static func keyPaths<T: Decodable>(of type: T.Type) -> [String] {
        let found = Found()
        _ = try? T(from: Probe(codingPath: [], found: found, string: ""))
        return found.paths
    }

    final class Found { var paths: [String] = [] }

    struct Probe: Decoder, SingleValueDecodingContainer {
        let codingPath: [CodingKey]
        let found: Found
        /// What a string read here returns (a ConfigChoice's first case).
        let string: String
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
            guard codingPath.count < 8 else { throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "too deep")) }
            return KeyedDecodingContainer(Keyed<Key>(probe: self))
        }
        func unkeyedContainer() throws -> UnkeyedDecodingContainer { Unkeyed(codingPath: codingPath) }
        func singleValueContainer() throws -> SingleValueDecodingContainer { self }

        func decodeNil() -> Bool { false }
        func decode(_ type: Bool.Type) throws -> Bool { false }
        func decode(_ type: String.Type) throws -> String { string }
        func decode<T: Decodable>(_ type: T.Type) throws -> T {
            if let zero = (0 as Int) as? T { return zero }
            if let zero = (0 as Double) as? T { return zero }
            if let zero = (0 as Float) as? T { return zero }
            if let zero = (0 as UInt64) as? T { return zero }
            return try T(from: self)
        }
    }

    struct Keyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let probe: Probe
        var codingPath: [CodingKey] { probe.codingPath }
        var allKeys: [Key] { [] }
        func contains(_ key: Key) -> Bool {
            let p = DecodingErrorText.path(codingPath + [key])
            if !probe.found.paths.contains(p) { probe.found.paths.append(p) }
            return true
        }
        func decodeNil(forKey key: Key) throws -> Bool { false }
        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            _ = contains(key)
            let choice = (T.self as? ConfigChoice.Type)?.choices.first ?? ""
            return try Probe(codingPath: codingPath + [key], found: probe.found, string: choice).decode(T.self)
        }
        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
            try Probe(codingPath: codingPath + [key], found: probe.found, string: "").container(keyedBy: type)
        }
        func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer { Unkeyed(codingPath: codingPath + [key]) }
        func superDecoder() throws -> Decoder { probe }
        func superDecoder(forKey key: Key) throws -> Decoder { Probe(codingPath: codingPath + [key], found: probe.found, string: "") }
    }

    struct Unkeyed: UnkeyedDecodingContainer {
        let codingPath: [CodingKey]
        var count: Int? { 0 }
        var isAtEnd: Bool { true }
        var currentIndex: Int { 0 }
        func fail() -> DecodingError { .valueNotFound(Any.self, .init(codingPath: codingPath, debugDescription: "empty")) }
        mutating func decodeNil() throws -> Bool { true }
        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { throw fail() }
        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> { throw fail() }
        mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer { throw fail() }
        mutating func superDecoder() throws -> Decoder { throw fail() }
    }
}
