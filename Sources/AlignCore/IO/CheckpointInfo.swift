// `align.json`: align's own versioned record inside a Hugging Face checkpoint directory — what the checkpoint is
// for (SID map path, task list) and a free-form training state payload. `JSONValue` carries arbitrary
// Codable payloads losslessly (integers stay exact up to 64 bits, e.g. RNG states).
import Foundation

/// Any JSON value, with exact 64-bit integers.
public enum JSONValue: Codable, Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .int(i) }
        else if let u = try? c.decode(UInt64.self) { self = .uint(u) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else if let o = try? c.decode([String: JSONValue].self) { self = .object(o) }
        else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a JSON value")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .uint(let u): try c.encode(u)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// Converts any Encodable value (through JSON).
    public init<T: Encodable>(encoding value: T) throws {
        let data = try JSONEncoder().encode(value)
        self = try JSONDecoder().decode(JSONValue.self, from: data)
    }

    /// Decodes this value as `T`.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: JSONEncoder().encode(self))
    }
}

/// The contents of `align.json` (format "align-checkpoint", version 1).
public struct AlignInfo: Codable, Sendable, Equatable {
    public static let formatName = "align-checkpoint"
    public static let currentVersion = 1
    public static let fileName = "align.json"

    public var format: String
    public var version: Int
    /// Which stage wrote the checkpoint (e.g. "sft", "dpo", "grpo", "init").
    public var stage: String?
    /// Path of the item → SID map the SID tokens refer to (relative to the checkpoint or absolute).
    public var sidMap: String?
    /// Instruction tasks the model was trained on.
    public var tasks: [String]?
    /// Free-form training state (step, epoch, RNG state, LR schedule, …) as any Codable payload.
    public var state: JSONValue?
    /// The item memory beside the weights (nil: none; see ItemMemory.swift).
    public var itemMemory: ItemMemoryInfo?
    /// Digests (`FileDigest`) of the files the weights depend on, by path relative to the checkpoint; checked
    /// on load (absent in checkpoints of earlier align versions).
    public var files: [String: String]?

    public init(stage: String? = nil, sidMap: String? = nil, tasks: [String]? = nil, state: JSONValue? = nil) {
        format = Self.formatName; version = Self.currentVersion
        self.stage = stage; self.sidMap = sidMap; self.tasks = tasks; self.state = state
    }

    /// Builds an AlignInfo whose `state` is any Codable payload.
    public init<T: Encodable>(stage: String? = nil, sidMap: String? = nil, tasks: [String]? = nil, payload: T) throws {
        self.init(stage: stage, sidMap: sidMap, tasks: tasks, state: try JSONValue(encoding: payload))
    }

    /// Decodes `state` as `T` (an error when absent or of another shape).
    public func payload<T: Decodable>(_ type: T.Type) throws -> T {
        guard let state else { throw AlignError.invalidArgument("\(Self.fileName) has no training state") }
        do { return try state.decode(T.self) } catch {
            throw AlignError.invalidArgument("\(Self.fileName): training state is not a \(T.self): \(error)")
        }
    }

    enum CodingKeys: String, CodingKey { case format, version, stage, sidMap = "sid_map", tasks, state, files, itemMemory = "item_memory" }

    /// Encoded JSON (sorted keys, pretty).
    public func jsonData() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try enc.encode(self)
    }

    /// Reads and validates `align.json`.
    public static func load(_ url: URL) throws -> AlignInfo {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw AlignError.io(path: url.path, message: "cannot read: \(error.localizedDescription)")
        }
        let info: AlignInfo
        do { info = try JSONDecoder().decode(AlignInfo.self, from: data) } catch {
            throw AlignError.format(path: url.path, line: nil, message: "not a valid align.json: \(error)")
        }
        guard info.format == formatName else {
            throw AlignError.format(path: url.path, line: nil, message: "format is '\(info.format)', expected '\(formatName)'")
        }
        guard info.version == currentVersion else {
            throw AlignError.format(path: url.path, line: nil, message: "version \(info.version) is not supported (this build reads version \(currentVersion))")
        }
        return info
    }
}

/// `align.json`'s `item_memory`: where the per-item vectors are and how the model ranks with them.
public struct ItemMemoryInfo: Codable, Sendable, Equatable {
    /// The item-memory file in the checkpoint directory.
    public var file: String
    /// Items with a row.
    public var items: Int
    /// Ranking: score = item-head log-prob + `sidWeight` × the SID beam's log-prob (items outside the beam get the
    /// beam's lowest score). 0 ranks by the item head alone.
    public var sidWeight: Float
    /// How much of the item head's gradient reached the transformer in SFT; DPO and GRPO train the same way.
    public var trunkGradient: ItemHeadTrunkGradient {
        get { recordedTrunkGradient ?? .full }
        set { recordedTrunkGradient = newValue == .full ? nil : newValue }
    }
    /// What `align.json` holds: absent for `full`, so checkpoints that predate the setting read the same.
    private var recordedTrunkGradient: ItemHeadTrunkGradient?

    public init(file: String = ItemMemoryFile.fileName, items: Int, sidWeight: Float, trunkGradient: ItemHeadTrunkGradient = .full) {
        self.file = file; self.items = items; self.sidWeight = sidWeight
        self.trunkGradient = trunkGradient
    }

    enum CodingKeys: String, CodingKey { case file, items, sidWeight = "sid_weight", recordedTrunkGradient = "trunk_gradient" }
}
