import AlignCore
import Foundation
import Testing

@Suite struct SafetensorsRoundTrip {
    @Test func writeThenReadIsBitExact() throws {
        let vals: [Float] = [1, -2.5, .pi, 1e-30, -0.0, 3e38]
        let data = try SafetensorsWriter.encode([
            SafetensorsTensor(name: "a", shape: [2, 3], floats: vals),
            SafetensorsTensor(name: "ids", shape: [3], ints: [1, -7, 100_000]),
        ], metadata: ["format": "pt"])
        let f = try SafetensorsFile(data: data, path: "mem")
        #expect(f.names == ["a", "ids"])
        #expect(try f.entry("a").shape == [2, 3])
        #expect(try f.floats("a").map(\.bitPattern) == vals.map(\.bitPattern))
        #expect(try f.int32s("ids") == [1, -7, 100_000])
        #expect(f.metadata["format"] == "pt")
    }
}
