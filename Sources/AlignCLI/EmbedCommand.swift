// `align embed`: item text embeddings with the native MiniLM/BERT encoder, or vectors imported from a file.
import AlignCore
import AlignRec
import ArgumentParser
import Foundation

struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Embed every item's text (native all-MiniLM-L6-v2) or import vectors made elsewhere.",
        discussion: """
        Reads <data>/items.jsonl and writes one L2-normalised vector per item (row i = item i+1) to a safetensors \
        file (tensors `embeddings` [N, D] and `items` [N]; metadata format "align-embeddings", version "1"). \
        Fetch the encoder first with scripts/fetch-minilm. With --import, vectors come from a .npy (float32/64, \
        C order, 2-D), .safetensors (first 2-D float tensor or --tensor) or .csv/.tsv (one row per item, optional \
        header and leading item-index column); the count must equal the number of items and all values be finite. \
        With --collaborative, the text vectors are mixed with collaborative ones computed from the protocol's \
        training sequences only (PPMI of windowed co-occurrences, top eigenvectors), written to \
        <data>/embeddings-<protocol>-cf.safetensors unless --out is given; build SIDs on them with \
        `align sid build --embeddings FILE`.
        """
    )

    @Option(name: .long, help: "Dataset directory (made by `align data prepare`).")
    var data: String

    @Option(name: .long, help: "Encoder directory with config.json, vocab.txt, model.safetensors.")
    var encoder: String = "models/all-MiniLM-L6-v2"

    @Option(name: .long, help: "Texts per forward batch.")
    var batch: Int = 64

    @Option(name: .long, help: "Output file (default <data>/embeddings.safetensors).")
    var out: String?

    @Option(name: .customLong("import"), help: "Import vectors from FILE (.npy, .safetensors, .csv, .tsv) instead of encoding.")
    var importFile: String?

    @Option(name: .long, help: "Tensor name to import from a .safetensors file.")
    var tensor: String?
    @Flag(name: .long, help: "Mix collaborative vectors (PPMI eigenvectors of training co-occurrences) into the text vectors.")
    var collaborative = false
    @Option(name: .customLong("protocol"), help: "--collaborative: whose training sequences (loo | chrono).")
    var evalProtocol: EvalProtocol = .loo
    @Option(name: .long, help: "--collaborative: text vectors to mix with (default <data>/embeddings.safetensors).")
    var text: String?
    @Option(name: .customLong("cf-weight"), help: "--collaborative: share of the collaborative part, 0...1 (1 = collaborative only).")
    var cfWeight: Float = 0.5
    @Option(name: .customLong("cf-dim"), help: "--collaborative: collaborative dimensions.")
    var cfDim = 64
    @Option(name: .customLong("cf-window"), help: "--collaborative: co-occurrence window (items apart, weight 1/distance).")
    var cfWindow = 10
    @Option(name: .long, help: "--collaborative: seed of the randomized eigensolver.")
    var seed: UInt64 = 0

    func run() throws {
        let o = CLIErrors.option
        try o.int("--batch", batch, 1...65_536)
        if collaborative {
            let p = evalProtocol
            try o.number("--cf-weight", cfWeight, .closed(0, 1))
            try o.int("--cf-dim", cfDim, 1...65_536)
            try o.int("--cf-window", cfWindow, 1...FieldCheck.maxCount)
            var o = CollaborativeOptions()
            o.dim = cfDim; o.window = cfWindow; o.seed = seed
            let dir = URL(fileURLWithPath: data)
            try EmbeddingPipeline.collaborative(
                dataDir: dir, protocol: p,
                textFile: text.map { URL(fileURLWithPath: $0) } ?? dir.appendingPathComponent("embeddings.safetensors"),
                weight: cfWeight, options: o,
                out: out.map { URL(fileURLWithPath: $0) } ?? dir.appendingPathComponent("embeddings-\(p.rawValue)-cf.safetensors")) { Console.line($0) }
            return
        }
        let options = EmbedOptions(
            dataDir: URL(fileURLWithPath: data), encoderDir: URL(fileURLWithPath: encoder), batch: batch,
            out: out.map { URL(fileURLWithPath: $0) }, importFile: importFile.map { URL(fileURLWithPath: $0) }, tensor: tensor)
        try EmbeddingPipeline.run(options) { Console.line($0) }
    }
}
