// One parser for the two one-object-per-line styles the review datasets use: JSON (Amazon 2018/2023 reviews
// and meta, generic JSONL) and Python dict literals (the older Amazon meta files written with `str(dict)`:
// single-quoted strings, True/False/None, tuples). It accepts the union of both grammars: strings in ' or ",
// JSON and Python escapes (\n \t \\ \' \" \/ \b \f \r \xNN \uNNNN with surrogate pairs, \UNNNNNNNN),
// true/True, false/False, null/None, NaN/Infinity, integers, floats, lists, tuples and objects with string keys.
// Errors name the byte offset; callers attach file and line. Nesting is limited to 64 levels.
import Foundation

/// A parsed JSON / Python literal value.
public enum LiteralValue: Sendable, Equatable {
    case string(String)
    case int(Int64)
    case double(Double)
    case bool(Bool)
    case null
    case array([LiteralValue])
    case object([String: LiteralValue])

    /// The value as an id or text: strings as they are, integers in decimal, integral doubles without ".0".
    public var scalarText: String? {
        switch self {
        case let .string(s): return s
        case let .int(i): return String(i)
        case let .double(d): return d.rounded() == d && abs(d) < 9e15 ? String(Int64(d)) : String(d)
        case let .bool(b): return b ? "true" : "false"
        default: return nil
        }
    }

    /// The value as a list of strings: a string alone, or every scalar inside (nested) arrays, in order.
    public var flattenedStrings: [String] {
        switch self {
        case let .array(a): return a.flatMap { $0.flattenedStrings }
        case .null, .object: return []
        default: return scalarText.map { [$0] } ?? []
        }
    }

    /// Member `key` of an object (nil for other values or a missing key).
    public subscript(key: String) -> LiteralValue? {
        if case let .object(o) = self { return o[key] }
        return nil
    }
}

/// Parse failure: what was wrong and at which byte offset of the line.
public struct LiteralParseError: Error, Sendable {
    public var offset: Int
    public var message: String
}

/// Recursive-descent parser over one line's bytes.
public struct LiteralParser {
    private let b: UnsafeBufferPointer<UInt8>
    private var i = 0
    private var depth = 0

