// Streaming line input for the dataset readers: plain or gzip-compressed files, read in 1 MiB chunks, one
// line at a time with its 1-based line number, LF or CRLF line ends. gzip input (detected by its magic bytes,
// not the file name) is decompressed by the system's `gzip -dc` in a child process and streamed through a
// pipe: swift-corelibs-foundation on Linux exposes no zlib API, and `gzip` is part of every Debian base
// system. Text decoding helpers (strict UTF-8, Latin-1 fallback) live here too.
import Foundation

/// Reads a text file line by line without loading it whole. Not thread-safe; one reader per file.
public final class LineReader {
    /// The path as given (used in error messages).
    public let path: String
    /// 1-based number of the line most recently returned by `nextLine` (0 before the first).
    public private(set) var lineNumber = 0
    /// True when the file is gzip-compressed.
    public let isGzip: Bool

    private let handle: FileHandle
    private var process: Process?
    private var stderrPipe: Pipe?
    private var buffer: [UInt8] = []
    private var start = 0
    private var eof = false
    private static let chunk = 1 << 20

    /// Opens `path`; gzip files are piped through `gzip -dc`.
    public init(path: String) throws {
        self.path = path
        guard let fh = FileHandle(forReadingAtPath: path) else {
            throw AlignError.io(path: path, message: "cannot open for reading (missing file or no permission)")
        }
        let magic: Data
        do { magic = try fh.read(upToCount: 2) ?? Data() } catch {
            throw AlignError.io(path: path, message: "read failed: \(error.localizedDescription)")
        }
        isGzip = magic.count == 2 && magic[magic.startIndex] == 0x1f && magic[magic.startIndex + 1] == 0x8b
        if isGzip {
            try? fh.close()
            let p = Process()
            p.executableURL = URL(fileURLWithPath: LineReader.gzipPath())
            p.arguments = ["-dc", "--", path]
            let out = Pipe(), err = Pipe()
            p.standardOutput = out
            p.standardError = err
            do { try p.run() } catch {
                throw AlignError.io(path: path, message: "cannot run gzip to decompress: \(error.localizedDescription)")
            }
            process = p
            stderrPipe = err
            handle = out.fileHandleForReading
        } else {
            try fh.seek(toOffset: 0)
            handle = fh
        }
    }

    deinit {
        if let p = process, p.isRunning { p.terminate() }
        try? handle.close()
    }

    private static func gzipPath() -> String {
        for dir in ["/usr/bin", "/bin", "/usr/local/bin"] where FileManager.default.isExecutableFile(atPath: dir + "/gzip") {
            return dir + "/gzip"
        }
        return "/usr/bin/gzip"
    }

    private func fill() throws {
        if start > 0 {
            buffer.removeSubrange(0..<start)
            start = 0
        }
        let data: Data?
        do { data = try handle.read(upToCount: LineReader.chunk) } catch {
            throw AlignError.io(path: path, message: "read failed: \(error.localizedDescription)")
        }
        if let data, !data.isEmpty {
            buffer.append(contentsOf: data)
        } else {
            eof = true
            try finishProcess()
        }
    }

    private func finishProcess() throws {
        guard let p = process else { return }
        p.waitUntilExit()
        process = nil
        if p.terminationStatus != 0 {
            let msg = stderrPipe.flatMap { String(data: $0.fileHandleForReading.readDataToEndOfFile(), encoding: .utf8) } ?? ""
            throw AlignError.format(path: path, line: nil,
                                    message: "gzip -dc failed (status \(p.terminationStatus)): \(msg.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    /// Calls `body` with the next line's bytes (without the line end) and returns its result, or returns nil
    /// at the end of the file. The bytes are only valid inside `body`.
    public func withNextLine<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) throws -> R? {
        while true {
            let nl: Int? = buffer.withUnsafeBufferPointer { buf -> Int? in
                guard start < buf.count, let base = buf.baseAddress else { return nil }
                guard let hit = memchr(base + start, 0x0A, buf.count - start) else { return nil }
                return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            }
            if let nl {
                lineNumber += 1
                let lineStart = start
                start = nl + 1
                var end = nl
                if end > lineStart && buffer[end - 1] == 0x0D { end -= 1 }
                return try buffer.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[lineStart..<end])) }
            }
            if eof {
                guard start < buffer.count else { return nil }
                lineNumber += 1
                let lineStart = start
                var end = buffer.count
                start = buffer.count
                if end > lineStart && buffer[end - 1] == 0x0D { end -= 1 }
                return try buffer.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[lineStart..<end])) }
            }
            try fill()
        }
    }

    /// The next line as bytes, or nil at the end of the file.
    public func nextLine() throws -> [UInt8]? {
        try withNextLine { Array($0) }
    }
}

/// Text decoding of raw line bytes.
public enum TextDecoding {
    /// Strict UTF-8 (nil when the bytes are not valid UTF-8). A leading byte-order mark is dropped.
    public static func utf8<C: Collection>(_ bytes: C) -> String? where C.Element == UInt8 {
        var s = String(validating: bytes, as: UTF8.self)
        if let t = s, t.hasPrefix("\u{FEFF}") { s = String(t.dropFirst()) }
        return s
    }

    /// UTF-8 when valid, otherwise ISO-8859-1 (Latin-1: every byte is the code point of the same value), as
    /// MovieLens ml-1m/ml-10m `.dat` files need.
    public static func utf8OrLatin1<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        if let s = utf8(bytes) { return s }
        var out = String.UnicodeScalarView()
        for b in bytes { out.append(Unicode.Scalar(b)) }
        return String(out)
    }
}
