// Typed, actionable errors shared by every stage. Each case names the file (and line when there is one)
// and says what was wrong, so the CLI can print one clear line and exit non-zero.
import Foundation

/// An error a user can act on: bad input files, bad arguments, shape mismatches.
public enum AlignError: Error, CustomStringConvertible, Equatable {
    /// A file could not be read or written.
    case io(path: String, message: String)
    /// A file's contents are malformed; `line` is 1-based when the format has lines.
    case format(path: String, line: Int?, message: String)
    /// A tensor is missing, unexpected, or has the wrong shape or dtype.
    case tensor(path: String, name: String, message: String)
    /// A command-line value or configuration field is unusable.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .io(path, message): return "\(path): \(message)"
        case let .format(path, line?, message): return "\(path):\(line): \(message)"
        case let .format(path, nil, message): return "\(path): \(message)"
        case let .tensor(path, name, message): return "\(path): tensor '\(name)': \(message)"
        case let .invalidArgument(message): return message
        }
    }
}

extension AlignError: LocalizedError {
    public var errorDescription: String? { description }
}

/// One line for a Codable decoding error: the field path (`optim.lr`), what was wrong and what was expected,
/// instead of the raw `DecodingError` dump.
public enum DecodingErrorText {
    public static func describe(_ error: DecodingError) -> String {
        let (at, message) = parts(error)
        return at.isEmpty ? message : "\(at): \(message)"
    }

    /// The field path ("optim.lr", "" for the document) and what was wrong there.
    public static func parts(_ error: DecodingError) -> (path: String, message: String) {
        switch error {
        case let .typeMismatch(type, ctx):
            return (path(ctx.codingPath), "expected \(expected(type))" + (ctx.debugDescription.isEmpty ? "" : " (\(ctx.debugDescription))"))
        case let .valueNotFound(type, ctx):
            return (path(ctx.codingPath), "expected \(expected(type)), found null")
        case let .keyNotFound(key, ctx):
            return (path(ctx.codingPath + [key]), "missing (this field is required)")
        case let .dataCorrupted(ctx):
            return (path(ctx.codingPath), ctx.debugDescription)
        @unknown default:
            return ("", "\(error)")
        }
    }

    /// "optim.lr", "dropout_tasks[1]".
    public static func path(_ keys: [CodingKey]) -> String {
        var s = ""
        for k in keys {
            if let i = k.intValue, k.stringValue == "\(i)" || k.stringValue.hasPrefix("[") { s += "[\(i)]" } else { s += (s.isEmpty ? "" : ".") + k.stringValue }
        }
        return s
    }

    static func expected(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is Int64.Type, is Int32.Type, is UInt64.Type, is UInt.Type: return "an integer"
        case is Float.Type, is Double.Type: return "a number"
        case is Bool.Type: return "true or false"
        case is String.Type: return "a string"
        default:
            let name = "\(type)"
            if name.hasPrefix("Array") { return "a list" }
            if name.hasPrefix("Dictionary") { return "a mapping" }
            return name
        }
    }
}
