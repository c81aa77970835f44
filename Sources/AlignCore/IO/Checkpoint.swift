// Hugging Face checkpoint directories, generic over tensors (the engine supplies the expected names/shapes):
//   config.json                         LlamaConfig
//   model.safetensors                   or shards model-0000i-of-0000n.safetensors + model.safetensors.index.json
//   tokenizer.model + added tokens      (see TokenizerFiles.swift), optional
//   align.json                          align's versioned AlignInfo, optional
//   optimizer.safetensors               AdamW state (see CheckpointOptimizer.swift), optional
// Reading validates every tensor against the expected (name, shape) list and converts F32/F16/BF16 to F32
// lazily (memory-mapped). Writing builds the whole directory under a temporary name and renames it into
// place, so a crash never leaves a half checkpoint. F32 written, so a round trip is bit-exact.
import Foundation

/// A checkpoint directory opened for reading. Tensor values are read on demand from memory-mapped files.
public struct HFCheckpoint: @unchecked Sendable {
    public static let configFileName = "config.json"
    public static let singleFileName = "model.safetensors"
    public static let indexFileName = "model.safetensors.index.json"
    /// Default shard size above which `write` splits the weights (2 GiB).
    public static let defaultMaxShardBytes = 2 << 30

    /// Where one tensor lives.
    public struct TensorRef: Sendable, Equatable {
        public let name: String
        public let shape: [Int]
        public let dtype: SafetensorsDType
        /// File name inside the directory.
        public let file: String
        public var count: Int { shape.reduce(1, *) }
    }

    public let directory: URL
    public let config: LlamaConfig
    /// Tokenizer (`tokenizer.model` + added tokens), when the directory has one.
    public let tokenizer: Tokenizer?
    /// `align.json`, when present.
    public let alignInfo: AlignInfo?
    /// Every tensor by name.
    public let tensors: [String: TensorRef]
    private let files: [String: SafetensorsFile]

    /// Tensor names, sorted.
    public var tensorNames: [String] { tensors.keys.sorted() }

    /// The shape of `name`, or nil when absent.
    public func shape(of name: String) -> [Int]? { tensors[name]?.shape }

    /// Reads tensor `name` into `dst` (exactly its element count), converted to Float32.
    public func read(_ name: String, into dst: UnsafeMutableBufferPointer<Float>) throws {
        guard let t = tensors[name], let f = files[t.file] else {
            throw AlignError.tensor(path: directory.path, name: name, message: "not in this checkpoint")
        }
        try f.read(name, into: dst, expectShape: t.shape)
    }

    /// Tensor `name` as Float32 values.
    public func floats(_ name: String) throws -> [Float] {
        guard let t = tensors[name] else { throw AlignError.tensor(path: directory.path, name: name, message: "not in this checkpoint") }
        var out = [Float](repeating: 0, count: t.count)
        try out.withUnsafeMutableBufferPointer { try read(name, into: $0) }
        return out
    }

    /// Buffers that old checkpoints carry but that are not parameters (recomputed from the config).
    static func isIgnorableBuffer(_ name: String) -> Bool { name.hasSuffix(".rotary_emb.inv_freq") }

    /// Opens `dir`: reads config.json, the weights (single file or index + shards), the tokenizer when
    /// present, and align.json when present. With `expected`, every expected tensor must be present with
    /// exactly that shape and no other tensor may exist; errors name the tensor and file.
    /// `ignored` names tensors a file may carry beside the expected ones that the model does not use (a tied
    /// model's stored `lm_head.weight`, which transformers ties to the embedding as well).
    public static func read(dir: URL, expected: [(String, [Int])]? = nil, ignored: Set<String> = []) throws -> HFCheckpoint {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: dir.path, isDirectory: &isDir), isDir.boolValue else {
            throw AlignError.io(path: dir.path, message: "checkpoint directory not found")
        }
        let configURL = dir.appendingPathComponent(configFileName)
        guard fm.fileExists(atPath: configURL.path) else {
            throw AlignError.io(path: configURL.path, message: "missing config.json: not a Hugging Face checkpoint directory")
        }
        let config = try LlamaConfig.load(configURL)

