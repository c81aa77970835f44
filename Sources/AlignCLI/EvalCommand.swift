// `align eval`: ranking metrics, validity/coverage/entropy, translation accuracy and the most-popular
// baseline for a trained run (Sources/AlignRec/Eval/Evaluation*.swift); writes eval.json into the run.
import AlignCore
import AlignRec
import ArgumentParser
import Foundation

struct EvalCommand: DataParallelCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a run: HR@K/NDCG@K vs most-popular, validity, coverage, Entropy@10, translation accuracy.",
        discussion: """
        Ranks by trie-constrained beam search (top-20, history excluded) with the nextitem evaluation template, or \
        re-ranks with MMR (--mmr-lambda) or decodes by diverse beam search (--diverse-groups); the goal metrics \
        (long-tail share, coverage, distinct first-level codes, novelty of the top 10) come with the ranking ones. \
        --max-examples M > 0 evaluates examples ⌊i·n/M⌋, i = 0..<M of the split (deterministic, spread over the \
        split); the most-popular baseline is computed on the same examples. Writes <model>/eval.json \
        (or eval-<protocol>-<split>.json beside it, see --out).
        """
    )

    @Option(name: .long, help: "Run directory (uses best/, else last/) or checkpoint directory.")
    var model: String
    @OptionGroup var ranking: RankingOptions
    @Option(name: .customLong("max-examples"), help: "Evaluate a deterministic subsample of this many examples (0 = all).")
    var maxExamples: Int = 0
    @Flag(name: .customLong("no-translation"), help: "Skip the sid2title/title2sid catalogue evaluation.")
    var noTranslation = false
    @Option(name: .customLong("translation-beam"), help: "Beam width for title2sid top-1 (1 = constrained greedy).")
    var translationBeam: Int = 1
    @Option(name: .customLong("translation-items"), help: "Translation accuracy on the first N catalogue items only (0 = all).")
    var translationItems: Int = 0
    @Option(name: .long, help: "Report path (default <model>/eval.json).")
    var out: String?

    @OptionGroup var rerank: RerankOptions
    @OptionGroup var precisionOptions: PrecisionOptions

    func run() throws {
        do {
            let modelURL = URL(fileURLWithPath: model)
            let (sp, p) = try ranking.resolve(run: modelURL)
            try CLIErrors.option.int("--max-examples", maxExamples, 0...Int.max, "0 = all")
            try CLIErrors.option.int("--translation-beam", translationBeam, 1...FieldCheck.maxCount)
            try CLIErrors.option.int("--translation-items", translationItems, 0...Int.max, "0 = all")
            let ckpt = try RecModel.resolveCheckpoint(modelURL)
            let rec = try RecModel.load(modelURL)
            try CLIErrors.option.beam("--beam", ranking.beam, items: rec.items.count)
            try CLIErrors.option.beam("--translation-beam", translationBeam, items: rec.items.count)
            rec.precision = precisionOptions.resolve()
            let reranking = try rerank.resolve(beam: ranking.beam, k: 20)
            let dataset = try ranking.dataset()
            print("model \(ckpt.path), protocol \(p.rawValue), split \(sp.rawValue)")
            let report = try Evaluation.run(model: rec, modelPath: ckpt.path, dataset: dataset, protocol: p, split: sp, beam: ranking.beam,
                                            maxExamples: maxExamples, translation: !noTranslation, translationBeam: translationBeam,
                                            translationItems: translationItems,
                                            reranking: reranking, progress: !ranking.noProgress)
            print(Evaluation.table(report))
            let outURL = out.map { URL(fileURLWithPath: $0) } ?? modelURL.appendingPathComponent("eval.json")
            if Cluster.world.isRoot { try report.write(to: outURL) }   // rank 0 writes for a data-parallel job
            print("wrote \(outURL.path)")
        }
    }
}
