// `align data prepare`: raw MovieLens / Amazon / generic files → a dataset directory by the protocol of
// docs/protocol.md, with printed statistics and the most-popular baseline as a sanity figure; `align data stats`
// loads (and validates) a prepared directory and prints the same statistics and baselines for both protocols.
import AlignCore
import AlignRec
import ArgumentParser
import Foundation

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Prepare datasets: readers, filtering, ids, sequences and splits.",
        subcommands: [DataPrepare.self, DataStats.self, DataCold.self]
    )
}

enum SourceFormat: String, ExpressibleByArgument, CaseIterable {
    case movielens, ml1m = "ml-1m", amazon2018, amazon2023, csv, jsonl
}

struct DataPrepare: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepare",
        abstract: "Read raw interactions and write a dataset directory (items, sequences, loo and chrono splits).",
        discussion: """
        Formats: movielens (dir with ratings.csv + movies.csv: ml-latest-small, ml-20m, ml-25m), ml-1m (dir with \
        ratings.dat + movies.dat: ml-1m, ml-10m), amazon2018 (reviews + meta_ JSON/Python-dict lines, .gz ok; SRC is \
        the directory or the reviews file), amazon2023 (JSONL, timestamps in ms), csv / jsonl (one interaction a \
        row; name the columns with --user-col/--item-col/--time-col/--title-col).
        """
    )

    @Option(help: "Source format: \(SourceFormat.allCases.map(\.rawValue).joined(separator: "|")).")
    var format: SourceFormat

    @Argument(help: "Source directory or file.")
    var src: String

    @Option(help: "Output dataset directory (written atomically).")
    var out: String

    @Option(name: .customLong("min-count"), help: "k of the iterative k-core filter.")
    var minCount = 5

    @Option(name: .customLong("max-history"), help: "History length a model sees under leave-one-out (recorded; files keep the full history).")
    var maxHistory = 20

    @Option(name: .customLong("chrono-history"), help: "History length of chronological samples.")
    var chronoHistory = 10

    @Flag(name: .customLong("skip-bad"), help: "Skip and count malformed lines instead of stopping at the first.")
    var skipBad = false

    @Option(help: "Amazon meta file (default: found beside the reviews file).")
    var meta: String?

    @Option(name: .customLong("user-col"), help: "csv/jsonl: user id column.")
    var userCol: String?
    @Option(name: .customLong("item-col"), help: "csv/jsonl: item id column.")
    var itemCol: String?
    @Option(name: .customLong("time-col"), help: "csv/jsonl: time column (Unix time or ISO 8601).")
    var timeCol: String?
    @Option(name: .customLong("title-col"), help: "csv/jsonl: item title column.")
    var titleCol: String?
    @Option(name: .customLong("genre-col"), help: "csv/jsonl: genres column ('|'-separated, or a JSON list).")
    var genreCol: String?
    @Option(name: .customLong("text-cols"), help: "csv/jsonl: further text columns for the item text, comma-separated.")
    var textCols: String?

    func run() throws {
        try CLIErrors.option.int("--min-count", minCount, 1...FieldCheck.maxCount)
        try CLIErrors.option.int("--max-history", maxHistory, 1...FieldCheck.maxCount)
        try CLIErrors.option.int("--chrono-history", chronoHistory, 1...FieldCheck.maxCount)
        try prepare()
    }

    func columns() throws -> GenericColumns {
        guard let u = userCol, let i = itemCol, let t = timeCol, let ti = titleCol else {
            throw AlignError.invalidArgument("--format \(format.rawValue) needs --user-col, --item-col, --time-col and --title-col")
        }
        let text = textCols?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } ?? []
        return GenericColumns(user: u, item: i, time: t, title: ti, genres: genreCol, text: text)
    }

    func prepare() throws {
        let t0 = Date()
        let policy = BadLinePolicy(skip: skipBad)
        let raw: RawInteractions
        switch format {
        case .movielens: raw = try MovieLensReader.readCSV(directory: src, policy: policy)
        case .ml1m: raw = try MovieLensReader.readDat(directory: src, policy: policy)
        case .amazon2018, .amazon2023:
            let (r, m) = try AmazonReader.resolve(src: src, meta: meta)
            raw = try AmazonReader.read(format == .amazon2018 ? .v2018 : .v2023, reviews: r, meta: m, policy: policy)
        case .csv: raw = try GenericReader.readCSV(path: src, columns: try columns(), policy: policy)
        case .jsonl: raw = try GenericReader.readJSONL(path: src, columns: try columns(), policy: policy)
        }
        let tRead = Date()
        let ds = try DatasetBuilder.build(raw, config: ProtocolConfig(minCount: minCount, looMaxHistory: maxHistory, chronoMaxHistory: chronoHistory))
        let tBuild = Date()
        try ds.write(to: URL(fileURLWithPath: out))
        let tWrite = Date()
        print(DataPrepare.report(ds, out: out))
        let loo = MostPopular(dataset: ds, protocol: .loo).evaluate(ds, split: .test)
        let chrono = MostPopular(dataset: ds, protocol: .chrono).evaluate(ds, split: .test)
        print("most-popular baseline (protocol loo, test):    \(loo)")
        print("most-popular baseline (protocol chrono, test): \(chrono)")
        print(String(format: "time: read %.2fs, protocol %.2fs, write %.2fs, total %.2fs",
                     tRead.timeIntervalSince(t0), tBuild.timeIntervalSince(tRead), tWrite.timeIntervalSince(tBuild), Date().timeIntervalSince(t0)))
    }

    static func report(_ ds: Dataset, out: String) -> String {
        let c = ds.info.counts
        func n(_ x: Int) -> String {
            let s = String(x)
            var out = ""
            for (i, ch) in s.reversed().enumerated() { if i > 0 && i % 3 == 0 && ch != "-" { out.append(",") }; out.append(ch) }
            return String(out.reversed())
        }
        var lines = [
            "dataset \(out) (source \(ds.info.source.format); \(ds.info.protocol.minCount)-core, \(c.kcorePasses) passes)",
            "  read:          \(n(c.rawInteractions)) interactions, \(n(c.rawUsers)) users, \(n(c.rawItems)) items"
                + (c.skippedLines > 0 ? ", \(n(c.skippedLines)) malformed lines skipped" : ""),
            "  dropped:       \(n(c.droppedNoTitle)) without a title, \(n(c.duplicatesRemoved)) repeated (user, item)",
            "  users:         \(n(c.users))",
            "  items:         \(n(c.items))",
            "  interactions:  \(n(c.interactions))",
            String(format: "  sparsity:      %.4f%%", c.sparsity * 100),
            String(format: "  seq length:    mean %.2f, median %.1f, min %d, max %d", c.meanSequenceLength, c.medianSequenceLength, c.minSequenceLength, c.maxSequenceLength),
            "  loo:           train \(n(c.looTrainInteractions)) interactions, valid \(n(c.looValid)), test \(n(c.looTest)) (model history ≤ \(ds.info.protocol.looMaxHistory))",
            "  chrono:        \(n(c.chronoSamples)) samples: train \(n(c.chronoTrain)), valid \(n(c.chronoValid)), test \(n(c.chronoTest)) (history ≤ \(ds.info.protocol.chronoMaxHistory))",
        ]
        if let by = ds.info.source.skippedLinesByFile {
            for (f, k) in by.sorted(by: { $0.key < $1.key }) { lines.append("  skipped:       \(n(k)) lines in \(f)") }
        }
        return lines.joined(separator: "\n")
    }
}

