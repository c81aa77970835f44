// The stages of `align quickstart` as data: for each stage the command it runs, that command's arguments (the
// same command line a user would type) and the output whose presence means the stage is done. The CLI runs
// them in order; keeping the plan here makes the arguments of each protocol testable without running a stage.
//
// Leave-one-out (the default): text vectors → text + collaborative vectors of the loo training sequences →
// SIDs → tokenizer → SFT → eval → DPO → eval → GRPO → eval.
// Chronological: the same data, loo SIDs and tokenizer (their SID tokens are the same 3 × 32 set), plus
// collaborative vectors of the chrono training sequences and SIDs built on them (`<data>/sid-cf-chrono`), which
// the chrono SFT uses; validation during SFT on a 2,000-sample subset, the GRPO preset with the future reward.
// These are the commands of the chronological runs x18 and c0 in docs/results.md §4 and §7.4.

/// What `align quickstart` was asked to do.
public struct QuickstartSettings: Sendable {
    public var raw = "data/raw/ml-latest-small"
    public var data = "data/ml-latest-small"
    public var encoder = "models/all-MiniLM-L6-v2"
    /// Prefix of the run directories; nil = `runs/quickstart` (loo) or `runs/quickstart-chrono`.
    public var runs: String?
    public var sftConfig = "configs/movielens.yaml"
    public var dpoConfig = "configs/dpo.yaml"
    /// nil = `configs/grpo.yaml` (loo) or `configs/grpo-chrono-future.yaml` (chrono).
    public var grpoConfig: String?
    public var sidMethod = "rqkmeans-balanced"
    public var sidLevels = 3
    public var sidCodes = 32
    public var sidDedup = "sinkhorn"
    public var vocabSize = 2000
    /// Seed of the loo (and text-only) SID build.
    public var sidSeed: UInt64 = 42
    /// Seed of the chrono SID build: with 42 the chrono vectors keep colliding groups after Sinkhorn and fall back
    /// to a fourth level, which the 3-level tokenizer does not cover (docs/results.md §2.3).
    public var chronoSidSeed: UInt64 = 1
    public var cfWeight: Float = 0.5
    public var seed: UInt64 = 0
    public var evalProtocol: EvalProtocol = .loo
    /// Validation samples per SFT check under chrono (its validation split has 8,940).
    public var chronoValidationUsers = 2000
    public var skipAlignment = false
    public var noProgress = false
    /// `--precision` for the stages that run the model (nil: their configs' value, else the CPU's default).
    public var precision: Precision?
    public init() {}
}

/// The command a stage runs.
public enum QuickstartTool: String, Sendable {
    case dataPrepare, embed, sidBuild, tokenizerTrain, sft, eval, dpo, grpo
}

/// One stage: skipped when `output` exists.
public struct QuickstartStage: Sendable, Equatable {
    public var name: String
    public var output: String
    public var tool: QuickstartTool
    public var arguments: [String]
}

public struct QuickstartPlan: Sendable {
    public var stages: [QuickstartStage] = []
    /// (label, run directory) of the trained models, in order: SFT, then DPO and GRPO unless skipped.
    public var runs: [(String, String)] = []
    public var evalProtocol: EvalProtocol

