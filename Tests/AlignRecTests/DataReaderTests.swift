// Readers on small hand-made fixtures (Fixtures/data): MovieLens CSV and .dat, Amazon 2018 (gzip reviews +
// Python-dict meta) and 2023 (gzip meta, ms timestamps), generic CSV/JSONL, malformed lines and --skip-bad.
import AlignRec
import Foundation
import Testing
import TestSupport

func dataFixture(_ rel: String) -> String { FixturePath.url("data/" + rel, bundle: .module).path }

private func build(_ raw: RawInteractions, minCount: Int) throws -> Dataset {
    try DatasetBuilder.build(raw, config: ProtocolConfig(minCount: minCount))
}

@Test func movieLensCSVReader() throws {
    let raw = try MovieLensReader.readCSV(directory: dataFixture("movielens-tiny"), policy: BadLinePolicy(skip: false))
    #expect(raw.count == 17)
    #expect(raw.meta.count == 7)
    #expect(raw.meta["2"] == ItemMeta(title: "American President, The", year: 1995, genres: ["Comedy", "Drama", "Romance"]))
    #expect(raw.meta["3"]?.title == "\"Great Performances\" Cats")
    #expect(raw.meta["5"]?.hasTitle == false)
    #expect(raw.meta["20"] == ItemMeta(title: "Babylon 5", year: nil, genres: ["Sci-Fi"]))
    #expect(raw.meta["40"]?.genres == [])  // "(no genres listed)"
    #expect(raw.meta["40"]?.text == "Seven (a.k.a. Se7en) (1995).")
}

@Test func movieLensDatReaderLatin1() throws {
    let raw = try MovieLensReader.readDat(directory: dataFixture("ml1m-tiny"), policy: BadLinePolicy(skip: false))
    #expect(raw.count == 6)
    #expect(raw.meta["1"]?.title == "Cité des enfants perdus, La")
    #expect(raw.meta["1"]?.year == 1995)
    let ds = try build(raw, minCount: 2)
    #expect(ds.sequences.map(\.items) == [[1, 3, 2], [1, 2, 3]])  // user 1: 978300760 (1), 978301968 (3), 978302109 (2)
    #expect(ds.items[0].text == "Cité des enfants perdus, La (1995). Genres: Adventure, Sci-Fi.")
}

@Test func amazon2018ReaderWithPythonMeta() throws {
    let (reviews, meta) = try AmazonReader.resolve(src: dataFixture("amazon2018-tiny"), meta: nil)
    #expect(reviews.hasSuffix("reviews_Tiny.json.gz") && meta.hasSuffix("meta_Tiny.json"))
    let raw = try AmazonReader.read(.v2018, reviews: reviews, meta: meta, policy: BadLinePolicy(skip: false))
    #expect(raw.count == 9)
    #expect(raw.meta.keys.sorted() == ["X1", "X2", "X3"])  // X7 was never reviewed; X9 has no meta
    #expect(raw.meta["X1"]?.text == "Kid's Tutu. Categories: Clothing, Girls, Dance. Brand: Coxlures.")
    #expect(raw.meta["X2"]?.text == "Ballet Shoes. Categories: Clothing. Description: Soft leather élève.")
    // By hand: X9 (no meta) dropped by the title filter (1 row); B's second X1 review (t=9) is a repeat (1);
    // 2-core keeps A:X1,X2,X3  B:X1,X2  C:X3,X1 — every user and item has >= 2. Items X1<X2<X3 → 1,2,3.
    let ds = try build(raw, minCount: 2)
    #expect(ds.info.counts.droppedNoTitle == 1)
    #expect(ds.info.counts.duplicatesRemoved == 1)
    #expect(ds.info.counts.interactions == 7)
    #expect(ds.sequences.map(\.userId) == ["A", "B", "C"])
    #expect(ds.sequences.map(\.items) == [[1, 2, 3], [2, 1], [3, 1]])
    #expect(ds.sequences[1].timestamps == [4, 5])  // earliest B:X1 kept
    #expect(ds.info.itemOrder == "string")
}

