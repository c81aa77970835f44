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
        header and leading item-index column); the count must equal the number of items and all values be finite.
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

    func run() throws {
        let options = EmbedOptions(
            dataDir: URL(fileURLWithPath: data), encoderDir: URL(fileURLWithPath: encoder), batch: batch,
            out: out.map { URL(fileURLWithPath: $0) }, importFile: importFile.map { URL(fileURLWithPath: $0) }, tensor: tensor)
        // AlignError is a LocalizedError: ArgumentParser prints its one-line message and exits non-zero.
        try EmbeddingPipeline.run(options) { print($0) }
    }
}
