// Optimizer state saved beside the weights (`optimizer.safetensors`), so training resumes exactly:
// AdamW's first and second moments `m`, `v` (flat F32, one value per parameter), the step counter, and the
// AdamW hyper-parameters, with metadata {"format": "align-optimizer", "version": "2", ...}. Version 2 adds an
// optional `ema` tensor (the exponential moving average of the weights, when the run keeps one); version 1
// files (m and v only) still read.
import Foundation

/// A saved AdamW state.
public struct OptimizerState: Sendable, Equatable {
    public static let fileName = "optimizer.safetensors"
    public static let formatName = "align-optimizer"
    public static let currentVersion = 2
    /// Versions this build reads.
    public static let readableVersions: ClosedRange<Int> = 1...2

    /// Number of updates taken.
    public var step: Int
    public var m: [Float]
    public var v: [Float]
    /// Hyper-parameters in force when saved.
    public var config: AdamWConfig
    /// Exponential moving average of the weights (one value per parameter), when the run keeps one.
    public var ema: [Float]?

    public init(step: Int, m: [Float], v: [Float], config: AdamWConfig, ema: [Float]? = nil) {
        self.step = step; self.m = m; self.v = v; self.config = config; self.ema = ema
    }

    /// Snapshot of an optimizer (and the weights' moving average, if any).
    public init(_ adam: AdamW, ema: [Float]? = nil) {
        self.init(step: adam.step, m: Array(adam.m), v: Array(adam.v), config: adam.config, ema: ema)
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
        if let ema, ema.count != m.count {
            throw AlignError.invalidArgument("optimizer state: ema has \(ema.count) values, m has \(m.count)")
        }
        for (name, values) in [("m", m), ("v", v), ("ema", ema ?? [])] {
            if let bad = values.withUnsafeBufferPointer({ NonFinite.first(in: $0) }) {
                throw AlignError.tensor(path: Self.fileName, name: name, message: NonFinite.describe(bad, in: values.count) + "; not saved")
            }
        }
        let enc = JSONEncoder()
        enc.outputFormatting = .sortedKeys   // the same bytes for the same state in every process
        let cfg = String(decoding: try enc.encode(config), as: UTF8.self)
        var tensors = [SafetensorsTensor(name: "m", shape: [m.count], floats: m),
                       SafetensorsTensor(name: "v", shape: [v.count], floats: v)]
        if let ema { tensors.append(SafetensorsTensor(name: "ema", shape: [ema.count], floats: ema)) }
        return try SafetensorsWriter.encode(tensors, metadata: ["format": Self.formatName, "version": String(Self.currentVersion), "step": String(step), "adamw": cfg])
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
        guard let ver = f.metadata["version"].flatMap(Int.init), readableVersions.contains(ver) else {
            throw bad("optimizer state version '\(f.metadata["version"] ?? "")' is not supported (this build reads \(readableVersions.lowerBound)–\(readableVersions.upperBound))")
        }
        guard let s = f.metadata["step"], let step = Int(s), step >= 0 else { throw bad("metadata 'step' is not a non-negative integer") }
        guard let c = f.metadata["adamw"] else { throw bad("metadata 'adamw' is missing") }
        let config: AdamWConfig
        do { config = try JSONDecoder().decode(AdamWConfig.self, from: Data(c.utf8)) } catch {
            throw bad("metadata 'adamw' is not an AdamW config: \(error)")
        }
        let names = Set(f.names)
        let allowed: [Set<String>] = ver >= 2 ? [["m", "v"], ["m", "v", "ema"]] : [["m", "v"]]
        guard allowed.contains(names) else {
            throw bad("expected tensors m and v\(ver >= 2 ? " (and optionally ema)" : ""), found \(f.names.sorted())")
        }
        let me = try f.entry("m"), ve = try f.entry("v")
        guard me.shape.count == 1, me.shape == ve.shape, me.dtype == .f32, ve.dtype == .f32 else {
            throw bad("m \(me.dtype.rawValue)\(me.shape) and v \(ve.dtype.rawValue)\(ve.shape) must be equal-length F32 vectors")
        }
        var ema: [Float]? = nil
        if names.contains("ema") {
            let ee = try f.entry("ema")
            guard ee.shape == me.shape, ee.dtype == .f32 else {
                throw bad("ema \(ee.dtype.rawValue)\(ee.shape) must be an F32 vector as long as m \(me.shape)")
            }
            ema = try f.floats("ema")
        }
        let state = OptimizerState(step: step, m: try f.floats("m"), v: try f.floats("v"), config: config, ema: ema)
        for (name, values) in [("m", state.m), ("v", state.v), ("ema", state.ema ?? [])] {
            if let bad = values.withUnsafeBufferPointer({ NonFinite.first(in: $0) }) {
                throw AlignError.tensor(path: f.path, name: name, message: NonFinite.describe(bad, in: values.count))
            }
        }
        return state
    }
}
