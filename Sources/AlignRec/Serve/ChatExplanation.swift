// The instruct model's words around a constrained list: when the model has a chat template (a pretrained instruct
// model adapted with `align sft --init`), `align chat` asks it, in its own chat format, why the recommended items fit
// the user's history. The items themselves always come from the trie-constrained beam search; the explanation is
// free text (greedy, text tokens only, at most `maxNewTokens`), and a model without a chat template gets none.
// The assistant turn is opened with a lead-in ("These fit your taste because"): a model tuned to answer its chat
// turns with Semantic IDs would otherwise close the turn at once when SID tokens are masked out.
import Foundation

extension RecService {
    /// A short free-text reason for `items` given `history` (item indices), or nil without a chat template.
    public func explanation(history: [Int], items: [Int], maxNewTokens: Int = 80) throws -> String? {
        guard let source = model.tokenizer.chatTemplate, !items.isEmpty else { return nil }
        let template = try ChatTemplate(source: source)   // a template align cannot render is an error, not silence
        let liked = history.map(model.displayTitle).joined(separator: "; ")
        let recs = items.prefix(5).map(model.displayTitle).joined(separator: "; ")
        let user = "I liked \(liked). You recommend: \(recs). In two short sentences, tell me why these fit my taste."
        let leadIn = "These fit your taste because"
        var ids = try model.tokenizer.encode(template.prompt(user: user) + leadIn)
        if model.tokenizer.addsBos, let b = model.tokenizer.bosId { ids.insert(Int32(b), at: 0) }
        let ctx = model.config.maxPositionEmbeddings
        guard ids.count < ctx else { return nil }
        let budget = max(1, min(maxNewTokens, ctx - ids.count))
        let dec = try singleDecoder(promptLength: ids.count, width: 1, suffix: budget + 1)
        let stop = model.tokenizer.id(template.endOfTurn).map { Int32($0) } ?? model.instructionTokenizer.eosId
        var allowed = FreeGeneration.textMask(model.tokenizer, vocabSize: model.config.vocabSize)
        allowed[Int(stop)] = true
        var rng = Rng(seed: 0)
        let out = try FreeGeneration.generate(decoder: dec, prompts: [ids], maxNewTokens: budget, eosId: stop, allowed: allowed, rng: &rng)
        let text = try model.tokenizer.decode(out[0], skipSpecial: true).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : leadIn + " " + text
    }
}