        var files: [String: SafetensorsFile] = [:]
        var refs: [String: TensorRef] = [:]
        let indexURL = dir.appendingPathComponent(indexFileName)
        if fm.fileExists(atPath: indexURL.path) {
            let map = try readWeightMap(indexURL)
            for file in Set(map.values).sorted() {
                files[file] = try SafetensorsFile(url: dir.appendingPathComponent(file))
            }
            for (name, file) in map {
                let sf = files[file]!
                guard sf.contains(name) else {
                    throw AlignError.tensor(path: sf.path, name: name, message: "listed in \(indexFileName) but missing from the shard")
                }
            }
            for (file, sf) in files {
                for e in sf.entries where !isIgnorableBuffer(e.name) {
                    guard map[e.name] == file else {
                        if let other = map[e.name] {
                            throw AlignError.tensor(path: sf.path, name: e.name, message: "\(indexFileName) places it in \(other)")
                        }
                        throw AlignError.tensor(path: sf.path, name: e.name, message: "present in the shard but not listed in \(indexFileName)")
                    }
                    refs[e.name] = TensorRef(name: e.name, shape: e.shape, dtype: e.dtype, file: file)
                }
            }
        } else {
            let url = dir.appendingPathComponent(singleFileName)
            guard fm.fileExists(atPath: url.path) else {
                throw AlignError.io(path: dir.path, message: "no \(singleFileName) and no \(indexFileName)")
            }
            let sf = try SafetensorsFile(url: url)
            files[singleFileName] = sf
            for e in sf.entries where !isIgnorableBuffer(e.name) {
                refs[e.name] = TensorRef(name: e.name, shape: e.shape, dtype: e.dtype, file: singleFileName)
            }
        }
        for r in refs.values where ![.f32, .f16, .bf16, .f64].contains(r.dtype) {
            throw AlignError.tensor(path: dir.appendingPathComponent(r.file).path, name: r.name,
                                    message: "dtype \(r.dtype.rawValue) is not a floating type (F32/F16/BF16 expected for weights)")
        }
        for name in ignored { refs[name] = nil }
        if let expected { try validate(refs, expected: expected, dir: dir) }

