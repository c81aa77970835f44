// Options shared by the commands that rank a split with a trained run (`align eval`, `align compare`): the
// dataset, split, protocol and beam width, with their validation in one place.
import AlignCore
import AlignRec
import ArgumentParser
import Foundation

struct RankingOptions: ParsableArguments {
    @Option(name: .long, help: "Dataset directory (from `align data prepare`).")
    var data: String
    @Option(name: .long, help: "valid | test")
    var split: Split = .test
    @Option(name: .long, help: "loo | chrono (default: the run's config protocol, else loo).")
    var `protocol`: EvalProtocol?
    @Option(name: .long, help: "Beam width.")
    var beam: Int = 20
    @Flag(name: .customLong("no-progress"), help: "No progress bars.") var noProgress = false

    /// The split (valid or test) and the protocol: --protocol, else the config of the run at `run`, else loo.
    func resolve(run: URL) throws -> (split: Split, protocol: EvalProtocol) {
        guard split != .train else { throw CLIErrors.option.failure("--split", "train", allowed: "valid or test") }
        try CLIErrors.option.int("--beam", beam, 1...FieldCheck.maxCount)
        return (split, try `protocol` ?? RunDirectory.configuredProtocol(run) ?? .loo)
    }

    /// The dataset at --data.
    func dataset() throws -> Dataset { try Dataset.load(from: URL(fileURLWithPath: data)) }
}
