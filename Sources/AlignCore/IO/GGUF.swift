// GGUF reader (llama.cpp's single-file model format, versions 2 and 3; little-endian):
//   "GGUF" u32 version  u64 tensor_count  u64 metadata_kv_count
//   metadata: (string key, u32 value type, value)*     strings are u64 length + UTF-8 bytes; arrays are
//                                                       u32 element type + u64 count + elements
//   tensor infos: (string name, u32 n_dims, u64 dims[n_dims] (innermost first), u32 ggml type, u64 offset)*
//   padding to `general.alignment` (default 32), then the data section; offsets are relative to its start.
// Everything is validated before a tensor byte is read (bounds, counts, overflow, alignment, overlaps); a
// malformed file is an `AlignError` naming the file and, where there is one, the key or tensor. Tensor values are
// dequantised to Float32 on demand (GGUFQuant.swift) from the memory-mapped file.
import Foundation

/// A GGUF metadata value.
public indirect enum GGUFValue: Sendable, Equatable {
    case uint(UInt64)
    case int(Int64)
    case float(Double)
    case bool(Bool)
    case string(String)
    case array([GGUFValue])

    public var int: Int? {
        switch self {
        case .uint(let u): return u <= UInt64(Int.max) ? Int(u) : nil
        case .int(let i): return Int(exactly: i)
        default: return nil
        }
    }
    public var double: Double? {
        switch self {
        case .float(let d): return d
        case .uint(let u): return Double(u)
        case .int(let i): return Double(i)
        default: return nil
        }
    }
    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
    public var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var array: [GGUFValue]? { if case .array(let a) = self { return a } else { return nil } }

    /// A short rendering for messages.
    public var summary: String {
        switch self {
        case .uint(let u): return "\(u)"
        case .int(let i): return "\(i)"
        case .float(let d): return "\(d)"
        case .bool(let b): return "\(b)"
        case .string(let s): return s.count > 60 ? "\"\(s.prefix(60))…\"" : "\"\(s)\""
        case .array(let a): return "[\(a.count) values]"
        }
    }
}

/// One tensor of a GGUF file.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// Dimensions as GGUF stores them: innermost (contiguous) first.
    public let dims: [Int]
    public let type: GGMLType
    /// Byte offset inside the data section.
    public let offset: Int
    public var count: Int { dims.reduce(1, *) }
    /// The row-major shape (outermost first), as PyTorch / safetensors write it.
    public var shape: [Int] { dims.reversed() }
    public var byteCount: Int { type.byteCount(elements: count) ?? 0 }
}