        let tokenizer: Tokenizer? = Tokenizer.exists(in: dir) ? try Tokenizer.load(from: dir) : nil
        if let tokenizer, tokenizer.vocabSize > config.vocabSize {
            throw AlignError.format(path: configURL.path, line: nil,
                                    message: "vocab_size \(config.vocabSize) is smaller than the tokenizer's \(tokenizer.vocabSize) tokens")
        }
        let infoURL = dir.appendingPathComponent(AlignInfo.fileName)
        let info = fm.fileExists(atPath: infoURL.path) ? try AlignInfo.load(infoURL) : nil
        return HFCheckpoint(directory: dir, config: config, tokenizer: tokenizer, alignInfo: info, tensors: refs, files: files)
    }

    /// Every expected name present with its exact shape; nothing else.
    static func validate(_ refs: [String: TensorRef], expected: [(String, [Int])], dir: URL) throws {
        var want: [String: [Int]] = [:]
        for (name, shape) in expected {
            guard want.updateValue(shape, forKey: name) == nil else {
                throw AlignError.invalidArgument("expected tensor list names '\(name)' twice")
            }
        }
        for (name, shape) in expected.sorted(by: { $0.0 < $1.0 }) {
            guard let r = refs[name] else {
                throw AlignError.tensor(path: dir.path, name: name, message: "missing from the checkpoint (expected shape \(shape))")
            }
            guard r.shape == shape else {
                throw AlignError.tensor(path: dir.appendingPathComponent(r.file).path, name: name, message: "shape \(r.shape), expected \(shape)")
            }
        }
        for name in refs.keys.sorted() where want[name] == nil {
            throw AlignError.tensor(path: dir.appendingPathComponent(refs[name]!.file).path, name: name,
                                    message: "unknown tensor (not a parameter of this model)")
        }
    }

    /// Parses `model.safetensors.index.json` → tensor name → shard file name.
    static func readWeightMap(_ url: URL) throws -> [String: String] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw AlignError.io(path: url.path, message: "cannot read: \(error.localizedDescription)")
        }
        guard let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw AlignError.format(path: url.path, line: nil, message: "not a JSON object")
        }
        guard let wm = obj["weight_map"] as? [String: Any] else {
            throw AlignError.format(path: url.path, line: nil, message: "missing \"weight_map\" object")
        }
        var map: [String: String] = [:]
        for (name, v) in wm {
            guard let file = v as? String else {
                throw AlignError.format(path: url.path, line: nil, message: "weight_map entry '\(name)' is not a file name")
            }
            guard !file.isEmpty, !file.contains("/"), !file.contains("\\"), file != ".", file != ".." else {
                throw AlignError.format(path: url.path, line: nil, message: "weight_map entry '\(name)' names '\(file)', which is not a plain file name in the directory")
            }
            map[name] = file
        }
        return map
    }

    /// Writes a checkpoint directory atomically: config.json (transformers-compatible), the weights as F32
    /// safetensors (sharded with an index above `maxShardBytes`), the tokenizer files, align.json and the
    /// optimizer state when given. An existing directory at `dir` is replaced only once the new one is complete.
    public static func write(dir: URL, config: LlamaConfig, tensors: [SafetensorsTensor], tokenizer: Tokenizer?,
                             alignInfo: AlignInfo?, optimizer: OptimizerState? = nil,
                             maxShardBytes: Int = defaultMaxShardBytes) throws {
        try AtomicFile.writeDirectory(dir) { tmp in
            try writeContents(into: tmp, config: config, tensors: tensors, tokenizer: tokenizer, alignInfo: alignInfo,
                              optimizer: optimizer, maxShardBytes: maxShardBytes)
        }
    }

    /// The files of `write` into `dir`, an existing directory the caller renames into place (AtomicFile
    /// .writeDirectory's body). Refuses tensors holding NaN or ±inf: a checkpoint never carries them.
    public static func writeContents(into dir: URL, config: LlamaConfig, tensors: [SafetensorsTensor], tokenizer: Tokenizer?,
                                     alignInfo: AlignInfo?, optimizer: OptimizerState? = nil,
                                     maxShardBytes: Int = defaultMaxShardBytes) throws {
        guard maxShardBytes > 0 else { throw AlignError.invalidArgument("maxShardBytes must be positive") }
        var seen = Set<String>()
        for t in tensors where !seen.insert(t.name).inserted {
            throw AlignError.tensor(path: dir.path, name: t.name, message: "given twice")
        }
        for t in tensors {
            guard case .f32(let v) = t.values else { continue }
            if let bad = v.withUnsafeBufferPointer({ NonFinite.first(in: $0) }) {
                throw AlignError.tensor(path: dir.path, name: t.name, message: NonFinite.describe(bad, in: v.count) + "; not saved")
            }
        }
        if let tokenizer, tokenizer.vocabSize > config.vocabSize {
            throw AlignError.invalidArgument("config vocab_size \(config.vocabSize) is smaller than the tokenizer's \(tokenizer.vocabSize) tokens")
        }
        let shards = plan(tensors, maxShardBytes: maxShardBytes)
        try AtomicFile.write(config.jsonData(), to: dir.appendingPathComponent(configFileName))
        try AtomicFile.write(generationConfig(config, tokenizer: tokenizer), to: dir.appendingPathComponent(generationConfigFileName))
        let meta = ["format": "pt"]
        if shards.count == 1 {
            try SafetensorsWriter.write(shards[0], metadata: meta, to: dir.appendingPathComponent(singleFileName))
        } else {
            var weightMap: [String: String] = [:]
            var total = 0
            for (i, shard) in shards.enumerated() {
                let name = String(format: "model-%05d-of-%05d.safetensors", i + 1, shards.count)
                try SafetensorsWriter.write(shard, metadata: meta, to: dir.appendingPathComponent(name))
                for t in shard { weightMap[t.name] = name; total += byteCount(t) }
            }
            let index: [String: Any] = ["metadata": ["total_size": total], "weight_map": weightMap]
            let data = try JSONSerialization.data(withJSONObject: index, options: [.prettyPrinted, .sortedKeys])
            try AtomicFile.write(data, to: dir.appendingPathComponent(indexFileName))
        }
        try tokenizer?.write(to: dir)
        if let alignInfo { try AtomicFile.write(alignInfo.jsonData(), to: dir.appendingPathComponent(AlignInfo.fileName)) }
        if let optimizer { try optimizer.write(to: dir.appendingPathComponent(OptimizerState.fileName)) }
    }

    public static let generationConfigFileName = "generation_config.json"

    /// `generation_config.json`: the special ids transformers' `generate` uses; a chat model whose template align
    /// renders (ChatML, Llama-3) also stops at its end-of-turn token. Any other template is kept in the tokenizer
    /// files for transformers to render and adds no stop id here: `align convert` of such a model still works,
    /// while training and `align chat` refuse the template by name (SFTRun, ChatExplanation).
    static func generationConfig(_ config: LlamaConfig, tokenizer: Tokenizer?) throws -> Data {
        var obj: [String: Any] = ["_from_model_config": true]
        if let b = tokenizer?.bosId ?? config.bosTokenId { obj["bos_token_id"] = b }
        var eos: [Int] = [tokenizer?.eosId ?? config.eosTokenId].compactMap { $0 }
        if let source = tokenizer?.chatTemplate, let t = try? ChatTemplate(source: source), let id = tokenizer?.id(t.endOfTurn), !eos.contains(id) {
            eos.append(id)
        }
        if eos.count == 1 { obj["eos_token_id"] = eos[0] } else if !eos.isEmpty { obj["eos_token_id"] = eos }
        if let p = tokenizer?.padId ?? config.padTokenId { obj["pad_token_id"] = p }
        return try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys])
    }

    static func byteCount(_ t: SafetensorsTensor) -> Int {
        switch t.values {
        case .f32(let v): return 4 * v.count
        case .i32(let v): return 4 * v.count
        }
    }

    /// Splits tensors (in name order) into consecutive shards of at most `maxShardBytes` each (a tensor
    /// larger than the limit gets a shard of its own). Always at least one shard.
    static func plan(_ tensors: [SafetensorsTensor], maxShardBytes: Int) -> [[SafetensorsTensor]] {
        var shards: [[SafetensorsTensor]] = [[]]
        var size = 0
        for t in tensors.sorted(by: { $0.name < $1.name }) {
            let b = byteCount(t)
            if !shards[shards.count - 1].isEmpty && size + b > maxShardBytes {
                shards.append([])
                size = 0
            }
            shards[shards.count - 1].append(t)
            size += b
        }
        return shards
    }
}
