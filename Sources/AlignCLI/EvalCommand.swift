// `align eval`: ranking metrics, validity/coverage/entropy, translation accuracy and the most-popular
// baseline for a trained run (Sources/AlignRec/Eval/Evaluation*.swift); writes eval.json into the run.
import AlignCore
import AlignRec
import ArgumentParser
import Foundation

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a run: HR@K/NDCG@K vs most-popular, validity, coverage, Entropy@10, translation accuracy.",
        discussion: """
        Ranks by trie-constrained beam search (top-20, history excluded) with the nextitem evaluation template. \
        --max-examples M > 0 evaluates examples ⌊i·n/M⌋, i = 0..<M of the split (deterministic, spread over the \
        split); the most-popular baseline is computed on the same examples. Writes <model>/eval.json \
        (or eval-<protocol>-<split>.json beside it, see --out).
        """
    )

    @Option(name: .long, help: "Run directory (uses best/, else last/) or checkpoint directory.")
    var model: String
    @Option(name: .long, help: "valid | test")
    var split: String = "test"
    @Option(name: .long, help: "loo | chrono (default: the run's config protocol, else loo).")
    var `protocol`: String?
    @Option(name: .long, help: "Beam width.")
    var beam: Int = 20
    @Option(name: .long, help: "Dataset directory (from `align data prepare`).")
    var data: String
    @Option(name: .customLong("max-examples"), help: "Evaluate a deterministic subsample of this many examples (0 = all).")
    var maxExamples: Int = 0
    @Flag(name: .customLong("no-translation"), help: "Skip the sid2title/title2sid catalogue evaluation.")
    var noTranslation = false
    @Option(name: .customLong("translation-beam"), help: "Beam width for title2sid top-1 (1 = constrained greedy).")
    var translationBeam: Int = 1
    @Option(name: .long, help: "Report path (default <model>/eval.json).")
    var out: String?
    @Flag(name: .customLong("no-progress"), help: "No progress bars.") var noProgress = false

    func run() throws {
        do {
            guard let sp = Split(rawValue: split), sp != .train else {
                throw AlignError.invalidArgument("--split must be valid or test (got \(split))")
            }
            let modelURL = URL(fileURLWithPath: model)
            var protoName = `protocol`
            if protoName == nil { protoName = try RunDirectory.configuredProtocol(modelURL) }
            guard let p = EvalProtocol(rawValue: protoName ?? "loo") else {
                throw AlignError.invalidArgument("--protocol must be loo or chrono (got \(protoName ?? ""))")
            }
            guard beam >= 1, maxExamples >= 0 else { throw AlignError.invalidArgument("--beam must be ≥ 1 and --max-examples ≥ 0") }
            let ckpt = try RecModel.resolveCheckpoint(modelURL)
            let rec = try RecModel.load(modelURL)
            let dataset = try Dataset.load(from: URL(fileURLWithPath: data))
            print("model \(ckpt.path), protocol \(p.rawValue), split \(sp.rawValue)")
            let report = try Evaluation.run(model: rec, modelPath: ckpt.path, dataset: dataset, protocol: p, split: sp, beam: beam,
                                            maxExamples: maxExamples, translation: !noTranslation, translationBeam: translationBeam,
                                            progress: !noProgress)
            print(Evaluation.table(report))
            let outURL = out.map { URL(fileURLWithPath: $0) } ?? modelURL.appendingPathComponent("eval.json")
            try report.write(to: outURL)
            print("wrote \(outURL.path)")
        } catch let e as AlignError {
            FileHandle.standardError.write(Data("error: \(e.description)\n".utf8))
            throw ExitCode.failure
        }
    }
}
