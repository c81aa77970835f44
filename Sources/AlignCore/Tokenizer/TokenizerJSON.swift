// `tokenizer.json` (the `tokenizers` library's format) for byte-level BPE models, read into a `ByteLevelBPE` plus
// the added-token list, and GGUF tokenizer metadata (`tokenizer.ggml.*`) turned into the same JSON first, so both
// go through one reader. What is read:
//   normalizer      null, NFC, NFD, NFKC, NFKD, Lowercase, Sequence
//   pre_tokenizer   ByteLevel, Split (Regex or String pattern, any behaviour, invert), Digits, Sequence
//   model           BPE: vocab, merges ("a b" or ["a", "b"]), ignore_merges, unk_token; no dropout, no subword
//                   prefix/suffix, no byte_fallback (those are SentencePiece-style BPE: use tokenizer.model)
//   added_tokens    id, content, special; lstrip/rstrip/single_word must be false
//   post_processor  TemplateProcessing whose single sequence starts with a special token: that token is BOS and
//                   is added by default; other post-processors add nothing
//   decoder         ByteLevel (others refused)
// Anything else is an error naming the field, so a tokenizer that would encode differently is never used silently.
import Foundation

public enum TokenizerJSON {
    public static let fileName = "tokenizer.json"

    /// What a tokenizer.json describes.
    public struct Parsed {
        public let model: ByteLevelBPE
        public let addedTokens: [AddedToken]
        /// The token a post-processor puts first (BOS added by default), if any.
        public let templateBos: Int?
    }

    static func fail(_ source: String, _ message: String) -> AlignError { AlignError.format(path: source, line: nil, message: message) }

