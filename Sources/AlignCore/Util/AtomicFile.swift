// Crash-safe writes: every file and directory align produces is written under a temporary name in the
// same directory and renamed into place, so an interrupted run never leaves a half-written output.
//
// A directory `NAME` is replaced in three renames:
//   build `.NAME.<pid>.tmpdir`  →  rename it to `.NAME.<pid>.ready` (complete)
//   rename `NAME` → `.NAME.<pid>.old`  →  rename `.NAME.<pid>.ready` → `NAME`  →  remove the old one.
// A kill at any instant leaves `NAME`, or (between the last two renames) a complete `.ready` and `.old`;
// `recover` (run before every directory write, and by `--resume`) puts the newest complete one back in place and
// removes what processes that are no longer running left behind (temp files and incomplete temp directories).
// The rename and remove calls go through `AtomicFile.fileSystem`, which tests replace to stop a writer at any
// of them, as a kill would.
import Foundation

/// The file-system calls a crash can interrupt in the middle of an atomic write.
public protocol AtomicFileSystem: Sendable {
    func rename(_ from: URL, to: URL) throws
    func remove(_ url: URL) throws
}

/// rename(2) and recursive removal.
public struct PosixFileSystem: AtomicFileSystem {
    public init() {}
    public func rename(_ from: URL, to: URL) throws {
        // rename(2) replaces atomically on POSIX file systems.
        if Foundation.rename(from.path, to.path) != 0 {
            throw AlignError.io(path: to.path, message: "rename from \(from.lastPathComponent) failed: \(String(cString: strerror(errno)))")
        }
    }
    public func remove(_ url: URL) throws { try FileManager.default.removeItem(at: url) }
}

public enum AtomicFile {
    /// The rename/remove calls of this task's atomic writes (tests inject failures with `$fileSystem.withValue`).
    @TaskLocal public static var fileSystem: any AtomicFileSystem = PosixFileSystem()

    static var pid: Int32 { ProcessInfo.processInfo.processIdentifier }

