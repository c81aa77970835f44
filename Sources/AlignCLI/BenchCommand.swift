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
        guard p.batch > 0, p.seq > 0, p.decode.groups > 0, p.decode.width > 0, p.decode.prompt > 0, p.decode.steps > 0 else {
            throw AlignError.format(path: url.path, line: nil, message: "batch, seq and decode sizes must be positive")
        }
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

/// The sgemm calls of one training step: the big projections (BLAS-threaded) and the per-(batch, head)
/// attention products (run in parallel on single-threaded BLAS), with scratch operands allocated once.
final class StepGemms {
    var linear: [GemmShape] = []
    var perHead: [GemmShape] = []
    let heads: Int
    let a: UnsafeMutableBufferPointer<Float>, b: UnsafeMutableBufferPointer<Float>
    let c: UnsafeMutableBufferPointer<Float>, hc: UnsafeMutableBufferPointer<Float>
    let maxHead: Int
    var total: Double { linear.reduce(0) { $0 + $1.flops } + Double(heads) * perHead.reduce(0) { $0 + $1.flops } }

    init(_ cfg: LlamaConfig, batch B: Int, seq T: Int) {
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
        while r0 < T {
            let r1 = min(T, r0 + 64)
            layerHead.append(GemmShape(transA: false, transB: true, m: r1 - r0, n: r1, k: hd))
            r0 = r1
        }
        layerHead += [GemmShape(transA: false, transB: false, m: T, n: hd, k: T),
                      GemmShape(transA: false, transB: true, m: T, n: T, k: hd),
                      GemmShape(transA: true, transB: false, m: T, n: hd, k: T),
                      GemmShape(transA: false, transB: false, m: T, n: hd, k: T),
                      GemmShape(transA: true, transB: false, m: T, n: hd, k: T)]
        for _ in 0..<cfg.numHiddenLayers { perHead += layerHead }
        let maxLinear = linear.map { max($0.m * $0.k, $0.k * $0.n, $0.m * $0.n) }.max() ?? 1
        maxHead = perHead.map { max($0.m * $0.k, $0.k * $0.n, $0.m * $0.n) }.max() ?? 1
        a = .allocate(capacity: maxLinear); b = .allocate(capacity: maxLinear); c = .allocate(capacity: maxLinear)
        hc = .allocate(capacity: maxHead * heads)
        a.initialize(repeating: 0.01); b.initialize(repeating: 0.01); c.initialize(repeating: 0); hc.initialize(repeating: 0)
    }

    deinit { a.deallocate(); b.deallocate(); c.deallocate(); hc.deallocate() }

