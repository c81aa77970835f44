// Swift owner of a libsentencepiece model (through the CSentencePiece extern "C" shim): load from a file or
// serialized bytes, serialize, encode to ids / pieces, decode, piece↔id and special ids. The handle is freed
// in deinit; every shim failure becomes an `AlignError` carrying the library's message.
import CSentencePiece
import Foundation

/// A loaded SentencePiece model (`tokenizer.model`). Immutable after loading, safe to share across threads.
public final class SentencePieceModel: @unchecked Sendable {
    private let handle: OpaquePointer
    /// Where the model came from (a path, or a label for in-memory models); used in error messages.
    public let source: String
    /// Number of pieces; valid ids are `0..<vocabSize`.
    public let vocabSize: Int
    /// Special ids (nil when the model defines none).
    public let unkId: Int?, bosId: Int?, eosId: Int?, padId: Int?
    /// The unk piece string (e.g. `<unk>`), when the model has one.
    public let unkPiece: String?

    /// Loads a serialized ModelProto file (`tokenizer.model`).
    public convenience init(contentsOf url: URL) throws {
        var h: OpaquePointer?
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw AlignError.io(path: url.path, message: "SentencePiece model file not found")
        }
        let rc = spm_load_file(url.path, &h)
        guard rc == 0, let h else {
            throw AlignError.format(path: url.path, line: nil, message: "not a loadable SentencePiece model: \(Self.lastError())")
        }
        self.init(handle: h, source: url.path)
    }

    /// Loads a model from serialized ModelProto bytes (`source` names it in errors).
    public convenience init(serialized data: Data, source: String = "<memory>") throws {
        var h: OpaquePointer?
        let rc = data.withUnsafeBytes { raw in spm_load_bytes(raw.baseAddress, raw.count, &h) }
        guard rc == 0, let h else {
            throw AlignError.format(path: source, line: nil, message: "not a loadable SentencePiece model: \(Self.lastError())")
        }
        self.init(handle: h, source: source)
    }

    private init(handle: OpaquePointer, source: String) {
        self.handle = handle
        self.source = source
        vocabSize = Int(spm_vocab_size(handle))
        var u: Int32 = -1, b: Int32 = -1, e: Int32 = -1, p: Int32 = -1
        spm_special_ids(handle, &u, &b, &e, &p)
        func opt(_ v: Int32) -> Int? { v >= 0 && Int(v) < Int(spm_vocab_size(handle)) ? Int(v) : nil }
        unkId = opt(u); bosId = opt(b); eosId = opt(e); padId = opt(p)
        unkPiece = unkId.flatMap { Self.pieceString(handle, Int32($0)) }
    }

    private static func pieceString(_ handle: OpaquePointer, _ id: Int32) -> String? {
        var out: UnsafeMutablePointer<CChar>?
        var n = 0
        guard spm_id_to_piece(handle, id, &out, &n) == 0, let out else { return nil }
        defer { spm_free_buffer(out) }
        return String(decoding: UnsafeRawBufferPointer(start: out, count: n), as: UTF8.self)
    }

    deinit { spm_free(handle) }

    static func lastError() -> String { String(cString: spm_last_error()) }

    private func fail(_ what: String) -> AlignError {
        AlignError.format(path: source, line: nil, message: "SentencePiece \(what) failed: \(Self.lastError())")
    }

    /// The serialized ModelProto (what `tokenizer.model` holds).
    public func serialized() throws -> Data {
        var buf: UnsafeMutablePointer<UInt8>?
        var n = 0
        guard spm_serialize(handle, &buf, &n) == 0, let buf else { throw fail("serialize") }
        defer { spm_free_buffer(buf) }
        return Data(bytes: buf, count: n)
    }

    /// Encodes text to ids (no BOS/EOS; the model's normalizer and dummy prefix apply).
    public func encode(_ text: String) throws -> [Int32] {
        var text = text
        return try text.withUTF8 { utf8 in
            var ids: UnsafeMutablePointer<Int32>?
            var n = 0
            let rc = utf8.withMemoryRebound(to: CChar.self) { spm_encode_ids(handle, $0.baseAddress, $0.count, &ids, &n) }
            guard rc == 0, let ids else { throw fail("encode") }
            defer { spm_free_buffer(ids) }
            return Array(UnsafeBufferPointer(start: ids, count: n))
        }
    }

    /// Encodes text to pieces. Unknown spans come back as their surface text (the library's default), or as
    /// the unk piece (`<unk>`) with `emitUnkPiece` — then `pieces[i] == piece(ids[i])` for every position.
    public func encodePieces(_ text: String, emitUnkPiece: Bool = false) throws -> [String] {
        var text = text
        return try text.withUTF8 { utf8 in
            var bytes: UnsafeMutablePointer<CChar>?
            var offs: UnsafeMutablePointer<Int>?
            var n = 0
            let rc = utf8.withMemoryRebound(to: CChar.self) {
                spm_encode_pieces(handle, $0.baseAddress, $0.count, emitUnkPiece ? 1 : 0, &bytes, &offs, &n)
            }
            guard rc == 0, let bytes, let offs else { throw fail("encode") }
            defer { spm_free_buffer(bytes); spm_free_buffer(offs) }
            return (0..<n).map { i in
                let raw = UnsafeRawBufferPointer(start: bytes + offs[i], count: offs[i + 1] - offs[i])
                return String(decoding: raw, as: UTF8.self)
            }
        }
    }

    /// Decodes ids to text; an id outside `0..<vocabSize` is an error naming it.
    public func decode(_ ids: [Int32]) throws -> String {
        var out: UnsafeMutablePointer<CChar>?
        var n = 0
        let rc = ids.withUnsafeBufferPointer { spm_decode_ids(handle, $0.baseAddress, $0.count, &out, &n) }
        guard rc == 0, let out else {
            throw AlignError.invalidArgument("\(source): cannot decode: \(Self.lastError())")
        }
        defer { spm_free_buffer(out) }
        return String(decoding: UnsafeRawBufferPointer(start: out, count: n), as: UTF8.self)
    }

    /// The piece string of `id`.
    public func piece(_ id: Int) throws -> String {
        guard let id32 = Int32(exactly: id), let p = Self.pieceString(handle, id32) else {
            throw AlignError.invalidArgument("\(source): id \(id) outside the vocabulary (size \(vocabSize))")
        }
        return p
    }

    /// The id of `piece`, or nil when the piece is not in the vocabulary.
    public func id(ofPiece piece: String) -> Int? {
        var piece = piece
        var id: Int32 = -1
        let rc = piece.withUTF8 { u in u.withMemoryRebound(to: CChar.self) { spm_piece_to_id(handle, $0.baseAddress, $0.count, &id) } }
        guard rc == 0, id >= 0 else { return nil }
        // The library answers the unk id for unknown pieces; only the unk piece itself maps to it.
        if let unk = unkId, Int(id) == unk, unkPiece != piece { return nil }
        return Int(id)
    }

    /// Piece kind flags of `id`.
    public struct PieceKind: OptionSet, Sendable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        public static let unknown = PieceKind(rawValue: 1), control = PieceKind(rawValue: 2)
        public static let unused = PieceKind(rawValue: 4), byte = PieceKind(rawValue: 8)
    }

    /// The kind of piece `id` is (unknown / control / unused / byte; empty for normal and user-defined).
    public func kind(_ id: Int) throws -> PieceKind {
        guard let id32 = Int32(exactly: id) else { throw AlignError.invalidArgument("\(source): id \(id) outside the vocabulary") }
        var f: Int32 = 0
        guard spm_piece_flags(handle, id32, &f) == 0 else { throw AlignError.invalidArgument("\(source): \(Self.lastError())") }
        return PieceKind(rawValue: f)
    }
}
