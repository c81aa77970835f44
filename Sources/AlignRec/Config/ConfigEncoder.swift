// An Encoder to a YAML node tree for saving configs: keys in the order the type encodes them, and every Float or
// Double written in its shortest form that reads back exactly (`0.001`, `1e-05`), where YAMLEncoder writes
// 17 or 15 significant digits (`0.00100000004749745`). What ConfigYAML.encode uses.
import Foundation
import Yams

/// A node under construction (mappings keep insertion order).
final class EncodedNode {
    enum Kind { case unset, scalar(Node), mapping([(String, EncodedNode)]), sequence([EncodedNode]) }
    var kind: Kind = .unset

    var node: Node {
        switch kind {
        case .unset: return Node("null", Tag(.null))
        case .scalar(let n): return n
        case .mapping(let pairs): return Node(pairs.map { (Node($0.0, Tag(.str)), $0.1.node) })
        case .sequence(let items): return Node(items.map(\.node))
        }
    }

    func child(_ key: String) -> EncodedNode {
        var pairs: [(String, EncodedNode)] = []
        if case .mapping(let p) = kind { pairs = p }
        if let existing = pairs.first(where: { $0.0 == key }) { return existing.1 }
        let n = EncodedNode()
        pairs.append((key, n))
        kind = .mapping(pairs)
        return n
    }

    func append() -> EncodedNode {
        var items: [EncodedNode] = []
        if case .sequence(let s) = kind { items = s }
        let n = EncodedNode()
        items.append(n)
        kind = .sequence(items)
        return n
    }

    func makeMapping() { if case .mapping = kind {} else { kind = .mapping([]) } }
    func makeSequence() { if case .sequence = kind {} else { kind = .sequence([]) } }
}

struct NodeEncoder: Encoder {
    let target: EncodedNode
    let codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        target.makeMapping()
        return KeyedEncodingContainer(NodeKeyedEncoder<Key>(target: target, codingPath: codingPath))
    }
    func unkeyedContainer() -> UnkeyedEncodingContainer {
        target.makeSequence()
        return NodeUnkeyedEncoder(target: target, codingPath: codingPath)
    }
    func singleValueContainer() -> SingleValueEncodingContainer { NodeSingleEncoder(target: target, codingPath: codingPath) }

    /// The scalar node of a primitive, or nil for other types.
    static func scalar<T: Encodable>(_ value: T) -> Node? {
        switch value {
        case let v as Float: return Node(v.description, Tag(.float))
        case let v as Double: return Node(v.description, Tag(.float))
        case let v as Bool: return Node(v ? "true" : "false", Tag(.bool))
        case let v as String:
            // Quoted when it would otherwise read back as something else ("", "null", "true", "12", "1e5").
            let plain = Node(v)
            return plain.tag.description == Tag.Name.str.rawValue ? Node(v, Tag(.str)) : Node(v, Tag(.str), .doubleQuoted)
        case let v as any BinaryInteger: return Node("\(v)", Tag(.int))
        default: return nil
        }
    }

    static func encode<T: Encodable>(_ value: T, into target: EncodedNode, path: [CodingKey]) throws {
        if let s = scalar(value) { target.kind = .scalar(s); return }
        try value.encode(to: NodeEncoder(target: target, codingPath: path))
    }
}

struct NodeKeyedEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let target: EncodedNode
    let codingPath: [CodingKey]

    mutating func encodeNil(forKey key: Key) throws { target.child(key.stringValue).kind = .scalar(Node("null", Tag(.null))) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try NodeEncoder.encode(value, into: target.child(key.stringValue), path: codingPath + [key])
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        NodeEncoder(target: target.child(key.stringValue), codingPath: codingPath + [key]).container(keyedBy: keyType)
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer {
        NodeEncoder(target: target.child(key.stringValue), codingPath: codingPath + [key]).unkeyedContainer()
    }
    mutating func superEncoder() -> Encoder { NodeEncoder(target: target.child("super"), codingPath: codingPath) }
    mutating func superEncoder(forKey key: Key) -> Encoder { NodeEncoder(target: target.child(key.stringValue), codingPath: codingPath + [key]) }
}

struct NodeUnkeyedEncoder: UnkeyedEncodingContainer {
    let target: EncodedNode
    let codingPath: [CodingKey]
    var count: Int { if case .sequence(let s) = target.kind { return s.count }; return 0 }

    mutating func encodeNil() throws { target.append().kind = .scalar(Node("null", Tag(.null))) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        try NodeEncoder.encode(value, into: target.append(), path: codingPath + [ConfigKey(intValue: count)])
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        NodeEncoder(target: target.append(), codingPath: codingPath).container(keyedBy: keyType)
    }
    mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer {
        NodeEncoder(target: target.append(), codingPath: codingPath).unkeyedContainer()
    }
    mutating func superEncoder() -> Encoder { NodeEncoder(target: target.append(), codingPath: codingPath) }
}

struct NodeSingleEncoder: SingleValueEncodingContainer {
    let target: EncodedNode
    let codingPath: [CodingKey]
    mutating func encodeNil() throws { target.kind = .scalar(Node("null", Tag(.null))) }
    mutating func encode<T: Encodable>(_ value: T) throws { try NodeEncoder.encode(value, into: target, path: codingPath) }
}
