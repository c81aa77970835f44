// The `align` command: one subcommand per pipeline stage (see README.md).
import AlignCore
import AlignRec
import ArgumentParser

/// Entry point: picks OpenBLAS's fast kernels where its CPU detection fell back (BlasCore), then parses.
@main
enum AlignMain {
    static func main() {
        BlasCore.reexecWithFasterKernelsIfNeeded()
        Align.main()
    }
}

struct Align: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "align",
        abstract: "Generative recommendation with Semantic IDs: data → SIDs → SFT → DPO/GRPO → constrained decoding.",
        version: "0.1.0",
        subcommands: [
            QuickstartCommand.self,
            DataCommand.self,
            EmbedCommand.self,
            Sid.self,
            TokenizerCommand.self,
            SFTCommand.self,
            EvalCommand.self,
            CompareCommand.self,
            DPOCommand.self,
            GRPOCommand.self,
            RecommendCommand.self,
            ChatCommand.self,
            ExportCommand.self,
            ReportCommand.self,
            GenerateCommand.self,
            BenchCommand.self,
        ]
    )
}
