// Instruction samples and batches: positions and histories from training sequences only, weights, the loss
// mask built with the ids (checked position by position), history trimming to a length budget, and
// deterministic length-bucketed batches.
import AlignRec
import Foundation
import Testing

private func catalogue() -> (items: [Item], sids: [Int: String]) {
    let items = (1...6).map { i in
        Item(item: i, id: "m\(i)", title: "Film \(i), The", year: i == 3 ? nil : 1990 + i, genres: [], text: "Film \(i)")
    }
    let sids = Dictionary(uniqueKeysWithValues: (1...6).map { i in (i, "<a_\(i % 3)><b_\(i)><c_\(i * 2)>") })
    return (items, sids)
}

private func builder(_ config: TaskConfig = TaskConfig()) throws -> TaskSampleBuilder {
    let (items, sids) = catalogue()
    return try TaskSampleBuilder(library: try PromptLibrary.load(repoPromptsDir()), items: items, sids: sids, config: config)
}

@Test func sequenceTasksUseEveryTrainingPositionWithRecentHistory() throws {
    let b = try builder(TaskConfig(maxHistory: 2))
    var rng = Rng(seed: 1)
    let ex = try b.trainingExamples(tasks: [.nextitem], sequences: [[1, 2, 3, 4], [5, 6], [2]], rng: &rng)
    #expect(ex.map(\.item) == [2, 3, 4, 6])
    #expect(ex.map(\.history) == [[1], [1, 2], [2, 3], [5]])
    let sids = catalogue().sids
    // History as concatenated SIDs (sid_separator ""), response the target's SID.
    #expect(ex[2].prompt.contains(sids[2]! + sids[3]!))
    #expect(!ex[2].prompt.contains(sids[1]!))
    #expect(ex[2].response == sids[4]!)
    let t = try b.example(.titlehist2sid, item: 4, history: [1, 3], templateIndex: 0)
    #expect(t.prompt.contains("Film 1, The (1991); Film 3, The"))
    #expect(t.response == sids[4]!)
    let s = try b.example(.sidhist2title, item: 4, history: [1], templateIndex: 1)
    #expect(s.response == "Film 4, The (1994)" && s.templateIndex == 1)
}

@Test func translationTasksCoverTheCatalogueAndWeightsApply() throws {
    let sids = catalogue().sids
    var rng = Rng(seed: 2)
    let b = try builder()
    let ex = try b.trainingExamples(tasks: try PromptTask.parseList("translate"), sequences: [], rng: &rng)
    #expect(ex.count == 12)
    #expect(ex.filter { $0.task == .sid2title }.map(\.response) == (1...6).map { TaskSampleBuilder.displayTitle(catalogue().items[$0 - 1]) })
    #expect(ex.filter { $0.task == .title2sid }.map(\.response) == (1...6).map { sids[$0]! })
    #expect(ex.first { $0.task == .sid2title && $0.item == 3 }!.response == "Film 3, The")
    // Weight 0 drops a task, 2 doubles it, 0.5 keeps about half, deterministically.
    let w = try builder(TaskConfig(taskWeights: [.sid2title: 0, .title2sid: 2, .nextitem: 0.5]))
    var r1 = Rng(seed: 3), r2 = Rng(seed: 3)
    let seqs = [Array(1...6), Array(1...6), Array(1...6), Array(1...6)]
    let e1 = try w.trainingExamples(tasks: [.sid2title, .title2sid, .nextitem], sequences: seqs, rng: &r1)
    let e2 = try w.trainingExamples(tasks: [.sid2title, .title2sid, .nextitem], sequences: seqs, rng: &r2)
    #expect(e1 == e2)
    #expect(e1.filter { $0.task == .sid2title }.isEmpty)
    #expect(e1.filter { $0.task == .title2sid }.count == 12)
    let half = e1.filter { $0.task == .nextitem }.count
    #expect(half > 3 && half < 17)   // 20 positions × 0.5
    // Templates vary across samples.
    #expect(Set(e1.map(\.templateIndex)).count > 1)
    #expect(throws: AlignError.self) { try TaskSampleBuilder(library: b.library, items: catalogue().items, sids: [1: "<a_1>"]) }
    #expect(throws: AlignError.self) { try builder(TaskConfig(taskWeights: [.nextitem: -1])) }
    // task_config.json names tasks by name: an unknown name is an error naming it, a known one reads typed.
    let json = { (s: String) in try JSONDecoder().decode(TaskConfig.self, from: Data(s.utf8)) }
    #expect(try json(#"{"task_weights": {"nextitem": 1, "sid2title": 0.5}}"#).taskWeights == [.nextitem: 1, .sid2title: 0.5])
    #expect(throws: (any Error).self) { try json(#"{"task_weights": {"bogus": 1}}"#) }
    let written = String(decoding: try JSONEncoder().encode(TaskConfig(taskWeights: [.title2sid: 2])), as: UTF8.self)
    #expect(written.contains(#""task_weights":{"title2sid":2}"#), "\(written)")
}

