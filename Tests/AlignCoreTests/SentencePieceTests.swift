// SentencePiece against the reference: sentencepiece 0.2.3's own outputs (cases.jsonl) and llama.cpp's
// reference token ids for the LLaMA 32k vocabulary (llama_32000.inp/.out), plus deterministic training.
import AlignCore
import Foundation
import Testing
import TestSupport

private func spFixture(_ name: String) -> URL { FixturePath.url("sentencepiece/\(name)", bundle: .module) }

private struct SPCase: Decodable {
    let model: String, text: String, ids: [Int32], pieces: [String], decoded: String
}

@Suite struct SentencePieceReference {
    @Test func casesMatchTheLibraryExactly() throws {
        let lines = try String(contentsOf: spFixture("cases.jsonl"), encoding: .utf8).split(separator: "\n")
        let cases = try lines.map { try JSONDecoder().decode(SPCase.self, from: Data($0.utf8)) }
        #expect(cases.count == 45)
        var models: [String: SentencePieceModel] = [:]
        for c in cases {
            let m = try models[c.model] ?? SentencePieceModel(contentsOf: spFixture(c.model))
            models[c.model] = m
            let ids = try m.encode(c.text)
            #expect(ids == c.ids, "\(c.model) ids of \(c.text.debugDescription)")
            // The fixture's pieces name unknown spans by the unk piece (emit_unk_piece); they equal piece(id).
            #expect(try m.encodePieces(c.text, emitUnkPiece: true) == c.pieces, "\(c.model) pieces of \(c.text.debugDescription)")
            #expect(try ids.map { try m.piece(Int($0)) } == c.pieces)
            #expect(try m.decode(ids) == c.decoded, "\(c.model) decode of \(c.text.debugDescription)")
        }
        #expect(models.count == 3)
    }

    @Test func unknownSpansKeepTheirSurfaceByDefault() throws {
        let m = try SentencePieceModel(contentsOf: spFixture("botchan_en_unigram_1000.model"))
        #expect(try m.encodePieces("日本語のテキスト") == ["▁", "日本語のテキスト"])
        #expect(try m.encodePieces("日本語のテキスト", emitUnkPiece: true) == ["▁", "<unk>"])
        #expect(m.unkPiece == "<unk>")
    }

    /// llama.cpp's test-tokenizer-0 reads texts separated by "\n__ggml_vocab_test__\n" (the remainder after the
    /// last separator is not a test) and tokenizes each with add_special=false: no BOS, and for an SPM vocabulary
    /// one leading space is prepended, spaces become "▁" and nothing else is normalised. The LLaMA model's
    /// normalizer (add_dummy_prefix, no whitespace collapsing, byte fallback) is exactly that, so plain
    /// `encode(text)` must reproduce every line of the .out file.
    @Test func llamaCppReferencePairs() throws {
        let inp = try String(contentsOf: spFixture("llama_32000.inp"), encoding: .utf8)
        let out = try String(contentsOf: spFixture("llama_32000.out"), encoding: .utf8)
        var texts: [String] = []
        var rest = Substring(inp)
        let sep = "\n__ggml_vocab_test__\n"
        while let r = rest.range(of: sep) {
            texts.append(String(rest[..<r.lowerBound]))
            rest = rest[r.upperBound...]
        }
        var expected = out.components(separatedBy: "\n")
        if expected.last == "" { expected.removeLast() }
        #expect(texts.count == 46 && expected.count == 46)
        let m = try SentencePieceModel(contentsOf: spFixture("llama_32000.model"))
        #expect(m.vocabSize == 32000 && m.unkId == 0 && m.bosId == 1 && m.eosId == 2)
        var matched = 0
        for (t, e) in zip(texts, expected) {
            let want = e.split(separator: " ").map { Int32($0)! }
            let got = try m.encode(t)
            #expect(got == want, "llama.cpp pair for \(t.debugDescription)")
            if got == want { matched += 1 }
        }
        #expect(matched == 46)
    }

