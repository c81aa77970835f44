// Options shared by the commands that rank lists for users (`align eval`, `align recommend`, `align export`): MMR
// re-ranking or diverse beam search instead of the model's own ranking (AlignRec/Model/Reranking.swift).
import AlignCore
import AlignRec
import ArgumentParser
import Foundation

struct RerankOptions: ParsableArguments {
    @Option(name: .customLong("mmr-lambda"), help: "MMR re-ranking with this λ in [0, 1] (1 = the model's order): relevance vs SID-prefix similarity to the items already picked.")
    var mmrLambda: Double?
    @Option(name: .customLong("mmr-pool"), help: "Items MMR re-ranks (the model's top N, at least the list length).")
    var mmrPool: Int = 50
    @Option(name: .customLong("diverse-groups"), help: "Diverse beam search with this many groups (≥ 2, dividing the beam width).")
    var diverseGroups: Int?
    @Option(name: .customLong("diversity-penalty"), help: "Diverse beam search: penalty λ ≥ 0 per earlier group on the same SID prefix.")
    var diversityPenalty: Float = 1

    /// The re-ranking asked for, checked against the beam width and list length.
    func resolve(beam: Int, k: Int) throws -> Reranking {
        let o = CLIErrors.option
        if let l = mmrLambda, let g = diverseGroups {
            throw o.failure("--mmr-lambda", "\(l) together with --diverse-groups \(g)", allowed: "MMR re-ranking or diverse beam search, not both")
        }
        if let l = mmrLambda {
            try o.number("--mmr-lambda", l, .closed(0, 1))
            try o.int("--mmr-pool", mmrPool, max(1, k)...FieldCheck.maxCount, "at least the list length \(k)")
            return .mmr(lambda: l, pool: mmrPool)
        }
        if let g = diverseGroups {
            try o.int("--diverse-groups", g, 2...max(2, beam), "≥ 2 and dividing the beam width \(beam)")
            guard beam % g == 0 else { throw o.failure("--diverse-groups", "\(g)", allowed: "a divisor of the beam width \(beam)") }
            try o.number("--diversity-penalty", diversityPenalty, .nonNegative)
            return .diverseBeam(groups: g, penalty: diversityPenalty)
        }
        return .none
    }
}
