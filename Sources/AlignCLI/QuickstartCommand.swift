// `align quickstart`: the whole pipeline on MovieLens latest-small with the shipped presets —
// data prepare → embed (text, then text + collaborative) → SID build → tokenizer → SFT → eval → DPO → GRPO → eval → report — each stage run
// in-process through its own command (the same code path a user drives by hand), skipped when its output
// already exists (so an interrupted run resumes), then SFT vs aligned printed side by side.
import AlignCore
import AlignRec
import ArgumentParser
import Foundation

struct QuickstartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quickstart",
        abstract: "Run the whole pipeline end to end on MovieLens latest-small (fetch it first: scripts/quickstart does).")

    @Option(name: .long, help: "Raw MovieLens directory (ratings.csv, movies.csv).")
    var raw = "data/raw/ml-latest-small"
    @Option(name: .long, help: "Dataset directory to create/use.")
    var data = "data/ml-latest-small"
    @Option(name: .long, help: "Sentence encoder directory.")
    var encoder = "models/all-MiniLM-L6-v2"
    @Option(name: .long, help: "Prefix of the run directories (<prefix>-sft, -dpo, -grpo).")
    var runs = "runs/quickstart"
    @Option(name: .customLong("sft-config"), help: "SFT preset.")
    var sftConfig = "configs/movielens.yaml"
    @Option(name: .customLong("dpo-config"), help: "DPO preset.")
    var dpoConfig = "configs/dpo.yaml"
    @Option(name: .customLong("grpo-config"), help: "GRPO preset.")
    var grpoConfig = "configs/grpo.yaml"
    @Option(name: .customLong("sid-method"), help: "rqkmeans | rqkmeans-balanced | rqvae")
    var sidMethod = "rqkmeans-balanced"
    @Option(name: .customLong("sid-levels"), help: "SID levels.")
    var sidLevels = 3
    @Option(name: .customLong("sid-codes"), help: "Codes per level.")
    var sidCodes = 32
    @Option(name: .customLong("sid-dedup"), help: "extra-level | sinkhorn")
    var sidDedup = "sinkhorn"
    @Option(name: .customLong("vocab-size"), help: "SentencePiece text vocabulary size.")
    var vocabSize = 2000
    @Option(name: .customLong("sid-seed"), help: "Seed of the SID build.")
    var sidSeed: UInt64 = 42
    @Option(name: .customLong("cf-weight"), help: "Share of collaborative vectors in the SID embeddings (0 = text only; see align embed --collaborative).")
    var cfWeight: Float = 0.5
    @Option(name: .long, help: "Seed of SFT, DPO and GRPO.")
    var seed: UInt64 = 0
    @Flag(name: .customLong("skip-alignment"), help: "Stop after SFT and its evaluation.")
    var skipAlignment = false
    @Flag(name: .customLong("no-progress"), help: "No progress bars.")
    var noProgress = false

    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    /// Runs a stage unless `output` exists; prints a header and the wall time.
    func stage(_ name: String, output: String, _ body: () throws -> Void) throws {
        if exists(output) {
            print("── \(name): \(output) exists, skipped")
            fflush(nil)
            return
        }
        print("── \(name)")
        fflush(nil)   // stages also write to stderr: keep the headers in order when piped
        let t0 = Date()
        try body()
        print(String(format: "── %@ done in %.1f s", name, Date().timeIntervalSince(t0)))
        fflush(nil)
    }

    func run() throws {
        guard exists("\(raw)/ratings.csv") else {
            throw ValidationError("\(raw)/ratings.csv not found: run scripts/fetch-movielens (scripts/quickstart does it for you)")
        }
        guard exists("\(encoder)/model.safetensors") else {
            throw ValidationError("\(encoder)/model.safetensors not found: run scripts/fetch-minilm")
        }
        let progress = noProgress ? ["--no-progress"] : []
        let sft = "\(runs)-sft", dpo = "\(runs)-dpo", grpo = "\(runs)-grpo"
        try stage("data prepare", output: "\(data)/dataset.json") {
            let c = try DataPrepare.parse(["--format", "movielens", raw, "--out", data]); try c.run()
        }
        try stage("embed", output: "\(data)/embeddings.safetensors") {
            let c = try EmbedCommand.parse(["--data", data, "--encoder", encoder]); try c.run()
        }
        var sidVectors = "\(data)/embeddings.safetensors"
        if cfWeight > 0 {
            sidVectors = "\(data)/embeddings-loo-cf.safetensors"
            try stage("embed collaborative (loo training sequences)", output: sidVectors) {
                let c = try EmbedCommand.parse(["--data", data, "--collaborative", "--protocol", "loo", "--cf-weight", "\(cfWeight)"])
                try c.run()
            }
        }
        try stage("sid build", output: "\(data)/sid/sid_map.json") {
            let c = try SidBuild.parse(["--data", data, "--embeddings", sidVectors, "--method", sidMethod, "--levels", "\(sidLevels)",
                                        "--codes", "\(sidCodes)", "--dedup", sidDedup, "--seed", "\(sidSeed)"])
            try c.run()
        }
        try stage("tokenizer train", output: "\(data)/tokenizer") {
            let c = try TokenizerTrain.parse(["--data", data, "--vocab-size", "\(vocabSize)"]); try c.run()
        }
        try stage("sft", output: "\(sft)/last") {
            let c = try SFTCommand.parse(["--data", data, "--config", sftConfig, "--out", sft, "--seed", "\(seed)"] + progress)
            try c.run()
        }
        try stage("eval sft (test)", output: "\(sft)/eval.json") {
            let c = try EvalCommand.parse(["--model", sft, "--data", data, "--split", "test"] + progress); try c.run()
        }
        var stages = [("SFT", sft)]
        if !skipAlignment {
            try stage("dpo", output: "\(dpo)/last") {
                let c = try DPOCommand.parse(["--from", sft, "--data", data, "--out", dpo, "--config", dpoConfig, "--seed", "\(seed)"] + progress)
                try c.run()
            }
            try stage("eval dpo (test)", output: "\(dpo)/eval.json") {
                let c = try EvalCommand.parse(["--model", dpo, "--data", data, "--split", "test", "--no-translation"] + progress); try c.run()
            }
            try stage("grpo", output: "\(grpo)/last") {
                let c = try GRPOCommand.parse(["--from", sft, "--data", data, "--out", grpo, "--config", grpoConfig, "--seed", "\(seed)"] + progress)
                try c.run()
            }
            try stage("eval grpo (test)", output: "\(grpo)/eval.json") {
                let c = try EvalCommand.parse(["--model", grpo, "--data", data, "--split", "test", "--no-translation"] + progress); try c.run()
            }
            stages += [("DPO", dpo), ("GRPO", grpo)]
        }
        print("── report")
        let r = try ReportCommand.parse([stages.last!.1, "--runs", stages.map(\.1).joined(separator: ","), "--data", data])
        try r.run()
        try printSummary(stages)
    }

    /// SFT vs aligned, side by side, from each run's eval.json (leave-one-out test split).
    func printSummary(_ stages: [(String, String)]) throws {
        var rows: [(String, RankingMetrics, ListStats?)] = []
        var baseline: RankingMetrics?
        for (name, dir) in stages {
            let url = URL(fileURLWithPath: "\(dir)/eval.json")
            guard let d = FileManager.default.contents(atPath: url.path) else { continue }
            let rep = try JSONDecoder().decode(EvalReport.self, from: d)
            baseline = baseline ?? rep.mostPopular
            rows.append((name, rep.metrics, rep.lists))
        }
        guard let base = baseline else { return }
        print("\nleave-one-out test, \(base.count) users (protocol.md); beam 20, items from the user's history excluded")
        print("model          HR@1    HR@5   HR@10   HR@20  NDCG@5 NDCG@10 NDCG@20  coverage@10")
        func line(_ n: String, _ m: RankingMetrics, _ cov: Double?) {
            let c = cov.map { String(format: "%11.3f", $0) } ?? "          –"
            print(n.padding(toLength: 12, withPad: " ", startingAt: 0) + String(format: "%8.4f%8.4f%8.4f%8.4f%8.4f%8.4f%8.4f",
                  m.hr(at: 1), m.hr(at: 5), m.hr(at: 10), m.hr(at: 20), m.ndcg(at: 5), m.ndcg(at: 10), m.ndcg(at: 20)) + "  " + c)
        }
        line("most-popular", base, nil)
        for (n, m, l) in rows { line(n, m, l?.coverage10) }
    }
}
