// The product-level sections of `align bench`: trie-constrained beam search with the KV-cached decoder
// (preset A, beam 20, top-20, 100-token prompts, 4 levels × 256 codes, 10k and 50k items),
// MiniLM embedding throughput, the RQ-KMeans SID build time (3 × 256 codes on 384-d vectors), and causal attention's
// forward + backward alone at the quickstart model's shape, fp32 and bf16 products alternated.
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

    func attentionSection() throws {
        // the quickstart model (d 96, 2 heads of 48) on a batch of 32 ~100-token samples, as one replica sees it
        let s = AttentionShape(batch: 32, seq: 100, heads: 2, kvHeads: 2, headDim: 48)
        var rng = Rng(seed: seed)
        let n = s.batch * s.seq * s.qkvWidth, outN = s.batch * s.seq * s.heads * s.headDim
        let pN = s.batch * s.heads * s.seq * s.seq
        let qkv = UnsafeMutableBufferPointer<Float>.allocate(capacity: n), dout = UnsafeMutableBufferPointer<Float>.allocate(capacity: outN)
        let qkv16 = UnsafeMutableBufferPointer<UInt16>.allocate(capacity: n), dout16 = UnsafeMutableBufferPointer<UInt16>.allocate(capacity: outN)
        let out = UnsafeMutableBufferPointer<Float>.allocate(capacity: outN), dqkv = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
        let probs = UnsafeMutableBufferPointer<Float>.allocate(capacity: pN), dprobs = UnsafeMutableBufferPointer<Float>.allocate(capacity: pN)
        defer { [qkv, dout, out, dqkv, probs, dprobs].forEach { $0.deallocate() }; qkv16.deallocate(); dout16.deallocate() }
        for i in 0..<n { qkv[i] = Float(rng.normal()) }
        for i in 0..<outN { dout[i] = Float(rng.normal()) }
        convertToBF16(qkv16.baseAddress!, qkv.baseAddress!, n)
        convertToBF16(dout16.baseAddress!, dout.baseAddress!, outN)
        let engines: [Precision: AttentionProducts] = [
            .fp32: .fp32, .bf16: AttentionProducts(precision: precision, maxSeq: s.seq),
        ]
        func once(_ p: Precision) -> Double {
            let e = engines[p]!, q16 = UnsafePointer(qkv16.baseAddress!), d16 = UnsafePointer(dout16.baseAddress!)
            let t0 = Clock.now().wall
            attentionForward(out.baseAddress!, probs.baseAddress!, qkv.baseAddress!, s, products: e, qkv16: q16)
            attentionBackward(dqkv.baseAddress!, dprobs.baseAddress!, dout.baseAddress!, qkv.baseAddress!, probs.baseAddress!, s,
                              products: e, qkv16: q16, dout16: d16)
            return Clock.now().wall - t0
        }
        var best: [Precision: Double] = [.fp32: .infinity, .bf16: .infinity]
        for _ in 0..<(2 * decodeReps + 3) { for p in [Precision.fp32, .bf16] { best[p] = min(best[p]!, once(p)) } }
        let f = best[.fp32]! * 1000, b = best[.bf16]! * 1000
        print(String(format: "\nattention — forward + backward, batch 32 × 100 tokens, 2 heads × 48, best of %d: fp32 %.2f ms, %@ %.2f ms (%.2f of the fp32 time)",
                     2 * decodeReps + 3, f, precision.rawValue, b, b / f))
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
