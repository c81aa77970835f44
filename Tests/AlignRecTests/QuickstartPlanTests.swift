// `align quickstart`'s stages for both protocols: the leave-one-out plan keeps the commands the README documents,
// the chronological one builds SIDs from the chrono training sequences only and passes the protocol to every
// training and evaluation stage, and the stages both share write the same outputs (so the second run skips them).
import AlignRec
import Foundation
import Testing

private func repoFile(_ path: String) -> URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(path)
}

private func value(_ flag: String, _ args: [String]) -> String? {
    guard let i = args.firstIndex(of: flag), i + 1 < args.count else { return nil }
    return args[i + 1]
}

private func stage(_ plan: QuickstartPlan, _ name: String) throws -> QuickstartStage {
    try #require(plan.stages.first { $0.name == name }, "no stage \(name) in \(plan.stages.map(\.name))")
}

@Test func looQuickstartPlanIsTheDocumentedPipeline() throws {
    let plan = QuickstartPlan(QuickstartSettings())
    #expect(plan.stages.map(\.name) == ["data prepare", "embed", "embed collaborative (loo training sequences)", "sid build",
                                        "tokenizer train", "sft", "eval sft (test)", "dpo", "eval dpo (test)", "grpo",
                                        "eval grpo (test)"])
    #expect(plan.runs.map(\.1) == ["runs/quickstart-sft", "runs/quickstart-dpo", "runs/quickstart-grpo"])
    let sid = try stage(plan, "sid build")
    #expect(value("--embeddings", sid.arguments) == "data/ml-latest-small/embeddings-loo-cf.safetensors")
    #expect(value("--seed", sid.arguments) == "42" && value("--out", sid.arguments) == nil)
    let sft = try stage(plan, "sft")
    #expect(sft.arguments == ["--data", "data/ml-latest-small", "--config", "configs/movielens.yaml",
                              "--out", "runs/quickstart-sft", "--seed", "0"])
    #expect(value("--config", try stage(plan, "grpo").arguments) == "configs/grpo.yaml")
    #expect(value("--protocol", try stage(plan, "grpo").arguments) == nil)   // the preset's own protocol (loo)
    for s in plan.stages where s.tool == .eval { #expect(value("--protocol", s.arguments) == "loo") }
}

@Test func chronoQuickstartPlanUsesChronoSIDsAndPresets() throws {
    var settings = QuickstartSettings()
    settings.evalProtocol = .chrono
    settings.noProgress = true
    let plan = QuickstartPlan(settings)
    let embed = try stage(plan, "embed collaborative (chrono training sequences)")
    #expect(value("--protocol", embed.arguments) == "chrono" && embed.arguments.contains("--collaborative"))
    #expect(embed.output == "data/ml-latest-small/embeddings-chrono-cf.safetensors")
    let sid = try stage(plan, "sid build (chrono)")
    #expect(value("--embeddings", sid.arguments) == embed.output)
    #expect(value("--out", sid.arguments) == "data/ml-latest-small/sid-cf-chrono" && value("--seed", sid.arguments) == "1")
    #expect(sid.output == "data/ml-latest-small/sid-cf-chrono/sid_map.json")
    // SIDs before the SFT that reads them.
    let names = plan.stages.map(\.name)
    #expect(names.firstIndex(of: "sid build (chrono)")! < names.firstIndex(of: "sft")!)
    let sft = try stage(plan, "sft")
    #expect(value("--protocol", sft.arguments) == "chrono" && value("--sid-map", sft.arguments) == sid.output)
    #expect(value("--max-users", sft.arguments) == "2000" && value("--out", sft.arguments) == "runs/quickstart-chrono-sft")
    #expect(value("--config", try stage(plan, "grpo").arguments) == "configs/grpo-chrono-future.yaml")
    for s in plan.stages where [.sft, .eval, .dpo, .grpo].contains(s.tool) {
        #expect(value("--protocol", s.arguments) == "chrono", "\(s.name) does not pass the protocol")
        #expect(s.arguments.last == "--no-progress", "\(s.name) ignores --no-progress")
    }
    #expect(plan.runs.map(\.1) == ["runs/quickstart-chrono-sft", "runs/quickstart-chrono-dpo", "runs/quickstart-chrono-grpo"])
    // The stages both protocols share are the same commands with the same outputs.
    let loo = QuickstartPlan(QuickstartSettings())
    for name in ["data prepare", "embed", "embed collaborative (loo training sequences)", "sid build", "tokenizer train"] {
        let a = try stage(loo, name), b = try stage(plan, name)
        #expect(a == b)
    }
    // The chrono preset it names exists and trains on the chronological protocol.
    #expect(try GRPOConfig.load(repoFile("configs/grpo-chrono-future.yaml")).evalProtocol == .chrono)
}

@Test func chronoQuickstartWithoutCollaborativeVectorsUsesTextSIDs() throws {
    var settings = QuickstartSettings()
    settings.evalProtocol = .chrono
    settings.cfWeight = 0
    settings.skipAlignment = true
    settings.runs = "runs/c"
    let plan = QuickstartPlan(settings)
    #expect(!plan.stages.contains { $0.name.contains("collaborative") || $0.name == "sid build (chrono)" })
    #expect(value("--embeddings", try stage(plan, "sid build").arguments) == "data/ml-latest-small/embeddings.safetensors")
    #expect(value("--sid-map", try stage(plan, "sft").arguments) == "data/ml-latest-small/sid/sid_map.json")
    #expect(!plan.stages.contains { $0.tool == .dpo || $0.tool == .grpo })
    #expect(plan.runs.map(\.1) == ["runs/c-sft"])
}

@Test func quickstartPrecisionReachesEveryStageThatRunsTheModel() throws {
    var settings = QuickstartSettings()
    settings.precision = .fp32
    let plan = QuickstartPlan(settings)
    for s in plan.stages {
        let runsModel = [.sft, .eval, .dpo, .grpo].contains(s.tool)
        #expect((value("--precision", s.arguments) == "fp32") == runsModel, "\(s.name)")
    }
    #expect(!QuickstartPlan(QuickstartSettings()).stages.contains { $0.arguments.contains("--precision") })
}
