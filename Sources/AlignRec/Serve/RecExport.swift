// Bulk export of top-K recommendations for many users (`align export`): batched beam search across users
// (RecService → Recommender, `usersPerBatch` prompts per search), rows streamed batch by batch to a temporary
// file beside the output and renamed into place at the end (atomic; memory constant in the number of
// users). Formats:
// - jsonl: one object per user {"format":"align-recs","version":1,"user":"42","items":[{"rank":1,"item":7,
//   "id":"7","title":"…","year":1995,"sid":"<a_1><b_2><c_3>","score":-1.23}, …]}
// - csv: header `user,rank,item,id,title,year,sid,score` (RFC 4180 quoting), one row per (user, rank).
// Also the users/s measurement `align bench` reports (same code path, output discarded).
import Foundation

/// Output format of an export.
public enum ExportFormat: String, Sendable, CaseIterable {
    case jsonl, csv
}

/// What an export did.
public struct ExportStats: Codable, Sendable {
    /// Users exported.
    public var users: Int
    /// (user, item) rows written.
    public var rows: Int
    /// Wall time of the decoding and writing.
    public var seconds: Double
    /// users / seconds.
    public var usersPerSecond: Double
    enum CodingKeys: String, CodingKey { case users, rows, seconds, usersPerSecond = "users_per_second" }
}

/// Streams recommendations for a user selection to a file.
public enum RecExport {
    /// "format" field of every JSONL line.
    public static let format = "align-recs"
    /// "version" field of every JSONL line.
    public static let version = 1

    /// Exports top-`k` for every user of `users` to `out` (nil: compute and discard — for benchmarks).
    /// `task` is nextitem (history as SIDs, the evaluated task) unless given.
    public static func run(service: RecService, users: UserSelection, k: Int, format: ExportFormat, out: URL?,
                           task: PromptTask = .nextitem, progress: ProgressBar? = nil) throws -> ExportStats {
        guard k >= 1 else { throw AlignError.invalidArgument("--k must be ≥ 1 (got \(k))") }
        guard users.count > 0 else { throw AlignError.invalidArgument("no users to export") }
        var sink: FileHandle? = nil
        var tmp: URL? = nil
        if let out {
            let dir = out.deletingLastPathComponent()
            try AtomicFile.createDirectory(dir)
            try AtomicFile.recover(out)   // leftovers of a killed export of the same file
            let t = dir.appendingPathComponent(".\(out.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).tmp")
            guard FileManager.default.createFile(atPath: t.path, contents: nil) else {
                throw AlignError.io(path: t.path, message: "cannot create the temporary output file (is the directory writable?)")
            }
            do { sink = try FileHandle(forWritingTo: t) } catch {
                throw AlignError.io(path: t.path, message: "cannot open for writing: \(error.localizedDescription)")
            }
            tmp = t
        }
        var finished = false
        defer {
            try? sink?.close()
            if !finished, let tmp { try? FileManager.default.removeItem(at: tmp) }
        }
        func emit(_ text: String) throws {
            guard let s = sink, let tmp else { return }
            do { try s.write(contentsOf: Data(text.utf8)) } catch {
                throw AlignError.io(path: tmp.path, message: "cannot write (disk full?): \(error.localizedDescription)")
            }
        }
        if format == .csv { try emit("user,rank,item,id,title,year,sid,score\n") }
        let start = Date()
        var rows = 0
        // Several Recommender batches per write: enough to amortise (and, in a data-parallel job, to exchange results
        // once per eight rounds of every rank), bounded memory.
        let chunk = service.usersPerBatch * 4 * max(1, Parallel.workers * Cluster.world.size)
        var i = 0
        while i < users.count {
            let batch = (i..<min(users.count, i + chunk)).map(users.user)
            let lists = try service.recommend(batch.map { RecommendRequest(history: $0.history, exclude: $0.exclude) }, k: k, task: task)
            var text = ""
            for (u, list) in zip(batch, lists) {
                rows += list.count
                text += format == .jsonl ? try jsonLine(user: u.userId, list) : csvRows(user: u.userId, list)
            }
            try emit(text)
            progress?.advance(batch.count)
            i += batch.count
        }
        let seconds = Date().timeIntervalSince(start)
        if let out, let tmp, let s = sink {
            do { try s.synchronize(); try s.close() } catch {
                throw AlignError.io(path: tmp.path, message: "cannot flush: \(error.localizedDescription)")
            }
            sink = nil
            try AtomicFile.fileSystem.rename(tmp, to: out)
        }
        finished = true
        return ExportStats(users: users.count, rows: rows, seconds: seconds, usersPerSecond: Double(users.count) / max(seconds, 1e-9))
    }

    struct Line: Encodable {
        var format = RecExport.format
        var version = RecExport.version
        var user: String
        var items: [Recommendation]
    }

    /// One JSONL line for a user.
    public static func jsonLine(user: String, _ list: [Recommendation]) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do { return String(decoding: try e.encode(Line(user: user, items: list)), as: UTF8.self) + "\n" } catch {
            throw AlignError.invalidArgument("user \(user): recommendations could not be encoded (\(error))")
        }
    }

    /// CSV rows for a user (fields quoted when they contain a comma, quote or newline).
    public static func csvRows(user: String, _ list: [Recommendation]) -> String {
        var s = ""
        for r in list {
            let fields = [user, String(r.rank), String(r.item), r.id, r.title, r.year.map(String.init) ?? "", r.sid, String(format: "%.6f", r.score)]
            s += fields.map(csvField).joined(separator: ",") + "\n"
        }
        return s
    }

    /// RFC 4180 field quoting.
    public static func csvField(_ f: String) -> String {
        guard f.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return f }
        return "\"" + f.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Users per second of batched beam search over the first `users` users of a selection (output
    /// discarded) — the serving line of `align bench`.
    public static func benchmark(service: RecService, users: UserSelection, count: Int, k: Int = 20) throws -> ExportStats {
        let n = min(count, users.count)
        let sub = UserSelection(count: n, description: "first \(n) users", resolve: users.resolve)
        return try run(service: service, users: sub, k: k, format: .jsonl, out: nil)
    }
}
