// Recommend/export paths and bad input on a tiny real bundle (tinyRecModel) and a dataset built here with the
// same catalogue: exports stream every user to JSONL/CSV with valid, non-history items equal to direct
// recommendations; failures leave no output; every bad input is an AlignError with a message saying what
// to fix (these are the functions `align recommend`/`align export` call).
import AlignRec
import Foundation
import Testing

/// A dataset whose catalogue is tinyRecModel's (ids "100"..."111" → items 1...12): 4 users × 6 items,
/// user u sees items (3u + j) % 12 + 1 in order, so every item has 2 interactions.
func tinyServeDataset() throws -> Dataset {
    let m = try tinyRecModel()
    var raw = RawInteractions(format: "test")
    for u in 0..<4 {
        for j in 0..<6 {
            let it = m.items[(3 * u + j) % 12]
            raw.add(user: "u\(u + 1)", item: it.id, timestamp: Int64(1000 * u + j))
        }
    }
    for it in m.items { raw.meta[it.id] = ItemMeta(title: it.title, year: it.year) }
    return try DatasetBuilder.build(raw, config: ProtocolConfig(minCount: 2))
}

func tempDir(_ tag: String) -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("align-\(tag)-\(UUID().uuidString)")
}

@Suite struct ServeExport {
    @Test func exportStreamsEveryUserToJSONLAndCSV() throws {
        let service = try RecService(model: try tinyRecModel(), beam: 6, usersPerBatch: 3)
        let ds = try tinyServeDataset()
        try ServeInputs.checkCatalogue(model: service.model, dataset: ds, dataPath: "tiny")
        let sel = try ServeInputs.selection("all", dataset: ds)
        #expect(sel.count == 4)
        let dir = tempDir("export")
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("recs.jsonl")
        let stats = try RecExport.run(service: service, users: sel, k: 3, format: .jsonl, out: out)
        #expect(stats.users == 4 && stats.rows == 12 && stats.usersPerSecond > 0)
        let lines = try String(contentsOf: out, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 4)
        struct Line: Decodable { var format: String; var version: Int; var user: String; var items: [Recommendation] }
        for (i, l) in lines.enumerated() {
            let row = try JSONDecoder().decode(Line.self, from: Data(l.utf8))
            let u = sel.user(i)
            #expect(row.format == "align-recs" && row.version == 1 && row.user == u.userId)
            #expect(row.items.map(\.rank) == [1, 2, 3])
            #expect(row.items.allSatisfy { !u.history.contains($0.item) && service.model.sidMap.tokenString($0.item) == $0.sid })
            // Same as asking for this user alone (batching across users changes nothing).
            let alone = try service.recommend([RecommendRequest(history: u.history, exclude: u.exclude)], k: 3)[0]
            #expect(alone.map(\.item) == row.items.map(\.item))
        }
        // CSV: header + one row per (user, rank); nothing else left in the directory.
        let csv = dir.appendingPathComponent("recs.csv")
        _ = try RecExport.run(service: service, users: try ServeInputs.selection("test", dataset: ds), k: 2, format: .csv, out: csv)
        let rows = try String(contentsOf: csv, encoding: .utf8).split(separator: "\n")
        #expect(rows.first == "user,rank,item,id,title,year,sid,score")
        #expect(rows.count == 1 + 4 * 2)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)) == ["recs.jsonl", "recs.csv"])
        #expect(RecExport.csvField("Lock, Stock \"2\"") == "\"Lock, Stock \"\"2\"\"\"")
        #expect(RecExport.csvField("Heat") == "Heat")
    }

    @Test func failedExportLeavesNothingBehind() throws {
        let service = try RecService(model: try tinyRecModel(), beam: 4, usersPerBatch: 2)
        let dir = tempDir("export-fail")
        defer { try? FileManager.default.removeItem(at: dir) }
        let bad = UserSelection(count: 3, description: "bad") { i in
            ServeUser(userId: "u\(i)", history: i == 2 ? [] : [1, 2], exclude: [])
        }
        #expect(throws: AlignError.self) {
            _ = try RecExport.run(service: service, users: bad, k: 2, format: .jsonl, out: dir.appendingPathComponent("r.jsonl"))
        }
        #expect((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [] == [])
    }
}