/// A parsed, memory-mapped GGUF file.
public struct GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: Int
    public let metadata: [String: GGUFValue]
    /// Tensors in file order.
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    private let index: [String: Int]
    private let data: Data
    private let dataStart: Int

    /// Upper bounds that keep a corrupt count from allocating without end.
    static let maxKeys = 1 << 20, maxTensors = 1 << 20, maxArray = 1 << 27, maxString = 1 << 30, maxDims = 8

    public init(url: URL) throws {
        let d: Data
        do { d = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw AlignError.io(path: url.path, message: "cannot read GGUF file: \(error.localizedDescription)")
        }
        try self.init(data: d, path: url.path)
    }

    public init(data: Data, path: String) throws {
        self.path = path
        self.data = data
        var r = GGUFCursor(data: data, path: path)
        let magic = try r.u32("magic")
        guard magic == 0x4655_4747 else {   // "GGUF" little-endian
            throw AlignError.format(path: path, line: nil, message: "not a GGUF file (the first 4 bytes are not \"GGUF\")")
        }
        let v = try r.u32("version")
        guard v == 2 || v == 3 else {
            throw AlignError.format(path: path, line: nil, message: "GGUF version \(v) is not supported (align reads versions 2 and 3)")
        }
        version = Int(v)
        let nTensors = try r.u64("tensor_count"), nKV = try r.u64("metadata_kv_count")
        guard nTensors <= UInt64(Self.maxTensors) else { throw r.fail("tensor_count \(nTensors) exceeds \(Self.maxTensors)") }
        guard nKV <= UInt64(Self.maxKeys) else { throw r.fail("metadata_kv_count \(nKV) exceeds \(Self.maxKeys)") }
        var meta: [String: GGUFValue] = [:]
        for _ in 0..<Int(nKV) {
            let key = try r.string("metadata key")
            let type = try r.u32("type of \(key)")
            let value = try r.value(type: type, key: key, depth: 0)
            guard meta.updateValue(value, forKey: key) == nil else { throw r.fail("metadata key '\(key)' appears twice") }
        }
        metadata = meta
        var align = 32
        if let a = meta["general.alignment"] {
            guard let n = a.int, n > 0, n <= 1 << 20, n & (n - 1) == 0 else {
                throw AlignError.format(path: path, line: nil, message: "general.alignment \(a.summary) is not a power of two in 1...1048576")
            }
            align = n
        }
        alignment = align
        var infos: [GGUFTensorInfo] = []
        var idx: [String: Int] = [:]
        for _ in 0..<Int(nTensors) {
            let name = try r.string("tensor name")
            let nd = try r.u32("n_dims of \(name)")
            guard nd >= 1, nd <= UInt32(Self.maxDims) else {
                throw AlignError.tensor(path: path, name: name, message: "n_dims \(nd) outside 1...\(Self.maxDims)")
            }
            var dims: [Int] = []
            var count = 1
            for _ in 0..<Int(nd) {
                let d = try r.u64("dims of \(name)")
                guard d <= UInt64(Int32.max) else { throw AlignError.tensor(path: path, name: name, message: "dimension \(d) is too large") }
                dims.append(Int(d))
                let (p, o) = count.multipliedReportingOverflow(by: Int(d))
                guard !o, p <= 1 << 40 else { throw AlignError.tensor(path: path, name: name, message: "dimensions \(dims) overflow") }
                count = p
            }
            let rawType = try r.u32("type of \(name)")
            guard let type = GGMLType(rawValue: rawType) else {
                throw AlignError.tensor(path: path, name: name, message: "unknown ggml type \(rawType)")
            }
            let off = try r.u64("offset of \(name)")
            guard off <= UInt64(Int.max / 2) else { throw AlignError.tensor(path: path, name: name, message: "offset \(off) is too large") }
            guard Int(off) % align == 0 else {
                throw AlignError.tensor(path: path, name: name, message: "offset \(off) is not a multiple of the alignment \(align)")
            }
            guard idx.updateValue(infos.count, forKey: name) == nil else {
                throw AlignError.tensor(path: path, name: name, message: "appears twice in the tensor list")
            }
            infos.append(GGUFTensorInfo(name: name, dims: dims, type: type, offset: Int(off)))
        }
        let pos = r.offset
        let start = (pos + align - 1) / align * align
        guard start <= data.count else { throw r.fail("the data section starts past the end of the file (truncated)") }
        dataStart = start
        let dataSize = data.count - start
        for t in infos {
            if let q = t.type.blockSize, t.dims[0] % q != 0 {
                throw AlignError.tensor(path: path, name: t.name, message: "innermost dimension \(t.dims[0]) is not a multiple of the \(t.type.name) block size \(q)")
            }
            guard let bytes = t.type.byteCount(elements: t.count) else { continue }   // unsupported types are refused on read
            guard t.offset <= dataSize, bytes <= dataSize - t.offset else {
                throw AlignError.tensor(path: path, name: t.name, message: "bytes \(t.offset)..<\(t.offset + bytes) lie outside the data section (\(dataSize) bytes): truncated file")
            }
        }
        let sorted = infos.filter { $0.byteCount > 0 }.sorted { $0.offset < $1.offset }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.offset < a.offset + a.byteCount {
            throw AlignError.tensor(path: path, name: b.name, message: "bytes overlap tensor '\(a.name)'")
        }
        tensors = infos
        index = idx
    }

    public func tensor(_ name: String) -> GGUFTensorInfo? { index[name].map { tensors[$0] } }
    public func contains(_ name: String) -> Bool { index[name] != nil }

    /// Dequantises tensor `name` into `dst` (exactly its element count), row-major as `shape` says.
    public func read(_ name: String, into dst: UnsafeMutableBufferPointer<Float>) throws {
        guard let t = tensor(name) else { throw AlignError.tensor(path: path, name: name, message: "not in this GGUF file") }
        guard dst.count == t.count else {
            throw AlignError.tensor(path: path, name: name, message: "has \(t.count) elements, destination holds \(dst.count)")
        }
        guard t.type.isSupported else {
            throw AlignError.tensor(path: path, name: name, message: "ggml type \(t.type.name) is not supported (align dequantises \(GGMLType.supportedNames))")
        }
        let base = dataStart + t.offset
        data.withUnsafeBytes { raw in
            let src = UnsafeRawBufferPointer(rebasing: raw[base..<(base + t.byteCount)])
            GGUFQuant.dequantize(t.type, src, into: dst)
        }
    }

    /// Tensor `name` as Float32 values.
    public func floats(_ name: String) throws -> [Float] {
        guard let t = tensor(name) else { throw AlignError.tensor(path: path, name: name, message: "not in this GGUF file") }
        var out = [Float](repeating: 0, count: t.count)
        try out.withUnsafeMutableBufferPointer { try read(name, into: $0) }
        return out
    }
}

