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
