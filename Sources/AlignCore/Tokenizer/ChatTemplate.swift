// Chat templates of the families align runs, rendered natively (no Jinja interpreter): a model's Jinja template
// source is recognised by its markers and rendered as that family's template renders it.
//   ChatML (SmolLM2, Qwen2/2.5, …): an optional default system turn when the first message is not a system one,
//     then "<|im_start|>{role}\n{content}<|im_end|>\n" per message, and "<|im_start|>assistant\n" to prompt a reply.
//   Llama-3 (3.0): "<|begin_of_text|>" then "<|start_header_id|>{role}<|end_header_id|>\n\n{content, trimmed}<|eot_id|>"
//     per message, and the assistant header to prompt a reply. Llama-3.1's template (dated system preamble, tools)
//     is not recognised.
// A template align does not recognise is an error naming its first characters, never a silent guess.
import Foundation

public struct ChatTemplate: Sendable, Equatable {
    public enum Format: Sendable, Equatable {
        case chatml(defaultSystem: String?)
        case llama3
    }

    public let format: Format

    public init(format: Format) { self.format = format }

    /// Recognises a Jinja template source.
    public init(source: String) throws {
        if source.contains("<|im_start|>") && source.contains("<|im_end|>") {
            format = .chatml(defaultSystem: Self.defaultSystem(in: source))
        } else if source.contains("<|start_header_id|>") && source.contains("<|eot_id|>") && !source.contains("Cutting Knowledge") {
            format = .llama3
        } else {
            throw AlignError.invalidArgument("the model's chat template is not one align renders (ChatML, Llama-3): \(source.prefix(80).debugDescription)…")
        }
    }

    /// The literal system turn a ChatML template inserts when the conversation has none.
    static func defaultSystem(in source: String) -> String? {
        for marker in ["<|im_start|>system\n", "<|im_start|>system\\n"] {
            guard let r = source.range(of: marker) else { continue }
            let rest = source[r.upperBound...]
            guard let end = rest.range(of: "<|im_end|>") else { continue }
            let text = String(rest[..<end.lowerBound])
            // Only a literal string: a template that builds the system turn from variables has no default here.
            if text.contains("{") || text.contains("'") || text.contains("\"") { continue }
            return text
        }
        return nil
    }

    /// The token text that ends a turn (generation stops there).
    public var endOfTurn: String {
        switch format {
        case .chatml: return "<|im_end|>"
        case .llama3: return "<|eot_id|>"
        }
    }

    /// The rendered conversation; `addGenerationPrompt` appends the assistant's opening.
    public func render(_ messages: [(role: String, content: String)], addGenerationPrompt: Bool) -> String {
        var out = ""
        switch format {
        case .chatml(let system):
            if let system, messages.first?.role != "system" { out += "<|im_start|>system\n\(system)<|im_end|>\n" }
            for m in messages { out += "<|im_start|>\(m.role)\n\(m.content)<|im_end|>\n" }
            if addGenerationPrompt { out += "<|im_start|>assistant\n" }
        case .llama3:
            out += "<|begin_of_text|>"
            for m in messages {
                out += "<|start_header_id|>\(m.role)<|end_header_id|>\n\n\(m.content.trimmingCharacters(in: .whitespacesAndNewlines))<|eot_id|>"
            }
            if addGenerationPrompt { out += "<|start_header_id|>assistant<|end_header_id|>\n\n" }
        }
        return out
    }

    /// A single user turn prompting a reply.
    public func prompt(user: String, system: String? = nil) -> String {
        var m: [(role: String, content: String)] = []
        if let system { m.append(("system", system)) }
        m.append(("user", user))
        return render(m, addGenerationPrompt: true)
    }
}
