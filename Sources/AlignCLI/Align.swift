// The `align` command: one subcommand per pipeline stage (see README.md).
import AlignCore
import AlignRec
import ArgumentParser

/// Entry point: picks OpenBLAS's fast kernels where its CPU detection fell back (BlasCore), parses, and runs
/// the command; any error it throws is reported by CLIErrors (one `error:` line, exit 1).
@main
enum AlignMain {
    static func main() {
        BlasCore.reexecWithFasterKernelsIfNeeded()
        var command: ParsableCommand
        do { command = try Align.parseAsRoot() } catch { Align.exit(withError: error) }
        do { try command.run() } catch { CLIErrors.exit(error) }
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
            ConvertCommand.self,
            BenchCommand.self,
        ]
    )
}
