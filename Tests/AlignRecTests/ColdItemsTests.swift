// Cold items on the hand-made protocol fixture (ProtocolTests.swift lists its splits): every training accessor
// leaves them out while validation and test keep them, the file round-trips with the dataset directory, and the
// evaluation reports the cold-target examples beside the warm ones.
import AlignCore
import AlignRec
import Foundation
import Testing
import TestSupport

@Suite struct ColdItemsTests {
    func dataset() throws -> Dataset {
        let raw = try MovieLensReader.readCSV(directory: dataFixture("movielens-tiny"), policy: BadLinePolicy(skip: false))
        return try DatasetBuilder.build(raw, config: ProtocolConfig(minCount: 2, looMaxHistory: 20, chronoMaxHistory: 10))
    }

    @Test func trainingLeavesColdItemsOutAndEvaluationKeepsThem() throws {
        var ds = try dataset()
        ds.cold = ColdItemsFile(fraction: 0.25, seed: 0, items: [2])
        // loo train [3,1], [1,2], [2] → without item 2: [3,1], [1], [].
        #expect(ds.trainingSequences(.loo) == [[3, 1], [1], []])
        // chrono training prefixes: u1 [3,1,2] (last training pos 2), u2 [1,2,3,4], u10 [2,3,1] → without 2.
        #expect(ds.trainingSequences(.chrono) == [[3, 1], [1, 3, 4], [3, 1]])
        for p in EvalProtocol.allCases {
            let train = ds.examples(p, .train)
            #expect(!train.isEmpty)
            #expect(train.allSatisfy { $0.target != 2 && !$0.history.contains(2) && !$0.history.isEmpty })
        }
        #expect(ds.examples(.loo, .test).map(\.target) == (try dataset()).examples(.loo, .test).map(\.target))
        // Translation samples skip cold items.
        let items = ds.items
        let lib = try PromptLibrary.load(repoPromptsDir())
        let b = try TaskSampleBuilder(library: lib, items: items, sid: { "<a_\($0)>" })
        var rng = Rng(seed: 1)
        let ex = try b.trainingExamples(tasks: [.sid2title, .title2sid], sequences: [], exclude: ds.coldItems, rng: &rng)
        #expect(Set(ex.map(\.item)) == [1, 3, 4])
    }

    @Test func coldDrawIsSeededAndRoundTrips() throws {
        let ds = try dataset()
        let a = try ds.withColdItems(fraction: 0.5, seed: 7), b = try ds.withColdItems(fraction: 0.5, seed: 7)
        #expect(a.coldItems == b.coldItems && a.coldItems.count == 2)
        #expect((0..<20).contains { try! ds.withColdItems(fraction: 0.5, seed: UInt64($0)).coldItems != a.coldItems })
        #expect(throws: AlignError.self) { _ = try ds.withColdItems(fraction: 1.5, seed: 0) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("align-cold-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try a.write(to: dir)
        let back = try Dataset.load(from: dir)
        #expect(back.coldItems == a.coldItems && back.cold?.seed == 7)
        try Data(#"{"format":"align-cold-items","version":1,"fraction":0.1,"seed":0,"items":[9]}"#.utf8)
            .write(to: dir.appendingPathComponent(ColdItemsFile.fileName))
        #expect(throws: AlignError.self) { _ = try Dataset.load(from: dir) }
    }
}
