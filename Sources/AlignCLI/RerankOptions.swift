// Options shared by the commands that rank lists for users (`align eval`, `align recommend`, `align export`): MMR
// re-ranking or diverse beam search instead of the model's own ranking (AlignRec/Model/Reranking.swift).
import AlignCore
import AlignRec
import ArgumentParser
import Foundation

struct RerankOptions: ParsableArguments {
    @Option(name: .customLong("mmr-lambda"), help: "MMR re-ranking with this λ in [0, 1] (1 = the model's order): relevance vs SID-prefix similarity to the items already picked.")
    var mmrLambda: Double?
    @Option(name: .customLong("mmr-pool"), help: "Items MMR re-ranks: the model's top N, at least the list length (default 50).")
    var mmrPool: Int?
    @Option(name: .customLong("diverse-groups"), help: "Diverse beam search with this many groups (≥ 2, dividing the beam width).")
    var diverseGroups: Int?
    @Option(name: .customLong("diversity-penalty"), help: "Diverse beam search: penalty λ ≥ 0 per earlier group's beam on the same SID prefix (default 1).")
    var diversityPenalty: Float?

    static let defaultPool = 50
    static let defaultPenalty: Float = 1

    /// The re-ranking asked for, checked against the beam width and list length.
    func resolve(beam: Int, k: Int) throws -> Reranking {
        let o = CLIErrors.option
        if let l = mmrLambda, let g = diverseGroups {
            throw o.failure("--mmr-lambda", "\(l) together with --diverse-groups \(g)", allowed: "MMR re-ranking or diverse beam search, not both")
        }
        if let p = mmrPool, mmrLambda == nil { throw o.failure("--mmr-pool", "\(p)", allowed: "only with --mmr-lambda") }
        if let p = diversityPenalty, diverseGroups == nil { throw o.failure("--diversity-penalty", "\(p)", allowed: "only with --diverse-groups") }
        if let l = mmrLambda {
            let pool = mmrPool ?? max(Self.defaultPool, k)
            try o.number("--mmr-lambda", l, .closed(0, 1))
            try o.int("--mmr-pool", pool, max(1, k)...FieldCheck.maxCount, "at least the list length \(k)")
            return .mmr(lambda: l, pool: pool)
        }
        if let g = diverseGroups {
            let penalty = diversityPenalty ?? Self.defaultPenalty
            try o.int("--diverse-groups", g, 2...max(2, beam), "≥ 2 and dividing the beam width \(beam)")
            guard beam % g == 0 else { throw o.failure("--diverse-groups", "\(g)", allowed: "a divisor of the beam width \(beam)") }
            try o.number("--diversity-penalty", penalty, .nonNegative)
            return .diverseBeam(groups: g, penalty: penalty)
        }
        return .none
    }
}