    /// Parses one complete value (surrounding whitespace allowed) from `bytes`.
    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>) throws -> LiteralValue {
        var p = LiteralParser(b: bytes)
        p.skipSpace()
        let v = try p.value()
        p.skipSpace()
        if p.i != bytes.count { throw p.fail("unexpected text after the value") }
        return v
    }

    /// Parses a string (for tests and small inputs).
    public static func parse(_ text: String) throws -> LiteralValue {
        var bytes = Array(text.utf8)
        return try bytes.withUnsafeMutableBufferPointer { try parse(UnsafeBufferPointer($0)) }
    }

    private init(b: UnsafeBufferPointer<UInt8>) { self.b = b }

    private func fail(_ msg: String) -> LiteralParseError { LiteralParseError(offset: i, message: msg) }

    private mutating func skipSpace() {
        while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D { i += 1 }
    }

    private mutating func value() throws -> LiteralValue {
        guard i < b.count else { throw fail("unexpected end of line, expected a value") }
        let c = b[i]
        switch c {
        case UInt8(ascii: "{"): return try container(close: UInt8(ascii: "}"), object: true)
        case UInt8(ascii: "["): return try container(close: UInt8(ascii: "]"), object: false)
        case UInt8(ascii: "("): return try container(close: UInt8(ascii: ")"), object: false)
        case UInt8(ascii: "\""), UInt8(ascii: "'"): return .string(try string())
        case UInt8(ascii: "u") where i + 1 < b.count && (b[i + 1] == UInt8(ascii: "'") || b[i + 1] == UInt8(ascii: "\"")):
            i += 1
            return .string(try string())
        case UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."):
            return try number()
        default:
            for (word, v) in [("true", LiteralValue.bool(true)), ("True", .bool(true)), ("false", .bool(false)),
                              ("False", .bool(false)), ("null", .null), ("None", .null),
                              ("NaN", .double(.nan)), ("nan", .double(.nan)), ("Infinity", .double(.infinity))] where matches(word) {
                i += word.utf8.count
                return v
            }
            throw fail("unexpected character '\(Character(Unicode.Scalar(c)))'")
        }
    }

    private func matches(_ word: String) -> Bool {
        var j = i
        for w in word.utf8 {
            guard j < b.count, b[j] == w else { return false }
            j += 1
        }
        if j < b.count, (b[j] >= UInt8(ascii: "a") && b[j] <= UInt8(ascii: "z")) || (b[j] >= UInt8(ascii: "A") && b[j] <= UInt8(ascii: "Z")) { return false }
        return true
    }

    private mutating func container(close: UInt8, object: Bool) throws -> LiteralValue {
        depth += 1
        if depth > 64 { throw fail("nesting deeper than 64 levels") }
        defer { depth -= 1 }
        i += 1
        var arr: [LiteralValue] = []
        var obj: [String: LiteralValue] = [:]
        skipSpace()
        if i < b.count, b[i] == close { i += 1; return object ? .object(obj) : .array(arr) }
        while true {
            skipSpace()
            if object {
                guard i < b.count, b[i] == UInt8(ascii: "\"") || b[i] == UInt8(ascii: "'") || b[i] == UInt8(ascii: "u") else {
                    throw fail("expected a string key")
                }
                if b[i] == UInt8(ascii: "u") { i += 1 }
                let key = try string()
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("expected ':' after key '\(key)'") }
                i += 1
                skipSpace()
                obj[key] = try value()
            } else {
                arr.append(try value())
            }
            skipSpace()
            guard i < b.count else { throw fail("unexpected end of line inside a container") }
            if b[i] == UInt8(ascii: ",") {
                i += 1
                skipSpace()
                if i < b.count, b[i] == close { i += 1; break }  // trailing comma (Python)
                continue
            }
            if b[i] == close { i += 1; break }
            throw fail("expected ',' or '\(Character(Unicode.Scalar(close)))'")
        }
        return object ? .object(obj) : .array(arr)
    }

    private mutating func hex(_ count: Int) throws -> UInt32 {
        guard i + count <= b.count else { throw fail("truncated escape") }
        var v: UInt32 = 0
        for _ in 0..<count {
            let c = b[i]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw fail("bad hex digit in escape")
            }
            v = v * 16 + d
            i += 1
        }
        return v
    }

    private mutating func string() throws -> String {
        let q = b[i]
        i += 1
        var out: [UInt8] = []
        func scalar(_ v: UInt32) throws {
            guard let s = Unicode.Scalar(v) else { throw fail("escape is not a Unicode scalar") }
            out.append(contentsOf: Array(String(Character(s)).utf8))
        }
        while true {
            guard i < b.count else { throw fail("string is never closed") }
            let c = b[i]
            if c == q { i += 1; break }
            if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
            i += 1
            guard i < b.count else { throw fail("string is never closed") }
            let e = b[i]
            i += 1
            switch e {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "0"): out.append(0x00)
            case UInt8(ascii: "x"): try scalar(try hex(2))
            case UInt8(ascii: "U"): try scalar(try hex(8))
            case UInt8(ascii: "u"):
                var v = try hex(4)
                if (0xD800..<0xDC00).contains(v), i + 1 < b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") {
                    i += 2
                    let lo = try hex(4)
                    guard (0xDC00..<0xE000).contains(lo) else { throw fail("unpaired surrogate in \\u escape") }
                    v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00)
                }
                if (0xD800..<0xE000).contains(v) { v = 0xFFFD }  // lone surrogate: replacement character
                try scalar(v)
            default: out.append(e)  // \\ \' \" \/ and any other escaped byte stand for themselves
            }
        }
        guard let s = TextDecoding.utf8(out) else { throw fail("invalid UTF-8 in string") }
        return s
    }

    private mutating func number() throws -> LiteralValue {
        let s = i
        var isFloat = false
        if b[i] == UInt8(ascii: "-") || b[i] == UInt8(ascii: "+") { i += 1 }
        if matches("Infinity") || matches("inf") {
            let neg = b[s] == UInt8(ascii: "-")
            i += matches("Infinity") ? 8 : 3
            return .double(neg ? -.infinity : .infinity)
        }
        while i < b.count {
            let c = b[i]
            if c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") { i += 1; continue }
            if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") { isFloat = true; i += 1; continue }
            if (c == UInt8(ascii: "-") || c == UInt8(ascii: "+")) && (b[i - 1] == UInt8(ascii: "e") || b[i - 1] == UInt8(ascii: "E")) { i += 1; continue }
            break
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: b[s..<i]), as: UTF8.self)
        if !isFloat, let v = Int64(text) { return .int(v) }
        guard let d = Double(text) else { i = s; throw fail("malformed number '\(text)'") }
        return .double(d)
    }
}
