// `align bench`: training and decoding throughput of the LLaMA engine on the presets in configs/bench-*.json.
// Reports training tokens/s (forward + backward + grad clip + AdamW), achieved GFLOP/s (all matrix products of
// the step), the share of a GEMM-only ceiling it measures itself (the same sgemm shapes replayed alone), and
// batched KV-cache decoding throughput (beam-like groups × width rows).
import AlignCore
import ArgumentParser
import Foundation

/// One benchmark preset file (configs/bench-*.json).
struct BenchPreset: Codable {
    struct Decode: Codable {
        var groups: Int, width: Int, prompt: Int, steps: Int
    }
    var format: String
    var version: Int
    var name: String
    var model: LlamaConfig
    var batch: Int
    var seq: Int
    var decode: Decode

    static func load(_ url: URL) throws -> BenchPreset {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw AlignError.io(path: url.path, message: "cannot read: \(error.localizedDescription)")
        }
        let p: BenchPreset
        do { p = try JSONDecoder().decode(BenchPreset.self, from: data) } catch let e as AlignError { throw e } catch {
            throw AlignError.format(path: url.path, line: nil, message: "not a bench preset: \(error)")
        }
        guard p.format == "align-bench", p.version == 1 else {
            throw AlignError.format(path: url.path, line: nil, message: "expected format \"align-bench\" version 1, got \"\(p.format)\" version \(p.version)")
        }
        let check = FieldCheck(file: url.path)
        try check.int("batch", p.batch, 1...FieldCheck.maxCount)
        try check.int("seq", p.seq, 1...p.model.maxPositionEmbeddings, "≤ model.max_position_embeddings")
        try check.int("decode.groups", p.decode.groups, 1...FieldCheck.maxCount)
        try check.int("decode.width", p.decode.width, 1...FieldCheck.maxCount)
        try check.int("decode.prompt", p.decode.prompt, 1...FieldCheck.maxCount)
        try check.int("decode.steps", p.decode.steps, 1...FieldCheck.maxCount)
        var need = MemoryEstimate()
        need.add("weights and AdamW moments", floats: 3 * p.model.parameterFloats)
        need.add("trainer", floats: LlamaTrainer.plannedFloats(p.model, maxBatch: p.batch, maxSeq: p.seq, dropout: false))
        need.add("decoder", floats: LlamaDecoder.plannedFloats(p.model, maxGroups: p.decode.groups, maxWidth: p.decode.width,
                                                              maxPrompt: p.decode.prompt, maxSuffix: p.decode.steps))
        try need.check("preset \(p.name), batch \(p.batch) × seq \(p.seq), \(p.model.summary),", file: url.path)
        return p
    }
}

/// Wall-clock and process CPU seconds, read together.
struct Clock {
    var wall: Double, cpu: Double
    static func now() -> Clock {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Clock(wall: Date().timeIntervalSinceReferenceDate, cpu: Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9)
    }
    static func - (a: Clock, b: Clock) -> Clock { Clock(wall: a.wall - b.wall, cpu: a.cpu - b.cpu) }
    static func min(_ a: Clock, _ b: Clock) -> Clock { Clock(wall: Swift.min(a.wall, b.wall), cpu: Swift.min(a.cpu, b.cpu)) }
}

/// A matrix product shape as the trainer issues it.
struct GemmShape {
    var transA: Bool, transB: Bool, m: Int, n: Int, k: Int
    var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
}

/// The sgemm calls of one training step: the big projections (at the run's precision, through a `Gemm`) and the
/// per-(batch, head) attention products (fp32, run in parallel on single-threaded BLAS), with scratch operands
/// allocated once.
final class StepGemms {
    var linear: [GemmShape] = []
    var perHead: [GemmShape] = []
    let heads: Int
    let a: UnsafeMutableBufferPointer<Float>, b: UnsafeMutableBufferPointer<Float>
    let c: UnsafeMutableBufferPointer<Float>, hc: UnsafeMutableBufferPointer<Float>
    let maxHead: Int
    let gemm: Gemm
    let a16: UnsafeMutableBufferPointer<UInt16>, b16: UnsafeMutableBufferPointer<UInt16>
    var total: Double { linear.reduce(0) { $0 + $1.flops } + Double(heads) * perHead.reduce(0) { $0 + $1.flops } }

