// Reader of NumPy `.npy` files holding a 2-D float matrix (format versions 1.0, 2.0 and 3.0:
// https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html). The header is a Python dict
// literal, parsed properly ({'descr': '<f4', 'fortran_order': False, 'shape': (N, D), }); accepted dtypes
// are little-endian float32 ('<f4') and float64 ('<f8') in C order. Anything else is a clear error.
import Foundation

/// A 2-D float matrix read from a `.npy` file (row-major).
public struct NpyMatrix: Sendable {
    /// Shape [rows, cols].
    public let rows: Int, cols: Int
    /// Row-major values, converted to Float32.
    public let values: [Float]

    /// Reads `url`.
    public static func read(_ url: URL) throws -> NpyMatrix {
        let d: Data
        do { d = try Data(contentsOf: url) } catch {
            throw AlignError.io(path: url.path, message: "cannot read .npy file: \(error.localizedDescription)")
        }
        return try parse(d, path: url.path)
    }

    /// Parses the bytes of a `.npy` file; `path` names it in errors.
    public static func parse(_ d: Data, path: String) throws -> NpyMatrix {
        func fail(_ m: String) -> AlignError { .format(path: path, line: nil, message: m) }
        let bytes = [UInt8](d)
        let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw fail("not a .npy file (missing \\x93NUMPY magic)") }
        let major = bytes[6]
        let headerStart: Int, headerLen: Int
        switch major {
        case 1: headerLen = Int(bytes[8]) | Int(bytes[9]) << 8; headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("truncated .npy header") }
            headerLen = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default: throw fail("unsupported .npy format version \(major).\(bytes[7])")
        }
        guard headerStart + headerLen <= bytes.count else { throw fail("truncated .npy header (\(headerLen) bytes announced)") }
        let headerBytes = bytes[headerStart ..< headerStart + headerLen]
        guard let header = major == 3 ? String(bytes: headerBytes, encoding: .utf8) : String(bytes: headerBytes, encoding: .isoLatin1) else {
            throw fail("unreadable .npy header text")
        }
        let dict: [String: PyValue]
        do { var p = PyLiteralParser(header); dict = try p.parseDict() } catch let e as PyLiteralParser.Failure {
            throw fail("bad .npy header: \(e.message) in \(header.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        guard case .string(let descr)? = dict["descr"] else { throw fail("bad .npy header: no 'descr' string") }
        guard case .bool(let fortran)? = dict["fortran_order"] else { throw fail("bad .npy header: no 'fortran_order' boolean") }
        guard case .tuple(let shape)? = dict["shape"] else { throw fail("bad .npy header: no 'shape' tuple") }
        if fortran {
            throw fail("Fortran-ordered arrays are not supported; save with np.save(path, np.ascontiguousarray(x))")
        }
        let size: Int
        switch descr {
        case "<f4": size = 4
        case "<f8": size = 8
        case ">f4", ">f8": throw fail("big-endian dtype '\(descr)' is not supported; save little-endian float32/float64 (x.astype('<f4'))")
        default: throw fail("dtype '\(descr)' is not supported; save float32 or float64 (x.astype(np.float32))")
        }
        guard shape.count == 2 else { throw fail("array has shape \(shape), expected a 2-D [items, dim] matrix") }
        let rows = shape[0], cols = shape[1]
        guard rows >= 0, cols >= 0, rows.multipliedReportingOverflow(by: cols).overflow == false else { throw fail("bad shape \(shape)") }
        let dataStart = headerStart + headerLen
        let need = rows * cols * size
        guard bytes.count - dataStart == need else {
            throw fail("data section has \(bytes.count - dataStart) bytes, shape \(shape) of \(descr) needs \(need)")
        }
        var values = [Float](repeating: 0, count: rows * cols)
        for i in 0 ..< rows * cols {
            let o = dataStart + i * size
            if size == 4 {
                let u = UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24
                values[i] = Float(bitPattern: u)
            } else {
                var u: UInt64 = 0
                for k in 0..<8 { u |= UInt64(bytes[o + k]) << (8 * UInt64(k)) }
                values[i] = Float(Double(bitPattern: u))
            }
        }
        return NpyMatrix(rows: rows, cols: cols, values: values)
    }
}

/// Values of the Python literals an .npy header uses.
enum PyValue: Equatable { case string(String), bool(Bool), int(Int), tuple([Int]), none }

/// Recursive-descent parser for the dict literal of an .npy header.
struct PyLiteralParser {
    struct Failure: Error { let message: String }
    let s: [Character]
    var i = 0
    init(_ text: String) { s = Array(text) }

    mutating func skipSpace() { while i < s.count, s[i].isWhitespace { i += 1 } }
    mutating func expect(_ c: Character) throws {
        skipSpace()
        guard i < s.count, s[i] == c else { throw Failure(message: "expected '\(c)' at character \(i)") }
        i += 1
    }
    mutating func peek() -> Character? { skipSpace(); return i < s.count ? s[i] : nil }

    mutating func parseDict() throws -> [String: PyValue] {
        try expect("{")
        var out: [String: PyValue] = [:]
        while peek() != "}" {
            guard case .string(let key) = try parseValue() else { throw Failure(message: "dict keys must be strings") }
            try expect(":")
            if out[key] != nil { throw Failure(message: "duplicate key '\(key)'") }
            out[key] = try parseValue()
            if peek() == "," { i += 1 } else { break }
        }
        try expect("}")
        skipSpace()
        guard i == s.count else { throw Failure(message: "unexpected text after the dict") }
        return out
    }

    mutating func parseValue() throws -> PyValue {
        guard let c = peek() else { throw Failure(message: "unexpected end") }
        if c == "'" || c == "\"" {
            i += 1
            var str = ""
            while i < s.count, s[i] != c {
                if s[i] == "\\" { throw Failure(message: "escapes in strings are not supported") }
                str.append(s[i]); i += 1
            }
            guard i < s.count else { throw Failure(message: "unterminated string") }
            i += 1
            return .string(str)
        }
        if c == "(" {
            i += 1
            var items: [Int] = []
            while peek() != ")" {
                guard case .int(let n) = try parseValue() else { throw Failure(message: "shape entries must be integers") }
                items.append(n)
                if peek() == "," { i += 1 } else { break }
            }
            try expect(")")
            return .tuple(items)
        }
        var word = ""
        while i < s.count, s[i].isLetter || s[i].isNumber || s[i] == "_" || s[i] == "-" { word.append(s[i]); i += 1 }
        switch word {
        case "True": return .bool(true)
        case "False": return .bool(false)
        case "None": return .none
        default:
            if let n = Int(word) { return .int(n) }
            throw Failure(message: word.isEmpty ? "unexpected character '\(c)'" : "unexpected value '\(word)'")
        }
    }
}
