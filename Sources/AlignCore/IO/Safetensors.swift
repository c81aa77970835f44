// safetensors reader and writer (https://github.com/huggingface/safetensors format, version-free by design:
// 8-byte little-endian header length, a JSON header, then raw little-endian tensor bytes).
// The reader validates everything before touching tensor bytes: header bounds, JSON shape, dtypes,
// offsets inside the data section, sizes matching shapes, no overlapping tensors. It never reads out of
// bounds and never traps on malformed input; every failure is an `AlignError` naming the file and tensor.
import Foundation

/// Element types align reads. Floating types are converted to Float32 on load.
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", f64 = "F64", i32 = "I32", i64 = "I64", u8 = "U8", i8 = "I8", bool = "BOOL"

    public var byteSize: Int {
        switch self {
        case .f32, .i32: return 4
        case .f16, .bf16: return 2
        case .f64, .i64: return 8
        case .u8, .i8, .bool: return 1
        }
    }
}

/// One parsed safetensors file (memory-mapped).
public struct SafetensorsFile: @unchecked Sendable {
    public struct Entry: Sendable {
        public let name: String
        public let dtype: SafetensorsDType
        public let shape: [Int]
        /// Byte range inside the data section.
        public let range: Range<Int>
        public var count: Int { shape.reduce(1, *) }
    }

    public let path: String
    /// Entries in file (offset) order.
    public let entries: [Entry]
    public let metadata: [String: String]
    private let index: [String: Int]
    private let data: Data
    private let dataStart: Int

    public init(url: URL) throws {
        let d: Data
        do { d = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw AlignError.io(path: url.path, message: "cannot read safetensors file: \(error.localizedDescription)")
        }
        try self.init(data: d, path: url.path)
    }

