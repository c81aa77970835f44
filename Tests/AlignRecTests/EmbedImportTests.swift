// `align embed --import`: .npy (header parsing, dtypes, order), .safetensors (tensor choice, `items`
// order) and CSV (header, item column) importers, with the bad inputs each must reject clearly.
import AlignRec
import Foundation
import TestSupport
import Testing

@Suite final class EmbedImportTests {
    let dir: URL = {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("align-embed-import-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }()
    deinit { try? FileManager.default.removeItem(at: dir) }

    func file(_ name: String, _ data: Data) throws -> URL {
        let u = dir.appendingPathComponent(name)
        try data.write(to: u)
        return u
    }

    /// An .npy file exactly as numpy.save writes it (header padded with spaces to a multiple of 64, then '\n').
    static func npy(descr: String, fortran: Bool = false, shape: String, payload: Data, version: UInt8 = 1) -> Data {
        var header = "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': \(shape), }"
        let pre = version == 1 ? 10 : 12
        while (pre + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var d = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, version, 0])
        let n = header.utf8.count
        d.append(contentsOf: version == 1 ? [UInt8(n & 0xFF), UInt8(n >> 8)] : [UInt8(n & 0xFF), UInt8(n >> 8 & 0xFF), 0, 0])
        d.append(Data(header.utf8))
        d.append(payload)
        return d
    }

    static func le<T: FixedWidthInteger>(_ xs: [T]) -> Data {
        var d = Data()
        for x in xs { withUnsafeBytes(of: x.littleEndian) { d.append(contentsOf: $0) } }
        return d
    }

    @Test func npyFloat32AndFloat64() throws {
        let v: [Float] = [1, 2, 3, 4, 5, 6]
        let f4 = try file("a.npy", Self.npy(descr: "<f4", shape: "(3, 2)", payload: Self.le(v.map(\.bitPattern))))
        let r = try EmbeddingImporter.load(f4, expectedCount: 3)
        #expect(r.dim == 2 && r.vectors == v)
        let d: [Double] = [0.5, -1.25, 3, 8]
        let f8 = try file("b.npy", Self.npy(descr: "<f8", shape: "(2,2)", payload: Self.le(d.map(\.bitPattern)), version: 2))
        let r8 = try EmbeddingImporter.load(f8, expectedCount: 2)
        #expect(r8.vectors == [0.5, -1.25, 3, 8])
    }

    @Test func npyRejectsBadInputs() throws {
        let six = Self.le([Float](repeating: 1, count: 6).map(\.bitPattern))
        let cases: [(String, Data, String)] = [
            ("fortran.npy", Self.npy(descr: "<f4", fortran: true, shape: "(3, 2)", payload: six), "Fortran"),
            ("int.npy", Self.npy(descr: "<i4", shape: "(3, 2)", payload: six), "dtype '<i4'"),
            ("be.npy", Self.npy(descr: ">f4", shape: "(3, 2)", payload: six), "big-endian"),
            ("1d.npy", Self.npy(descr: "<f4", shape: "(6,)", payload: six), "2-D"),
            ("short.npy", Self.npy(descr: "<f4", shape: "(3, 3)", payload: six), "data section"),
            ("header.npy", Self.npy(descr: "<f4", shape: "(3, 2", payload: six), "bad .npy header"),
            ("magic.npy", Data("NUMPY not really".utf8), "magic"),
            ("count.npy", Self.npy(descr: "<f4", shape: "(2, 3)", payload: six), "has 2 vectors but the dataset has 3"),
            ("nan.npy", Self.npy(descr: "<f4", shape: "(3, 2)", payload: Self.le([1, 1, 1, Float.nan, 1, 1].map(\.bitPattern))), "item 2"),
        ]
        for (name, data, needle) in cases {
            let u = try file(name, data)
            let e = #expect(throws: AlignError.self, "\(name)") { try EmbeddingImporter.load(u, expectedCount: 3) }
            #expect(e?.description.contains(needle) == true, "\(name): \(e?.description ?? "no error")")
        }
    }

    @Test func safetensorsTensorChoiceAndItemOrder() throws {
        let emb = SafetensorsTensor(name: "vecs", shape: [3, 2], floats: [1, 1, 2, 2, 3, 3])
        let other = SafetensorsTensor(name: "other", shape: [3, 2], floats: [9, 9, 8, 8, 7, 7])
        // The only 2-D float tensor is chosen (1-D floats and 2-D integers are not vectors).
        let one = try file("o.safetensors", SafetensorsWriter.encode([
            SafetensorsTensor(name: "a_bias", shape: [2], floats: [0, 0]),
            SafetensorsTensor(name: "b_ids", shape: [3, 2], ints: [1, 2, 3, 4, 5, 6]), emb]))
        #expect(try EmbeddingImporter.load(one, expectedCount: 3).vectors == [1, 1, 2, 2, 3, 3])
        let u = try file("v.safetensors", SafetensorsWriter.encode([
            SafetensorsTensor(name: "bias", shape: [2], floats: [0, 0]), emb, other]))
        #expect(try EmbeddingImporter.load(u, expectedCount: 3, tensor: "vecs").vectors == [1, 1, 2, 2, 3, 3])
        #expect(try EmbeddingImporter.load(u, expectedCount: 3, tensor: "other").vectors == [9, 9, 8, 8, 7, 7])
        #expect(throws: AlignError.self) { try EmbeddingImporter.load(u, expectedCount: 3, tensor: "bias") }
        #expect(throws: AlignError.self) { try EmbeddingImporter.load(u, expectedCount: 3, tensor: "missing") }
        #expect(throws: AlignError.self) { try EmbeddingImporter.load(u, expectedCount: 4) }
        // An `items` tensor gives each row's item index.
        let p = try file("p.safetensors", SafetensorsWriter.encode([emb, SafetensorsTensor(name: "items", shape: [3], ints: [3, 1, 2])]))
        #expect(try EmbeddingImporter.load(p, expectedCount: 3).vectors == [2, 2, 3, 3, 1, 1])
        let dup = try file("d.safetensors", SafetensorsWriter.encode([emb, SafetensorsTensor(name: "items", shape: [3], ints: [1, 1, 2])]))
        #expect(throws: AlignError.self) { try EmbeddingImporter.load(dup, expectedCount: 3) }
        let nan = try file("n.safetensors", SafetensorsWriter.encode([SafetensorsTensor(name: "e", shape: [3, 1], floats: [1, .infinity, 0])]))
        #expect(throws: AlignError.self) { try EmbeddingImporter.load(nan, expectedCount: 3) }
    }

    @Test func csvPlainHeaderAndItemColumn() throws {
        let plain = try file("a.csv", Data("0.5,1\n-2,3e-1\n\n".utf8))
        #expect(try EmbeddingImporter.load(plain, expectedCount: 2).vectors == [0.5, 1, -2, 0.3])
        let ids = try file("b.csv", Data("item,x,y\n2,0.5,1\n1,7,8\n".utf8))
        #expect(try EmbeddingImporter.load(ids, expectedCount: 2).vectors == [7, 8, 0.5, 1])
        let implicitIds = try file("c.csv", Data("3,0.1\n1,0.2\n2,0.3\n".utf8))
        #expect(try EmbeddingImporter.load(implicitIds, expectedCount: 3).vectors == [0.2, 0.3, 0.1])
        let tsv = try file("d.tsv", Data("1\t2\n3\t4\n".utf8))
        #expect(try EmbeddingImporter.load(tsv, expectedCount: 2).vectors == [1, 2, 3, 4])
    }

    @Test func csvRejectsBadInputs() throws {
        let cases: [(String, String, String)] = [
            ("ragged.csv", "1,2\n3\n", ":2: 1 fields"),
            ("word.csv", "1,2\n3,abc\n", ":2: 'abc' is not a number"),
            ("nan.csv", "1,2\nnan,4\n", "non-finite"),
            ("count.csv", "1,2\n3,4\n5,6\n", "has 3 vectors but the dataset has 2"),
            ("badid.csv", "item,x\n1,5\n7,6\n", "item index 7.0 is not an integer in 1...2"),
            ("empty.csv", "a,b\n", "no data rows"),
        ]
        for (name, text, needle) in cases {
            let u = try file(name, Data(text.utf8))
            let e = #expect(throws: AlignError.self, "\(name)") { try EmbeddingImporter.load(u, expectedCount: 2) }
            #expect(e?.description.contains(needle) == true, "\(name): \(e?.description ?? "no error")")
        }
        #expect(throws: AlignError.self) { try EmbeddingImporter.load(self.dir.appendingPathComponent("x.bin"), expectedCount: 2) }
    }
}
