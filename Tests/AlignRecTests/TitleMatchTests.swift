// Title matching and free-text extraction on a small catalogue with the tricky cases: remakes (Heat 1986 /
// 1995), MovieLens' "American President, The" form, alternative titles in parentheses, accents, typos,
// one-word titles that are also English words (Up, Her, Next), unknown titles, SIDs in text.
import AlignRec
import Foundation
import Testing

/// A small catalogue: item i has the title at position i − 1.
func titleTestCatalogue() -> [Item] {
    let rows: [(String, Int?)] = [
        ("Toy Story", 1995), ("Toy Story 2", 1999), ("Heat", 1995), ("Heat", 1986), ("Heathers", 1989),
        ("American President, The", 1995), ("Matrix, The", 1999), ("Matrix Reloaded, The", 2003),
        ("City of Lost Children, The (Cité des enfants perdus, La)", 1995), ("Up", 2009), ("Her", 2013),
        ("Next", 2007), ("Sense and Sensibility", 1995), ("Lock, Stock & Two Smoking Barrels", 1998),
        ("Amélie (Fabuleux destin d'Amélie Poulain, Le)", 2001), ("Schindler's List", 1993), ("Alien", 1979),
        ("Aliens", 1986), ("Léon: The Professional (a.k.a. The Professional) (Léon)", 1994), ("Jumanji", 1995),
        ("Toy, The", 1982), ("Star Wars: Episode IV - A New Hope", 1977), ("Star Wars: Episode V - The Empire Strikes Back", 1980),
        ("Shawshank Redemption, The", 1994), ("Godfather, The", 1972), ("Godfather: Part II, The", 1974), ("Kids", 1995),
    ]
    return rows.enumerated().map { i, r in
        Item(item: i + 1, id: String(100 + i), title: r.0, year: r.1, genres: [], text: r.0)
    }
}

@Test func normalisationHandlesArticlesYearsAccentsPunctuation() {
    let n = TitleNormalizer.normalize
    #expect(n("American President, The") == NormalizedTitle(key: "american president", year: nil))
    #expect(n("The American President (1995)") == NormalizedTitle(key: "american president", year: 1995))
    #expect(n("  the   MATRIX!! ") .key == "matrix")
    #expect(n("Amélie").key == "amelie")
    #expect(n("Schindler's List").key == "schindlers list")
    #expect(n("Lock, Stock & Two Smoking Barrels").key == "lock stock and two smoking barrels")
    #expect(n("A Bug's Life").key == "bugs life")
    #expect(n("Cry, the Beloved Country").key == "cry the beloved country")  // not a trailing article
    #expect(n("1984").key == "1984" && n("1984").year == nil)
    #expect(n("Heat (1995-1996)").year == 1995)
    let city = TitleNormalizer.aliases(ofCatalogueTitle: "City of Lost Children, The (Cité des enfants perdus, La)")
    #expect(city.contains("city of lost children") && city.contains("la cite des enfants perdus") && city.contains("cite des enfants perdus"))
    #expect(city.count == 4)
    #expect(TitleNormalizer.aliases(ofCatalogueTitle: "Léon: The Professional (a.k.a. The Professional) (Léon)").contains("professional"))
}

@Test func editDistanceAgainstHandComputedValues() {
    #expect(TitleNormalizer.editDistance("stroy", "story") == 1)        // transposition
    #expect(TitleNormalizer.editDistance("kitten", "sitting") == 3)
    #expect(TitleNormalizer.editDistance("", "abc") == 3)
    #expect(TitleNormalizer.editDistance("ca", "abc") == 3)             // OSA, not full Damerau (which gives 2)
    #expect(abs(TitleNormalizer.trigramDice(TitleNormalizer.trigrams("ab"), TitleNormalizer.trigrams("ab")) - 1) < 1e-12)
    // " ab " → { " ab", "ab " } vs " ac " → { " ac", "ac " }: nothing shared.
    #expect(TitleNormalizer.trigramDice(TitleNormalizer.trigrams("ab"), TitleNormalizer.trigrams("ac")) == 0)
    #expect(abs(TitleNormalizer.tokenDice(["toy", "stroy"], ["toy", "story"]) - 0.9) < 1e-12)
}

