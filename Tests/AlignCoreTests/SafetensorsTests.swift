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

@Suite struct LlamaConfigReading {
    func decode(_ json: String) throws -> LlamaConfig {
        try JSONDecoder().decode(LlamaConfig.self, from: Data(json.utf8))
    }
    let base = #""vocab_size": 128256, "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2"#

    @Test func bothRopeSpellingsAndTokenIdForms() throws {
        #expect(try decode("{\(base), \"rope_theta\": 500000}").ropeTheta == 500000)
        #expect(try decode("{\(base), \"rope_parameters\": {\"rope_theta\": 1000, \"rope_type\": \"default\"}}").ropeTheta == 1000)
        let c = try decode("{\(base), \"eos_token_id\": [128001, 128009], \"bos_token_id\": 5, \"pad_token_id\": null}")
        #expect(c.eosTokenId == 128001 && c.bosTokenId == 5 && c.padTokenId == nil)
        #expect(c.numKeyValueHeads == 2 && c.headDim == 4)
    }

    @Test func unsupportedVariantsAreErrors() {
        #expect(throws: (any Error).self) { try decode("{\(base), \"eos_token_id\": \"x\"}") }
        #expect(throws: (any Error).self) { try decode("{\(base), \"rope_scaling\": {\"rope_type\": \"yarn\"}}") }
        #expect(throws: (any Error).self) { try decode("{\(base), \"attention_bias\": true}") }
        #expect(throws: (any Error).self) { try decode("{\(base), \"num_key_value_heads\": 3}") }
    }
}
