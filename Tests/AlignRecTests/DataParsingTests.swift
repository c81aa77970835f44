// Low-level input parsing: RFC 4180 CSV, the JSON / Python-literal parser, gzip line input, title/year split.
import AlignRec
import Foundation
import Testing

private func tempFile(_ bytes: [UInt8], suffix: String = ".txt") throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("align-test-\(UUID().uuidString)\(suffix)")
    try Data(bytes).write(to: url)
    return url
}

@Test func csvQuotedFieldsCommasDoubledQuotesCRLF() throws {
    let recs = try CSVReader.parse("id,title\r\n1,\"American President, The (1995)\"\r\n2,\"\"\"Great\"\" Cats\"\r\n\r\n3,plain\r\n4,\"\"\r\n")
    #expect(recs.map(\.fields) == [["id", "title"], ["1", "American President, The (1995)"], ["2", "\"Great\" Cats"], ["3", "plain"], ["4", ""]])
    #expect(recs.map(\.line) == [1, 2, 3, 5, 6])  // the blank line 4 is skipped
}

@Test func csvLineBreakInsideQuotesAndEmptyFields() throws {
    let recs = try CSVReader.parse("a,\"two\nlines\",,x\nb,c,d,e")
    #expect(recs.count == 2)
    #expect(recs[0].fields == ["a", "two\nlines", "", "x"])
    #expect(recs[1].fields == ["b", "c", "d", "e"])
    #expect(recs[1].line == 3)  // the first record spans lines 1-2
}

@Test func csvErrorsNameTheLine() throws {
    #expect(throws: AlignError.format(path: "t.csv", line: 2, message: "stray double quote inside unquoted field 2 (quote the field and double the quote)")) {
        try CSVReader.parse("a,b\n1,x\"y\n", path: "t.csv")
    }
    #expect(throws: AlignError.format(path: "t.csv", line: 2, message: "unexpected character after a closing quote in field 1")) {
        try CSVReader.parse("a\n\"x\"y\n", path: "t.csv")
    }
    #expect(throws: AlignError.format(path: "t.csv", line: 3, message: "quoted field is never closed (reached the end of the file)")) {
        try CSVReader.parse("a\nb\n\"open,\nmore\n", path: "t.csv")
    }
    let url = try tempFile([0x61, 0x2C, 0xFF, 0x0A])  // "a,\xFF"
    defer { try? FileManager.default.removeItem(at: url) }
    let r = try CSVReader(path: url.path)
    #expect(throws: AlignError.format(path: url.path, line: 1, message: "invalid UTF-8 in field 2")) { try r.next() }
}

@Test func literalParserJSON() throws {
    let v = try LiteralParser.parse(#"{"a": [1, -2.5e1, "x\"y\\z\u00e9\ud83d\ude00"], "b": {"c": null, "d": true}, "e": false}"#)
    #expect(v["a"] == .array([.int(1), .double(-25), .string("x\"y\\zé😀")]))
    #expect(v["b"]?["c"] == .null)
    #expect(v["b"]?["d"] == .bool(true))
    #expect(v["e"] == .bool(false))
}

@Test func literalParserPythonDict() throws {
    let line = #"{'asin': '0000031852', 'title': "Girl's Tutu", 'price': 3.17, 'categories': [['Sports', 'Dance'], ['Toys']], 'flag': True, 'x': None, 'd': u'caf\xe9\n', 't': (1, 2,), 'n': -7}"#
    let v = try LiteralParser.parse(line)
    #expect(v["asin"] == .string("0000031852"))
    #expect(v["title"] == .string("Girl's Tutu"))
    #expect(v["price"] == .double(3.17))
    #expect(v["categories"]?.flattenedStrings == ["Sports", "Dance", "Toys"])
    #expect(v["flag"] == .bool(true))
    #expect(v["x"] == .null)
    #expect(v["d"] == .string("café\n"))
    #expect(v["t"] == .array([.int(1), .int(2)]))
    #expect(v["n"]?.scalarText == "-7")
}

@Test func literalParserRejectsMalformed() {
    for bad in ["{'a': 1", "{'a' 1}", "{\"a\": tru}", "{'a': 'x}", "[1, 2] x", "{1: 2}", ""] {
        #expect(throws: LiteralParseError.self) { try LiteralParser.parse(bad) }
    }
    let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
    #expect(throws: LiteralParseError.self) { try LiteralParser.parse(deep) }
}

@Test func lineReaderPlainAndGzip() throws {
    let text = "first\r\nsecond\n\nlast-without-newline"
    let plain = try tempFile(Array(text.utf8))
    defer { try? FileManager.default.removeItem(at: plain) }
    // gzip it with the system tool, then read both.
    let gz = plain.appendingPathExtension("gz")
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = ["-c", "gzip -c '\(plain.path)' > '\(gz.path)'"]
    try p.run(); p.waitUntilExit()
    defer { try? FileManager.default.removeItem(at: gz) }
    for url in [plain, gz] {
        let r = try LineReader(path: url.path)
        var lines: [String] = []
        while let l = try r.nextLine() { lines.append(String(decoding: l, as: UTF8.self)) }
        #expect(lines == ["first", "second", "", "last-without-newline"])
        #expect(r.lineNumber == 4)
        #expect(r.isGzip == (url == gz))
    }
}

@Test func corruptGzipIsAFormatError() throws {
    let url = try tempFile([0x1f, 0x8b, 0x08, 0x00, 0x01, 0x02, 0x03], suffix: ".gz")
    defer { try? FileManager.default.removeItem(at: url) }
    let r = try LineReader(path: url.path)
    #expect(throws: AlignError.self) { while try r.nextLine() != nil {} }
}

@Test func latin1FallbackAndTitleYearSplit() {
    #expect(TextDecoding.utf8OrLatin1([0x43, 0x69, 0x74, 0xE9]) == "Cité")
    #expect(TextDecoding.utf8OrLatin1(Array("Cité".utf8)) == "Cité")
    #expect(ItemMeta.splitYear("Heat (1995)") == ("Heat", 1995))
    #expect(ItemMeta.splitYear("Blind Side, The  (2009)") == ("Blind Side, The", 2009))
    #expect(ItemMeta.splitYear("Cinema Paradiso (Nuovo cinema Paradiso) (1989)") == ("Cinema Paradiso (Nuovo cinema Paradiso)", 1989))
    #expect(ItemMeta.splitYear("Babylon 5") == ("Babylon 5", nil))
    #expect(ItemMeta.splitYear("Fawlty Towers (1975-1979)") == ("Fawlty Towers (1975-1979)", nil))
    #expect(ItemMeta.splitYear("Stranger Things (2016-)") == ("Stranger Things", 2016))
    let m = ItemMeta(title: "Heat", year: 1995, genres: ["Action", "Crime", "Thriller"])
    #expect(m.text == "Heat (1995). Genres: Action, Crime, Thriller.")
}
