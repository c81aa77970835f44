// The regular expressions of byte-level BPE pre-tokenizers (GPT-2, Llama-3, Qwen2, SmolLM2, …) as the `tokenizers`
// library runs them (Oniguruma semantics): leftmost match, alternatives tried in order, greedy quantifiers that
// backtrack, over Unicode scalars. Supported: alternation, (?:…) and (?i:…) groups, (?=…) and (?!…) look-aheads,
// classes with ranges, negation and \p{L}/\p{N}/\p{Lu}/… categories, \s \S \d \D \w \W \r \n \t \f \v \x{…} escapes,
// `.`, and ?, *, +, {n}, {n,}, {n,m} (lazy with a trailing ?) on single-character atoms. Anything else (a quantified
// group, back-references, anchors) is refused when the pattern is compiled, with the pattern in the message.
// \s is Unicode White_Space (U+0009–000D, U+0020, U+0085, U+00A0, U+1680, U+2000–200A, U+2028–2029, U+202F, U+205F,
// U+3000), as Oniguruma's is; categories come from the Swift standard library's Unicode tables.
import Foundation

/// A set of Unicode scalars.
struct ScalarClass: Sendable {
    enum Item: Sendable {
        case range(UInt32, UInt32)
        case categories(UInt64)     // bit per Unicode.GeneralCategory index (ScalarClass.categoryIndex)
        case whitespace(Bool)       // true: \s, false: \S
        case nested(ScalarClass)
    }
    var items: [Item] = []
    var negated = false

    func contains(_ c: UInt32) -> Bool {
        var hit = false
        for item in items {
            switch item {
            case let .range(lo, hi): hit = c >= lo && c <= hi
            case .categories(let mask): hit = mask & (1 << ScalarClass.category(c)) != 0
            case .whitespace(let yes): hit = ScalarClass.isWhitespace(c) == yes
            case .nested(let n): hit = n.contains(c)
            }
            if hit { break }
        }
        return hit != negated
    }

    static func isWhitespace(_ c: UInt32) -> Bool {
        switch c {
        case 0x09...0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: return true
        default: return false
        }
    }

    /// Index of a general category (the bit of `mask(named:)`).
    static func index(of g: Unicode.GeneralCategory) -> Int {
        switch g {
        case .uppercaseLetter: return 0
        case .lowercaseLetter: return 1
        case .titlecaseLetter: return 2
        case .modifierLetter: return 3
        case .otherLetter: return 4
        case .nonspacingMark: return 5
        case .spacingMark: return 6
        case .enclosingMark: return 7
        case .decimalNumber: return 8
        case .letterNumber: return 9
        case .otherNumber: return 10
        case .connectorPunctuation: return 11
        case .dashPunctuation: return 12
        case .openPunctuation: return 13
        case .closePunctuation: return 14
        case .initialPunctuation: return 15
        case .finalPunctuation: return 16
        case .otherPunctuation: return 17
        case .mathSymbol: return 18
        case .currencySymbol: return 19
        case .modifierSymbol: return 20
        case .otherSymbol: return 21
        case .spaceSeparator: return 22
        case .lineSeparator: return 23
        case .paragraphSeparator: return 24
        case .control: return 25
        case .format: return 26
        case .surrogate: return 27
        case .privateUse: return 28
        case .unassigned: return 29
        @unknown default: return 29
        }
    }

    /// Category index of every BMP scalar, computed once.
    static let bmp: [UInt8] = {
        var t = [UInt8](repeating: 27, count: 0x10000)   // surrogates have no scalar
        for v in 0..<0x10000 {
            if let s = Unicode.Scalar(UInt32(v)) { t[v] = UInt8(index(of: s.properties.generalCategory)) }
        }
        return t
    }()

    @inline(__always) static func category(_ c: UInt32) -> Int {
        if c < 0x10000 { return Int(bmp[Int(c)]) }
        return Unicode.Scalar(c).map { index(of: $0.properties.generalCategory) } ?? 29
    }

