// `align compare`: two models on the same split, compared example by example (PairedComparison): the mean
// difference of NDCG@K and HR@K with its paired standard error and a bootstrap interval, e.g. SFT → GRPO.
import AlignCore
import AlignRec
import ArgumentParser
import Foundation

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Paired comparison of two runs on one split: B − A in NDCG@K and HR@K, paired standard error, bootstrap interval.",
        discussion: """
        Both models rank every example of the split by trie-constrained beam search (top-20, history excluded), \
        exactly as `align eval` does. The difference is taken per example, so the standard error is that of the \
        change, not of either score. It also gives the standard error and a bootstrap interval by user (users \
        resampled with all their examples): under the chronological protocol a few heavy users hold most samples, \
        and that one allows for their examples moving together. Both runs must be trained on the same dataset and protocol.
        """
    )

    @Option(name: .customLong("a"), help: "Baseline run or checkpoint directory (e.g. the SFT run).")
    var a: String
    @Option(name: .customLong("b"), help: "Run or checkpoint directory to compare against A (e.g. a GRPO run).")
    var b: String
    @OptionGroup var ranking: RankingOptions
    @Option(name: .long, help: "Cut-off K of NDCG@K and HR@K (≤ 20).")
    var k: Int = 10
    @Option(name: .long, help: "Paired bootstrap resamples.")
    var bootstrap: Int = 10_000
    @Option(name: .long, help: "Seed of the bootstrap.")
    var seed: UInt64 = 0
    @Option(name: .long, help: "Also write the comparison as JSON here.")
    var out: String?

    @OptionGroup var precisionOptions: PrecisionOptions

    func run() throws {
        do {
            try CLIErrors.option.int("--k", k, 1...20)
            try CLIErrors.option.int("--bootstrap", bootstrap, 0...10_000_000)
            let urlA = URL(fileURLWithPath: a), urlB = URL(fileURLWithPath: b)
            let (sp, p) = try ranking.resolve(run: urlA)   // protocol default: run A's config
            let beam = ranking.beam
            let precision = precisionOptions.resolve()
            let dataset = try ranking.dataset()
            let examples = dataset.examples(p, sp)
            var ranks: [[Int?]] = []
            for url in [urlA, urlB] {
                let model = try RecModel.load(url)
                try CLIErrors.option.beam("--beam", beam, items: model.items.count)
                model.precision = precision
                try model.sidMap.checkProtocol(p, what: "compare")
                let lists = try Evaluation.recommendLists(model: model, dataset: dataset, examples: examples, beam: max(beam, 20),
                                                          progress: !ranking.noProgress)
                ranks.append(zip(lists, examples).map { Ranking.rank(topK: $0.map(\.item), target: $1.target) })
            }
            print("A \(try RecModel.resolveCheckpoint(urlA).path)\nB \(try RecModel.resolveCheckpoint(urlB).path)")
            print("protocol \(p.rawValue), split \(sp.rawValue), beam \(max(beam, 20))")
            var results: [PairedComparison] = []
            for metric in ["ndcg", "hr"] {
                let c = try PairedComparison.compute(ranksA: ranks[0], ranksB: ranks[1], k: k, metric: metric,
                                                     bootstrap: bootstrap, seed: seed, clusters: examples.map(\.user))
                print(c.summary)
                results.append(c)
            }
            if let out {
                let enc = JSONEncoder()
                enc.outputFormatting = [.prettyPrinted, .sortedKeys]
                try AtomicFile.write(try enc.encode(results), to: URL(fileURLWithPath: out))
                print("wrote \(out)")
            }
        }
    }
}
