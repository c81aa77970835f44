// The protocol of docs/protocol.md on a hand-made MovieLens fixture (Fixtures/data/movielens-tiny), every count and
// split worked out by hand below, plus the dataset directory round trip and load errors.
//
// movies.csv (CRLF): 1 Heat (1995) · 2 "American President, The (1995)" · 3 """Great Performances"" Cats (1998)"
//   · 5 <empty title> · 10 Toy Story (1995) · 20 Babylon 5 (no year) · 40 Seven (a.k.a. Se7en) (1995)
// ratings.csv (user, movie, ts):
//   u1: (3,100) (2,100) (10,50) (5,60) (40,200)     u2: (2,10) (3,20) (10,30) (5,5) (40,40)
//   u10: (3,7) (10,8) (2,9)                          u9: (20,1) (1,2)          u7: (1,3) (2,4)
// Title filter: movie 5 has an empty title → (1,5) (2,5) dropped: 17 → 15 rows.
// 2-core, counts per pass (both conditions on the same counts):
//   pass 1: item 20 has 1 → (9,20) removed                          → 14
//   pass 2: user 9 has 1 → (9,1) removed                            → 13
//   pass 3: item 1 has 1 (only u7) → (7,1) removed                  → 12
//   pass 4: user 7 has 1 → (7,2) removed                            → 11
//   pass 5: users 1,2,10 have 4,4,3; items 2,3,10,40 have 3,3,3,2 → nothing removed (5 passes).
// Items 2,3,10,40 → 1,2,3,4 (numeric order; string order would put "10" before "2"). Users 1,2,10 → 1,2,3.
// Sequences by (ts, item): u1: 10@50, 2@100, 3@100 (tie → item 1 before 2, though the file lists 3 first), 40@200
//   → [3,1,2,4]; u2 → [1,2,3,4] ts [10,20,30,40]; u10 → [2,3,1] ts [7,8,9].
// loo: u1 train [3,1] valid (pos 2, 2) test (pos 3, 4); u2 train [1,2] valid 3 test 4; u10 train [2] valid 3 test 1.
// chrono samples (ts, user, pos → target): u1 (100,1,1→1) (100,1,2→2) (200,1,3→4); u2 (20,2,1→2) (30,2,2→3)
//   (40,2,3→4); u10 (8,3,1→3) (9,3,2→1). N = 8 sorted: (8,3,1) (9,3,2) (20,2,1) (30,2,2) (40,2,3) (100,1,1)
//   (100,1,2) (200,1,3); train = [0, 6), valid = [6, 7), test = [7, 8).
import AlignRec
import Foundation
import Testing
import TestSupport

private func tinyDataset(chronoHistory: Int = 10) throws -> Dataset {
    let raw = try MovieLensReader.readCSV(directory: dataFixture("movielens-tiny"), policy: BadLinePolicy(skip: false))
    return try DatasetBuilder.build(raw, config: ProtocolConfig(minCount: 2, looMaxHistory: 20, chronoMaxHistory: chronoHistory))
}

@Test func protocolCountsAndIds() throws {
    let ds = try tinyDataset()
    let c = ds.info.counts
    #expect(c.rawInteractions == 17 && c.droppedNoTitle == 2 && c.duplicatesRemoved == 0)
    #expect(c.kcorePasses == 5)
    #expect(c.users == 3 && c.items == 4 && c.interactions == 11)
    #expect(ds.items.map(\.id) == ["2", "3", "10", "40"])
    #expect(ds.items.map(\.item) == [1, 2, 3, 4])
    #expect(ds.items[0] == Item(item: 1, id: "2", title: "American President, The", year: 1995, genres: ["Comedy", "Drama", "Romance"],
                                text: "American President, The (1995). Genres: Comedy, Drama, Romance."))
    #expect(ds.sequences.map(\.userId) == ["1", "2", "10"])
    #expect(ds.sequences.map(\.items) == [[3, 1, 2, 4], [1, 2, 3, 4], [2, 3, 1]])
    #expect(ds.sequences[0].timestamps == [50, 100, 100, 200])
    #expect(abs(c.sparsity - (1 - 11.0 / 12.0)) < 1e-12)
    #expect(c.medianSequenceLength == 4 && abs(c.meanSequenceLength - 11.0 / 3.0) < 1e-12)
}

