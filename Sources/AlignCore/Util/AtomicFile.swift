// Crash-safe writes: every file and directory align produces is written under a temporary name in the
// same directory and renamed into place, so an interrupted run never leaves a half-written output.
import Foundation

public enum AtomicFile {
    /// Writes `data` to `url` atomically (temp file in the same directory, then rename).
    public static func write(_ data: Data, to url: URL) throws {
        let dir = url.deletingLastPathComponent()
        try createDirectory(dir)
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).tmp")
        do {
            try data.write(to: tmp)
            try replace(tmp, with: url)
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw AlignError.io(path: url.path, message: "could not write: \(error.localizedDescription)")
        }
    }

    /// Writes a UTF-8 string atomically.
    public static func write(_ text: String, to url: URL) throws {
        try write(Data(text.utf8), to: url)
    }

    /// Builds a directory under a temporary sibling name with `body`, then renames it to `url`
    /// (replacing an existing directory only after the new one is complete).
    public static func writeDirectory(_ url: URL, _ body: (URL) throws -> Void) throws {
        let parent = url.deletingLastPathComponent()
        try createDirectory(parent)
        let tmp = parent.appendingPathComponent(".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).tmpdir")
        let fm = FileManager.default
        if fm.fileExists(atPath: tmp.path) { try fm.removeItem(at: tmp) }
        try fm.createDirectory(at: tmp, withIntermediateDirectories: true)
        do {
            try body(tmp)
            if fm.fileExists(atPath: url.path) {
                let old = parent.appendingPathComponent(".\(url.lastPathComponent).old.\(ProcessInfo.processInfo.processIdentifier)")
                try fm.moveItem(at: url, to: old)
                try fm.moveItem(at: tmp, to: url)
                try? fm.removeItem(at: old)
            } else {
                try fm.moveItem(at: tmp, to: url)
            }
        } catch {
            try? fm.removeItem(at: tmp)
            throw error
        }
    }

    /// Creates `dir` and its parents (no error when it exists).
    public static func createDirectory(_ dir: URL) throws {
        do { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
            throw AlignError.io(path: dir.path, message: "could not create directory: \(error.localizedDescription)")
        }
    }

    static func replace(_ tmp: URL, with url: URL) throws {
        // rename(2) replaces atomically on POSIX file systems.
        if rename(tmp.path, url.path) != 0 {
            throw AlignError.io(path: url.path, message: "rename failed: \(String(cString: strerror(errno)))")
        }
    }
}
