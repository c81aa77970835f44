// The protocol a finished run was trained with, read back from its resolved config. It sits above the stages
// (it knows the SFT, DPO and GRPO config types), so `Run/` — used by those stages — never depends on them.
import Foundation
import Yams

extension RunDirectory {
    private struct ConfigHead: Decodable { var format: String }

    /// The protocol a run was trained with, from its resolved `config.yaml` — an SFT (`align-config`), DPO
    /// (`align-dpo-config`) or GRPO (`align-grpo-config`) config; nil when the directory has no config.yaml
    /// (e.g. a bare checkpoint directory).
    public static func configuredProtocol(_ runDir: URL) throws -> EvalProtocol? {
        let url = runDir.appendingPathComponent("config.yaml")
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        // Only the format is read here (leniently); the config is then read strictly by its own type.
        let head: ConfigHead
        do { head = try YAMLDecoder().decode(ConfigHead.self, from: String(contentsOf: url, encoding: .utf8)) } catch {
            throw AlignError.format(path: url.path, line: nil, message: "not an align config (no 'format' key): \(error.localizedDescription)")
        }
        switch head.format {
        case "align-config": return try TrainConfig.load(url).evalProtocol
        case "align-dpo-config": return try DPOConfig.load(url).evalProtocol
        case "align-grpo-config": return try GRPOConfig.load(url).evalProtocol
        default:
            throw AlignError.format(path: url.path, line: nil, message: "format '\(head.format)' is not an align-config, align-dpo-config or align-grpo-config; pass --protocol")
        }
    }
}
