// RFC 4180 CSV records over a LineReader: fields separated by a one-byte delimiter (`,` by default), fields
// in double quotes may hold delimiters, line breaks and doubled quotes (`""` → `"`), LF or CRLF record ends.
// A line break inside a quoted field is kept as "\n". Every malformed record (a stray quote in an unquoted
// field, text after a closing quote, a quote left open at the end of the file, invalid UTF-8) is an
// `AlignError.format` naming the file and the record's first line.
import Foundation

/// One parsed CSV record and the 1-based line it starts on.
public struct CSVRecord: Sendable, Equatable {
    /// Field values, unquoted.
    public var fields: [String]
    /// 1-based line the record starts on.
    public var line: Int
}

/// Reads RFC 4180 records one at a time.
public final class CSVReader {
    private let lines: LineReader
    private let delimiter: UInt8
    /// The path being read (for error messages).
    public var path: String { lines.path }

    /// Opens `path` (plain or gzip) with the given one-byte delimiter.
    public init(path: String, delimiter: UInt8 = UInt8(ascii: ",")) throws {
        lines = try LineReader(path: path)
        self.delimiter = delimiter
    }

    /// Wraps an existing line reader.
    public init(lines: LineReader, delimiter: UInt8 = UInt8(ascii: ",")) {
        self.lines = lines
        self.delimiter = delimiter
    }

    /// The next record, or nil at the end of the file. Empty lines are skipped. Throws `AlignError.format`
    /// for a malformed record; after such an error the reader continues with the following line.
    public func next() throws -> CSVRecord? {
        var fields: [String] = []
        var field: [UInt8] = []
        var inQuotes = false
        var afterQuote = false  // just closed a quoted field: only a delimiter or the record end may follow
        var startLine = 0
        var problem: String?
        let quote = UInt8(ascii: "\"")

        func finishField() {
            if problem != nil { return }
            if let s = TextDecoding.utf8(field) { fields.append(s) } else { problem = "invalid UTF-8 in field \(fields.count + 1)" }
            field.removeAll(keepingCapacity: true)
        }

        while true {
            let more: Bool? = try lines.withNextLine { buf -> Bool in
                if startLine == 0 {
                    startLine = lines.lineNumber
                    if buf.isEmpty { startLine = 0; return true }  // blank line between records
                } else {
                    field.append(0x0A)  // the line break inside a quoted field
                }
                var i = 0
                let n = buf.count
                while i < n && problem == nil {
                    let c = buf[i]
                    if inQuotes {
                        if c == quote {
                            if i + 1 < n && buf[i + 1] == quote { field.append(quote); i += 2; continue }
                            inQuotes = false
                            afterQuote = true
                        } else {
                            field.append(c)
                        }
                    } else if c == delimiter {
                        finishField()
                        afterQuote = false
                    } else if afterQuote {
                        problem = "unexpected character after a closing quote in field \(fields.count + 1)"
                    } else if c == quote {
                        if field.isEmpty { inQuotes = true } else {
                            problem = "stray double quote inside unquoted field \(fields.count + 1) (quote the field and double the quote)"
                        }
                    } else {
                        field.append(c)
                    }
                    i += 1
                }
                return inQuotes && problem == nil  // true: the record continues on the next line
            }
            guard let cont = more else {
                // End of file.
                if startLine == 0 { return nil }
                if inQuotes {
                    throw AlignError.format(path: path, line: startLine, message: "quoted field is never closed (reached the end of the file)")
                }
                break
            }
            if startLine == 0 { continue }
            if !cont { break }
        }
        if problem == nil { finishField() }
        if let problem { throw AlignError.format(path: path, line: startLine, message: problem) }
        return CSVRecord(fields: fields, line: startLine)
    }

    /// Parses a whole CSV text held in memory (for tests and small inputs).
    public static func parse(_ text: String, path: String = "<memory>") throws -> [CSVRecord] {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("align-csv-\(UUID().uuidString).csv")
        try Data(text.utf8).write(to: tmp)
        defer { try? FileManager.default.removeItem(at: tmp) }
        let r = try CSVReader(path: tmp.path)
        var out: [CSVRecord] = []
        do {
            while let rec = try r.next() { out.append(rec) }
        } catch let AlignError.format(_, line, message) {
            throw AlignError.format(path: path, line: line, message: message)
        }
        return out
    }
}