    @Test func pieceIdLookupsAndErrors() throws {
        let m = try SentencePieceModel(contentsOf: spFixture("llama_32000.model"))
        #expect(m.id(ofPiece: "▁Hello") == 15043)
        #expect(try m.piece(15043) == "▁Hello")
        #expect(m.id(ofPiece: "<unk>") == 0)
        #expect(m.id(ofPiece: "definitely-not-a-piece") == nil)
        #expect(try m.kind(0).contains(.unknown) && m.kind(1).contains(.control) && m.kind(13).contains(.byte))
        #expect(throws: AlignError.self) { try m.decode([5, 32000]) }
        #expect(throws: AlignError.self) { try m.decode([-1]) }
        #expect(throws: AlignError.self) { try m.piece(40000) }
        #expect(throws: AlignError.self) { try SentencePieceModel(serialized: Data("not a model".utf8)) }
        #expect(throws: AlignError.self) { try SentencePieceModel(contentsOf: URL(fileURLWithPath: "/nonexistent/tokenizer.model")) }
        // Serialize → load gives the same model.
        let again = try SentencePieceModel(serialized: m.serialized())
        #expect(try again.encode("Hello, y'all!") == m.encode("Hello, y'all!"))
        #expect(try again.serialized() == m.serialized())
    }
}

/// A small corpus: movie-catalogue-like sentences (enough for a few hundred pieces).
func smallCorpus() -> [String] {
    let titles = ["Toy Story", "Heat", "Jumanji", "Grumpier Old Men", "Waiting to Exhale", "Father of the Bride",
                  "Sabrina", "Tom and Huck", "Sudden Death", "GoldenEye", "The American President", "Balto",
                  "Nixon", "Cutthroat Island", "Casino", "Sense and Sensibility", "Four Rooms", "Money Train"]
    let genres = ["Adventure", "Animation", "Children", "Comedy", "Fantasy", "Romance", "Drama", "Action",
                  "Crime", "Thriller", "Horror", "Mystery"]
    var out: [String] = []
    for (i, t) in titles.enumerated() {
        let g1 = genres[i % genres.count], g2 = genres[(i * 5 + 3) % genres.count]
        out.append("\(t) (\(1990 + i % 10)) is a \(g1.lowercased()) film with elements of \(g2.lowercased()).")
        out.append("The user watched \(t) and then rated it \(i % 5 + 1) out of 5 stars.")
        out.append("Recommend a movie similar to \(t): something in \(g1) or \(g2).")
    }
    return out
}

@Suite struct SentencePieceTraining {
    @Test(arguments: [SentencePieceTrainOptions.ModelType.unigram, .bpe])
    func trainsAWorkingDeterministicModel(type: SentencePieceTrainOptions.ModelType) throws {
        let corpus = smallCorpus()
        let opts = SentencePieceTrainOptions(vocabSize: 120, modelType: type, userDefinedSymbols: ["<sep>"])
        let bytes1 = try SentencePieceTrainer.trainSerialized(sentences: corpus, options: opts)
        let bytes2 = try SentencePieceTrainer.trainSerialized(sentences: corpus, options: opts)
        #expect(bytes1 == bytes2, "same input must give a byte-identical model")
        let m = try SentencePieceModel(serialized: bytes1)
        #expect(m.vocabSize == 120)
        #expect(m.unkId == 0 && m.bosId == 1 && m.eosId == 2 && m.padId == nil)
        let sep = try #require(m.id(ofPiece: "<sep>"))
        for s in corpus.prefix(10) + ["Heat (1995) <sep> Balto"] {
            let ids = try m.encode(s)
            #expect(try m.decode(ids) == s)
        }
        #expect(try m.encode("a <sep> b").contains(Int32(sep)))
        // Training from a file gives the same vocabulary as from the same lines in memory (the serialized
        // trainer spec differs only by recording the input path).
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spm-train-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("corpus.txt")
        try corpus.joined(separator: "\n").appending("\n").write(to: file, atomically: true, encoding: .utf8)
        let fromFile = try SentencePieceModel(serialized: SentencePieceTrainer.trainSerialized(file: file, options: opts))
        #expect(fromFile.vocabSize == m.vocabSize)
        #expect(try (0..<m.vocabSize).map { try fromFile.piece($0) } == (0..<m.vocabSize).map { try m.piece($0) })
    }

    @Test func badOptionsAreTypedErrors() {
        #expect(throws: AlignError.self) { try SentencePieceTrainer.train(sentences: [], vocabSize: 50) }
        #expect(throws: AlignError.self) { try SentencePieceTrainer.train(sentences: ["a b"], vocabSize: 0) }
        #expect(throws: AlignError.self) {
            try SentencePieceTrainer.train(sentences: ["a b"], vocabSize: 50, userDefinedSymbols: ["x,y"])
        }
        // A vocabulary far larger than the corpus supports is an error with hard_vocab_limit.
        #expect(throws: AlignError.self) { try SentencePieceTrainer.train(sentences: ["a b c"], vocabSize: 5000) }
    }
}
