// Chat on a tiny real model bundle (tinyRecModel: random LLaMA, real tokenizer, SIDs, prompts): each intent
// runs the right task, the session carries history and "more like the second one", unknown titles are
// answered with candidates and never used, SIDs resolve to the catalogue, JSON round-trips.
import AlignRec
import Foundation
import Testing

@Suite struct ChatOnTinyModel {
    let engine: ChatEngine

    init() throws {
        engine = try ChatEngine(service: try RecService(model: try tinyRecModel(), beam: 8), k: 5)
    }

    @Test func recommendFromTitlesThenFollowUp() throws {
        let r = try engine.respond("I loved Toy Story and Heat (1990), what should I watch next?")
        #expect(r.kind == "recommend" && r.task == "titlehist2sid" && r.answered)
        #expect(r.history.map(\.item) == [2, 1])
        #expect(r.items.count == 5 && Set(r.items.map(\.item)).count == 5)
        #expect(r.items.allSatisfy { $0.item != 1 && $0.item != 2 })
        #expect(r.items.map(\.rank) == [1, 2, 3, 4, 5])
        #expect(zip(r.items, r.items.dropFirst()).allSatisfy { $0.score >= $1.score })
        // Independently: the same request straight to the Recommender with the titlehist2sid task.
        let direct = try Recommender(model: engine.service.model, beam: 8, task: .titlehist2sid)
            .recommend([RecommendRequest(history: [2, 1], exclude: [1, 2])], k: 5)
        #expect(direct[0].map(\.item) == r.items.map(\.item))
        // Catalogue truth in every row.
        for it in r.items {
            #expect(it.sid == engine.service.model.sidMap.tokenString(it.item))
            #expect(it.title == engine.service.model.items[it.item - 1].title)
        }
        let second = r.items[1].item
        let f = try engine.respond("more like the second one")
        #expect(f.kind == "recommend")
        #expect(f.history.map(\.item) == [2, 1, second])
        #expect(f.items.allSatisfy { !r.items.map(\.item).contains($0.item) })   // shown items are not repeated
        #expect(!ChatEngine.renderText(f).isEmpty)
        #expect(try engine.respond("reset").kind == "reset")
        #expect(engine.session.history.isEmpty)
    }

    @Test func sidAndTitleQuestions() throws {
        // Item i has codes [(i-1) % 3, (i-1) / 3]: item 4 (Casino) = <a_0><b_1>.
        let s = try engine.respond("what is <a_0><b_1>?")
        #expect(s.kind == "sid2title" && s.sidAnswers.count == 1)
        #expect(s.sidAnswers[0].item?.item == 4 && s.sidAnswers[0].item?.title == "Casino")
        #expect(s.sidAnswers[0].generatedTitle != nil)
        let bad = try engine.respond("what is <a_9><b_1>?")
        #expect(bad.sidAnswers[0].generatedTitle == nil && bad.sidAnswers[0].item == nil)
        let t = try engine.respond("which item is \"Jumanji\"?")
        #expect(t.kind == "title2sid" && t.titleAnswers.count == 1)
        #expect(t.titleAnswers[0].item.item == 3 && t.titleAnswers[0].item.sid == "<a_2><b_0>")
        #expect(t.titleAnswers[0].predicted.count == 5)
        #expect(t.titleAnswers[0].predicted.allSatisfy { engine.service.model.sidMap.tokenString($0.item) == $0.sid })
    }

    @Test func unknownAndMisspelledTitles() throws {
        let u = try engine.respond("I loved Zorblax Returns")
        #expect(u.kind == "clarify" && !u.answered && u.items.isEmpty)
        #expect(u.unresolved.first?.text == "Zorblax Returns")
        #expect(engine.session.history.isEmpty)
        let typo = try engine.respond("I loved Persuasoin")
        #expect(typo.kind == "recommend" && typo.history.map(\.item) == [10])
        #expect(typo.notes.contains { $0.contains("Persuasion") })
        let json = try ChatEngine.renderJSON(typo)
        let back = try JSONDecoder().decode(ChatReply.self, from: Data(json.utf8))
        #expect(back == typo)
        #expect(try engine.respond("help").kind == "help")
    }
}

@Test func followUpReferencesAndIntents() {
    let refs = { (s: String, n: Int) in ChatIntentParser.references(s, words: TitleNormalizer.words(s), listCount: n) }
    #expect(refs("more like the second one", 5) == [2])
    #expect(refs("like #3 and the 1st", 5) == [1, 3])
    #expect(refs("number 4 please", 5) == [4])
    #expect(refs("the last one", 5) == [5])
    #expect(refs("the tenth", 5) == [])          // beyond the list
    #expect(refs("the second one", 0) == [])     // no list yet
    let idx = TitleIndex(items: titleTestCatalogue())
    func intent(_ s: String, _ session: ChatSession = ChatSession()) -> ChatIntent {
        ChatIntentParser.parse(s, mentions: TextMentions.extract(s, index: idx), session: session)
    }
    #expect(intent("I loved Toy Story and Alien") == .recommend(add: [1, 17]))
    #expect(intent("which item is \"Alien\"?") == .titleToSID([17]))
    #expect(intent("what is the sid of Jumanji") == .titleToSID([20]))
    #expect(intent("reset") == .reset)
    #expect(intent("help") == .help)
    #expect(intent("what should I watch next?") == .unclear)      // nothing known yet
    var s = ChatSession()
    s.add([1]); s.lastList = [7, 8, 17]
    #expect(intent("more like the second one", s) == .recommend(add: [8]))
    #expect(intent("what should I watch next?", s) == .more)
    #expect(intent("I loved Heat", s) == .unclear)                 // ambiguous: asked about, not guessed
}
