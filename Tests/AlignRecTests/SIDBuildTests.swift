// `align sid build` end to end on a temporary dataset: inputs, files written, report contents, bad inputs.
import AlignRec
import Foundation
import Testing

private func tempDir() -> URL {
    let u = FileManager.default.temporaryDirectory.appendingPathComponent("sid-test-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
    return u
}

@Test func sidBuildWritesMapAndReport() throws {
    let dir = tempDir(); defer { try? FileManager.default.removeItem(at: dir) }
    let n = 120, dim = 6
    let (x, labels) = SIDTestData.mixture(n: n, dim: dim, components: 3, seed: 13)
    try SafetensorsWriter.write([SafetensorsTensor(name: "embeddings", shape: [n, dim], floats: x),
                                 SafetensorsTensor(name: "items", shape: [n], ints: (1...n).map(Int32.init))],
                                to: dir.appendingPathComponent("embeddings.safetensors"))
    let genres = ["Drama", "Comedy", "Horror"]
    var lines = ""
    for i in 0..<n {
        let g: [String] = i % 10 == 0 ? [] : [genres[labels[i]], "Other"]
        let item = Item(item: i + 1, id: "m\(i)", title: "T\(i)", year: 2000, genres: g, text: "t")
        lines += String(decoding: try JSONEncoder().encode(item), as: UTF8.self) + "\n"
    }
    try lines.write(to: dir.appendingPathComponent("items.jsonl"), atomically: true, encoding: .utf8)
    let b = try SIDBuilder.run(dataset: dir, config: SIDBuildConfig(levels: 2, codes: 3, seed: 9))
    #expect(b.report.firstLevelGenrePurity! > 0.95 && b.report.genreItems == 108)
    let map = try SIDMap.read(dir.appendingPathComponent("sid/sid_map.json"))
    #expect(map == b.map && map.count == n)
    let idx = try SIDMap.readIndexJSON(dir.appendingPathComponent("sid/lcrec.index.json"))
    #expect(idx.codesByRow == map.codesByRow)
    let rep = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("sid/report.json"))) as! [String: Any]
    #expect(rep["format"] as? String == "align-sid-report" && rep["version"] as? Int == 1)
    let stats = rep["level_stats"] as! [[String: Any]]
    #expect(stats.count == map.levels)
    // Utilisation / perplexity from an independent count of the first level.
    var counts = [Int](repeating: 0, count: 3)
    for c in map.codesByRow { counts[c[0]] += 1 }
    let h = counts.filter { $0 > 0 }.reduce(0.0) { let p = Double($1) / Double(n); return $0 - p * log(p) }
    #expect(abs((stats[0]["perplexity"] as! Double) - exp(h)) < 1e-9)
    #expect(b.report.table().contains("first-level genre purity"))
    // Same seed → same SIDs.
    let again = try SIDBuilder.build(SIDVectors(values: x, n: n, dim: dim), config: SIDBuildConfig(levels: 2, codes: 3, seed: 9))
    #expect(again.map.codesByRow == map.codesByRow)
}

@Test func sidInputsRejectBadFiles() throws {
    let dir = tempDir(); defer { try? FileManager.default.removeItem(at: dir) }
    let items = dir.appendingPathComponent("items.jsonl")
    try "{\"item\":1,\"id\":\"a\",\"title\":\"A\",\"year\":null,\"genres\":[],\"text\":\"a\"}\n{\"item\":2,\"id\":\"b\"}\n"
        .write(to: items, atomically: true, encoding: .utf8)
    do { _ = try SIDInputs.loadItems(items); Issue.record("expected an error") } catch let e as AlignError {
        #expect(e.description.contains("items.jsonl:2:"))
    }
    let emb = dir.appendingPathComponent("e.safetensors")
    try SafetensorsWriter.write([SafetensorsTensor(name: "embeddings", shape: [2, 2], floats: [1, .nan, 0, 1])], to: emb)
    #expect(throws: AlignError.self) { _ = try SIDInputs.loadEmbeddings(emb) }
    try SafetensorsWriter.write([SafetensorsTensor(name: "embeddings", shape: [2, 2], floats: [1, 0, 0, 1]),
                                 SafetensorsTensor(name: "items", shape: [2], ints: [2, 1])], to: emb)
    #expect(throws: AlignError.self) { _ = try SIDInputs.loadEmbeddings(emb) }
    #expect(throws: AlignError.self) { _ = try SIDBuilder.run(dataset: dir, config: SIDBuildConfig()) }  // no embeddings
}
