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

@Test func aTitleWithAnUnknownYearOrSequelNumberIsAskedAbout() {
    let idx = TitleIndex(items: titleTestCatalogue())
    func only(_ s: String) -> TitleMention? {
        let m = TextMentions.extract(s, index: idx)
        return m.titles.count == 1 ? m.titles[0] : nil
    }
    // Not in the catalogue with that year or number: the whole text is the question, with candidates.
    let year = only("I loved Toy Story (1990)")
    #expect(year?.text == "Toy Story (1990)" && year?.match.item == nil)
    #expect(year?.match.candidates.map(\.item).contains(1) == true)
    let sequel = only("I loved Toy Story 4, what next?")
    #expect(sequel?.text == "Toy Story 4" && sequel?.match.item == nil)
    let sequelCandidates = Set(sequel?.match.candidates.map(\.item) ?? [])
    #expect(sequelCandidates.isSuperset(of: [1, 2]))
    let part = only("I loved The Godfather Part IV")
    #expect(part?.text == "The Godfather Part IV" && part?.match.item == nil)
    #expect(only("I loved Heat (1990)")?.match.item == nil)
    // What the catalogue has still resolves.
    #expect(only("I loved Toy Story 2")?.match.item == 2)
    #expect(only("I loved Heat (1986)")?.match.item == 4)
    #expect(only("my kids loved the godfather part 2")?.match.item == 26)
    #expect(TextMentions.extract("I watched Alien 2 times", index: idx).resolvedItems == [17])   // a count, not a sequel
}

@Test func aChoiceAnswersTheOpenQuestion() {
    #expect(ChatIntentParser.choice("1", count: 3) == 1)
    #expect(ChatIntentParser.choice("the first one", count: 3) == 1)
    #expect(ChatIntentParser.choice("Number 2, please", count: 3) == 2)
    #expect(ChatIntentParser.choice("#3", count: 3) == 3)
    #expect(ChatIntentParser.choice("I meant the last one", count: 3) == 3)
    #expect(ChatIntentParser.choice("4", count: 3) == nil)                       // beyond the list
    #expect(ChatIntentParser.choice("more like the second one", count: 3) == nil)
    #expect(ChatIntentParser.choice("1", count: 0) == nil)
    let idx = TitleIndex(items: titleTestCatalogue())
    func intent(_ s: String, _ session: ChatSession) -> ChatIntent {
        ChatIntentParser.parse(s, mentions: TextMentions.extract(s, index: idx), session: session)
    }
    var s = ChatSession()
    s.add([1]); s.lastList = [7, 8, 17]
    #expect(intent("the second one", s) == .recommend(add: [8]))               // no open question: the list
    s.pending = [PendingChoice(text: "Heat", candidates: [3, 4], use: .recommend)]
    #expect(intent("the second one", s) == .choose(2))
    #expect(intent("1", s) == .choose(1))
    #expect(intent("I loved Alien", s) == .recommend(add: [17]))               // a new title is not a choice
}

@Test func genreExclusionsAreFoundAndCutFromTheText() {
    let genres = ["Comedy", "Horror", "Sci-Fi", "War", "Children", "Drama"]
    let e = GenreExclusions.extract("I loved Alien but no horror", genres: genres)
    #expect(e.genres == ["Horror"])
    #expect(e.remainder.hasPrefix("I loved Alien but ") && !e.remainder.lowercased().contains("horror"))
    #expect(GenreExclusions.extract("anything without comedies or sci-fi movies", genres: genres).genres == ["Comedy", "Sci-Fi"])
    #expect(GenreExclusions.extract("nothing scary please", genres: genres).genres == ["Horror"])
    #expect(GenreExclusions.extract("I don't want war films", genres: genres).genres == ["War"])
    #expect(GenreExclusions.extract("not for kids, no drama, war", genres: genres).genres == ["Children", "Drama", "War"])
    #expect(GenreExclusions.extract("No, I loved Heat", genres: genres).genres.isEmpty)
    #expect(GenreExclusions.extract("I loved War and Heat", genres: genres).genres.isEmpty)   // no negation: a title
}

@Suite struct ChatChoicesAndExclusions {
    let engine: ChatEngine

    init() throws {
        engine = try ChatEngine(service: try RecService(model: try tinyRecModel(), beam: 8), k: 5)
    }

    @Test func aNumberPicksFromTheDidYouMeanList() throws {
        // Heat is 1990 in the tiny catalogue: 1985 is asked about, not mapped.
        let q = try engine.respond("I loved Heat (1985)")
        #expect(q.kind == "clarify" && !q.answered && engine.session.history.isEmpty)
        #expect(q.unresolved.first?.candidates.first?.item == 1)
        #expect(ChatEngine.renderText(q).contains("answer with a number"))
        let r = try engine.respond("1")
        #expect(r.kind == "recommend" && r.history.map(\.item) == [1])
        #expect(r.notes.contains { $0.contains("Heat (1990)") })
        #expect(engine.session.pending.isEmpty)
        _ = try engine.respond("reset")
        let s = try engine.respond("I loved Toy Story 4")
        #expect(s.history.isEmpty && s.unresolved.first?.text == "Toy Story 4")
        let first = try #require(s.unresolved.first?.candidates.first?.item)
        #expect(try engine.respond("the first one").history.map(\.item) == [first])
    }

    @Test func aChoiceAnswersATitleToSIDQuestion() throws {
        let q = try engine.respond("which item is Heat (1985)?")
        #expect(q.kind == "clarify")
        let a = try engine.respond("1")
        #expect(a.kind == "title2sid" && a.titleAnswers.first?.item.item == 1)
    }

    @Test func excludedGenresNeverComeBack() throws {
        // Even items are comedies in the tiny catalogue; Toy Story (2) is one.
        let comedies = engine.service.model.items.filter { $0.genres.contains("Comedy") }.map(\.item)
        let r = try engine.respond("I loved Toy Story but no comedy")
        #expect(r.kind == "recommend" && r.history.map(\.item) == [2] && r.excludedGenres == ["Comedy"])
        #expect(r.items.count == 5 && r.items.allSatisfy { !comedies.contains($0.item) })
        // Exactly what the recommender returns with those items masked out of the beam search.
        let direct = try Recommender(model: engine.service.model, beam: 8, task: .titlehist2sid)
            .recommend([RecommendRequest(history: [2], exclude: comedies)], k: 5)
        #expect(direct[0].map(\.item) == r.items.map(\.item))
        // The exclusion holds for the conversation: one drama is left.
        let more = try engine.respond("more")
        #expect(more.items.count == 1 && more.items.allSatisfy { !comedies.contains($0.item) })
    }

    @Test func anExclusionAloneRefinesTheLastRequest() throws {
        _ = try engine.respond("I loved Heat")
        let r = try engine.respond("no drama please")
        let dramas = engine.service.model.items.filter { $0.genres.contains("Drama") }.map(\.item)
        #expect(r.kind == "recommend" && r.history.map(\.item) == [1])
        #expect(!r.items.isEmpty && r.items.allSatisfy { !dramas.contains($0.item) })
    }
}