    public init(data: Data, path: String) throws {
        self.path = path
        self.data = data
        let total = data.count
        guard total >= 8 else {
            throw AlignError.format(path: path, line: nil, message: "truncated safetensors file: \(total) bytes, the 8-byte header length is missing")
        }
        var n: UInt64 = 0
        data.withUnsafeBytes { raw in
            for i in 0..<8 { n |= UInt64(raw[i]) << (8 * UInt64(i)) }
        }
        guard n <= UInt64(total - 8) else {
            throw AlignError.format(path: path, line: nil, message: "header length \(n) runs past the end of the file (\(total) bytes): truncated or not a safetensors file")
        }
        let headerLen = Int(n)
        dataStart = 8 + headerLen
        let dataSize = total - dataStart
        let headerBytes = data.subdata(in: (data.startIndex + 8)..<(data.startIndex + dataStart))
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: headerBytes) } catch {
            throw AlignError.format(path: path, line: nil, message: "header is not valid JSON")
        }
        guard let obj = json as? [String: Any] else {
            throw AlignError.format(path: path, line: nil, message: "header is not a JSON object")
        }
        var meta: [String: String] = [:]
        var list: [Entry] = []
        for (name, value) in obj {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else {
                    throw AlignError.format(path: path, line: nil, message: "__metadata__ is not an object")
                }
                for (k, v) in m { meta[k] = (v as? String) ?? "\(v)" }
                continue
            }
            guard let t = value as? [String: Any] else {
                throw AlignError.tensor(path: path, name: name, message: "header entry is not an object")
            }
            guard let ds = t["dtype"] as? String else {
                throw AlignError.tensor(path: path, name: name, message: "missing dtype")
            }
            guard let dtype = SafetensorsDType(rawValue: ds) else {
                throw AlignError.tensor(path: path, name: name, message: "unsupported dtype \(ds) (align reads \(SafetensorsDType.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            guard let shapeAny = t["shape"] as? [Any], let shape = Self.ints(shapeAny), shape.allSatisfy({ $0 >= 0 }) else {
                throw AlignError.tensor(path: path, name: name, message: "shape is not a list of non-negative integers")
            }
            guard let offAny = t["data_offsets"] as? [Any], let off = Self.ints(offAny), off.count == 2 else {
                throw AlignError.tensor(path: path, name: name, message: "data_offsets is not a pair of integers")
            }
            guard off[0] >= 0, off[0] <= off[1], off[1] <= dataSize else {
                throw AlignError.tensor(path: path, name: name, message: "data_offsets [\(off[0]), \(off[1])] lie outside the data section (\(dataSize) bytes)")
            }
            var count = 1
            for s in shape {
                let (p, o) = count.multipliedReportingOverflow(by: s)
                guard !o else { throw AlignError.tensor(path: path, name: name, message: "shape \(shape) overflows") }
                count = p
            }
            let (bytes, o) = count.multipliedReportingOverflow(by: dtype.byteSize)
            guard !o else { throw AlignError.tensor(path: path, name: name, message: "shape \(shape) of \(ds) overflows") }
            guard bytes == off[1] - off[0] else {
                throw AlignError.tensor(path: path, name: name, message: "shape \(shape) of \(ds) needs \(bytes) bytes but data_offsets span \(off[1] - off[0])")
            }
            list.append(Entry(name: name, dtype: dtype, shape: shape, range: off[0]..<off[1]))
        }
        list.sort { ($0.range.lowerBound, $0.range.upperBound, $0.name) < ($1.range.lowerBound, $1.range.upperBound, $1.name) }
        // Non-empty byte ranges must be disjoint (empty tensors occupy no bytes).
        var prev: Entry?
        for e in list where !e.range.isEmpty {
            if let p = prev, e.range.lowerBound < p.range.upperBound {
                throw AlignError.tensor(path: path, name: e.name, message: "bytes \(e.range.lowerBound)..<\(e.range.upperBound) overlap tensor '\(p.name)' (\(p.range.lowerBound)..<\(p.range.upperBound))")
            }
            prev = e
        }
        entries = list
        metadata = meta
        var idx: [String: Int] = [:]
        for (i, e) in list.enumerated() { idx[e.name] = i }
        index = idx
    }

    private static func ints(_ a: [Any]) -> [Int]? {
        var out: [Int] = []
        for v in a {
            // JSON booleans bridge to NSNumber too; they are not integers.
            guard !(v is Bool) || (v as? NSNumber).map({ String(cString: $0.objCType) != "c" }) == true,
                  let num = v as? NSNumber else { return nil }
            let d = num.doubleValue
            guard d == d.rounded(), abs(d) < 9e15 else { return nil }
            out.append(num.intValue)
        }
        return out
    }

    /// The entry named `name`, or an error naming the file and tensor.
    public func entry(_ name: String) throws -> Entry {
        guard let i = index[name] else { throw AlignError.tensor(path: path, name: name, message: "missing") }
        return entries[i]
    }

    public func contains(_ name: String) -> Bool { index[name] != nil }
    public var names: [String] { entries.map(\.name) }

    /// Tensor values as Float32 (F32/F16/BF16/F64 converted; integer types converted exactly when small).
    public func floats(_ name: String) throws -> [Float] {
        let e = try entry(name)
        var out = [Float](repeating: 0, count: e.count)
        try out.withUnsafeMutableBufferPointer { try read(e, into: $0) }
        return out
    }

    /// Tensor values as Int32 (I32, I64 narrowed with a range check).
    public func int32s(_ name: String) throws -> [Int32] {
        let e = try entry(name)
        var out = [Int32](repeating: 0, count: e.count)
        let base = dataStart + e.range.lowerBound
        try data.withUnsafeBytes { raw in
            for i in 0..<e.count {
                switch e.dtype {
                case .i32: out[i] = Int32(bitPattern: Self.le32(raw, base + 4 * i))
                case .i64:
                    let v = Int64(bitPattern: Self.le64(raw, base + 8 * i))
                    guard let n = Int32(exactly: v) else { throw AlignError.tensor(path: path, name: name, message: "value \(v) does not fit Int32") }
                    out[i] = n
                default: throw AlignError.tensor(path: path, name: name, message: "dtype \(e.dtype.rawValue) is not an integer type")
                }
            }
        }
        return out
    }

    /// Reads `name` into `dst` (which must hold exactly its element count), converting to Float32.
    public func read(_ name: String, into dst: UnsafeMutableBufferPointer<Float>, expectShape: [Int]? = nil) throws {
        let e = try entry(name)
        if let s = expectShape, s != e.shape {
            throw AlignError.tensor(path: path, name: name, message: "shape \(e.shape), expected \(s)")
        }
        try read(e, into: dst)
    }

    func read(_ e: Entry, into dst: UnsafeMutableBufferPointer<Float>) throws {
        guard dst.count == e.count else {
            throw AlignError.tensor(path: path, name: e.name, message: "has \(e.count) elements, destination holds \(dst.count)")
        }
        let base = dataStart + e.range.lowerBound
        data.withUnsafeBytes { raw in
            switch e.dtype {
            case .f32:
                #if _endian(little)
                // Host order is the file's: one bounds-checked copy.
                let src = UnsafeRawBufferPointer(rebasing: raw[base..<(base + 4 * e.count)])
                UnsafeMutableRawBufferPointer(dst).copyMemory(from: src)
                #else
                for i in 0..<e.count { dst[i] = Float(bitPattern: Self.le32(raw, base + 4 * i)) }
                #endif
            case .f64: for i in 0..<e.count { dst[i] = Float(Double(bitPattern: Self.le64(raw, base + 8 * i))) }
            case .bf16: for i in 0..<e.count { dst[i] = Float(bitPattern: UInt32(Self.le16(raw, base + 2 * i)) << 16) }
            case .f16: for i in 0..<e.count { dst[i] = halfToFloat(Self.le16(raw, base + 2 * i)) }
            case .i32: for i in 0..<e.count { dst[i] = Float(Int32(bitPattern: Self.le32(raw, base + 4 * i))) }
            case .i64: for i in 0..<e.count { dst[i] = Float(Int64(bitPattern: Self.le64(raw, base + 8 * i))) }
            case .u8, .bool: for i in 0..<e.count { dst[i] = Float(raw[base + i]) }
            case .i8: for i in 0..<e.count { dst[i] = Float(Int8(bitPattern: raw[base + i])) }
            }
        }
    }

    @inline(__always) static func le16(_ r: UnsafeRawBufferPointer, _ o: Int) -> UInt16 {
        UInt16(r[o]) | UInt16(r[o + 1]) << 8
    }
    @inline(__always) static func le32(_ r: UnsafeRawBufferPointer, _ o: Int) -> UInt32 {
        UInt32(r[o]) | UInt32(r[o + 1]) << 8 | UInt32(r[o + 2]) << 16 | UInt32(r[o + 3]) << 24
    }
    @inline(__always) static func le64(_ r: UnsafeRawBufferPointer, _ o: Int) -> UInt64 {
        UInt64(le32(r, o)) | UInt64(le32(r, o + 4)) << 32
    }
}

