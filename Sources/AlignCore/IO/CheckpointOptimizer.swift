// Optimizer state saved beside the weights (`optimizer.safetensors`), so training resumes exactly:
// AdamW's first and second moments `m`, `v` (flat F32, one value per parameter), the step counter, and the
// AdamW hyper-parameters, with metadata {"format": "align-optimizer", "version": "1", ...}.
import Foundation

/// A saved AdamW state.
public struct OptimizerState: Sendable, Equatable {
    public static let fileName = "optimizer.safetensors"
    public static let formatName = "align-optimizer"
    public static let currentVersion = 1

    /// Number of updates taken.
    public var step: Int
    public var m: [Float]
    public var v: [Float]
    /// Hyper-parameters in force when saved.
    public var config: AdamWConfig

    public init(step: Int, m: [Float], v: [Float], config: AdamWConfig) {
        self.step = step; self.m = m; self.v = v; self.config = config
    }

    /// Snapshot of an optimizer.
    public init(_ adam: AdamW) {
        self.init(step: adam.step, m: Array(adam.m), v: Array(adam.v), config: adam.config)
    }

    /// Restores this state into `adam` (same parameter count).
    public func restore(into adam: AdamW) throws {
        try adam.restore(step: step, m: m, v: v)
        adam.config = config
    }

    /// Serialized safetensors bytes.
    public func encoded() throws -> Data {
        guard m.count == v.count else {
            throw AlignError.invalidArgument("optimizer state: m has \(m.count) values, v has \(v.count)")
        }
        guard step >= 0 else { throw AlignError.invalidArgument("optimizer state: negative step \(step)") }
        let cfg = String(decoding: try JSONEncoder().encode(config), as: UTF8.self)
        return try SafetensorsWriter.encode([
            SafetensorsTensor(name: "m", shape: [m.count], floats: m),
            SafetensorsTensor(name: "v", shape: [v.count], floats: v),
        ], metadata: ["format": Self.formatName, "version": String(Self.currentVersion), "step": String(step), "adamw": cfg])
    }

    /// Writes atomically.
    public func write(to url: URL) throws { try AtomicFile.write(encoded(), to: url) }

    /// Reads and validates an optimizer-state file.
    public static func read(from url: URL) throws -> OptimizerState {
        let f = try SafetensorsFile(url: url)
        return try decode(f)
    }

    /// Decodes from parsed safetensors.
    public static func decode(_ f: SafetensorsFile) throws -> OptimizerState {
        func bad(_ msg: String) -> AlignError { AlignError.format(path: f.path, line: nil, message: msg) }
        guard f.metadata["format"] == formatName else {
            throw bad("metadata format is '\(f.metadata["format"] ?? "")', expected '\(formatName)'")
        }
        guard f.metadata["version"] == String(currentVersion) else {
            throw bad("optimizer state version '\(f.metadata["version"] ?? "")' is not supported (this build reads \(currentVersion))")
        }
        guard let s = f.metadata["step"], let step = Int(s), step >= 0 else { throw bad("metadata 'step' is not a non-negative integer") }
        guard let c = f.metadata["adamw"] else { throw bad("metadata 'adamw' is missing") }
        let config: AdamWConfig
        do { config = try JSONDecoder().decode(AdamWConfig.self, from: Data(c.utf8)) } catch {
            throw bad("metadata 'adamw' is not an AdamW config: \(error)")
        }
        let names = Set(f.names)
        guard names == ["m", "v"] else { throw bad("expected tensors m and v, found \(f.names.sorted())") }
        let me = try f.entry("m"), ve = try f.entry("v")
        guard me.shape.count == 1, me.shape == ve.shape, me.dtype == .f32, ve.dtype == .f32 else {
            throw bad("m \(me.dtype.rawValue)\(me.shape) and v \(ve.dtype.rawValue)\(ve.shape) must be equal-length F32 vectors")
        }
        return OptimizerState(step: step, m: try f.floats("m"), v: try f.floats("v"), config: config)
    }
}