    /// Writes `data` to `url` atomically (temp file in the same directory, then rename).
    public static func write(_ data: Data, to url: URL) throws {
        let dir = url.deletingLastPathComponent()
        try createDirectory(dir)
        try? recover(url)   // best effort: a temp file a killed writer of `url` left
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).\(pid).tmp")
        do {
            try data.write(to: tmp)
            try fileSystem.rename(tmp, to: url)
        } catch {
            try? fileSystem.remove(tmp)
            throw AlignError.io(path: url.path, message: "could not write: \(error.localizedDescription)")
        }
    }

    /// Writes a UTF-8 string atomically.
    public static func write(_ text: String, to url: URL) throws {
        try write(Data(text.utf8), to: url)
    }

    /// Builds a directory under a temporary sibling name with `body`, then renames it to `url` (replacing an
    /// existing directory only after the new one is complete; see the file header).
    public static func writeDirectory(_ url: URL, _ body: (URL) throws -> Void) throws {
        let parent = url.deletingLastPathComponent(), name = url.lastPathComponent
        try createDirectory(parent)
        try? recover(url)   // best effort: what a killed writer of `url` left (RunDirectory.prepare reports failures)
        let fm = FileManager.default
        let tmp = parent.appendingPathComponent(".\(name).\(pid).tmpdir")
        let ready = parent.appendingPathComponent(".\(name).\(pid).ready")
        let old = parent.appendingPathComponent(".\(name).\(pid).old")
        for stale in [tmp, ready, old] where fm.fileExists(atPath: stale.path) { try fileSystem.remove(stale) }
        do { try fm.createDirectory(at: tmp, withIntermediateDirectories: true) } catch {
            throw AlignError.io(path: tmp.path, message: "could not create directory: \(error.localizedDescription)")
        }
        do {
            try body(tmp)
        } catch {
            try? fileSystem.remove(tmp)
            throw error
        }
        try fileSystem.rename(tmp, to: ready)
        if fm.fileExists(atPath: url.path) {
            try fileSystem.rename(url, to: old)
            do { try fileSystem.rename(ready, to: url) } catch {
                try? fileSystem.rename(old, to: url)   // put the previous version back
                throw error
            }
            try? fileSystem.remove(old)
        } else {
            try fileSystem.rename(ready, to: url)
        }
    }

    /// What an interrupted write of `url` can leave beside it.
    enum Leftover: Equatable {
        /// `.NAME.<pid>.tmp` (file) or `.NAME.<pid>.tmpdir` (directory): incomplete.
        case temporary
        /// `.NAME.<pid>.ready`: a complete new version not yet renamed into place.
        case ready
        /// `.NAME.<pid>.old` (also `.NAME.old.<pid>` of earlier align versions): the complete previous version.
        case old
    }

    /// Parses a sibling name of `name` into (kind, pid), or nil for anything else.
    static func leftover(_ entry: String, of name: String) -> (Leftover, Int32)? {
        let prefix = ".\(name)."
        guard entry.hasPrefix(prefix) else { return nil }
        let rest = entry.dropFirst(prefix.count).split(separator: ".", omittingEmptySubsequences: false)
        guard rest.count == 2 else { return nil }
        if rest[0] == "old", let p = Int32(rest[1]) { return (.old, p) }
        guard let p = Int32(rest[0]) else { return nil }
        switch rest[1] {
        case "tmp", "tmpdir": return (.temporary, p)
        case "ready": return (.ready, p)
        case "old": return (.old, p)
        default: return nil
        }
    }

    /// Whether process `p` (other than this one) is running.
    static func isRunning(_ p: Int32) -> Bool {
        guard p != pid, p > 0 else { return false }
        return kill(p, 0) == 0 || errno == EPERM
    }

    /// Repairs what a killed writer of `url` left: when `url` is missing, the newest complete version beside it
    /// (a `.ready`, else an `.old`) is renamed into place; every leftover of a process that is no longer running
    /// (or of this process: callers run this before writing `url` themselves) is removed. Returns whether `url`
    /// exists afterwards.
    @discardableResult
    public static func recover(_ url: URL) throws -> Bool {
        let parent = url.deletingLastPathComponent(), name = url.lastPathComponent
        let fm = FileManager.default
        guard let entries = try? fm.contentsOfDirectory(atPath: parent.path) else { return fm.fileExists(atPath: url.path) }
        var found: [(url: URL, kind: Leftover, modified: Date)] = []
        for e in entries.sorted() {
            guard let (kind, p) = leftover(e, of: name), !isRunning(p) else { continue }
            let u = parent.appendingPathComponent(e)
            let modified = (try? fm.attributesOfItem(atPath: u.path)[.modificationDate] as? Date) ?? .distantPast
            found.append((u, kind, modified))
        }
        if !fm.fileExists(atPath: url.path) {
            let complete = found.filter { $0.kind == .ready }.isEmpty ? found.filter { $0.kind == .old } : found.filter { $0.kind == .ready }
            if let newest = complete.max(by: { $0.modified < $1.modified }) {
                try fileSystem.rename(newest.url, to: url)
                found.removeAll { $0.url == newest.url }
            }
        }
        for f in found { try fileSystem.remove(f.url) }
        return fm.fileExists(atPath: url.path)
    }

    /// Removes the leftovers of processes no longer running for every entry of `dir` (temp files and
    /// directories, complete versions whose target exists), repairing missing targets as `recover` does.
    public static func recoverAll(in dir: URL) throws {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return }
        var targets = Set<String>()
        for e in entries where e.hasPrefix(".") {
            // ".NAME.<pid>.kind" → NAME (names may contain dots).
            let parts = e.dropFirst().split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count >= 3 else { continue }
            let name = parts.dropLast(2).joined(separator: ".")
            if leftover(e, of: name) != nil { targets.insert(name) }
        }
        for name in targets.sorted() { try recover(dir.appendingPathComponent(name)) }
    }

    /// Creates `dir` and its parents (no error when it exists).
    public static func createDirectory(_ dir: URL) throws {
        do { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
            throw AlignError.io(path: dir.path, message: "could not create directory: \(error.localizedDescription)")
        }
    }
}