    /// Best time to run every product once on scratch buffers (the GEMM-only ceiling of one step).
    func time(reps: Int) -> Clock {
        let a = self.a, b = self.b, c = self.c, hc = self.hc, maxHead = self.maxHead, perHead = self.perHead
        func run(_ g: GemmShape, _ out: UnsafeMutablePointer<Float>) {
            sgemm(g.transA, g.transB, g.m, g.n, g.k, 1, a.baseAddress!, g.transA ? g.m : g.k,
                  b.baseAddress!, g.transB ? g.k : g.n, 0, out, g.n)
        }
        var best = Clock(wall: .infinity, cpu: .infinity)
        for _ in 0..<reps {
            let t0 = Clock.now()
            for g in linear { run(g, c.baseAddress!) }
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

    @Option(name: .long, help: "Random seed for weights and tokens.")
    var seed: UInt64 = 0

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
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1") }
        Blas.setThreads(Parallel.workers)
        let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").first.map(String.init) ?? "n/a"
        print("align bench — \(Parallel.workers) worker threads, OpenBLAS threads \(Blas.threads), 1-min load average \(load) (numbers are only meaningful on an idle machine)")
        print("preset | params | train tok/s | GFLOP/s | GEMM-only ceiling tok/s | % ceiling | decode tok/s | users/s")
        for url in try presetURLs() {
            let p = try BenchPreset.load(url)
            try bench(p)
        }
    }

    func bench(_ p: BenchPreset) throws {
        let c = p.model
        let params = LlamaParameters(config: c, seed: seed)
        var rng = Rng(seed: seed &+ 1)
        let N = p.batch * p.seq
        let tokens = (0..<N).map { _ in Int32(rng.int(below: c.vocabSize)) }
        var targets = Array(tokens.dropFirst()) + [Int32(rng.int(below: c.vocabSize))]
        for b in 0..<p.batch { targets[b * p.seq + p.seq - 1] = ignoreIndex }
        let trainer = LlamaTrainer(params: params, maxBatch: p.batch, maxSeq: p.seq)
        let opt = AdamW(count: params.count, groups: params.paramGroups, config: AdamWConfig(lr: 1e-4))
        func step() throws {
            trainer.zeroGrads()
            try trainer.forward(tokens: tokens, targets: targets, batch: p.batch, seq: p.seq)
            try trainer.backwardMeanCrossEntropy()
            clipGradNorm(trainer.grads.baseAddress!, params.count, maxNorm: 1)
            opt.update(params: params.data.baseAddress!, grads: trainer.grads.baseAddress!)
        }
        try step()
        let gemms = StepGemms(c, batch: p.batch, seq: p.seq)
        // Steps and GEMM-only replays alternate, so a busy machine slows both alike; best of each is kept.
        var bestC = Clock(wall: .infinity, cpu: .infinity), ceilC = bestC
        for _ in 0..<steps {
            let t0 = Clock.now()
            try step()
            bestC = Clock.min(bestC, Clock.now() - t0)
            ceilC = Clock.min(ceilC, gemms.time(reps: 1))
        }
        let best = bestC.wall, ceiling = ceilC.wall
        let trainTok = Double(N) / best, ceilTok = Double(N) / ceiling
        let gflops = gemms.total / best / 1e9

        let d = p.decode
        let dec = LlamaDecoder(params: params, maxGroups: d.groups, maxWidth: d.width, maxPrompt: d.prompt, maxSuffix: d.steps)
        let prompts = (0..<d.groups).map { _ in (0..<d.prompt).map { _ in Int32(rng.int(below: c.vocabSize)) } }
        var bestStep = Double.infinity, bestTotal = Double.infinity
        for _ in 0..<2 {
            let t0 = Date()
            var logits = try dec.prefill(prompts, width: d.width)
            let t1 = Date()
            let R = d.groups * d.width
            var toks = (0..<R).map { r in TokenSampler.argmax(UnsafeBufferPointer(rebasing: logits[(r / d.width) * c.vocabSize..<(r / d.width + 1) * c.vocabSize])) }
            var parents = Array(0..<R)
            for _ in 0..<d.steps {
                logits = try dec.step(parents: parents, tokens: toks)
                for r in 0..<R {
                    toks[r] = TokenSampler.argmax(UnsafeBufferPointer(rebasing: logits[r * c.vocabSize..<(r + 1) * c.vocabSize]))
                    parents[r] = (r / d.width) * d.width + rng.int(below: d.width)
                }
            }
            let t2 = Date()
            bestStep = min(bestStep, t2.timeIntervalSince(t1))
            bestTotal = min(bestTotal, t2.timeIntervalSince(t0))
        }
        let decTok = Double(d.groups * d.width * d.steps) / bestStep
        let users = Double(d.groups) / bestTotal
        func f(_ x: Double, _ digits: Int = 0) -> String { String(format: "%.\(digits)f", x) }
        print("\(p.name) | \(f(Double(params.count) / 1e6, 1))M | \(f(trainTok)) | \(f(gflops, 1)) | \(f(ceilTok)) | \(f(100 * trainTok / ceilTok, 1))% | \(f(decTok)) | \(f(users, 1))")
        print("  step \(f(best * 1000, 1)) ms wall / \(f(bestC.cpu * 1000, 1)) ms CPU; GEMM-only \(f(ceiling * 1000, 1)) ms wall / \(f(ceilC.cpu * 1000, 1)) ms CPU (CPU-time ratio \(f(100 * ceilC.cpu / bestC.cpu, 1))%); \(f(gemms.total / 1e9, 2)) GFLOP/step")
        print("  decode: \(d.groups) prompts × \(d.width) rows, prompt \(d.prompt), \(d.steps) steps: prefill+steps \(f(bestTotal * 1000, 1)) ms")
    }
}
