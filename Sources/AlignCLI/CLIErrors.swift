// The one place a stage's error becomes output: `error: <one line>` on stderr and exit status 1 (an explicit
// ExitCode keeps its status; help and version requests print as ArgumentParser does). Commands throw; they
// never print errors themselves. Argument syntax errors (an unknown option, a missing value) are ArgumentParser's
// usage message while parsing; every value range is checked in `run` and reported here.
import AlignCore
import AlignRec
import ArgumentParser
import Foundation

enum CLIErrors {
    /// The one-line message of any error a stage throws.
    static func message(_ error: Error) -> String {
        switch error {
        case let e as AlignError: return e.description
        case let e as DecodingError: return DecodingErrorText.describe(e)
        case let e as ValidationError: return e.message
        case let e as LocalizedError where e.errorDescription != nil: return e.errorDescription!
        default:
            let m = Align.message(for: error)
            return m.isEmpty ? "\(error)" : m
        }
    }

    /// Prints `error: …` (one line) and exits 1; ExitCode and CleanExit keep ArgumentParser's handling. In a job
    /// of several ranks the whole job ends (MPI_Abort, exit 1). An error usually strikes every rank alike (a bad
    /// input), so a rank other than 0 first gives rank 0 two seconds to report and end the job; when it is still
    /// running after them, its error was its own, and it reports it with its rank.
    static func exit(_ error: Error) -> Never {
        // `--help` after a subcommand reaches here as ArgumentParser's own help request (exit code 0).
        if error is ExitCode || error is CleanExit || Align.exitCode(for: error) == .success { Align.exit(withError: error) }
        let line = message(error).replacingOccurrences(of: "\n", with: " ")
        let world = Cluster.world
        if !world.isRoot { sleep(2) }
        let rank = world.isRoot ? "" : "rank \(world.rank) of \(world.size): "
        FileHandle.standardError.write(Data("error: \(rank)\(line)\n".utf8))
        if world.isDistributed { world.abort(EXIT_FAILURE) }
        Foundation.exit(EXIT_FAILURE)
    }

    /// Range checks of command-line options: failures name the option (`--beam = 0; allowed: …`).
    static let option = FieldCheck(file: nil)
}

extension FieldCheck {
    /// The case of `T` spelled `value`, else the option's one-line error listing the cases (`--rollout = 'x';
    /// allowed: beam, sample`).
    func choice<T: ConfigChoice & RawRepresentable>(_ field: String, _ value: String, as type: T.Type = T.self) throws -> T
    where T.RawValue == String {
        guard let c = T(rawValue: value) else { throw failure(field, "'\(value)'", allowed: T.choices.joined(separator: ", ")) }
        return c
    }
}