    /// The mask of a `\p{…}` name (one- or two-letter category, or a long name such as Letter).
    static func mask(named name: String) -> UInt64? {
        let groups: [String: [Int]] = [
            "L": [0, 1, 2, 3, 4], "Letter": [0, 1, 2, 3, 4], "Lu": [0], "Ll": [1], "Lt": [2], "Lm": [3], "Lo": [4],
            "M": [5, 6, 7], "Mark": [5, 6, 7], "Mn": [5], "Mc": [6], "Me": [7],
            "N": [8, 9, 10], "Number": [8, 9, 10], "Nd": [8], "Nl": [9], "No": [10],
            "P": [11, 12, 13, 14, 15, 16, 17], "Punctuation": [11, 12, 13, 14, 15, 16, 17],
            "Pc": [11], "Pd": [12], "Ps": [13], "Pe": [14], "Pi": [15], "Pf": [16], "Po": [17],
            "S": [18, 19, 20, 21], "Symbol": [18, 19, 20, 21], "Sm": [18], "Sc": [19], "Sk": [20], "So": [21],
            "Z": [22, 23, 24], "Separator": [22, 23, 24], "Zs": [22], "Zl": [23], "Zp": [24],
            "C": [25, 26, 27, 28, 29], "Other": [25, 26, 27, 28, 29], "Cc": [25], "Cf": [26], "Cs": [27], "Co": [28], "Cn": [29],
        ]
        return groups[name].map { $0.reduce(UInt64(0)) { $0 | (1 << UInt64($1)) } }
    }
}

/// A compiled pre-tokenizer pattern.
public struct PreTokenizerRegex: Sendable {
    indirect enum Node: Sendable {
        case chars(ScalarClass, min: Int, max: Int, greedy: Bool)
        case group([[Node]])
        case look([[Node]], negate: Bool)
    }
    let alternatives: [[Node]]
    public let pattern: String

    public init(_ pattern: String) throws {
        self.pattern = pattern
        var p = Parser(chars: Array(pattern.unicodeScalars).map(\.value), pattern: pattern)
        alternatives = try p.parseAlternation(caseInsensitive: false)
        guard p.i == p.chars.count else { throw p.fail("unbalanced ')'") }
    }

    // MARK: matching

    /// The end of the match starting exactly at `start`, or nil.
    func match(_ s: UnsafeBufferPointer<UInt32>, at start: Int) -> Int? {
        for alt in alternatives {
            if let e = matchSeq(alt, 0, s, start, { $0 }) { return e }
        }
        return nil
    }

    func matchSeq(_ seq: [Node], _ k: Int, _ s: UnsafeBufferPointer<UInt32>, _ pos: Int, _ next: (Int) -> Int?) -> Int? {
        if k == seq.count { return next(pos) }
        switch seq[k] {
        case let .chars(cls, lo, hi, greedy):
            var n = 0
            while n < hi, pos + n < s.count, cls.contains(s[pos + n]) { n += 1 }
            guard n >= lo else { return nil }
            if greedy {
                var c = n
                while c >= lo {
                    if let e = matchSeq(seq, k + 1, s, pos + c, next) { return e }
                    c -= 1
                }
            } else {
                for c in lo...n { if let e = matchSeq(seq, k + 1, s, pos + c, next) { return e } }
            }
            return nil
        case .group(let alts):
            for alt in alts {
                if let e = matchSeq(alt, 0, s, pos, { p in self.matchSeq(seq, k + 1, s, p, next) }) { return e }
            }
            return nil
        case let .look(alts, negate):
            let hit = alts.contains { matchSeq($0, 0, s, pos, { $0 }) != nil }
            return hit == negate ? nil : matchSeq(seq, k + 1, s, pos, next)
        }
    }