@Suite struct ServeBadInput {
    /// The error's text (what the CLI prints after "error: ").
    func message(_ body: () throws -> Void) -> String {
        do { try body(); return "" } catch let e as AlignError { return e.description } catch { return "not an AlignError: \(error)" }
    }

    @Test func unknownUsersTitlesIdsAndEmptyHistories() throws {
        let service = try RecService(model: try tinyRecModel(), beam: 4)
        let ds = try tinyServeDataset()
        #expect(message { _ = try ServeInputs.user("nobody", dataset: ds) }.contains("user 'nobody' is not in the dataset"))
        #expect(try ServeInputs.user("u2", dataset: ds).history.count == 6)
        #expect(message { _ = try ServeInputs.history(titles: " ; ", index: service.titles) }.contains("--history is empty"))
        let unknown = message { _ = try ServeInputs.history(titles: "Zorblax; Qwertyuiop", index: service.titles) }
        #expect(unknown.contains("none of the titles could be used") && unknown.contains("'Zorblax'"))
        let partly = message { _ = try ServeInputs.history(titles: "Heat; Casinno; Zorblax", index: service.titles) }
        #expect(partly.contains("some titles") && partly.contains("'Zorblax'") && !partly.contains("'Heat'"))
        #expect(try ServeInputs.history(titles: "heat; Casinno", index: service.titles) == [1, 4])   // typo corrected
        #expect(try ServeInputs.history(ids: "104, 100", items: service.model.items) == [5, 1])
        #expect(message { _ = try ServeInputs.history(ids: "100,999", items: service.model.items) }.contains("999"))
        #expect(message { _ = try service.recommend([RecommendRequest(history: [])], k: 3) }.contains("history is empty"))
        #expect(message { _ = try service.recommend([RecommendRequest(history: [99])], k: 3) }.contains("not in the catalogue"))
        #expect(message { _ = try service.recommend([RecommendRequest(history: [1])], k: 0) }.contains("k must be"))
        // A user file: comments and blanks skipped; an unknown id names the file and line.
        let dir = tempDir("users")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let f = dir.appendingPathComponent("users.txt")
        try "# users\nu1\n\nu3\n".write(to: f, atomically: true, encoding: .utf8)
        #expect(try ServeInputs.selection(f.path, dataset: ds).count == 2)
        try "u1\nghost\n".write(to: f, atomically: true, encoding: .utf8)
        #expect(message { _ = try ServeInputs.selection(f.path, dataset: ds) }.contains(":2"))
        #expect(message { _ = try ServeInputs.selection("everyone", dataset: ds) }.contains("all, test or a file"))
    }

    @Test func brokenModelDirectories() throws {
        let m = try tinyRecModel()
        let dir = tempDir("badmodel")
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(message { _ = try RecService.load(dir) }.contains("no such model directory"))
        let ok = dir.appendingPathComponent("ok"), noSID = dir.appendingPathComponent("nosid"), corrupt = dir.appendingPathComponent("corrupt")
        for d in [ok, noSID, corrupt] { try m.save(to: d, stage: "sft") }
        #expect(try RecService.load(ok).model.items.count == 12)
        try FileManager.default.removeItem(at: noSID.appendingPathComponent("sid_map.json"))
        #expect(message { _ = try RecService.load(noSID) }.contains("sid_map.json"))
        let st = corrupt.appendingPathComponent("model.safetensors")
        let bytes = try Data(contentsOf: st)
        try bytes.prefix(bytes.count / 2).write(to: st)
        #expect(message { _ = try RecService.load(corrupt) }.contains("model.safetensors"))
        // A dataset with another catalogue is refused before any item index is trusted.
        var other = try tinyServeDataset()
        other.items[0].id = "999"
        #expect(message { try ServeInputs.checkCatalogue(model: m, dataset: other, dataPath: "d") }.contains("not the dataset"))
    }
}