    /// Parses a tokenizer.json object. `specials` gives BOS/EOS/PAD/UNK by content (tokenizer_config.json or GGUF).
    public static func parse(_ obj: [String: Any], specials: [String: String] = [:], source: String) throws -> Parsed {
        guard let model = obj["model"] as? [String: Any] else { throw fail(source, "no \"model\" object") }
        let type = model["type"] as? String ?? "BPE"
        guard type == "BPE" else { throw fail(source, "model type \(type) is not supported (align reads byte-level BPE tokenizer.json files; a SentencePiece model needs tokenizer.model)") }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let v = model[key], !(v is NSNull), (v as? String) != "" { throw fail(source, "model.\(key) is set; not a byte-level BPE tokenizer align reads") }
        }
        if let d = model["dropout"], !(d is NSNull), (d as? NSNumber)?.doubleValue != 0 { throw fail(source, "model.dropout is set (BPE dropout is a training-time option)") }
        if (model["byte_fallback"] as? Bool) == true {
            throw fail(source, "model.byte_fallback=true (SentencePiece-style BPE) is not supported; use the model's tokenizer.model")
        }
        guard let vocabObj = model["vocab"] as? [String: Any] else { throw fail(source, "model.vocab is not an object") }
        var added: [(Int, [String: Any])] = []
        for (i, a) in ((obj["added_tokens"] as? [Any]) ?? []).enumerated() {
            guard let t = a as? [String: Any], let id = (t["id"] as? NSNumber)?.intValue, let content = t["content"] as? String else {
                throw fail(source, "added_tokens[\(i)] is not {id, content, …}")
            }
            for flag in ["lstrip", "rstrip", "single_word"] where (t[flag] as? Bool) == true {
                throw fail(source, "added token \(content.debugDescription) has \(flag)=true, which align does not implement")
            }
            added.append((id, t))
        }
        // The BPE vocabulary: ids 0..<n without gaps; added tokens may sit inside it (control ids) or follow it.
        let n = vocabObj.count
        var tokens = [String?](repeating: nil, count: n)
        for (piece, v) in vocabObj {
            guard let id = (v as? NSNumber)?.intValue, id >= 0, id < n, tokens[id] == nil else {
                throw fail(source, "model.vocab entry \(piece.debugDescription) has id \(v), not a unique id in 0..<\(n)")
            }
            tokens[id] = piece
        }
        let vocab = tokens.map { $0! }
        var merges: [(String, String)] = []
        for (i, m) in ((model["merges"] as? [Any]) ?? []).enumerated() {
            if let s = m as? String {
                let parts = s.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw fail(source, "model.merges[\(i)] \(s.debugDescription) is not two pieces") }
                merges.append((String(parts[0]), String(parts[1])))
            } else if let p = m as? [String], p.count == 2 {
                merges.append((p[0], p[1]))
            } else {
                throw fail(source, "model.merges[\(i)] is neither \"a b\" nor [a, b]")
            }
        }
        let normalizers = try parseNormalizer(obj["normalizer"], source)
        let steps = try parsePreTokenizer(obj["pre_tokenizer"], source)
        if let d = obj["decoder"], !(d is NSNull) {
            guard let dd = d as? [String: Any], dd["type"] as? String == "ByteLevel" else {
                throw fail(source, "decoder \((d as? [String: Any])?["type"] ?? d) is not supported (byte-level BPE decodes with ByteLevel)")
            }
        }
        var addedTokens: [AddedToken] = []
        var byContent: [String: Int] = [:]
        for (id, t) in added {
            let content = t["content"] as! String
            addedTokens.append(AddedToken(content: content, id: id, special: (t["special"] as? Bool) ?? false))
            byContent[content] = id
        }
        func idOf(_ content: String?) -> Int? {
            guard let content else { return nil }
            return byContent[content] ?? (vocabObj[content] as? NSNumber)?.intValue
        }
        var templateBos: Int? = nil
        if let pp = obj["post_processor"] as? [String: Any] {
            templateBos = try templateFirstToken(pp, byContent: byContent, source)
        }
        let modelUnk = model["unk_token"] as? String, unkContent = modelUnk ?? specials["unk"]
        let bpe = try ByteLevelBPE(tokens: vocab, merges: merges, normalizers: normalizers, steps: steps,
                                   ignoreMerges: (model["ignore_merges"] as? Bool) ?? false,
                                   controlIds: Set(added.map(\.0).filter { $0 < n }),
                                   unkId: idOf(unkContent), modelUnkId: idOf(modelUnk), bosId: idOf(specials["bos"]) ?? templateBos,
                                   eosId: idOf(specials["eos"]), padId: idOf(specials["pad"]), source: source)
        bpe.json = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
        return Parsed(model: bpe, addedTokens: addedTokens, templateBos: templateBos)
    }

    static func templateFirstToken(_ pp: [String: Any], byContent: [String: Int], _ source: String) throws -> Int? {
        switch pp["type"] as? String {
        case "TemplateProcessing":
            guard let single = pp["single"] as? [[String: Any]], let first = single.first,
                  let sp = first["SpecialToken"] as? [String: Any], let name = sp["id"] as? String else { return nil }
            if let specials = pp["special_tokens"] as? [String: Any], let entry = specials[name] as? [String: Any],
               let ids = entry["ids"] as? [NSNumber], let id = ids.first {
                return id.intValue
            }
            return byContent[name]
        case "Sequence":
            for p in (pp["processors"] as? [[String: Any]]) ?? [] {
                if let id = try templateFirstToken(p, byContent: byContent, source) { return id }
            }
            return nil
        default: return nil
        }
    }

    static func parseNormalizer(_ v: Any?, _ source: String) throws -> [ByteLevelBPE.Normalization] {
        guard let v, !(v is NSNull) else { return [] }
        guard let o = v as? [String: Any], let type = o["type"] as? String else { throw fail(source, "normalizer is not an object with a type") }
        switch type {
        case "NFC": return [.nfc]
        case "NFD": return [.nfd]
        case "NFKC": return [.nfkc]
        case "NFKD": return [.nfkd]
        case "Lowercase": return [.lowercase]
        case "Sequence": return try ((o["normalizers"] as? [Any]) ?? []).flatMap { try parseNormalizer($0, source) }
        default: throw fail(source, "normalizer \(type) is not supported (align reads NFC, NFD, NFKC, NFKD, Lowercase and Sequence)")
        }
    }

    static func parsePreTokenizer(_ v: Any?, _ source: String) throws -> [ByteLevelBPE.PreTokenizerStep] {
        guard let v, !(v is NSNull) else { throw fail(source, "pre_tokenizer is missing (byte-level BPE needs ByteLevel)") }
        guard let o = v as? [String: Any], let type = o["type"] as? String else { throw fail(source, "pre_tokenizer is not an object with a type") }
        switch type {
        case "Sequence": return try ((o["pretokenizers"] as? [Any]) ?? []).flatMap { try parsePreTokenizer($0, source) }
        case "ByteLevel":
            return [.byteLevel(addPrefixSpace: (o["add_prefix_space"] as? Bool) ?? true, useRegex: (o["use_regex"] as? Bool) ?? true)]
        case "Digits": return [.digits(individual: (o["individual_digits"] as? Bool) ?? false)]
        case "Split":
            let behaviorName = (o["behavior"] as? String) ?? "Isolated"
            guard let behavior = ByteLevelBPE.SplitBehavior(rawValue: behaviorName) else {
                throw fail(source, "pre_tokenizer Split behavior \(behaviorName) is not supported")
            }
            let invert = (o["invert"] as? Bool) ?? false
            guard let pat = o["pattern"] as? [String: Any] else { throw fail(source, "pre_tokenizer Split has no pattern") }
            if let re = pat["Regex"] as? String {
                do { return [.split(regex: try PreTokenizerRegex(re), behavior: behavior, invert: invert)] } catch let AlignError.invalidArgument(m) {
                    throw fail(source, m)
                }
            }
            if let s = pat["String"] as? String { return [.splitString(s, behavior: behavior, invert: invert)] }
            throw fail(source, "pre_tokenizer Split pattern is neither Regex nor String")
        default:
            throw fail(source, "pre_tokenizer \(type) is not supported (align reads ByteLevel, Split, Digits and Sequence)")
        }
    }

    // MARK: GGUF metadata → tokenizer.json

    /// The pre-tokenizer of each `tokenizer.ggml.pre` align knows, as tokenizer.json writes it.
    static func ggufPreTokenizer(_ pre: String, source: String) throws -> (pre: Any, normalizer: Any) {
        func split(_ re: String) -> [String: Any] {
            ["type": "Split", "pattern": ["Regex": re], "behavior": "Isolated", "invert": false]
        }
        let byteLevel: (Bool) -> [String: Any] = { ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": $0] }
        let llama3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
        let qwen2 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
        switch pre {
        case "default", "gpt-2", "gpt2": return (byteLevel(true), NSNull())
        case "llama3", "llama-v3", "llama-bpe":
            return (["type": "Sequence", "pretokenizers": [split(llama3), byteLevel(false)]], NSNull())
        case "qwen2":
            return (["type": "Sequence", "pretokenizers": [split(qwen2), byteLevel(false)]], ["type": "NFC"])
        case "smollm", "starcoder", "refact", "command-r", "codeshell":
            return (["type": "Sequence", "pretokenizers": [["type": "Digits", "individual_digits": true], byteLevel(true)]], NSNull())
        default:
            throw fail(source, "tokenizer.ggml.pre '\(pre)' is not supported (align knows default, gpt-2, llama3, llama-bpe, qwen2, smollm, starcoder, refact, command-r, codeshell)")
        }
    }

    /// The tokenizer.json object and special-token contents a GGUF file's `tokenizer.ggml.*` metadata describes
    /// (nil when the file carries no tokenizer). Only byte-level BPE (`tokenizer.ggml.model` gpt2) is read.
    public static func object(gguf f: GGUFFile) throws -> (json: [String: Any], specials: [String: String], addBos: Bool)? {
        guard let model = f.metadata["tokenizer.ggml.model"]?.string else { return nil }
        guard model == "gpt2" else {
            throw fail(f.path, "tokenizer.ggml.model '\(model)' is not supported in GGUF files (align reads byte-level BPE, 'gpt2'; for SentencePiece models use the Hugging Face directory)")
        }
        guard let toks = f.metadata["tokenizer.ggml.tokens"]?.array else { throw fail(f.path, "tokenizer.ggml.tokens is missing") }
        var tokens: [String] = []
        tokens.reserveCapacity(toks.count)
        for (i, t) in toks.enumerated() {
            guard let s = t.string else { throw fail(f.path, "tokenizer.ggml.tokens[\(i)] is not a string") }
            tokens.append(s)
        }
        let types = try (f.metadata["tokenizer.ggml.token_type"]?.array ?? []).enumerated().map { i, v -> Int in
            guard let t = v.int else { throw fail(f.path, "tokenizer.ggml.token_type[\(i)] is not an integer") }
            return t
        }
        guard types.isEmpty || types.count == tokens.count else {
            throw fail(f.path, "tokenizer.ggml.token_type has \(types.count) entries for \(tokens.count) tokens")
        }
        let merges = try (f.metadata["tokenizer.ggml.merges"]?.array ?? []).enumerated().map { i, v -> String in
            guard let s = v.string else { throw fail(f.path, "tokenizer.ggml.merges[\(i)] is not a string") }
            return s
        }
        let (pre, norm) = try ggufPreTokenizer(f.metadata["tokenizer.ggml.pre"]?.string ?? "default", source: f.path)
        var vocab: [String: Any] = [:]
        for (i, t) in tokens.enumerated() { vocab[t] = i }
        // Control (3) and user-defined (4) tokens are whole added tokens; control ones are special.
        var added: [[String: Any]] = []
        for (i, t) in types.enumerated() where t == 3 || t == 4 {
            added.append(["id": i, "content": tokens[i], "single_word": false, "lstrip": false, "rstrip": false,
                          "normalized": t == 4, "special": t == 3])
        }
        let json: [String: Any] = [
            "version": "1.0", "truncation": NSNull(), "padding": NSNull(), "added_tokens": added,
            "normalizer": norm, "pre_tokenizer": pre,
            "post_processor": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true],
            "decoder": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true],
            "model": ["type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": NSNull(),
                      "end_of_word_suffix": NSNull(), "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                      "vocab": vocab, "merges": merges],
        ]
        var specials: [String: String] = [:]
        for (role, key) in [("bos", "bos_token_id"), ("eos", "eos_token_id"), ("unk", "unknown_token_id"), ("pad", "padding_token_id")] {
            guard let v = f.metadata["tokenizer.ggml." + key] else { continue }
            guard let id = v.int, id >= 0, id < tokens.count else { throw fail(f.path, "tokenizer.ggml.\(key) \(v.summary) is not a token id") }
            specials[role] = tokens[id]
        }
        let addBos = f.metadata["tokenizer.ggml.add_bos_token"]?.bool ?? false
        return (json, specials, addBos)
    }
}