struct DataStats: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Load and validate a dataset directory; print its statistics and the most-popular baseline (valid and test, both protocols)."
    )

    @Argument(help: "Dataset directory made by `align data prepare`.")
    var dir: String

    func run() throws {
        do {
            let t0 = Date()
            let ds = try Dataset.load(from: URL(fileURLWithPath: dir))
            let tLoad = Date().timeIntervalSince(t0)
            print(DataPrepare.report(ds, out: dir))
            for p in EvalProtocol.allCases {
                let pop = MostPopular(dataset: ds, protocol: p)
                for split in [Split.valid, .test] {
                    print("most-popular baseline (protocol \(p.rawValue), \(split.rawValue)): \(pop.evaluate(ds, split: split))")
                }
            }
            print(String(format: "time: load %.2fs, total %.2fs", tLoad, Date().timeIntervalSince(t0)))
        }
    }
}

struct DataCold: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cold",
        abstract: "Copy a dataset with a seeded share of its items held out of training (cold items), for the cold-item evaluation."
    )

    @Option(help: "Dataset directory made by `align data prepare`.")
    var data: String
    @Option(help: "Output dataset directory (written atomically).")
    var out: String
    @Option(help: "Share of the catalogue to hold out, in (0, 1).")
    var fraction: Double = 0.1
    @Option(help: "Seed of the draw.")
    var seed: UInt64 = 0

    func run() throws {
        let ds = try Dataset.load(from: URL(fileURLWithPath: data))
        let cold = try ds.withColdItems(fraction: fraction, seed: seed)
        try cold.write(to: URL(fileURLWithPath: out))
        let c = cold.coldItems
        func targets(_ p: EvalProtocol) -> Int { cold.examples(p, .test).filter { c.contains($0.target) }.count }
        print("cold items: \(c.count) of \(ds.numItems) (fraction \(fraction), seed \(seed)); test targets that are cold: loo \(targets(.loo)) of \(cold.looTest.count), chrono \(targets(.chrono)) of \(cold.chronoTest.count)")
        print("wrote \(out) (cold_items.json beside the dataset files)")
    }
}
