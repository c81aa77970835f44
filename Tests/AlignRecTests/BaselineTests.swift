// The most-popular baseline: by hand on the tiny fixture, and digit for digit against docs/protocol.md §6 on the
// real MovieLens latest-small data (scripts/fetch-movielens → data/raw/ml-latest-small, or the directory in
// ALIGN_MOVIELENS_DIR). When the real data is missing the test is skipped, except under CI=true where it fails.
import AlignRec
import Foundation
import Testing

@Test func mostPopularByHand() throws {
    // Tiny fixture (see ProtocolTests): loo train [3,1] [1,2] [2] → counts item1 2, item2 2, item3 1, item4 0.
    // loo valid: u1 target 2 among {2:2, 4:0} → rank 1; u2 target 3 among {3:1, 4:0} → 1;
    //            u10 target 3 among {1:2, 3:1, 4:0} → 2.   loo test: every target is rank 1.
    let raw = try MovieLensReader.readCSV(directory: dataFixture("movielens-tiny"), policy: BadLinePolicy(skip: false))
    let ds = try DatasetBuilder.build(raw, config: ProtocolConfig(minCount: 2))
    let loo = MostPopular(dataset: ds, protocol: .loo)
    #expect(loo.scores == [0, 2, 2, 1, 0])
    let v = loo.evaluate(ds, split: .valid)
    #expect(v.hr(at: 1) == 2.0 / 3 && v.hr(at: 5) == 1)
    #expect(abs(v.ndcg(at: 5) - (2 + 1 / log2(3.0)) / 3) < 1e-15)
    #expect(loo.evaluate(ds, split: .test).hr(at: 1) == 1)
    // chrono train targets 3,1,2,3,4,1 → counts 1:2, 2:1, 3:2, 4:1. Train examples in order:
    // (u10,p1,→3 excl {2}) 1 ties 3 with a lower index → rank 2; (u10,p2,→1) 1; (u2,p1,→2 excl {1}) item 3 beats → 2;
    // (u2,p2,→3) 1; (u2,p3,→4) 1; (u1,p1,→1 excl {3}) 1.  valid (u1,p2,→2 excl {3,1}): 2 ties 4, lower index → 1.
    let chrono = MostPopular(dataset: ds, protocol: .chrono)
    #expect(chrono.scores == [0, 2, 1, 2, 1])
    #expect(chrono.evaluate(ds, split: .train).hr(at: 1) == 4.0 / 6)
    #expect(chrono.evaluate(ds, split: .valid).hr(at: 1) == 1)
}

/// The real data directory, or nil when it is absent.
func realMovieLensDir() -> String? {
    let env = ProcessInfo.processInfo.environment["ALIGN_MOVIELENS_DIR"]
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let dir = env ?? root.appendingPathComponent("data/raw/ml-latest-small").path
    return FileManager.default.fileExists(atPath: dir + "/ratings.csv") ? dir : nil
}

/// Built once and shared by the real-data tests.
let realMovieLens: Result<Dataset, AlignError>? = {
    guard let dir = realMovieLensDir() else { return nil }
    do {
        let raw = try MovieLensReader.readCSV(directory: dir, policy: BadLinePolicy(skip: false))
        return .success(try DatasetBuilder.build(raw, config: ProtocolConfig()))
    } catch let e as AlignError { return .failure(e) } catch { return .failure(.invalidArgument("\(error)")) }
}()

/// The real dataset, or nil after recording an issue under CI=true when it is missing.
func requireRealMovieLens() throws -> Dataset? {
    guard let r = realMovieLens else {
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            Issue.record("MovieLens data missing: run scripts/fetch-movielens (or set ALIGN_MOVIELENS_DIR)")
        }
        return nil
    }
    return try r.get()
}

@Test func realMovieLensProtocolCounts() throws {
    guard let ds = try requireRealMovieLens() else { return }
    let c = ds.info.counts
    #expect(c.rawInteractions == 100_004 && c.rawUsers == 671 && c.rawItems == 9_066)
    #expect(c.droppedNoTitle == 7)
    #expect(c.users == 671 && c.items == 3_496 && c.interactions == 90_072)
    #expect(c.chronoSamples == 89_401)
    #expect(ds.chronoTrain.count == 71_520 && ds.chronoValid.count == 8_940 && ds.chronoTest.count == 8_941)
    #expect(ds.looValid.count == 671 && ds.looTest.count == 671)
    #expect(ds.sequences.allSatisfy { $0.items.count >= 16 })
    #expect(ds.items.first(where: { $0.id == "6" })?.text == "Heat (1995). Genres: Action, Crime, Thriller.")
}

@Test func realMovieLensMostPopularDigitForDigit() throws {
    guard let ds = try requireRealMovieLens() else { return }
    let m = MostPopular(dataset: ds, protocol: .loo).evaluate(ds, split: .test)
    #expect(m.count == 671)
    #expect(m.hr(at: 10) == 0.044709388971684055)
    #expect(m.ndcg(at: 10) == 0.020307063867502504)
    #expect(m.hr(at: 5) == 0.02384500745156483)
    #expect(m.hr(at: 20) == 0.06706408345752608)
}
