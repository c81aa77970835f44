// The `align` command: one subcommand per pipeline stage (see README.md).
import AlignCore
import AlignRec
import ArgumentParser

/// Entry point: picks OpenBLAS's fast kernels where its CPU detection fell back (BlasCore), parses, joins the
/// MPI job when a launcher started the process (Cluster; a plain process otherwise), and runs the command; any
/// error it throws is reported by CLIErrors (one `error:` line, exit 1; under MPI the whole job ends).
@main
enum AlignMain {
    static func main() {
        BlasCore.reexecWithFasterKernelsIfNeeded()   // before MPI_Init: it may replace the process image
        var command: ParsableCommand
        do { command = try Align.parseAsRoot() } catch { Align.exit(withError: error) }
        Cluster.start()
        if Cluster.world.isDistributed && !(command is DataParallelCommand) {
            CLIErrors.exit(ValidationError("this command runs in one process; under an MPI launcher align runs sft, dpo, grpo, eval and export (docs/scale-out.md)"))
        }
        do { try command.run() } catch { CLIErrors.exit(error) }
        Cluster.world.finish()
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

/// The stages that run data-parallel under an MPI launcher (`mpirun -np N align …`, docs/scale-out.md): every
/// rank runs the command on the same inputs, works on its share and takes part in the same collectives; rank 0
/// writes the outputs. Every other command refuses to start in a job of several ranks.
protocol DataParallelCommand: ParsableCommand {}
