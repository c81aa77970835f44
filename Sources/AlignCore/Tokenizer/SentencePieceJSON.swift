// A SentencePiece unigram model (with align's added tokens) as a `tokenizer.json` that the `tokenizers` library,
// and so transformers, encodes to align's ids: without it transformers rebuilds a BPE tokenizer from
// tokenizer.model and splits text differently.
//   normalizer     Precompiled (the model's own normalisation table), then leading and trailing spaces removed and
//                  runs of spaces collapsed to one (SentencePiece's remove_extra_whitespaces, spaces only)
//   pre_tokenizer  Metaspace ▁, a ▁ prepended to every span (add_dummy_prefix: align encodes each span between
//                  added tokens with its own dummy prefix, and so does `tokenizers`)
//   model          Unigram: every piece with its score, the unknown id, byte_fallback as trained
//   added_tokens   align's added tokens (specials, SID tokens), matched before normalisation; the model's other
//                  control pieces keep their ids with a score no text segmentation picks
// The ModelProto is read with a minimal protobuf reader (only the fields used here). BPE-type SentencePiece models
// get no tokenizer.json (their merges are not ranked in the file).
import Foundation

/// The fields of a SentencePiece ModelProto that the tokenizer.json needs.
struct SentencePieceProto {
    struct Piece { var piece: String; var score: Float; var type: Int }
    var pieces: [Piece] = []
    var modelType = 1            // 1 unigram, 2 BPE
    var byteFallback = false
    var charsmap = Data()
    var addDummyPrefix = true
    var removeExtraWhitespaces = true
    var escapeWhitespaces = true

    init(_ data: Data) throws {
        let bytes = [UInt8](data)
        func fail() -> AlignError { AlignError.format(path: "tokenizer.model", line: nil, message: "not a SentencePiece ModelProto") }
        func fields(_ b: ArraySlice<UInt8>, _ visit: (Int, Int, UInt64, ArraySlice<UInt8>) throws -> Void) throws {
            var i = b.startIndex
            func varint() throws -> UInt64 {
                var v: UInt64 = 0, shift: UInt64 = 0
                while true {
                    guard i < b.endIndex, shift < 64 else { throw fail() }
                    let x = b[i]; i += 1
                    v |= UInt64(x & 0x7F) << shift
                    if x & 0x80 == 0 { return v }
                    shift += 7
                }
            }
            while i < b.endIndex {
                let key = try varint(), field = Int(key >> 3), wire = Int(key & 7)
                switch wire {
                case 0: try visit(field, wire, try varint(), [])
                case 1: guard b.endIndex - i >= 8 else { throw fail() }; i += 8
                case 2:
                    let n = try varint()
                    guard n <= UInt64(b.endIndex - i) else { throw fail() }
                    try visit(field, wire, n, b[i..<(i + Int(n))]); i += Int(n)
                case 5:
                    guard b.endIndex - i >= 4 else { throw fail() }
                    let v = UInt64(b[i]) | UInt64(b[i + 1]) << 8 | UInt64(b[i + 2]) << 16 | UInt64(b[i + 3]) << 24
                    try visit(field, wire, v, []); i += 4
                default: throw fail()
                }
            }
        }
        var pieces: [Piece] = []
        var modelType = 1, byteFallback = false, charsmap = Data(), dummy = true, extra = true, escape = true
        try fields(bytes[...]) { field, wire, v, sub in
            switch (field, wire) {
            case (1, 2):
                var p = Piece(piece: "", score: 0, type: 1)
                try fields(sub) { f, w, v, s in
                    if f == 1 && w == 2 { p.piece = String(decoding: s, as: UTF8.self) }
                    if f == 2 && w == 5 { p.score = Float(bitPattern: UInt32(v)) }
                    if f == 3 && w == 0 { p.type = Int(v) }
                }
                pieces.append(p)
            case (2, 2):
                try fields(sub) { f, w, v, _ in
                    if f == 3 && w == 0 { modelType = Int(v) }
                    if f == 35 && w == 0 { byteFallback = v != 0 }
                }
            case (3, 2):
                try fields(sub) { f, w, v, s in
                    if f == 2 && w == 2 { charsmap = Data(s) }
                    if f == 3 && w == 0 { dummy = v != 0 }
                    if f == 4 && w == 0 { extra = v != 0 }
                    if f == 5 && w == 0 { escape = v != 0 }
                }
            default: break
            }
        }
        self.pieces = pieces; self.modelType = modelType; self.byteFallback = byteFallback; self.charsmap = charsmap
        addDummyPrefix = dummy; removeExtraWhitespaces = extra; escapeWhitespaces = escape
    }
}

extension Tokenizer {
    /// The tokenizer.json object reproducing this SentencePiece-unigram tokenizer's ids (nil for other models).
    public func sentencePieceTokenizerJSON() throws -> [String: Any]? {
        guard let sp = sentencePiece else { return nil }
        let proto = try SentencePieceProto(sp.serialized())
        guard proto.modelType == 1, proto.escapeWhitespaces, proto.pieces.count == sp.vocabSize else { return nil }
        var norms: [[String: Any]] = []
        if !proto.charsmap.isEmpty { norms.append(["type": "Precompiled", "precompiled_charsmap": proto.charsmap.base64EncodedString()]) }
        if proto.removeExtraWhitespaces {
            norms.append(["type": "Replace", "pattern": ["Regex": "\\A +| +\\z"], "content": ""])   // spaces only, as SentencePiece
            norms.append(["type": "Replace", "pattern": ["Regex": " {2,}"], "content": " "])
        }
        let meta: [String: Any] = ["type": "Metaspace", "replacement": "▁", "prepend_scheme": proto.addDummyPrefix ? "always" : "never", "split": true]
        // Added tokens are align's (matched in text before anything else, as align matches them); the model's other
        // unknown and control pieces never come out of text: their scores sink so Viterbi never picks them.
        var added: [[String: Any]] = []
        for t in addedTokens {
            added.append(["id": t.id, "content": t.content, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": t.special])
        }
        added.sort { ($0["id"] as! Int) < ($1["id"] as! Int) }
        var obj: [String: Any] = [
            "version": "1.0", "truncation": NSNull(), "padding": NSNull(), "added_tokens": added,
            "normalizer": norms.isEmpty ? NSNull() : ["type": "Sequence", "normalizers": norms],
            "pre_tokenizer": meta,
            "decoder": proto.byteFallback ? ["type": "Sequence", "decoders": [meta, ["type": "ByteFallback"], ["type": "Fuse"]]] as [String: Any] : meta,
            "model": ["type": "Unigram", "unk_id": sp.unkId.map { $0 as Any } ?? NSNull(), "byte_fallback": proto.byteFallback,
                      "vocab": proto.pieces.map { [$0.piece, $0.type == 2 || $0.type == 3 ? -1e9 : Double($0.score)] as [Any] }],
        ]
        if addsBos, let bos = bosId {
            let content = try token(bos)   // an out-of-range BOS is an error, not a tokenizer.json without one
            obj["post_processor"] = ["type": "TemplateProcessing",
                                     "single": [["SpecialToken": ["id": content, "type_id": 0]], ["Sequence": ["id": "A", "type_id": 0]]],
                                     "pair": [["SpecialToken": ["id": content, "type_id": 0]], ["Sequence": ["id": "A", "type_id": 0]],
                                              ["Sequence": ["id": "B", "type_id": 1]]],
                                     "special_tokens": [content: ["id": content, "ids": [bos], "tokens": [content]]]]
        } else {
            obj["post_processor"] = NSNull()
        }
        return obj
    }
}