@Test func protocolLeaveOneOut() throws {
    let ds = try tinyDataset()
    #expect(ds.looTrain.map(\.items) == [[3, 1], [1, 2], [2]])
    #expect(ds.looValid.map(\.target) == [2, 3, 3])
    #expect(ds.looValid.map(\.history) == [[3, 1], [1, 2], [2]])
    #expect(ds.looTest.map(\.target) == [4, 4, 1])
    #expect(ds.looTest.map(\.history) == [[3, 1, 2], [1, 2, 3], [2, 3]])
    #expect(ds.looTest.map(\.pos) == [3, 3, 2])
    #expect(Array(ds.excluded(for: ds.looTest[2])) == [2, 3])
    // loo training examples: positions 1..n-3 of each training sequence: u1 pos 1 (→1), u2 pos 1 (→2).
    #expect(ds.examples(.loo, .train).map(\.target) == [1, 2])
}

@Test func protocolChronological() throws {
    let ds = try tinyDataset(chronoHistory: 2)
    let key = { (e: Example) in [Int(e.timestamp), e.user, e.pos, e.target] }
    #expect(ds.chronoTrain.map(key) == [[8, 3, 1, 3], [9, 3, 2, 1], [20, 2, 1, 2], [30, 2, 2, 3], [40, 2, 3, 4], [100, 1, 1, 1]])
    #expect(ds.chronoValid.map(key) == [[100, 1, 2, 2]])
    #expect(ds.chronoTest.map(key) == [[200, 1, 3, 4]])
    #expect(ds.chronoTest[0].history == [1, 2])  // last 2 of [3, 1, 2]
    #expect(Array(ds.excluded(for: ds.chronoTest[0])) == [3, 1, 2])  // untruncated
    // Training prefixes s[0...m_u]: u1 m=1 → [3,1]; u2 m=3 → [1,2,3,4]; u10 m=2 → [2,3,1].
    #expect(ds.trainingSequences(.chrono) == [[3, 1], [1, 2, 3, 4], [2, 3, 1]])
    #expect(ds.info.counts.chronoSamples == 8 && ds.info.counts.chronoTrain == 6 && ds.info.counts.chronoValid == 1 && ds.info.counts.chronoTest == 1)
}

@Test func protocolNothingSurvives() throws {
    let raw = try MovieLensReader.readCSV(directory: dataFixture("movielens-tiny"), policy: BadLinePolicy(skip: false))
    #expect(throws: AlignError.self) { try DatasetBuilder.build(raw, config: ProtocolConfig(minCount: 5)) }
}

@Test func protocolDatasetRoundTripAndLoadErrors() throws {
    let ds = try tinyDataset()
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("align-ds-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: dir) }
    try ds.write(to: dir)
    let back = try Dataset.load(from: dir)
    #expect(back.items == ds.items && back.sequences == ds.sequences && back.looTrain == ds.looTrain)
    #expect(back.looTest == ds.looTest && back.chronoTrain == ds.chronoTrain && back.chronoTest == ds.chronoTest)
    #expect(back.info == ds.info)
    let seqText = try String(contentsOf: dir.appendingPathComponent("sequences.jsonl"), encoding: .utf8)
    #expect(seqText.hasPrefix("{\"user\":1,\"userId\":1,\"items\":[3,1,2,4],\"timestamps\":[50,100,100,200]}\n"))

    // A corrupted line is reported with its file and line.
    let test = dir.appendingPathComponent("loo_test.jsonl")
    var lines = try String(contentsOf: test, encoding: .utf8).split(separator: "\n").map(String.init)
    lines[1] = "{\"user\":2,\"userId\":2,\"pos\":3,\"timestamp\":40,\"history\":[1,2,3]}"
    try (lines.joined(separator: "\n") + "\n").write(to: test, atomically: true, encoding: .utf8)
    #expect(throws: AlignError.format(path: test.path, line: 2, message: "missing key 'target'")) { try Dataset.load(from: dir) }
    // A target that contradicts sequences.jsonl is caught too.
    lines[1] = "{\"user\":2,\"userId\":2,\"pos\":3,\"timestamp\":40,\"history\":[1,2,3],\"target\":2}"
    try (lines.joined(separator: "\n") + "\n").write(to: test, atomically: true, encoding: .utf8)
    #expect(throws: AlignError.format(path: test.path, line: 2, message: "target 2 at pos 3 does not match sequences.jsonl for user 2")) {
        try Dataset.load(from: dir)
    }
    #expect(throws: AlignError.self) { try Dataset.load(from: dir.appendingPathComponent("missing")) }
}
