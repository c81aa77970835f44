// Range checks where numbers enter: configuration fields (YAML presets, config.json) and command-line
// options. A failed check is one AlignError naming the file (or the option), the field, the value found and
// the allowed range, e.g. `configs/x.yaml: optim.lr = inf; allowed: a finite number > 0`. Counts are checked
// for positivity before anything divides by them, and every size has a ceiling so that products of sizes
// (memory plans) cannot overflow an Int.
import Foundation

/// Checks the fields of one source (a file, or the command line) and words the failures alike.
public struct FieldCheck: Sendable {
    /// File path the values came from (nil: the command line; fields are then option names like `--beam`).
    public let file: String?
    /// Prepended to every field name (e.g. "optim.").
    public let prefix: String

    public init(file: String?, prefix: String = "") { self.file = file; self.prefix = prefix }

    /// Checks of the fields under `section` (e.g. `check.section("optim")` names `optim.lr`).
    public func section(_ name: String) -> FieldCheck { FieldCheck(file: file, prefix: prefix + name + ".") }

    /// The error for `field` holding `value` where `allowed` describes what is accepted.
    public func failure(_ field: String, _ value: String, allowed: String) -> AlignError {
        let message = "\(prefix)\(field) = \(value); allowed: \(allowed)"
        guard let file else { return .invalidArgument(message) }
        return .format(path: file, line: nil, message: message)
    }

    /// A free-form failure about `field` (combinations of fields).
    public func failure(_ field: String, _ message: String) -> AlignError {
        let text = "\(prefix)\(field): \(message)"
        guard let file else { return .invalidArgument(text) }
        return .format(path: file, line: nil, message: text)
    }

    // MARK: integers

    /// `value` in `range` (e.g. `1...FieldCheck.maxCount`).
    @discardableResult
    public func int(_ field: String, _ value: Int, _ range: ClosedRange<Int>, _ note: String = "") throws -> Int {
        guard range.contains(value) else {
            throw failure(field, "\(value)", allowed: Self.describe(range) + (note.isEmpty ? "" : " (\(note))"))
        }
        return value
    }

    /// An optional integer: nil passes, a value must lie in `range`.
    public func int(_ field: String, _ value: Int?, _ range: ClosedRange<Int>, _ note: String = "") throws {
        if let value { try int(field, value, range, note) }
    }

    /// `value` is a multiple of `divisor` (call after both are known to be positive).
    public func multiple(_ field: String, _ value: Int, of divisor: Int, _ divisorName: String) throws {
        guard divisor > 0, value % divisor == 0 else {
            throw failure(field, "\(value)", allowed: "a multiple of \(divisorName) (\(divisor))")
        }
    }

    // MARK: floating point

    /// `value` finite and inside `domain`.
    @discardableResult
    public func number<F: BinaryFloatingPoint & CustomStringConvertible>(_ field: String, _ value: F, _ domain: NumberDomain) throws -> F {
        let d = Double(value)
        guard d.isFinite, domain.contains(d) else {
            throw failure(field, Self.describe(value), allowed: domain.description)
        }
        return value
    }

    /// Shortest text that reads back as `v` in its own type (nan, inf, 0.001, 1e+30, 100000).
    public static func describe<F: BinaryFloatingPoint & CustomStringConvertible>(_ v: F) -> String {
        if v.isNaN { return "nan" }
        if v.isInfinite { return v < 0 ? "-inf" : "inf" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return v.description
    }

    static func describe(_ r: ClosedRange<Int>) -> String {
        if r.upperBound == Int.max { return "an integer ≥ \(r.lowerBound)" }
        return "an integer in \(r.lowerBound)...\(r.upperBound)"
    }

    /// A beam width over a catalogue of `items`: a beam never holds more than `items` live prefixes, so a wider
    /// one ranks exactly as the catalogue-wide one and only costs memory (20, the evaluation default, always passes).
    public func beam(_ field: String, _ value: Int, items: Int) throws {
        try int(field, value, 1...max(items, 20), "a wider beam than the catalogue's \(items) items ranks the same")
    }

    // MARK: ceilings

    /// Ceiling of a count that multiplies into memory plans (batch sizes, beams, users per batch, ...).
    public static let maxCount = 1 << 24
    /// Ceiling of a count that only sets a duration (steps, epochs, iterations).
    public static let maxSteps = 1_000_000_000
}

/// Where a floating-point setting may lie (always finite).
public enum NumberDomain: Sendable, CustomStringConvertible {
    /// (0, ∞)
    case positive
    /// [0, ∞)
    case nonNegative
    /// [lo, hi]
    case closed(Double, Double)
    /// [lo, hi)
    case closedOpen(Double, Double)
    /// (lo, hi]
    case openClosed(Double, Double)
    /// (lo, hi)
    case open(Double, Double)

    public func contains(_ x: Double) -> Bool {
        switch self {
        case .positive: return x > 0
        case .nonNegative: return x >= 0
        case let .closed(a, b): return x >= a && x <= b
        case let .closedOpen(a, b): return x >= a && x < b
        case let .openClosed(a, b): return x > a && x <= b
        case let .open(a, b): return x > a && x < b
        }
    }

    public var description: String {
        func f(_ d: Double) -> String { FieldCheck.describe(d) }
        switch self {
        case .positive: return "a finite number > 0"
        case .nonNegative: return "a finite number ≥ 0"
        case let .closed(a, b): return "a number in [\(f(a)), \(f(b))]"
        case let .closedOpen(a, b): return "a number in [\(f(a)), \(f(b)))"
        case let .openClosed(a, b): return "a number in (\(f(a)), \(f(b))]"
        case let .open(a, b): return "a number in (\(f(a)), \(f(b)))"
        }
    }
}

/// "Did you mean …?" for a misspelt name: the closest of `candidates` by edit distance, when close enough.
public enum NameSuggestion {
    /// The candidate nearest `name` (case-insensitive Levenshtein distance ≤ max(2, a third of its length)).
    public static func closest(to name: String, in candidates: [String]) -> String? {
        let a = Array(name.lowercased())
        var best: (String, Int)? = nil
        for c in candidates.sorted() {
            let d = distance(a, Array(c.lowercased()))
            if d < (best?.1 ?? Int.max) { best = (c, d) }
        }
        guard let (c, d) = best, d <= max(2, a.count / 3) else { return nil }
        return c
    }

    /// Levenshtein distance.
    public static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev = Array(0...b.count), cur = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            cur[0] = i
            for j in 1...b.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&prev, &cur)
        }
        return prev[b.count]
    }
}
