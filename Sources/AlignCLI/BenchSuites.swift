// The product-level sections of `align bench`: trie-constrained beam search with the KV-cached decoder
// (preset A, beam 20, top-20, 100-token prompts, 4 levels × 256 codes, 10k and 50k items),
// MiniLM embedding throughput, and the RQ-KMeans SID build time (3 × 256 codes on 384-d vectors).
import AlignCore
import AlignRec
import ArgumentParser
import Foundation

extension BenchCommand {
    func beamSection() throws {
        let url = URL(fileURLWithPath: configs).appendingPathComponent("bench-a.json")
        let p = try BenchPreset.load(url)
        let params = LlamaParameters(config: p.model, seed: seed)
        let V = p.model.vocabSize, levels = 4, codes = 256
        let first = Int32(V - levels * codes)
        guard first > 2 else { throw ValidationError("preset A's vocabulary is too small for \(levels) × \(codes) SID tokens") }
        let prompts = BeamBench.syntheticPrompts(count: beamUsers, length: 100, bos: 1, firstToken: 3, vocabSize: Int(first), seed: seed)
        guard beamBatch >= 1 else { throw ValidationError("--beam-batch must be at least 1") }
        guard beamWorkers >= 1 else { throw ValidationError("--beam-workers must be at least 1") }
        print("\nconstrained beam search — \(precision.rawValue), preset A, beam 20, top-20, 100-token prompts, \(beamBatch) users per decoder × \(beamWorkers) decoder(s) side by side, \(levels) levels × \(codes) codes")
        print("items | users | seconds | users/s | beam-step rows computed per user (of)")
        // The prompt's share: a one-level trie of 256 items needs the prefill and no beam step.
        do {
            let sids = (0..<codes).map { (item: $0 + 1, tokens: [first + Int32($0)]) }
            let search = try ShardedBeamSearch(params: params, trie: try SIDTrie(sids: sids), beamWidth: 20,
                                               usersPerWorker: beamBatch, workers: beamWorkers, precision: precision)
            let r = try BeamBench.run(search: search, prompts: prompts, topK: 20)
            print(String(format: "prefill only (1 level × %d) | %d | %.2f | %.1f | 0 (0)", codes, r.users, r.seconds, r.usersPerSecond))
        }
        for items in [10_000, 50_000] {
            let sids = try BeamBench.syntheticSIDs(items: items, levels: levels, codes: codes, firstToken: first, seed: seed &+ UInt64(items))
            let trie = try SIDTrie(sids: sids)
            let search = try ShardedBeamSearch(params: params, trie: trie, beamWidth: 20, usersPerWorker: beamBatch, workers: beamWorkers, skipRows: !beamEveryRow,
                                               precision: precision)
            let r = try BeamBench.run(search: search, prompts: prompts, topK: 20)
            print(String(format: "%d | %d | %.2f | %.1f | %.1f (%.0f)", items, r.users, r.seconds, r.usersPerSecond,
                         r.stepRowsPerUser, r.rowSlotsPerUser))
        }
    }

    func embedSection() throws {
        let dir = URL(fileURLWithPath: encoder)
        guard FileManager.default.fileExists(atPath: dir.appendingPathComponent("model.safetensors").path) else {
            print("\nembed: \(encoder) not found (run scripts/fetch-minilm); skipped")
            return
        }
        let rate = try BertBench.run(encoderDir: dir, items: 1024, batch: 64)
        print(String(format: "\nembed — all-MiniLM-L6-v2, 1,024 synthetic ~10-word titles, batch 64: %.1f items/s", rate))
    }

    func sidSection() throws {
        let (secs, report) = try SIDBench.measure(n: sidItems, dim: 384, levels: 3, codes: 256, method: .rqkmeans)
        print(String(format: "\nsid build — rqkmeans, %d × 384 random unit vectors, 3 levels × 256 codes: %.1f s (collision rate before de-dup %.4f)",
                     sidItems, secs, report.collisionRateBeforeDedup))
    }

    func exportSection() throws {
        guard let model, let data else { throw ValidationError("--model needs --data (the dataset it was trained on)") }
        let service = try RecService.load(URL(fileURLWithPath: model), beam: 20, usersPerBatch: 16, precision: precision)
        let ds = try Dataset.load(from: URL(fileURLWithPath: data))
        let users = try ServeInputs.selection("test", dataset: ds)
        let s = try RecExport.benchmark(service: service, users: users, count: beamUsers * 4, k: 20)
        print(String(format: "\nexport — %@, beam 20, top-20, %d test users: %.2f s, %.1f users/s", model, s.users, s.seconds, s.usersPerSecond))
    }
}
