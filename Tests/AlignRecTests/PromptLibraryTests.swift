// PromptLibrary: the shipped prompts/ load and render; malformed template directories fail with errors
// that name the file; task lists parse; template draws are seeded.
import AlignRec
import Foundation
import Testing

@Test func shippedPromptsLoadAndRender() throws {
    let lib = try PromptLibrary.load(repoPromptsDir())
    #expect(lib.version == 1)
    for task in PromptTask.allCases {
        #expect(lib.templateCount(task) >= 4)
        #expect((0..<lib.templateCount(task)).contains(lib.evalTemplateIndex(task)))
    }
    let p = try lib.renderEval(.nextitem, slots: ["history": "<a_1><b_2><a_3><b_4>"])
    #expect(p == "History: <a_1><b_2><a_3><b_4>. Next item?")   // the wrapper is the instruction alone
    #expect(p.contains("<a_1><b_2><a_3><b_4>"))
    #expect(!p.contains("{"))
    // Every template renders with its slots and leaves no braces.
    for task in PromptTask.allCases {
        let slots = Dictionary(uniqueKeysWithValues: task.slots.map { ($0, "X") })
        for k in 0..<lib.templateCount(task) {
            let s = try lib.render(task, slots: slots, templateIndex: k)
            #expect(!s.contains("{") && !s.contains("}") && s.contains("X"))
        }
    }
    #expect(throws: AlignError.self) { try lib.render(.nextitem, slots: [:], templateIndex: 0) }
    #expect(throws: AlignError.self) { try lib.render(.nextitem, slots: ["history": "x"], templateIndex: 99) }
}

@Test func savedPromptsReloadIdentically() throws {
    let lib = try PromptLibrary.load(repoPromptsDir())
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("saved-prompts-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: dir) }
    try lib.save(to: dir)
    let again = try PromptLibrary.load(dir)
    #expect(again.sourceFiles == lib.sourceFiles)
    #expect(lib.sourceFiles.count == 1 + 1 + PromptTask.allCases.map { lib.templateCount($0) }.reduce(0, +))
    for task in PromptTask.allCases {
        let slots = Dictionary(uniqueKeysWithValues: task.slots.map { ($0, "V") })
        for k in 0..<lib.templateCount(task) {
            #expect(try again.render(task, slots: slots, templateIndex: k) == lib.render(task, slots: slots, templateIndex: k))
        }
    }
}

@Test func taskListParsing() throws {
    #expect(try PromptTask.parseList("translate,nextitem") == [.sid2title, .title2sid, .nextitem])
    #expect(try PromptTask.parseList("nextitem, sid2title,translate") == [.nextitem, .sid2title, .title2sid])
    #expect(throws: AlignError.self) { try PromptTask.parseList("nextitem,bogus") }
    #expect(throws: AlignError.self) { try PromptTask.parseList("") }
}

@Test func templateDrawsAreSeededAndCoverAll() throws {
    let lib = try PromptLibrary.load(repoPromptsDir())
    var a = Rng(seed: 7), b = Rng(seed: 7)
    let da = (0..<200).map { _ in lib.drawTemplate(.title2sid, rng: &a) }
    let db = (0..<200).map { _ in lib.drawTemplate(.title2sid, rng: &b) }
    #expect(da == db)
    #expect(Set(da) == Set(0..<lib.templateCount(.title2sid)))
}

/// Copies prompts/ to a temp dir, applies `edit`, loads, and returns the error.
private func loadError(_ edit: (URL) throws -> Void) throws -> AlignError? {
    let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("prompts-\(UUID().uuidString)")
    try FileManager.default.copyItem(at: repoPromptsDir(), to: tmp)
    defer { try? FileManager.default.removeItem(at: tmp) }
    try edit(tmp)
    do { _ = try PromptLibrary.load(tmp); return nil } catch let e as AlignError { return e }
}

@Test func malformedPromptDirectoriesGiveFileErrors() throws {
    // Unknown slot, with its line.
    let e1 = try loadError { dir in
        try "Line one\nHistory {history} and {title}\n".write(to: dir.appendingPathComponent("nextitem/02.txt"), atomically: true, encoding: .utf8)
    }
    guard case let .format(path, line, msg)? = e1 else { Issue.record("expected format error, got \(String(describing: e1))"); return }
    #expect(path.hasSuffix("nextitem/02.txt") && line == 2 && msg.contains("{title}"))
    // Missing slot.
    let e2 = try loadError { dir in
        try "What is the title?\n".write(to: dir.appendingPathComponent("sid2title/03.txt"), atomically: true, encoding: .utf8)
    }
    guard case let .format(path2, _, msg2)? = e2 else { Issue.record("expected format error"); return }
    #expect(path2.hasSuffix("sid2title/03.txt") && msg2.contains("{item}"))
    // Missing file.
    let e3 = try loadError { dir in try FileManager.default.removeItem(at: dir.appendingPathComponent("title2sid/01.txt")) }
    guard case let .io(path3, _)? = e3 else { Issue.record("expected io error"); return }
    #expect(path3.hasSuffix("title2sid/01.txt"))
    // Wrapper without {instruction}; unmatched brace; wrong version; eval index out of range.
    let e4 = try loadError { dir in
        try "### Response:\n".write(to: dir.appendingPathComponent("wrapper.txt"), atomically: true, encoding: .utf8)
    }
    #expect(e4 != nil)
    let e5 = try loadError { dir in
        try "History {history} }\n".write(to: dir.appendingPathComponent("nextitem/01.txt"), atomically: true, encoding: .utf8)
    }
    #expect(e5 != nil)
    let e6 = try loadError { dir in
        let u = dir.appendingPathComponent("tasks.json")
        let s = try String(contentsOf: u, encoding: .utf8).replacingOccurrences(of: "\"version\": 1", with: "\"version\": 9")
        try s.write(to: u, atomically: true, encoding: .utf8)
    }
    guard case let .format(_, _, msg6)? = e6 else { Issue.record("expected format error"); return }
    #expect(msg6.contains("version 9"))
    let e7 = try loadError { dir in
        let u = dir.appendingPathComponent("tasks.json")
        let s = try String(contentsOf: u, encoding: .utf8).replacingOccurrences(of: "\"eval_template\": 0", with: "\"eval_template\": 7")
        try s.write(to: u, atomically: true, encoding: .utf8)
    }
    #expect(e7 != nil)
    // Unchanged copy loads.
    #expect(try loadError { _ in } == nil)
}