    /// Every non-overlapping match, leftmost first, as scalar ranges (empty matches are skipped).
    public func matches(_ s: UnsafeBufferPointer<UInt32>) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var i = 0
        while i < s.count {
            if let e = match(s, at: i), e > i {
                out.append(i..<e)
                i = e
            } else {
                i += 1
            }
        }
        return out
    }

    // MARK: parsing

    struct Parser {
        let chars: [UInt32]
        let pattern: String
        var i = 0

        func fail(_ why: String) -> AlignError {
            AlignError.invalidArgument("pre-tokenizer regex \(pattern.debugDescription): \(why) (align supports alternation, (?:…), (?i:…), look-aheads, classes and quantified characters)")
        }

        var peek: UInt32? { i < chars.count ? chars[i] : nil }

        mutating func eat(_ c: Character) -> Bool {
            if peek == c.unicodeScalars.first!.value { i += 1; return true }
            return false
        }

        mutating func parseAlternation(caseInsensitive ci: Bool) throws -> [[Node]] {
            var alts: [[Node]] = [try parseSeq(ci)]
            while eat("|") { alts.append(try parseSeq(ci)) }
            return alts
        }

        mutating func parseSeq(_ ci: Bool) throws -> [Node] {
            var seq: [Node] = []
            while let c = peek, c != UInt32(UInt8(ascii: "|")), c != UInt32(UInt8(ascii: ")")) {
                var node = try parseAtom(ci)
                if let (lo, hi, greedy) = try parseQuantifier() {
                    guard case let .chars(cls, 1, 1, _) = node else { throw fail("a quantifier after a group") }
                    node = .chars(cls, min: lo, max: hi, greedy: greedy)
                }
                seq.append(node)
            }
            return seq
        }

        mutating func parseQuantifier() throws -> (Int, Int, Bool)? {
            var q: (Int, Int)
            if eat("?") { q = (0, 1) } else if eat("*") { q = (0, Int.max) } else if eat("+") { q = (1, Int.max) }
            else if peek == 0x7B {   // {
                let save = i
                i += 1
                guard let lo = number() else { i = save; return nil }
                var hi = lo
                if eat(",") { hi = number() ?? Int.max }
                guard eat("}") else { throw fail("an unterminated {n,m} quantifier") }
                guard hi >= lo else { throw fail("a {n,m} quantifier with m < n") }
                q = (lo, hi)
            } else { return nil }
            if eat("+") { throw fail("a possessive quantifier") }
            let lazy = eat("?")
            return (q.0, q.1, !lazy)
        }

        mutating func number() -> Int? {
            var v = 0, n = 0
            while let c = peek, c >= 0x30, c <= 0x39, n < 6 { v = v * 10 + Int(c - 0x30); i += 1; n += 1 }
            return n == 0 ? nil : v
        }

        mutating func parseAtom(_ ci: Bool) throws -> Node {
            guard let c = peek else { throw fail("an unexpected end") }
            i += 1
            switch c {
            case 0x28:   // (
                var ci2 = ci, look: Bool? = nil
                if eat("?") {
                    if eat(":") {}
                    else if eat("i") { guard eat(":") else { throw fail("an inline flag group other than (?i:…)") }; ci2 = true }
                    else if eat("=") { look = false }
                    else if eat("!") { look = true }
                    else { throw fail("a (?…) construct other than (?:, (?i:, (?= and (?!") }
                }
                let alts = try parseAlternation(caseInsensitive: ci2)
                guard eat(")") else { throw fail("an unclosed group") }
                if let negate = look { return .look(alts, negate: negate) }
                return .group(alts)
            case 0x5B: return .chars(try parseClass(ci), min: 1, max: 1, greedy: true)   // [
            case 0x2E:   // . (any scalar but \n)
                var cls = ScalarClass(); cls.items = [.range(0x0A, 0x0A)]; cls.negated = true
                return .chars(cls, min: 1, max: 1, greedy: true)
            case 0x5C: return .chars(try parseEscape(ci, inClass: false), min: 1, max: 1, greedy: true)
            case 0x5E, 0x24: throw fail("anchors (^ $)")
            case 0x29, 0x7C, 0x2A, 0x2B, 0x3F: throw fail("a misplaced '\(Character(Unicode.Scalar(c)!))'")
            default: return .chars(literal(c, ci), min: 1, max: 1, greedy: true)
            }
        }

        func literal(_ c: UInt32, _ ci: Bool) -> ScalarClass {
            var cls = ScalarClass()
            cls.items = [.range(c, c)]
            if ci, let s = Unicode.Scalar(c) {
                for v in Set([s.properties.lowercaseMapping, s.properties.uppercaseMapping, s.properties.titlecaseMapping]) {
                    let u = Array(v.unicodeScalars)
                    if u.count == 1 { cls.items.append(.range(u[0].value, u[0].value)) }
                }
                if c == 0x73 || c == 0x53 { cls.items.append(.range(0x17F, 0x17F)) }      // ſ folds to s
                if c == 0x6B || c == 0x4B { cls.items.append(.range(0x212A, 0x212A)) }    // Kelvin sign folds to k
            }
            return cls
        }

        mutating func parseEscape(_ ci: Bool, inClass: Bool) throws -> ScalarClass {
            guard let c = peek else { throw fail("a trailing backslash") }
            i += 1
            var cls = ScalarClass()
            switch Character(Unicode.Scalar(c)!) {
            case "s": cls.items = [.whitespace(true)]
            case "S": cls.items = [.whitespace(false)]
            case "d": cls.items = [.categories(ScalarClass.mask(named: "Nd")!)]
            case "D": cls.items = [.categories(ScalarClass.mask(named: "Nd")!)]; cls.negated = true
            case "w", "W":
                cls.items = [.categories(ScalarClass.mask(named: "L")! | ScalarClass.mask(named: "M")! | ScalarClass.mask(named: "Nd")! | ScalarClass.mask(named: "Pc")!)]
                cls.negated = c == 0x57
            case "p", "P":
                guard eat("{") else { throw fail("\\p without {…}") }
                var name = "", negate = c == 0x50
                if eat("^") { negate.toggle() }
                while let d = peek, d != 0x7D { name.unicodeScalars.append(Unicode.Scalar(d)!); i += 1 }
                guard eat("}") else { throw fail("an unterminated \\p{") }
                guard let m = ScalarClass.mask(named: name) else { throw fail("the unknown category \\p{\(name)}") }
                cls.items = [.categories(m)]; cls.negated = negate
            case "r": cls = literal(0x0D, false)
            case "n": cls = literal(0x0A, false)
            case "t": cls = literal(0x09, false)
            case "f": cls = literal(0x0C, false)
            case "v": cls = literal(0x0B, false)
            case "x":
                var v: UInt32 = 0, n = 0
                let braced = eat("{")
                while let d = peek, let h = hexValue(d), n < (braced ? 8 : 2) { v = v * 16 + h; i += 1; n += 1 }
                guard n > 0, !braced || eat("}") else { throw fail("a malformed \\x escape") }
                cls = literal(v, ci)
            default:
                let ch = Character(Unicode.Scalar(c)!)
                guard !(ch.isLetter || ch.isNumber) else { throw fail("the escape \\\(ch)") }
                cls = literal(c, ci)
            }
            return cls
        }

        func hexValue(_ d: UInt32) -> UInt32? {
            switch d {
            case 0x30...0x39: return d - 0x30
            case 0x41...0x46: return d - 0x41 + 10
            case 0x61...0x66: return d - 0x61 + 10
            default: return nil
            }
        }

        mutating func parseClass(_ ci: Bool) throws -> ScalarClass {
            var cls = ScalarClass()
            if eat("^") { cls.negated = true }
            var first = true
            while let c = peek, c != 0x5D || first {
                first = false
                i += 1
                var lo: UInt32
                if c == 0x5C {
                    let e = try parseEscape(false, inClass: true)
                    guard e.items.count == 1, case let .range(a, b) = e.items[0], a == b, !e.negated else {
                        cls.items.append(.nested(e)); continue
                    }
                    lo = a
                } else if c == 0x5B {
                    throw fail("a nested class")
                } else {
                    lo = c
                }
                if peek == 0x2D, i + 1 < chars.count, chars[i + 1] != 0x5D {   // a-b
                    i += 1
                    var hi = chars[i]
                    i += 1
                    if hi == 0x5C {
                        let e = try parseEscape(false, inClass: true)
                        guard case let .range(a, b) = e.items[0], a == b else { throw fail("a range ending in a class") }
                        hi = a
                    }
                    guard hi >= lo else { throw fail("a reversed range") }
                    cls.items.append(.range(lo, hi))
                } else {
                    cls.items.append(ci ? .nested(literal(lo, true)) : .range(lo, lo))
                }
            }
            guard eat("]") else { throw fail("an unterminated class") }
            return cls
        }
    }
}