/// Bounds-checked little-endian reads over the file's bytes.
struct GGUFCursor {
    let data: Data
    let path: String
    var offset = 0

    init(data: Data, path: String) { self.data = data; self.path = path }

    func fail(_ message: String) -> AlignError { AlignError.format(path: path, line: nil, message: message) }

    mutating func bytes(_ n: Int, _ what: String) throws -> Range<Int> {
        guard n >= 0, n <= data.count - offset else {
            throw fail("truncated while reading \(what) at byte \(offset) (file has \(data.count) bytes)")
        }
        defer { offset += n }
        return offset..<(offset + n)
    }

    mutating func le(_ n: Int, _ what: String) throws -> UInt64 {
        let r = try bytes(n, what)
        return data.withUnsafeBytes { raw in
            var v: UInt64 = 0
            for i in 0..<n { v |= UInt64(raw[r.lowerBound + i]) << (8 * UInt64(i)) }
            return v
        }
    }
    mutating func u32(_ what: String) throws -> UInt32 { UInt32(try le(4, what)) }
    mutating func u64(_ what: String) throws -> UInt64 { try le(8, what) }

    mutating func string(_ what: String) throws -> String {
        let n = try u64("length of \(what)")
        guard n <= UInt64(GGUFFile.maxString) else { throw fail("\(what) claims \(n) bytes") }
        let r = try bytes(Int(n), what)
        return data.withUnsafeBytes { String(decoding: UnsafeRawBufferPointer(rebasing: $0[r]), as: UTF8.self) }
    }

    mutating func value(type: UInt32, key: String, depth: Int) throws -> GGUFValue {
        switch type {
        case 0: return .uint(try le(1, key))
        case 1: return .int(Int64(Int8(truncatingIfNeeded: try le(1, key))))
        case 2: return .uint(try le(2, key))
        case 3: return .int(Int64(Int16(truncatingIfNeeded: try le(2, key))))
        case 4: return .uint(try le(4, key))
        case 5: return .int(Int64(Int32(truncatingIfNeeded: try le(4, key))))
        case 6: return .float(Double(Float(bitPattern: UInt32(try le(4, key)))))
        case 7:
            let b = try le(1, key)
            guard b <= 1 else { throw fail("metadata '\(key)': bool byte \(b) is neither 0 nor 1") }
            return .bool(b == 1)
        case 8: return .string(try string(key))
        case 9:
            guard depth < 4 else { throw fail("metadata '\(key)': arrays nested deeper than 4") }
            let et = try u32("element type of \(key)")
            let n = try u64("length of \(key)")
            guard n <= UInt64(GGUFFile.maxArray), n <= UInt64(data.count - offset) else {
                throw fail("metadata '\(key)': array of \(n) elements runs past the end of the file")
            }
            var out: [GGUFValue] = []
            out.reserveCapacity(Int(n))
            for _ in 0..<Int(n) { out.append(try value(type: et, key: key, depth: depth + 1)) }
            return .array(out)
        case 10: return .uint(try le(8, key))
        case 11: return .int(Int64(bitPattern: try le(8, key)))
        case 12: return .float(Double(bitPattern: try le(8, key)))
        default: throw fail("metadata '\(key)': unknown value type \(type)")
        }
    }
}
