// `align chat --model runs/X`: talk to a recommender in plain language (titles, SIDs, follow-ups). Reads
// lines from stdin with a "> " prompt, or answers one --prompt and exits. Logic lives in AlignRec/Serve.
import AlignCore
import AlignRec
import ArgumentParser
import Foundation

struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Chat with a model: \"I loved Toy Story and Heat, what next?\", \"what is <a_3><b_17><c_250>?\", \"which item is \\\"The Matrix\\\"?\".",
        discussion: """
        Titles are matched against the catalogue (case, punctuation, articles, optional year, small typos); \
        ambiguous or unknown titles are answered with the closest candidates. Follow-ups such as \
        "more like the second one" use the last list. With --prompt the exit status is 1 when nothing could \
        be answered (unknown titles only, no title found).
        """
    )

    @Option(name: .long, help: "Run or checkpoint directory (runs/X).")
    var model: String
    @Option(name: .long, help: "Answer this one message and exit.")
    var prompt: String?
    @Flag(name: .long, help: "One JSON object per reply.")
    var json = false
    @Option(name: .long, help: "List length.")
    var k: Int = 10
    @Option(name: .long, help: "Beam width.")
    var beam: Int = 20

    @Flag(name: .customLong("no-explanation"), help: "With an instruct model (one with a chat template), do not let it explain its lists in free text.")
    var noExplanation = false

    @OptionGroup var precisionOptions: PrecisionOptions

    func run() throws {
        do {
            let service = try ServeCLI.load(model: model, k: k, beam: beam, usersPerBatch: 16,
                                            precision: precisionOptions.resolve(announce: false))
            let engine = try ChatEngine(service: service, k: k)
            engine.explain = !noExplanation
            func answer(_ text: String) throws -> ChatReply {
                let r = try engine.respond(text)
                print(json ? try ChatEngine.renderJSON(r) : ChatEngine.renderText(r))
                return r
            }
            if let prompt {
                let r = try answer(prompt)
                if !r.answered { throw ExitCode.failure }
                return
            }
            let interactive = isatty(0) != 0
            if interactive && !json {
                print("align chat — \(service.model.items.count) items. Type \"help\" for examples, Ctrl-D to quit.")
            }
            while true {
                if interactive { FileHandle.standardOutput.write(Data("> ".utf8)) }
                guard let line = readLine() else { break }
                let t = line.trimmingCharacters(in: .whitespaces)
                if t.isEmpty { continue }
                if ["quit", "exit", "bye"].contains(t.lowercased()) { break }
                do { _ = try answer(t) } catch {
                    FileHandle.standardError.write(Data("error: \(CLIErrors.message(error))\n".utf8))
                }
            }
        }
    }
}
