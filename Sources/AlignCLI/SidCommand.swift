// `align sid build`: item vectors → unique Semantic IDs (sid/sid_map.json, sid/report.json,
// sid/lcrec.index.json) with a printed quality table. See Sources/AlignRec/SID.
import AlignCore
import AlignRec
import ArgumentParser
import Foundation

struct Sid: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sid",
        abstract: "Semantic IDs: quantize item vectors into unique code tuples <a_12><b_7><c_201>.",
        subcommands: [SidBuild.self, SidBench.self]
    )
}

struct SidBuild: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Build SIDs from <data>/embeddings.safetensors (genre purity from <data>/items.jsonl when present)."
    )

    @Option(name: .long, help: "Dataset directory (from `align data prepare`).")
    var data: String
    @Option(name: .long, help: "Vectors file (default <data>/embeddings.safetensors: embeddings F32 [N, D], items I32 [N]).")
    var embeddings: String?
    @Option(name: .long, help: "Output directory (default <data>/sid).")
    var out: String?
    @Option(name: .long, help: "rqkmeans | rqkmeans-balanced | rqvae")
    var method: String = "rqkmeans"
    @Option(name: .long, help: "Quantization levels.")
    var levels: Int = 3
    @Option(name: .long, help: "Codes per level.")
    var codes: Int = 256
    @Option(name: .long, help: "Random seed (same seed → same SIDs).")
    var seed: UInt64 = 42
    @Option(name: .long, help: "Max Lloyd iterations per level (stops early when assignments settle).")
    var iterations: Int = 25
    @Option(name: .customLong("init-sample"), help: "k-means++ seeding sample size (0 = 32 × codes).")
    var initSample: Int = 0
    @Option(name: .long, help: "extra-level | sinkhorn")
    var dedup: String = "extra-level"
    @Option(name: .customLong("sinkhorn-epsilon"), help: "Sinkhorn temperature ε.")
    var sinkhornEpsilon: Double = 0.003
    @Option(name: .customLong("sinkhorn-iters"), help: "Sinkhorn iterations per re-assignment.")
    var sinkhornIters: Int = 100
    @Option(name: .customLong("sinkhorn-rounds"), help: "Max Sinkhorn rounds before falling back to the extra level.")
    var sinkhornRounds: Int = 20
    @Option(name: .long, help: "rqvae: training epochs.")
    var epochs: Int = 50
    @Option(name: .long, help: "rqvae: peak learning rate (cosine decay to 10%).")
    var lr: Float = 1e-3
    @Option(name: .long, help: "rqvae: encoder hidden widths, comma-separated (decoder mirrors them).")
    var hidden: String = "512,256"
    @Option(name: .long, help: "rqvae: latent dimension.")
    var latent: Int = 32
    @Option(name: .long, help: "rqvae: batch size (at least --codes).")
    var batch: Int = 1024
    @Option(name: .long, help: "rqvae: commitment weight β.")
    var beta: Float = 0.25

    func run() throws {
        do {
            guard let m = SIDMethod(rawValue: method) else {
                throw AlignError.invalidArgument("--method must be one of \(SIDMethod.allCases.map(\.rawValue).joined(separator: ", ")) (got \(method))")
            }
            guard let dd = SIDDedup(rawValue: dedup) else {
                throw AlignError.invalidArgument("--dedup must be one of \(SIDDedup.allCases.map(\.rawValue).joined(separator: ", ")) (got \(dedup))")
            }
            let widths = hidden.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !widths.isEmpty, widths.allSatisfy({ (1...FieldCheck.maxCount).contains($0 ?? 0) }) else {
                throw CLIErrors.option.failure("--hidden", "'\(hidden)'", allowed: "positive integers separated by commas")
            }
            let o = CLIErrors.option
            try o.int("--levels", levels, 1...25)
            try o.int("--codes", codes, 2...65_536)
            try o.int("--iterations", iterations, 1...FieldCheck.maxSteps)
            try o.int("--init-sample", initSample, 0...FieldCheck.maxCount, "0 = 32 × codes")
            try o.number("--sinkhorn-epsilon", sinkhornEpsilon, .positive)
            try o.int("--sinkhorn-iters", sinkhornIters, 1...FieldCheck.maxSteps)
            try o.int("--sinkhorn-rounds", sinkhornRounds, 0...FieldCheck.maxSteps)
            try o.int("--epochs", epochs, 1...FieldCheck.maxSteps)
            try o.number("--lr", lr, .positive)
            try o.int("--latent", latent, 1...FieldCheck.maxCount)
            try o.int("--batch", batch, 1...FieldCheck.maxCount)
            try o.number("--beta", beta, .nonNegative)
            let cfg = SIDBuildConfig(
                method: m, levels: levels, codes: codes, seed: seed,
                kmeans: KMeansConfig(iterations: iterations, initSample: initSample),
                dedup: dd, sinkhorn: SinkhornConfig(epsilon: sinkhornEpsilon, iterations: sinkhornIters, rounds: sinkhornRounds),
                rqvae: RQVAEConfig(levels: levels, codes: codes, hidden: widths.map { $0! }, latent: latent, epochs: epochs,
                                   lr: lr, batch: batch, beta: beta, kmeansIterations: iterations))
            let dir = URL(fileURLWithPath: data)
            let outDir = out.map { URL(fileURLWithPath: $0) } ?? dir.appendingPathComponent("sid")
            let b = try SIDBuilder.run(dataset: dir, embeddings: embeddings.map { URL(fileURLWithPath: $0) }, out: outDir, config: cfg)
            print(b.report.table(), terminator: "")
            print("wrote \(outDir.appendingPathComponent("sid_map.json").path), report.json, lcrec.index.json")
        }
    }
}

struct SidBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time a SID build on seeded random unit vectors (default: rqkmeans, 100,000 × 384, 3 × 256)."
    )
    @Option(name: .long, help: "Vectors.") var n: Int = 100_000
    @Option(name: .long, help: "Dimension.") var dim: Int = 384
    @Option(name: .long, help: "Levels.") var levels: Int = 3
    @Option(name: .long, help: "Codes per level.") var codes: Int = 256
    @Option(name: .long, help: "rqkmeans | rqkmeans-balanced | rqvae") var method: String = "rqkmeans"
    @Option(name: .long, help: "Max Lloyd iterations per level.") var iterations: Int = 25

    func run() throws {
        guard let m = SIDMethod(rawValue: method) else {
            throw CLIErrors.option.failure("--method", "'\(method)'", allowed: SIDMethod.allCases.map(\.rawValue).joined(separator: ", "))
        }
        do {
            let o = CLIErrors.option
            try o.int("--n", n, 1...FieldCheck.maxCount)
            try o.int("--dim", dim, 1...65_536)
            try o.int("--levels", levels, 1...25)
            try o.int("--codes", codes, 2...65_536)
            try o.int("--iterations", iterations, 1...FieldCheck.maxSteps)
            var need = MemoryEstimate()
            need.add("vectors and residuals", floats: 3 * Double(n) * Double(dim))
            try need.check("--n \(n) × --dim \(dim) vectors")
            let r = try SIDBench.measure(n: n, dim: dim, levels: levels, codes: codes, method: m, iterations: iterations)
            print(r.report.table(), terminator: "")
            print(String(format: "sid bench: %@ %d × %d, %d × %d codes: %.2f s (%d workers, iterations per level %@)",
                         method, n, dim, levels, codes, r.seconds, Parallel.workers, r.report.iterations.description))
        }
    }
}