    init(_ cfg: LlamaConfig, batch B: Int, seq T: Int, precision: Precision) {
        let N = B * T, C = cfg.hiddenSize, H = cfg.numAttentionHeads, hd = cfg.headDim
        let W = (H + 2 * cfg.numKeyValueHeads) * hd, F = cfg.intermediateSize, V = cfg.vocabSize
        heads = B * H
        for _ in 0..<cfg.numHiddenLayers {
            linear += [GemmShape(transA: false, transB: true, m: N, n: W, k: C),
                       GemmShape(transA: false, transB: true, m: N, n: C, k: H * hd),
                       GemmShape(transA: false, transB: true, m: N, n: 2 * F, k: C),
                       GemmShape(transA: false, transB: true, m: N, n: C, k: F),
                       GemmShape(transA: false, transB: false, m: N, n: F, k: C),
                       GemmShape(transA: true, transB: false, m: C, n: F, k: N),
                       GemmShape(transA: false, transB: false, m: N, n: C, k: 2 * F),
                       GemmShape(transA: true, transB: false, m: 2 * F, n: C, k: N),
                       GemmShape(transA: false, transB: false, m: N, n: H * hd, k: C),
                       GemmShape(transA: true, transB: false, m: C, n: H * hd, k: N),
                       GemmShape(transA: false, transB: false, m: N, n: C, k: W),
                       GemmShape(transA: true, transB: false, m: W, n: C, k: N)]
        }
        linear += [GemmShape(transA: false, transB: true, m: N, n: V, k: C),
                   GemmShape(transA: true, transB: false, m: V, n: C, k: N),
                   GemmShape(transA: false, transB: false, m: N, n: C, k: V)]
        var layerHead: [GemmShape] = []
        var r0 = 0
        while r0 < T {   // the causal blocks of Attention.swift: scores, P·V, dP, dV, dQ, dK
            let r1 = min(T, r0 + 64)
            layerHead += [GemmShape(transA: false, transB: true, m: r1 - r0, n: r1, k: hd),
                          GemmShape(transA: false, transB: false, m: r1 - r0, n: hd, k: r1),
                          GemmShape(transA: false, transB: true, m: r1 - r0, n: r1, k: hd),
                          GemmShape(transA: true, transB: false, m: r1 - r0, n: hd, k: T - r0),
                          GemmShape(transA: false, transB: false, m: r1 - r0, n: hd, k: r1),
                          GemmShape(transA: true, transB: false, m: r1 - r0, n: hd, k: T - r0)]
            r0 = r1
        }
        for _ in 0..<cfg.numHiddenLayers { perHead += layerHead }
        let maxLinear = linear.map { max($0.m * $0.k, $0.k * $0.n, $0.m * $0.n) }.max() ?? 1
        maxHead = perHead.map { max($0.m * $0.k, $0.k * $0.n, $0.m * $0.n) }.max() ?? 1
        a = .allocate(capacity: maxLinear); b = .allocate(capacity: maxLinear); c = .allocate(capacity: maxLinear)
        hc = .allocate(capacity: maxHead * heads)
        a.initialize(repeating: 0.01); b.initialize(repeating: 0.01); c.initialize(repeating: 0); hc.initialize(repeating: 0)
        a16 = .allocate(capacity: maxLinear); b16 = .allocate(capacity: maxLinear)
        a16.initialize(repeating: 0x3C23); b16.initialize(repeating: 0x3C23)   // bf16 ≈ 0.01
        gemm = Gemm(precision: precision)
    }

    deinit { a.deallocate(); b.deallocate(); c.deallocate(); hc.deallocate(); a16.deallocate(); b16.deallocate() }

