// Malformed safetensors must give a clear AlignError (never a crash or an out-of-bounds read), and F16/BF16
// decode to the IEEE values computed independently (Python struct 'e' / float32 bit patterns).
import AlignCore
import Foundation
import Testing

/// Builds a safetensors blob by hand: 8-byte LE length (or `declaredLength`), header text, data bytes.
private func blob(_ header: String, data: [UInt8] = [], declaredLength: UInt64? = nil) -> Data {
    let h = Array(header.utf8)
    var out = Data()
    var n = (declaredLength ?? UInt64(h.count)).littleEndian
    withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
    out.append(contentsOf: h)
    out.append(contentsOf: data)
    return out
}

/// The error message when parsing fails with an AlignError (nil when it parsed).
private func parseError(_ d: Data) -> String? {
    do { _ = try SafetensorsFile(data: d, path: "bad.safetensors"); return nil } catch let e as AlignError {
        return e.description
    } catch { return "non-AlignError: \(error)" }
}

@Suite struct SafetensorsMalformed {
    @Test(arguments: [
        // (case, header, data bytes, declared length, text the message must contain)
        ("truncated <8 bytes", nil, 0, nil, "truncated"),
        ("header length beyond file", #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, 4, 10_000, "runs past the end"),
        ("huge header length", "{}", 0, UInt64.max, "runs past the end"),
        ("data shorter than offsets", #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, 8, nil, "outside the data section"),
        ("offsets reversed", #"{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}"#, 8, nil, "outside the data section"),
        ("negative offset", #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}"#, 8, nil, "outside the data section"),
        ("offset not integer", #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4.5]}}"#, 8, nil, "data_offsets"),
        ("offset huge", #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,1e30]}}"#, 8, nil, "data_offsets"),
        ("offsets not a pair", #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#, 8, nil, "data_offsets"),
        ("overlapping tensors", #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, 12, nil, "overlap"),
        ("unknown dtype", #"{"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}"#, 1, nil, "unsupported dtype F8_E4M3"),
        ("missing dtype", #"{"a":{"shape":[1],"data_offsets":[0,4]}}"#, 4, nil, "missing dtype"),
        ("non-JSON header", "{not json at all", 0, nil, "not valid JSON"),
        ("header not an object", "[1,2,3]", 0, nil, "not a JSON object"),
        ("entry not an object", #"{"a":[1,2]}"#, 0, nil, "not an object"),
        ("metadata not an object", #"{"__metadata__":[1]}"#, 0, nil, "__metadata__"),
        ("shape/offset size mismatch", #"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, 8, nil, "needs 12 bytes"),
        ("negative shape", #"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, 4, nil, "shape"),
        ("boolean shape", #"{"a":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}}"#, 4, nil, "shape"),
        ("byte size overflows", #"{"a":{"dtype":"F32","shape":[1000000000,2400000000],"data_offsets":[0,4]}}"#, 4, nil, "overflows"),
        ("element count overflows", #"{"a":{"dtype":"F32","shape":[4000000000,4000000000],"data_offsets":[0,4]}}"#, 4, nil, "overflows"),
    ] as [(String, String?, Int, UInt64?, String)])
    func malformedIsATypedError(c: (String, String?, Int, UInt64?, String)) {
        let (label, header, dataBytes, declared, needle) = c
        let d = header.map { blob($0, data: [UInt8](repeating: 0, count: dataBytes), declaredLength: declared) } ?? Data([1, 2, 3])
        let msg = parseError(d)
        #expect(msg != nil, "\(label): parsed without error")
        #expect(msg?.contains(needle) == true, "\(label): message \(msg ?? "nil") lacks '\(needle)'")
        #expect(msg?.contains("bad.safetensors") == true, "\(label): message must name the file")
    }

    @Test func everyTruncationOfAValidFileIsAnError() throws {
        let good = try SafetensorsWriter.encode([
            SafetensorsTensor(name: "w", shape: [2, 3], floats: [1, 2, 3, 4, 5, 6]),
            SafetensorsTensor(name: "b", shape: [3], floats: [7, 8, 9]),
        ])
        for n in 0..<good.count {
            #expect(parseError(good.prefix(n)) != nil, "prefix of \(n) bytes parsed")
        }
        #expect(parseError(good) == nil)
    }

    @Test func emptyTensorsAndGapsAreFine() throws {
        let d = blob(#"{"e":{"dtype":"F32","shape":[0,3],"data_offsets":[4,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#,
                     data: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x3F])
        let f = try SafetensorsFile(data: d, path: "gap.safetensors")
        #expect(try f.floats("e") == [] && f.floats("a") == [1])
        #expect(throws: AlignError.self) { try f.floats("missing") }
        var small = [Float](repeating: 0, count: 2)
        #expect(throws: AlignError.self) { try small.withUnsafeMutableBufferPointer { try f.read("a", into: $0) } }
        var one: [Float] = [0]
        #expect(throws: AlignError.self) { try one.withUnsafeMutableBufferPointer { try f.read("a", into: $0, expectShape: [1, 1]) } }
    }

    @Test func f16DecodesToIEEEValues() throws {
        let halves: [UInt16] = [0x3C00, 0xC000, 0x7BFF, 0x0001, 0x8000, 0x3555, 0x0400, 0x03FF, 0x7C00, 0xFC00, 0x7E00]
        let want: [Float] = [1.0, -2.0, 65504.0, 5.960464477539063e-08, -0.0, 0.333251953125, 6.103515625e-05,
                             6.097555160522461e-05, .infinity, -.infinity]
        let bytes = halves.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        let f = try SafetensorsFile(data: blob(#"{"h":{"dtype":"F16","shape":[11],"data_offsets":[0,22]}}"#, data: bytes), path: "f16")
        let got = try f.floats("h")
        #expect(Array(got[0..<10]).map(\.bitPattern) == want.map(\.bitPattern))
        #expect(got[10].isNaN)
    }

    @Test func bf16DecodesToIEEEValues() throws {
        let halves: [UInt16] = [0x3F80, 0xC040, 0x4049, 0x0001, 0x3EAB, 0x8001, 0x7F80]
        let want: [Float] = [1.0, -3.0, 3.140625, Float(bitPattern: 0x0001_0000), 0.333984375, Float(bitPattern: 0x8001_0000), .infinity]
        let bytes = halves.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        let f = try SafetensorsFile(data: blob(#"{"b":{"dtype":"BF16","shape":[7],"data_offsets":[0,14]}}"#, data: bytes), path: "bf16")
        #expect(try f.floats("b").map(\.bitPattern) == want.map(\.bitPattern))
    }
}