@Test func encodingMasksThePromptAndShiftsTargets() throws {
    let b = try builder()
    let tok = TinyTokenizer()
    let ex = try b.example(.title2sid, item: 2, templateIndex: 0)
    let enc = try b.encode(ex, tokenizer: tok)
    let p = try tok.encode(ex.prompt), r = try tok.encode(ex.response)
    #expect(r.count == 3)    // one token per SID level
    let ids = [tok.bosId] + p + r + [tok.eosId]
    #expect(enc.inputs == Array(ids.dropLast()))
    #expect(enc.promptLength == 1 + p.count)
    #expect(enc.responseLength == 4)
    for t in 0..<enc.inputs.count {
        // Position t predicts ids[t + 1]; only response tokens and EOS are targets.
        let expected: Int32 = t + 1 >= 1 + p.count ? ids[t + 1] : -100
        #expect(enc.targets[t] == expected)
    }
    #expect(Array(enc.targets.suffix(4)) == r + [tok.eosId])
}

@Test func encodingTrimsOldestHistoryToFit() throws {
    let b = try builder()
    let tok = TinyTokenizer()
    let ex = try b.example(.nextitem, item: 6, history: [1, 2, 3, 4, 5], templateIndex: 0)
    let full = try b.encode(ex, tokenizer: tok)
    let cut = try b.encode(ex, tokenizer: tok, maxLength: full.inputs.count - 3)   // one SID = 3 tokens
    let shorter = try b.encode(try b.example(.nextitem, item: 6, history: [2, 3, 4, 5], templateIndex: 0), tokenizer: tok)
    #expect(cut == shorter)
    #expect(throws: AlignError.self) { try b.encode(ex, tokenizer: tok, maxLength: 10) }
    let cfg = try JSONDecoder().decode(TaskConfig.self, from: Data(#"{"max_history": 5, "title_separator": " | "}"#.utf8))
    #expect(cfg == TaskConfig(maxHistory: 5, titleSeparator: " | "))
}

@Test func lengthBucketBatchesAreDeterministicCompleteAndTight() throws {
    var rng = Rng(seed: 9)
    let examples: [EncodedExample] = (0..<203).map { _ in
        let n = 3 + rng.int(below: 60)
        let inputs = (0..<n).map { _ in Int32(10 + rng.int(below: 50)) }
        let targets = (0..<n).map { $0 < n / 2 ? Int32(-100) : Int32(5) }
        return EncodedExample(inputs: inputs, targets: targets, promptLength: n / 2 + 1)
    }
    let batcher = try LengthBucketBatcher(lengths: examples.map(\.inputs.count), batchSize: 8, windowBatches: 5, seed: 4)
    let plan = batcher.plan(epoch: 0)
    #expect(plan == batcher.plan(epoch: 0))
    #expect(plan != batcher.plan(epoch: 1))
    #expect(plan.flatMap { $0 }.sorted() == Array(0..<203))
    #expect(plan.filter { $0.count < 8 }.count <= 1)
    // Sorting windows makes batches tighter than random batching.
    func spread(_ p: [[Int]]) -> Int { p.map { b in b.map { examples[$0].inputs.count }.max()! - b.map { examples[$0].inputs.count }.min()! }.reduce(0, +) }
    let unsorted = try LengthBucketBatcher(lengths: examples.map(\.inputs.count), batchSize: 8, windowBatches: 1, seed: 4)
    #expect(spread(plan) * 2 < spread(unsorted.plan(epoch: 0)))
    // Collation: right padding, pads ignored.
    let batch = LengthBucketBatcher.collate(examples, indices: plan[0], padId: 0)
    #expect(batch.batch == plan[0].count && batch.length == plan[0].map { examples[$0].inputs.count }.max()!)
    for (row, i) in plan[0].enumerated() {
        let ex = examples[i]
        for t in 0..<batch.length {
            let inside = t < ex.inputs.count
            #expect(batch.inputs[row * batch.length + t] == (inside ? ex.inputs[t] : 0))
            #expect(batch.targets[row * batch.length + t] == (inside ? ex.targets[t] : -100))
        }
    }
    #expect(batch.targetCount == plan[0].map { i in examples[i].targets.filter { $0 != -100 }.count }.reduce(0, +))
}