    /// Best time to run every product once on scratch buffers (the GEMM-only ceiling of one step).
    func time(reps: Int) -> Clock {
        let a = self.a, b = self.b, c = self.c, hc = self.hc, maxHead = self.maxHead, perHead = self.perHead
        let gemm = self.gemm, bf16 = gemm.precision == .bf16
        let oa: GemmOperand = bf16 ? .bf16(UnsafePointer(a16.baseAddress!)) : .f32(UnsafePointer(a.baseAddress!))
        let ob: GemmOperand = bf16 ? .bf16(UnsafePointer(b16.baseAddress!)) : .f32(UnsafePointer(b.baseAddress!))
        func linearRun(_ g: GemmShape, _ out: UnsafeMutablePointer<Float>) {
            gemm.mm(g.transA, g.transB, g.m, g.n, g.k, 1, oa, g.transA ? g.m : g.k, ob, g.transB ? g.k : g.n, 0, out, g.n)
        }
        func run(_ g: GemmShape, _ out: UnsafeMutablePointer<Float>) {
            sgemm(g.transA, g.transB, g.m, g.n, g.k, 1, a.baseAddress!, g.transA ? g.m : g.k,
                  b.baseAddress!, g.transB ? g.k : g.n, 0, out, g.n)
        }
        var best = Clock(wall: .infinity, cpu: .infinity)
        for _ in 0..<reps {
            let t0 = Clock.now()
            for g in linear { linearRun(g, c.baseAddress!) }
            let saved = Blas.threads
            Blas.setThreads(1)
            Parallel.forEach(heads) { h in for g in perHead { run(g, hc.baseAddress! + h * maxHead) } }
            Blas.setThreads(saved)
            best = Clock.min(best, Clock.now() - t0)
        }
        return best
    }
}

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Training and decoding throughput of the LLaMA engine on the presets in configs/bench-*.json."
    )

    @Option(name: .long, help: "Preset name (A, B, …, matching configs/bench-<name>.json) or a path to a preset file; repeatable. Default: every configs/bench-*.json.")
    var preset: [String] = []

    @Option(name: .long, help: "Directory holding the bench-*.json presets.")
    var configs: String = "configs"

    @Option(name: .long, help: "Timed training steps per preset (after one warm-up step).")
    var steps: Int = 3

    @Option(name: .long, help: "Timed decoding repetitions per preset.")
    var decodeReps: Int = 3

    @Flag(name: .long, help: "Print the OpenBLAS kernel set align runs with on this machine (e.g. SkylakeX) and exit; scripts/test gives the test process the same.")
    var kernels = false

    @Flag(name: .long, help: "Only measure decoding.")
    var decodeOnly = false

    @Option(name: .long, help: "Sections to run, comma-separated: engine (training + decoding per preset), beam (trie-constrained beam search users/s), embed (MiniLM items/s), sid (RQ-KMeans build time), attention (forward + backward at the quickstart shape, fp32 against --precision). Default: engine,beam,embed,sid.")
    var only: String = "engine,beam,embed,sid"

    @Option(name: .customLong("beam-users"), help: "Users per beam-search measurement.")
    var beamUsers: Int = 64

    @Option(name: .customLong("beam-batch"), help: "Users per decoder (their beams decode together in one batch).")
    var beamBatch: Int = 16

    @Option(name: .customLong("beam-workers"), help: "Decoders running side by side, each on one core with single-threaded OpenBLAS (default: ALIGN_THREADS or the core count; 1 = one decoder with multi-threaded OpenBLAS).")
    var beamWorkers: Int = Parallel.workers

    @Flag(name: .customLong("beam-every-row"), help: "Compute every beam row of every step (no skipping of idle rows and of beams with one item left; same results).")
    var beamEveryRow = false

    @Option(name: .customLong("sid-items"), help: "Vectors for the SID build benchmark (384-d, 3 levels × 256 codes).")
    var sidItems: Int = 100_000

    @Option(name: .long, help: "Sentence encoder directory for the embed benchmark.")
    var encoder: String = "models/all-MiniLM-L6-v2"

    @Option(name: .long, help: "A trained run/checkpoint: adds the export section (users/s of `align export` on this model's test users).")
    var model: String?

    @Option(name: .long, help: "Dataset directory of --model (for its users).")
    var data: String?

    @Option(name: .long, help: "Random seed for weights and tokens.")
    var seed: UInt64 = 0

    @OptionGroup var precisionOptions: PrecisionOptions
    var precision: Precision { Precision.resolve(precisionOptions.precision).precision }

    func presetURLs() throws -> [URL] {
        let dir = URL(fileURLWithPath: configs)
        if preset.isEmpty {
            let names: [String]
            do { names = try FileManager.default.contentsOfDirectory(atPath: dir.path) } catch {
                throw AlignError.io(path: dir.path, message: "cannot list presets: \(error.localizedDescription)")
            }
            let urls = names.filter { $0.hasPrefix("bench-") && $0.hasSuffix(".json") }.sorted().map { dir.appendingPathComponent($0) }
            guard !urls.isEmpty else { throw AlignError.io(path: dir.path, message: "no bench-*.json presets found") }
            return urls
        }
        return preset.map { p in
            p.hasSuffix(".json") ? URL(fileURLWithPath: p) : dir.appendingPathComponent("bench-\(p.lowercased()).json")
        }
    }

    func run() throws {
        if kernels { print(BlasCore.name); return }
        let o = CLIErrors.option
        try o.int("--steps", steps, 1...FieldCheck.maxSteps)
        try o.int("--decode-reps", decodeReps, 1...FieldCheck.maxSteps)
        try o.int("--beam-users", beamUsers, 1...FieldCheck.maxCount)
        try o.int("--beam-batch", beamBatch, 1...FieldCheck.maxCount)
        try o.int("--beam-workers", beamWorkers, 1...1024)
        try o.int("--sid-items", sidItems, 256...FieldCheck.maxCount)
        Blas.setThreads(Parallel.workers)
        let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").first.map(String.init) ?? "n/a"
        print("align bench — \(Parallel.workers) worker threads, OpenBLAS threads \(Blas.threads) (kernels \(BlasCore.name)), 1-min load average \(load) (numbers are only meaningful on an idle machine)")
        _ = precisionOptions.resolve()
        let sections = Set(only.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        for s in sections where !["engine", "beam", "embed", "sid", "attention"].contains(s) {
            throw ValidationError("--only: unknown section '\(s)' (engine, beam, embed, sid, attention)")
        }
        if sections.contains("engine") {
            print("preset | params | train tok/s | GFLOP/s | GEMM-only ceiling tok/s | % ceiling | decode tok/s | users/s")
            for url in try presetURLs() {
                let p = try BenchPreset.load(url)
                try bench(p)
            }
        }
        if sections.contains("beam") { try beamSection() }
        if sections.contains("embed") { try embedSection() }
        if sections.contains("sid") { try sidSection() }
        if sections.contains("attention") { try attentionSection() }
        if model != nil { try exportSection() }
    }

    func bench(_ p: BenchPreset) throws {
        let c = p.model
        let params = LlamaParameters(config: c, seed: seed)
        var rng = Rng(seed: seed &+ 1)
        func f(_ x: Double, _ digits: Int = 0) -> String { String(format: "%.\(digits)f", x) }
        var train = "- | - | - | -"
        var trainDetail = "  training skipped"
        if !decodeOnly {
            let (best, ceil, flops) = try trainBench(p, params, &rng)
            let N = Double(p.batch * p.seq)
            train = "\(f(N / best.wall)) | \(f(flops / best.wall / 1e9, 1)) | \(f(N / ceil.wall)) | \(f(100 * ceil.wall / best.wall, 1))%"
            trainDetail = "  step \(f(best.wall * 1000, 1)) ms wall / \(f(best.cpu * 1000, 1)) ms CPU; GEMM-only \(f(ceil.wall * 1000, 1)) ms wall / \(f(ceil.cpu * 1000, 1)) ms CPU (CPU-time ratio \(f(100 * ceil.cpu / best.cpu, 1))%); \(f(flops / 1e9, 2)) GFLOP/step"
        }
        let d = p.decode
        let (stepTime, total, decFlops) = try decodeBench(p, params, &rng)
        let decTok = Double(d.groups * d.width * d.steps) / stepTime
        print("\(p.name) | \(f(Double(params.count) / 1e6, 1))M | \(train) | \(f(decTok)) | \(f(Double(d.groups) / total, 1))")
        print(trainDetail)
        print("  decode: \(d.groups) prompts × \(d.width) rows, prompt \(d.prompt), \(d.steps) steps: prefill+steps \(f(total * 1000, 1)) ms, \(f(decFlops / total / 1e9, 1)) GFLOP/s")
    }

    /// Best training step and GEMM-only replay (alternated, so a busy machine slows both alike) and the step's FLOPs.
    func trainBench(_ p: BenchPreset, _ params: LlamaParameters, _ rng: inout Rng) throws -> (Clock, Clock, Double) {
        let c = p.model, N = p.batch * p.seq
        let tokens = (0..<N).map { _ in Int32(rng.int(below: c.vocabSize)) }
        var targets = Array(tokens.dropFirst()) + [Int32(rng.int(below: c.vocabSize))]
        for b in 0..<p.batch { targets[b * p.seq + p.seq - 1] = ignoreIndex }
        let trainer = LlamaTrainer(params: params, maxBatch: p.batch, maxSeq: p.seq, precision: precision)
        trainer.logitsForAllPositions = false   // the LM head over trained rows, as SFT runs it
        let opt = AdamW(count: params.count, groups: params.paramGroups, config: AdamWConfig(lr: 1e-4))
        func step() throws {
            trainer.zeroGrads()
            try trainer.forward(tokens: tokens, targets: targets, batch: p.batch, seq: p.seq)
            try trainer.backwardMeanCrossEntropy()
            clipGradNorm(trainer.grads.baseAddress!, params.count, maxNorm: 1)
            opt.update(params: params.data.baseAddress!, grads: trainer.grads.baseAddress!)
        }
        try step()
        let gemms = StepGemms(c, batch: p.batch, seq: p.seq, precision: precision)
        var best = Clock(wall: .infinity, cpu: .infinity), ceil = best
        for _ in 0..<steps {
            let t0 = Clock.now()
            try step()
            best = Clock.min(best, Clock.now() - t0)
            ceil = Clock.min(ceil, gemms.time(reps: 1))
        }
        return (best, ceil, gemms.total)
    }

    /// Beam-like batched decoding: best seconds of the steps alone, of prefill + steps, and the FLOPs of both.
    func decodeBench(_ p: BenchPreset, _ params: LlamaParameters, _ rng: inout Rng) throws -> (Double, Double, Double) {
        let c = p.model, d = p.decode, V = c.vocabSize, R = d.groups * d.width
        let dec = LlamaDecoder(params: params, maxGroups: d.groups, maxWidth: d.width, maxPrompt: d.prompt, maxSuffix: d.steps,
                               precision: precision)
        let prompts = (0..<d.groups).map { _ in (0..<d.prompt).map { _ in Int32(rng.int(below: V)) } }
        var bestStep = Double.infinity, bestTotal = Double.infinity
        var toks = [Int32](repeating: 0, count: R), parents = Array(0..<R)
        for _ in 0..<decodeReps {
            let t0 = Date()
            var logits = try dec.prefill(prompts, width: d.width)
            let t1 = Date()
            for r in 0..<R { toks[r] = TokenSampler.argmax(UnsafeBufferPointer(rebasing: logits[(r / d.width) * V..<(r / d.width + 1) * V])) }
            for r in 0..<R { parents[r] = r }
            for _ in 0..<d.steps {
                logits = try dec.step(parents: parents, tokens: toks)
                for r in 0..<R {
                    toks[r] = TokenSampler.argmax(UnsafeBufferPointer(rebasing: logits[r * V..<(r + 1) * V]))
                    parents[r] = (r / d.width) * d.width + rng.int(below: d.width)
                }
            }
            let t2 = Date()
            bestStep = min(bestStep, t2.timeIntervalSince(t1))
            bestTotal = min(bestTotal, t2.timeIntervalSince(t0))
        }
        let lay = params.layout
        let body = Double(lay.count - c.vocabSize * c.hiddenSize * (c.tieWordEmbeddings ? 1 : 2))
        let head = Double(c.vocabSize * c.hiddenSize)
        let flops = 2 * Double(d.groups * d.prompt) * body + 2 * Double(d.groups) * head
            + 2 * Double(R * d.steps) * (body + head)
        return (bestStep, bestTotal, flops)
    }
}