@Test func amazon2023Reader() throws {
    let raw = try AmazonReader.read(.v2023, reviews: dataFixture("amazon2023-tiny/Tiny.jsonl"),
                                    meta: dataFixture("amazon2023-tiny/meta_Tiny.jsonl.gz"), policy: BadLinePolicy(skip: false))
    #expect(raw.timestampUnit == "ms")
    #expect(raw.meta["P1"]?.text == "Widget. Categories: Tools, Hand Tools. Brand: Acme. Features: Steel Light. Description: Strong.")
    #expect(raw.meta["P2"]?.title == "Gadget – Pro")
    let ds = try build(raw, minCount: 2)
    // U2 reviewed P1 and P2 at the same ms: ordered by item (P1 = 1 before P2 = 2).
    #expect(ds.sequences.map(\.items) == [[1, 2], [1, 2]])
    #expect(ds.sequences[1].timestamps == [1500, 1500])
    #expect(ds.info.source.timestampUnit == "ms")
}

@Test func genericCSVReader() throws {
    let cols = GenericColumns(user: "who", item: "what", time: "when", title: "name", genres: "tags", text: ["blurb"])
    let raw = try GenericReader.readCSV(path: dataFixture("generic/events.csv"), columns: cols, policy: BadLinePolicy(skip: false))
    #expect(raw.timestamps == [1_577_836_800, 1_577_959_200, 1_577_923_200, 1_578_009_600])
    #expect(raw.meta["a"]?.text == "Alpha, the first. Genres: x, y. blurb: said \"hi\".")
    let ds = try build(raw, minCount: 2)
    #expect(ds.sequences.map(\.items) == [[1, 2], [1, 2]])
    let missing = GenericColumns(user: "who", item: "nope", time: "when", title: "name")
    #expect(throws: AlignError.self) { try GenericReader.readCSV(path: dataFixture("generic/events.csv"), columns: missing, policy: BadLinePolicy(skip: false)) }
}

@Test func genericJSONLReaderNumericIds() throws {
    let cols = GenericColumns(user: "who", item: "what", time: "when", title: "name", genres: "tags")
    let raw = try GenericReader.readJSONL(path: dataFixture("generic/events.jsonl"), columns: cols, policy: BadLinePolicy(skip: false))
    #expect(raw.count == 4)
    let ds = try build(raw, minCount: 2)
    // Numeric item ids: "2" < "10" numerically → item 2 = 1, item 10 = 2 (string order would swap them).
    #expect(ds.items.map(\.id) == ["2", "10"])
    #expect(ds.items[1].genres == ["p", "q"])
    #expect(ds.sequences.map(\.items) == [[2, 1], [1, 2]])
    #expect(ds.info.userOrder == "numeric")
}

@Test func malformedLinesStopOrAreSkipped() throws {
    let dir = dataFixture("movielens-bad")
    #expect(throws: AlignError.format(path: dir + "/movies.csv", line: 3, message: "quoted field is never closed (reached the end of the file)")) {
        try MovieLensReader.readCSV(directory: dir, policy: BadLinePolicy(skip: false))
    }
    let raw = try MovieLensReader.readCSV(directory: dir, policy: BadLinePolicy(skip: true))
    #expect(raw.skippedLines == [dir + "/movies.csv": 1, dir + "/ratings.csv": 2])  // ratings lines 4 (3 fields) and 6 ("soon")
    #expect(raw.count == 3)
    // Without the unclosed movie, the first ratings error is line 4.
    let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("align-bad-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: tmp) }
    try "movieId,title,genres\n1,Heat (1995),Action\n".write(to: tmp.appendingPathComponent("movies.csv"), atomically: true, encoding: .utf8)
    try FileManager.default.copyItem(atPath: dir + "/ratings.csv", toPath: tmp.appendingPathComponent("ratings.csv").path)
    #expect(throws: AlignError.format(path: tmp.path + "/ratings.csv", line: 4, message: "expected 4 fields (userId,movieId,rating,timestamp), found 3")) {
        try MovieLensReader.readCSV(directory: tmp.path, policy: BadLinePolicy(skip: false))
    }
}

@Test func badJSONLineNamesFileAndLine() throws {
    let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("align-badjson-\(UUID().uuidString).jsonl")
    try "{\"who\": 1, \"what\": 2, \"when\": 3, \"name\": \"x\"}\n{\"who\": 1, \"what\": \n[1]\n".write(to: tmp, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: tmp) }
    let cols = GenericColumns(user: "who", item: "what", time: "when", title: "name")
    do {
        _ = try GenericReader.readJSONL(path: tmp.path, columns: cols, policy: BadLinePolicy(skip: false))
        Issue.record("expected an error")
    } catch let AlignError.format(path, line, _) {
        #expect(path == tmp.path && line == 2)
    }
    let raw = try GenericReader.readJSONL(path: tmp.path, columns: cols, policy: BadLinePolicy(skip: true))
    #expect(raw.count == 1 && raw.totalSkipped == 2)
}
