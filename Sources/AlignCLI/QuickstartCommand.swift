// `align quickstart`: the whole pipeline on MovieLens latest-small with the shipped presets —
// data prepare → embed (text, then text + collaborative) → SID build → tokenizer → SFT → eval → DPO → GRPO → eval → report — each stage run
// in-process through its own command (the same code path a user drives by hand), skipped when its output
// already exists (so an interrupted run resumes), then SFT vs aligned printed side by side. The stages and their
// arguments come from `QuickstartPlan` (AlignRec), for either protocol.
import AlignCore
import AlignRec
import ArgumentParser
import Foundation

struct QuickstartCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quickstart",
        abstract: "Run the whole pipeline end to end on MovieLens latest-small (fetch it first: scripts/quickstart does).",
        discussion: """
        --protocol loo (the default) trains and evaluates on the leave-one-out split with configs/grpo.yaml. \
        --protocol chrono adds collaborative vectors and SIDs of the chronological training sequences \
        (<data>/sid-cf-chrono), trains the SFT model on them with validation on 2,000 samples, aligns with \
        configs/grpo-chrono-future.yaml and evaluates on the chronological test split; runs go to \
        runs/quickstart-chrono-*. Data, loo SIDs and tokenizer are shared, so the second protocol skips them.
        """)

    /// The option defaults are the plan's own.
    private static let defaults = QuickstartSettings()

    @Option(name: .long, help: "Raw MovieLens directory (ratings.csv, movies.csv).")
    var raw = defaults.raw
    @Option(name: .long, help: "Dataset directory to create/use.")
    var data = defaults.data
    @Option(name: .long, help: "Sentence encoder directory.")
    var encoder = defaults.encoder
    @Option(name: .long, help: "Prefix of the run directories (<prefix>-sft, -dpo, -grpo; default runs/quickstart, or runs/quickstart-chrono).")
    var runs: String?
    @Option(name: .customLong("sft-config"), help: "SFT preset.")
    var sftConfig = defaults.sftConfig
    @Option(name: .customLong("dpo-config"), help: "DPO preset.")
    var dpoConfig = defaults.dpoConfig
    @Option(name: .customLong("grpo-config"), help: "GRPO preset (default configs/grpo.yaml, or configs/grpo-chrono-future.yaml).")
    var grpoConfig: String?
    @Option(name: .customLong("sid-method"), help: "rqkmeans | rqkmeans-balanced | rqvae")
    var sidMethod = defaults.sidMethod
    @Option(name: .customLong("sid-levels"), help: "SID levels.")
    var sidLevels = defaults.sidLevels
    @Option(name: .customLong("sid-codes"), help: "Codes per level.")
    var sidCodes = defaults.sidCodes
    @Option(name: .customLong("sid-dedup"), help: "extra-level | sinkhorn")
    var sidDedup = defaults.sidDedup
    @Option(name: .customLong("vocab-size"), help: "SentencePiece text vocabulary size.")
    var vocabSize = defaults.vocabSize
    @Option(name: .customLong("sid-seed"), help: "Seed of the SID build.")
    var sidSeed = defaults.sidSeed
    @Option(name: .customLong("cf-weight"), help: "Share of collaborative vectors in the SID embeddings (0 = text only; see align embed --collaborative).")
    var cfWeight = defaults.cfWeight
    @Option(name: .customLong("chrono-sid-seed"), help: "Seed of the chronological SID build.")
    var chronoSidSeed = defaults.chronoSidSeed
    @Option(name: .customLong("protocol"), help: "loo | chrono")
    var evalProtocol = defaults.evalProtocol
    @Option(name: .long, help: "Seed of SFT, DPO and GRPO.")
    var seed = defaults.seed
    @Flag(name: .customLong("skip-alignment"), help: "Stop after SFT and its evaluation.")
    var skipAlignment = false
    @Flag(name: .customLong("no-progress"), help: "No progress bars.")
    var noProgress = false
    @Option(name: .long, help: "Matrix-product precision of SFT, DPO, GRPO and the evaluations: fp32 or bf16 (default: the configs' value, else bf16 where the CPU has AVX512_BF16 or AMX).")
    var precision: Precision?

    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    /// Runs a stage unless its output exists; prints a header and the wall time.
    func run(_ stage: QuickstartStage) throws {
        if exists(stage.output) {
            print("── \(stage.name): \(stage.output) exists, skipped")
            fflush(nil)
            return
        }
        print("── \(stage.name)")
        fflush(nil)   // stages also write to stderr: keep the headers in order when piped
        let t0 = Date()
        var a = stage.arguments
        // A training stage whose output is missing but whose run directory holds an interrupted run starts it over.
        if [.sft, .dpo, .grpo].contains(stage.tool), let i = a.firstIndex(of: "--out"), i + 1 < a.count,
           RunDirectory.existingRun(URL(fileURLWithPath: a[i + 1])) != nil {
            print("── \(stage.name): \(a[i + 1]) holds an unfinished run; starting it over")
            a.append("--overwrite")
        }
        switch stage.tool {
        case .dataPrepare: try DataPrepare.parse(a).run()
        case .embed: try EmbedCommand.parse(a).run()
        case .sidBuild: try SidBuild.parse(a).run()
        case .tokenizerTrain: try TokenizerTrain.parse(a).run()
        case .sft: try SFTCommand.parse(a).run()
        case .eval: try EvalCommand.parse(a).run()
        case .dpo: try DPOCommand.parse(a).run()
        case .grpo: try GRPOCommand.parse(a).run()
        }
        print(String(format: "── %@ done in %.1f s", stage.name, Date().timeIntervalSince(t0)))
        fflush(nil)
    }

    func run() throws {
        guard exists("\(raw)/ratings.csv") else {
            throw ValidationError("\(raw)/ratings.csv not found: run scripts/fetch-movielens (scripts/quickstart does it for you)")
        }
        guard exists("\(encoder)/model.safetensors") else {
            throw ValidationError("\(encoder)/model.safetensors not found: run scripts/fetch-minilm")
        }
        var s = QuickstartSettings()
        s.raw = raw; s.data = data; s.encoder = encoder; s.runs = runs
        s.sftConfig = sftConfig; s.dpoConfig = dpoConfig; s.grpoConfig = grpoConfig
        s.sidMethod = sidMethod; s.sidLevels = sidLevels; s.sidCodes = sidCodes; s.sidDedup = sidDedup
        s.vocabSize = vocabSize; s.sidSeed = sidSeed; s.chronoSidSeed = chronoSidSeed; s.cfWeight = cfWeight
        s.seed = seed; s.evalProtocol = evalProtocol; s.skipAlignment = skipAlignment; s.noProgress = noProgress
        s.precision = precision
        let plan = QuickstartPlan(s)
        for stage in plan.stages { try run(stage) }
        print("── report")
        let r = try ReportCommand.parse([plan.runs.last!.1, "--runs", plan.runs.map(\.1).joined(separator: ","), "--data", data])
        try r.run()
        try printSummary(plan.runs, protocol: evalProtocol)
    }

    func decode<T: Decodable>(_ type: T.Type, _ data: Data, _ path: String) throws -> T {
        do { return try JSONDecoder().decode(type, from: data) } catch {
            throw AlignError.format(path: path, line: nil, message: "cannot decode \(T.self): \(error)")
        }
    }

    /// SFT vs aligned, side by side, from each run's eval.json (the protocol's test split), then each alignment
    /// run's summary.json (whole validation and test splits, SFT weights against the kept ones).
    func printSummary(_ stages: [(String, String)], protocol p: EvalProtocol) throws {
        var rows: [(String, RankingMetrics, ListStats?)] = []
        var translations: [(String, TranslationAccuracy)] = []
        var baseline: RankingMetrics?
        for (name, dir) in stages {
            let url = URL(fileURLWithPath: "\(dir)/eval.json")
            guard let d = FileManager.default.contents(atPath: url.path) else { continue }
            let rep = try decode(EvalReport.self, d, url.path)
            baseline = baseline ?? rep.mostPopular
            rows.append((name, rep.metrics, rep.lists))
            if let t = rep.translation { translations.append((name, t)) }
        }
        guard let base = baseline else { return }
        switch p {
        case .loo: print("\nleave-one-out test, \(base.count) users (docs/protocol.md); beam 20, items from the user's history excluded")
        case .chrono: print("\nchronological test, \(base.count) samples (docs/protocol.md); beam 20, items from the user's history excluded")
        }
        print("model          HR@1    HR@5   HR@10   HR@20  NDCG@5 NDCG@10 NDCG@20  coverage@10")
        func line(_ n: String, _ m: RankingMetrics, _ cov: Double?) {
            let c = cov.map { String(format: "%11.3f", $0) } ?? "          –"
            print(n.padding(toLength: 12, withPad: " ", startingAt: 0) + String(format: "%8.4f%8.4f%8.4f%8.4f%8.4f%8.4f%8.4f",
                  m.hr(at: 1), m.hr(at: 5), m.hr(at: 10), m.hr(at: 20), m.ndcg(at: 5), m.ndcg(at: 10), m.ndcg(at: 20)) + "  " + c)
        }
        line("most-popular", base, nil)
        for (n, m, l) in rows { line(n, m, l?.coverage10) }
        for (n, t) in translations {
            print(String(format: "%@ translation over %d items (exact match): sid2title %.4f%@, title2sid %.4f", n, t.items, t.sid2title,
                         t.catalogueText, t.title2sid))
        }
        for (name, dir) in stages.dropFirst() {
            let path = "\(dir)/summary.json"
            guard let d = FileManager.default.contents(atPath: path) else { continue }
            let sum = try decode(AlignmentSummary.self, d, path)
            print(String(format: "%@ %@; NDCG@10 valid %.4f → %.4f, test %.4f → %.4f (%.1f min)", name, sum.keptText,
                         sum.sft.validNDCG10, sum.aligned.validNDCG10, sum.sft.testNDCG10, sum.aligned.testNDCG10, sum.minutes))
        }
    }
}