/// IEEE half → Float (handles subnormals, infinities, NaN).
@inline(__always)
public func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exp = Int((h >> 10) & 0x1F)
    let mant = UInt32(h & 0x3FF)
    if exp == 0 {
        if mant == 0 { return Float(bitPattern: sign) }
        let v = Float(mant) * 0x1.0p-24
        return sign != 0 ? -v : v
    }
    if exp == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13)) }
    return Float(bitPattern: sign | UInt32(exp - 15 + 127) << 23 | (mant << 13))
}

/// A tensor to write: F32 values or I32 values with a shape.
public struct SafetensorsTensor {
    public enum Values { case f32([Float]), i32([Int32]) }
    public let name: String
    public let shape: [Int]
    public let values: Values
    public init(name: String, shape: [Int], floats: [Float]) { self.name = name; self.shape = shape; values = .f32(floats) }
    public init(name: String, shape: [Int], ints: [Int32]) { self.name = name; self.shape = shape; values = .i32(ints) }
}

public enum SafetensorsWriter {
    /// Serialises tensors (sorted by name) with optional string metadata.
    public static func encode(_ tensors: [SafetensorsTensor], metadata: [String: String] = [:]) throws -> Data {
        let sorted = tensors.sorted { $0.name < $1.name }
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for t in sorted {
            let count = t.shape.reduce(1, *)
            let n: Int
            let dtype: String
            switch t.values {
            case .f32(let v): n = v.count; dtype = "F32"
            case .i32(let v): n = v.count; dtype = "I32"
            }
            guard n == count else { throw AlignError.tensor(path: "<write>", name: t.name, message: "shape \(t.shape) needs \(count) values, got \(n)") }
            header[t.name] = ["dtype": dtype, "shape": t.shape, "data_offsets": [offset, offset + 4 * n]] as [String: Any]
            offset += 4 * n
        }
        var hjson = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while hjson.count % 8 != 0 { hjson.append(0x20) }
        var out = Data(capacity: 8 + hjson.count + offset)
        var len = UInt64(hjson.count).littleEndian
        withUnsafeBytes(of: &len) { out.append(contentsOf: $0) }
        out.append(hjson)
        for t in sorted {
            switch t.values {
            case .f32(let v): v.withUnsafeBufferPointer { b in appendLE32(&out, b.count) { b[$0].bitPattern } }
            case .i32(let v): v.withUnsafeBufferPointer { b in appendLE32(&out, b.count) { UInt32(bitPattern: b[$0]) } }
            }
        }
        return out
    }

    /// Writes atomically (temp + rename).
    public static func write(_ tensors: [SafetensorsTensor], metadata: [String: String] = [:], to url: URL) throws {
        try AtomicFile.write(encode(tensors, metadata: metadata), to: url)
    }

    private static func appendLE32(_ out: inout Data, _ n: Int, _ bits: (Int) -> UInt32) {
        var bytes = [UInt8](repeating: 0, count: 4 * n)
        for i in 0..<n {
            let b = bits(i)
            bytes[4 * i] = UInt8(b & 0xFF); bytes[4 * i + 1] = UInt8((b >> 8) & 0xFF)
            bytes[4 * i + 2] = UInt8((b >> 16) & 0xFF); bytes[4 * i + 3] = UInt8(b >> 24)
        }
        out.append(contentsOf: bytes)
    }
}
