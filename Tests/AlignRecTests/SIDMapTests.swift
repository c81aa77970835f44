// The SID map: token spelling, sid_map.json and LC-Rec .index.json round trips, and bad files.
import AlignRec
import Foundation
import Testing

@Test func sidMapTokensAndLookup() throws {
    let m = try SIDMap(codebookSizes: [256, 256, 256], method: "rqkmeans", dedup: "extra-level", codesByRow: [[12, 7, 201], [0, 0, 1]])
    #expect(m.tokenString(1) == "<a_12><b_7><c_201>")
    #expect(m.tokens(for: 2) == ["<a_0>", "<b_0>", "<c_1>"])
    #expect(m.tokenString(3) == nil && m.tokenString(0) == nil)
    #expect(m.item(forCodes: [0, 0, 1]) == 2)
    #expect(m.item(forCodes: [0, 0, 2]) == nil)
    #expect(SIDMap.parseToken("<c_201>")! == (2, 201))
    #expect(SIDMap.parseToken("<c201>") == nil && SIDMap.parseToken("<c_-1>") == nil)
    #expect(m.vocabulary.count == 768 && m.vocabulary[256] == "<b_0>")
}

@Test func sidMapJSONRoundTrip() throws {
    let m = try SIDMap(codebookSizes: [4, 3, 2], method: "rqvae", dedup: "sinkhorn", codesByRow: [[3, 2, 1], [0, 1, 0], [1, 1, 1]])
    let text = m.jsonString()
    #expect(text.hasPrefix("{\"format\":\"align-sid-map\",\"version\":1,\"levels\":3,\"codes\":[4,3,2],\"method\":\"rqvae\""))
    let back = try SIDMap.parse(Data(text.utf8), path: "m.json")
    #expect(back == m)
    // LC-Rec form: 0-based keys, token lists.
    let idx = m.indexJSONString()
    let obj = try JSONSerialization.jsonObject(with: Data(idx.utf8)) as! [String: [String]]
    #expect(obj["0"] == ["<a_3>", "<b_2>", "<c_1>"] && obj["2"] == ["<a_1>", "<b_1>", "<c_1>"])
    let imp = try SIDMap.parseIndexJSON(Data(idx.utf8), path: "x.index.json")
    #expect(imp.codesByRow == m.codesByRow && imp.codebookSizes == [4, 3, 2])
}

@Test func sidMapRejectsBadFiles() throws {
    #expect(throws: AlignError.self) {  // duplicate SID
        _ = try SIDMap(codebookSizes: [2, 2], method: "x", dedup: "none", codesByRow: [[1, 1], [1, 1]])
    }
    #expect(throws: AlignError.self) {  // code out of range
        _ = try SIDMap(codebookSizes: [2, 2], method: "x", dedup: "none", codesByRow: [[1, 2]])
    }
    let bad = [
        #"{"format":"align-sid-map","version":2,"levels":1,"codes":[2],"method":"m","dedup":"d","items":{"1":[0]}}"#,
        #"{"format":"align-sid-map","version":1,"levels":1,"codes":[2],"method":"m","dedup":"d","items":{"2":[0]}}"#,
        #"{"format":"other","version":1,"levels":1,"codes":[2],"method":"m","dedup":"d","items":{"1":[0]}}"#,
    ]
    for b in bad { #expect(throws: AlignError.self) { _ = try SIDMap.parse(Data(b.utf8), path: "bad.json") } }
    for b in [#"{"0": ["<b_1>"]}"#, #"{"1": ["<a_1>"]}"#, #"{"0": ["a_1"]}"#, #"[1]"#] {
        #expect(throws: AlignError.self) { _ = try SIDMap.parseIndexJSON(Data(b.utf8), path: "bad.index.json") }
    }
}

@Test func sidMapRecordsWhoseInteractionsShapedIt() throws {
    var m = try SIDMap(codebookSizes: [4, 3], method: "rqkmeans-balanced", dedup: "sinkhorn", codesByRow: [[3, 2], [0, 1]])
    try m.checkProtocol(.chrono, what: "SFT")   // text-only codes suit every protocol
    #expect(!m.jsonString().contains("interactions"))
    m.interactions = .loo
    let back = try SIDMap.parse(Data(m.jsonString().utf8), path: "m.json")
    #expect(back.interactions == .loo && back == m)
    try back.checkProtocol(.loo, what: "SFT")
    #expect(throws: AlignError.self) { try back.checkProtocol(.chrono, what: "SFT") }
}