    public init(_ s: QuickstartSettings) {
        evalProtocol = s.evalProtocol
        let chrono = s.evalProtocol == .chrono
        // flags of the stages that run the model
        let modelFlags = (s.noProgress ? ["--no-progress"] : []) + (s.precision.map { ["--precision", $0.rawValue] } ?? [])
        let prefix = s.runs ?? (chrono ? "runs/quickstart-chrono" : "runs/quickstart")
        let sft = "\(prefix)-sft", dpo = "\(prefix)-dpo", grpo = "\(prefix)-grpo"
        let protocolArgs = ["--protocol", s.evalProtocol.rawValue]
        func add(_ name: String, _ output: String, _ tool: QuickstartTool, _ args: [String]) {
            stages.append(QuickstartStage(name: name, output: output, tool: tool, arguments: args))
        }
        func sidBuild(_ vectors: String, seed: UInt64, out: String?) -> [String] {
            ["--data", s.data, "--embeddings", vectors, "--method", s.sidMethod, "--levels", "\(s.sidLevels)",
             "--codes", "\(s.sidCodes)", "--dedup", s.sidDedup, "--seed", "\(seed)"] + (out.map { ["--out", $0] } ?? [])
        }

        add("data prepare", "\(s.data)/dataset.json", .dataPrepare, ["--format", "movielens", s.raw, "--out", s.data])
        let text = "\(s.data)/embeddings.safetensors"
        add("embed", text, .embed, ["--data", s.data, "--encoder", s.encoder])
        var looVectors = text
        if s.cfWeight > 0 {
            looVectors = "\(s.data)/embeddings-loo-cf.safetensors"
            add("embed collaborative (loo training sequences)", looVectors, .embed,
                ["--data", s.data, "--collaborative", "--protocol", "loo", "--cf-weight", "\(s.cfWeight)"])
        }
        add("sid build", "\(s.data)/sid/sid_map.json", .sidBuild, sidBuild(looVectors, seed: s.sidSeed, out: nil))
        // The tokenizer reads the loo SID map for its SID tokens; the chrono map has the same levels and codes.
        add("tokenizer train", "\(s.data)/tokenizer", .tokenizerTrain, ["--data", s.data, "--vocab-size", "\(s.vocabSize)"])

        var sftArgs = ["--data", s.data, "--config", s.sftConfig, "--out", sft, "--seed", "\(s.seed)"]
        if chrono {
            // Collaborative vectors must come from the protocol's own training sequences: the loo ones contain the
            // chrono test targets.
            var sidMap = "\(s.data)/sid/sid_map.json"
            if s.cfWeight > 0 {
                let vectors = "\(s.data)/embeddings-chrono-cf.safetensors", dir = "\(s.data)/sid-cf-chrono"
                add("embed collaborative (chrono training sequences)", vectors, .embed,
                    ["--data", s.data, "--collaborative", "--protocol", "chrono", "--cf-weight", "\(s.cfWeight)"])
                add("sid build (chrono)", "\(dir)/sid_map.json", .sidBuild, sidBuild(vectors, seed: s.chronoSidSeed, out: dir))
                sidMap = "\(dir)/sid_map.json"
            }
            sftArgs += protocolArgs + ["--sid-map", sidMap, "--max-users", "\(s.chronoValidationUsers)"]
        }
        add("sft", "\(sft)/last", .sft, sftArgs + modelFlags)
        add("eval sft (test)", "\(sft)/eval.json", .eval, ["--model", sft, "--data", s.data, "--split", "test"] + protocolArgs + modelFlags)
        runs = [("SFT", sft)]
        guard !s.skipAlignment else { return }
        let alignProtocol = chrono ? protocolArgs : []
        add("dpo", "\(dpo)/last", .dpo,
            ["--from", sft, "--data", s.data, "--out", dpo, "--config", s.dpoConfig, "--seed", "\(s.seed)"] + alignProtocol + modelFlags)
        add("eval dpo (test)", "\(dpo)/eval.json", .eval,
            ["--model", dpo, "--data", s.data, "--split", "test", "--no-translation"] + protocolArgs + modelFlags)
        let grpoConfig = s.grpoConfig ?? (chrono ? "configs/grpo-chrono-future.yaml" : "configs/grpo.yaml")
        add("grpo", "\(grpo)/last", .grpo,
            ["--from", sft, "--data", s.data, "--out", grpo, "--config", grpoConfig, "--seed", "\(s.seed)"] + alignProtocol + modelFlags)
        add("eval grpo (test)", "\(grpo)/eval.json", .eval,
            ["--model", grpo, "--data", s.data, "--split", "test", "--no-translation"] + protocolArgs + modelFlags)
        runs += [("DPO", dpo), ("GRPO", grpo)]
    }
}