@Test func titleLookupExactAmbiguousCorrectedUnknown() {
    let idx = TitleIndex(items: titleTestCatalogue())
    // Exact, whatever the article form.
    #expect(idx.match("The American President").item == 6)
    #expect(idx.match("american president, the").item == 6)
    #expect(idx.match("the matrix").item == 7)
    #expect(idx.match("Cité des enfants perdus").item == 9)
    #expect(idx.match("La Cité des enfants perdus").item == 9)
    #expect(idx.match("City of Lost Children").item == 9)
    #expect(idx.match("amelie").item == 15)
    #expect(idx.match("The Professional").item == 19)
    // Same title, two years: never a silent pick.
    let heat = idx.match("Heat")
    #expect(heat.kind == .ambiguous && heat.item == nil)
    #expect(Set(heat.candidates.map(\.item)) == [3, 4])
    #expect(idx.match("Heat (1986)").item == 4)
    #expect(idx.match("heat (1995)").item == 3)
    let wrongYear = idx.match("Heat (2001)")
    #expect(wrongYear.kind == .notFound && Set(wrongYear.candidates.map(\.item)) == [3, 4])
    // Typos.
    let typo = idx.match("Toy Stroy")
    #expect(typo.kind == .corrected && typo.item == 1)
    #expect(idx.match("Jumaji").item == 20)
    #expect(idx.match("Schindlers Lsit").item == 16)
    // Opening words of a longer title: one → a correction, several → ambiguous.
    #expect(idx.match("Shawshank").item == 24)
    let sw = idx.match("Star Wars")
    #expect(sw.kind == .ambiguous && Set(sw.candidates.prefix(2).map(\.item)) == [22, 23])
    // Roman numerals and numbers: "Part 2" is "Part II"; a different number is never a typo.
    #expect(idx.match("The Godfather Part 2").item == 26)
    #expect(idx.match("Toy Story 3").item == nil)
    #expect(idx.match("Toy Story 2").item == 2)
    // Unknown.
    let unknown = idx.match("Completely Unknown Film")
    #expect(unknown.kind == .notFound && unknown.item == nil)
    #expect(idx.match("").kind == .notFound)
    #expect(idx.match("!!!").kind == .notFound)
}

@Test func freeTextExtractionFindsTitlesPrecisely() {
    let idx = TitleIndex(items: titleTestCatalogue())
    func items(_ s: String) -> [Int] { TextMentions.extract(s, index: idx).resolvedItems }
    #expect(items("I loved Toy Story and Heat (1995), what should I watch next?") == [1, 3])
    #expect(items("I loved Toy Story 2 and The Matrix") == [2, 7])
    #expect(items("i liked sense and sensibility, then the american president") == [13, 6])
    #expect(items("Lock, Stock and Two Smoking Barrels was great") == [14])
    #expect(items("what should I watch next?") == [])                 // "Next" is a title, "next" is not
    #expect(items("I loved Up and Her") == [10, 11])
    #expect(items("Up was fun") == [])                               // sentence-initial filler word: not taken
    #expect(items("I loved \"Up\"") == [10])                         // …unless quoted
    #expect(items("I really loved Toy Stroy and Alien") == [1, 17])  // typo; "Toy" alone is also a title (21)
    #expect(items("I loved Toy and Alien") == [21, 17])
    #expect(items("my kids loved the godfather part 2 and Up") == [26, 10])   // "kids" is not the film Kids
    #expect(TextMentions.extract("I liked Alien. What else would I like?", index: idx).unresolved.isEmpty)
    #expect(items("Alien, Aliens and Schindler's List") == [17, 18, 16])
    // Ambiguous and unknown are reported, not dropped.
    let m = TextMentions.extract("I loved Heat and Zorblax Returns", index: idx)
    #expect(m.resolvedItems.isEmpty)
    #expect(m.unresolved.count == 2)
    #expect(m.unresolved[0].match.kind == .ambiguous)
    #expect(m.unresolved[1].text == "Zorblax Returns" && m.unresolved[1].match.kind == .notFound)
    // Quotes with apostrophes inside words.
    let q = TextMentions.extract("which item is 'Schindler's List'?", index: idx)
    #expect(q.titles.count == 1 && q.titles[0].quoted && q.titles[0].match.item == 16)
    #expect(q.residualWords.contains("which"))
}

@Test func sidMentionsAreFoundAndResolved() throws {
    let map = try SIDMap(codebookSizes: [4, 20, 300], method: "test", dedup: "none",
                         codesByRow: [[3, 17, 250], [1, 2, 3]])
    let idx = TitleIndex(items: Array(titleTestCatalogue().prefix(2)))
    let m = TextMentions.extract("what is <a_3><b_17><c_250>? and <a_1><b_2><c_4>, <b_1>", index: idx, sidMap: map)
    #expect(m.sids.map(\.text) == ["<a_3><b_17><c_250>", "<a_1><b_2><c_4>"])
    #expect(m.sids.map(\.codes) == [[3, 17, 250], [1, 2, 4]])
    #expect(m.sids.map(\.item) == [1, nil])
    #expect(m.titles.isEmpty)
}
