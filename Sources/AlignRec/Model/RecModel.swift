// The model bundle: everything a trained recommender is — LLaMA weights, the SentencePiece + SID tokenizer,
// the item → SID map, the catalogue, the prompt templates and the task layout — saved as ONE Hugging Face
// LLaMA checkpoint directory (config.json, model.safetensors, tokenizer.model + added-token files,
// align.json) with align's extras inside it (sid_map.json, items.jsonl, task_config.json, prompts/), so a
// checkpoint is self-contained for evaluation, alignment and serving, and still loads in transformers.
// A model with item memory also carries `item_memory.safetensors` (ItemMemory.swift), recorded in align.json.
// Training loops (SFT/DPO/GRPO) own their own state; this file only loads and saves.
import Foundation

/// Adapts the SentencePiece + SID `Tokenizer` to the instruction pipeline's `TokenizerProtocol`.
public struct InstructionTokenizer: TokenizerProtocol, Sendable {
    public let tokenizer: Tokenizer
    public let bosId: Int32
    public let eosId: Int32

    public init(_ tokenizer: Tokenizer) throws {
        guard let b = tokenizer.bosId, let e = tokenizer.eosId else {
            throw AlignError.invalidArgument("the tokenizer has no <s>/</s> tokens; align needs both (add them when training the tokenizer)")
        }
        self.tokenizer = tokenizer
        bosId = Int32(b); eosId = Int32(e)
    }

    public func encode(_ text: String) throws -> [Int32] { try tokenizer.encode(text) }
    public var addsBos: Bool { tokenizer.addsBos }
}

/// A trained (or initialised) generative recommender.
public final class RecModel: @unchecked Sendable {
    public static let sidMapFile = "sid_map.json"
    public static let itemsFile = "items.jsonl"
    public static let taskConfigFile = "task_config.json"
    public static let promptsDir = "prompts"

    public let params: LlamaParameters
    public let tokenizer: Tokenizer
    public let instructionTokenizer: InstructionTokenizer
    public let sidMap: SIDMap
    /// Catalogue; items[i - 1].item == i.
    public let items: [Item]
    public let prompts: PromptLibrary
    public let taskConfig: TaskConfig
    /// Every item's SID token ids followed by EOS (the exact response the model was trained to emit).
    public let trie: SIDTrie
    public let builder: TaskSampleBuilder
    public var info: AlignInfo
    /// Precision of the matrix products of everything that runs this model (decoders, trainers); set by the
    /// command from `--precision` / the config (fp32 until then).
    public var precision: Precision = .fp32
    /// SID token ids per item (index item - 1), without EOS.
    public let sidIds: [[Int32]]
    /// The item memory's items (nil: a SID-only model); its count equals `params.items`.
    public let itemTable: ItemTable?

    public var config: LlamaConfig { params.config }

    /// `itemWarm` (one flag per item) says which items have a per-item vector when `params` has an item memory
    /// (default: all).
    public init(params: LlamaParameters, tokenizer: Tokenizer, sidMap: SIDMap, items: [Item],
                prompts: PromptLibrary, taskConfig: TaskConfig, info: AlignInfo, itemWarm: [Bool]? = nil,
                itemCarry: Bool = false) throws {
        guard sidMap.count == items.count else {
            throw AlignError.invalidArgument("the SID map has \(sidMap.count) items but the catalogue has \(items.count): they come from different datasets")
        }
        for (i, it) in items.enumerated() where it.item != i + 1 {
            throw AlignError.invalidArgument("catalogue item at position \(i + 1) has index \(it.item); items must be 1...N in order")
        }
        guard tokenizer.vocabSize <= params.config.vocabSize else {
            throw AlignError.invalidArgument("the tokenizer has \(tokenizer.vocabSize) tokens but the model's vocabulary is \(params.config.vocabSize)")
        }
        self.params = params; self.tokenizer = tokenizer; self.sidMap = sidMap; self.items = items
        self.prompts = prompts; self.taskConfig = taskConfig; self.info = info
        instructionTokenizer = try InstructionTokenizer(tokenizer)
        var sids: [Int: String] = [:]
        var ids: [[Int32]] = []
        ids.reserveCapacity(items.count)
        for it in items {
            guard let s = sidMap.tokenString(it.item) else {
                throw AlignError.invalidArgument("item \(it.item) has no SID in the SID map")
            }
            sids[it.item] = s
            let t = try tokenizer.encode(s)
            for id in t where !tokenizer.isSIDToken(Int(id)) {
                throw AlignError.invalidArgument("SID \(s) of item \(it.item) does not tokenize to SID tokens only: the tokenizer lacks some SID tokens (retrain it with this SID map)")
            }
            ids.append(t)
        }
        sidIds = ids
        if params.items > 0 {
            guard params.items == items.count else {
                throw AlignError.invalidArgument("the item memory has \(params.items) rows but the catalogue has \(items.count) items")
            }
            itemTable = try ItemTable(sids: ids, vocabSize: params.config.vocabSize, warm: itemWarm, carry: itemCarry)
        } else {
            itemTable = nil
        }
        trie = try SIDTrie(sids: items.map { (item: $0.item, tokens: ids[$0.item - 1]) }, endToken: instructionTokenizer.eosId)
        builder = try TaskSampleBuilder(library: prompts, items: items, sids: sids, config: taskConfig)
        try checkTemplatesFit()
    }

    /// Positions a prompt of this model may use: max_position_embeddings less the longest answer (SID + EOS).
    public var maxPromptTokens: Int { params.config.maxPositionEmbeddings - trie.maxDepth }

    /// Every template, wrapped, with its slots empty, must leave room for an answer within the model's positions
    /// (a template longer than the model's context could only be truncated silently or overflow memory).
    func checkTemplatesFit() throws {
        for task in PromptTask.allCases {
            for t in prompts.templates[task] ?? [] {
                let literal = t.pieces.map { if case let .text(s) = $0 { return s } else { return "" } }.joined()
                let n = (tokenizer.addsBos ? 1 : 0) + (try tokenizer.encode(prompts.wrap(literal))).count
                guard n <= maxPromptTokens else {
                    throw AlignError.format(path: t.path, line: nil, message: "the template alone is \(n) tokens, but the model has \(params.config.maxPositionEmbeddings) positions (max_position_embeddings) and answers take up to \(trie.maxDepth): shorten the template or train a model with more positions")
                }
            }
        }
    }

    /// An error unless a prompt of `count` tokens leaves room for an answer within the model's positions.
    public func checkPromptFits(_ count: Int, what: String) throws {
        guard count <= maxPromptTokens else {
            throw AlignError.invalidArgument("\(what) is \(count) tokens, but the model has \(params.config.maxPositionEmbeddings) positions (max_position_embeddings) and answers take up to \(trie.maxDepth); shorten the history")
        }
    }

    /// SID token ids of an item (without EOS).
    public func sidTokenIds(_ item: Int) -> [Int32] { sidIds[item - 1] }

    /// "Heat (1995)".
    public func displayTitle(_ item: Int) -> String { TaskSampleBuilder.displayTitle(items[item - 1]) }

    /// A checkpoint directory for `dir`: itself when it holds config.json, else `best/`, else `last/`.
    public static func resolveCheckpoint(_ dir: URL) throws -> URL {
        let fm = FileManager.default
        for cand in [dir, dir.appendingPathComponent("best"), dir.appendingPathComponent("last")]
        where fm.fileExists(atPath: cand.appendingPathComponent(HFCheckpoint.configFileName).path) {
            return cand
        }
        throw AlignError.io(path: dir.path, message: "no checkpoint here (expected config.json in it, or in best/ or last/)")
    }

    /// Loads a bundle from a checkpoint or run directory (every tensor name and shape checked).
    public static func load(_ dir: URL) throws -> RecModel {
        let ck = try resolveCheckpoint(dir)
        // The files the weights depend on are checked first: a swapped tokenizer is named as such.
        let infoURL = ck.appendingPathComponent(AlignInfo.fileName)
        if FileManager.default.fileExists(atPath: infoURL.path), let recorded = try AlignInfo.load(infoURL).files {
            try FileDigest.verify(recorded, in: ck, recordedIn: AlignInfo.fileName, what: describeFile)
        }
        let hf = try HFCheckpoint.readLlama(dir: ck)
        guard let tokenizer = hf.tokenizer else {
            throw AlignError.io(path: ck.path, message: "checkpoint has no tokenizer (tokenizer.model or tokenizer.json); align needs the tokenizer the model was trained with")
        }
        var params = try hf.llamaParameters()
        var saved: (table: ItemTable, url: URL)? = nil
        if let im = hf.alignInfo?.itemMemory {
            let url = ck.appendingPathComponent(im.file)
            let (table, residual, input) = try ItemMemoryFile.read(url, vocabSize: params.config.vocabSize, hiddenSize: params.config.hiddenSize)
            guard table.count == im.items else {
                throw AlignError.format(path: url.path, line: nil, message: "holds \(table.count) items, align.json says \(im.items)")
            }
            params = try ItemMemoryFile.attach(residual, input: input, items: table.count, to: params)
            saved = (table, url)
        }
        let sidURL = ck.appendingPathComponent(sidMapFile)
        guard FileManager.default.fileExists(atPath: sidURL.path) else {
            throw AlignError.io(path: ck.path, message: "checkpoint has no \(sidMapFile): it is not an align recommender (train one with `align sft`)")
        }
        let sidMap = try SIDMap.read(sidURL)
        let items = try ItemsJSONL.read(ck.appendingPathComponent(itemsFile))
        let prompts = try PromptLibrary.load(ck.appendingPathComponent(promptsDir))
        let tcURL = ck.appendingPathComponent(taskConfigFile)
        let taskConfig: TaskConfig
        do { taskConfig = try JSONDecoder().decode(TaskConfig.self, from: Data(contentsOf: tcURL)) } catch {
            throw AlignError.format(path: tcURL.path, line: nil, message: "cannot read the task configuration: \(error)")
        }
        let model = try RecModel(params: params, tokenizer: tokenizer, sidMap: sidMap, items: items, prompts: prompts,
                                 taskConfig: taskConfig, info: hf.alignInfo ?? AlignInfo(), itemWarm: saved?.table.warm,
                                 itemCarry: saved?.table.carry ?? false)
        if let t = model.itemTable, let saved, saved.table.codes != t.codes {
            throw AlignError.format(path: saved.url.path, line: nil, message: "its SID tokens differ from the checkpoint's SID map and tokenizer")
        }
        return model
    }

    /// How the model ranks with its item memory (nil: SID beam only).
    public var itemMemoryInfo: ItemMemoryInfo? { info.itemMemory }

    /// Writes the whole bundle atomically (+ optimizer.safetensors when `optimizer` is given, with the
    /// weights' moving average `ema` beside the moments when the run keeps one). Weights holding NaN or ±inf
    /// are refused (the error names the tensor), so a checkpoint on disk is always usable. align.json, written
    /// last, records the digests of the files the weights depend on.
    /// `extra` writes further files into the new directory before align.json records the digests (LoRA adapters).
    public func save(to dir: URL, stage: String, state: JSONValue? = nil, optimizer: AdamW? = nil, ema: [Float]? = nil,
                     extra: ((URL) throws -> Void)? = nil) throws {
        if let bad = params.firstNonFinite() {
            throw AlignError.tensor(path: dir.path, name: bad.tensor,
                                    message: "holds a non-finite value (\(bad.value) at index \(bad.index)); the weights are not saved")
        }
        var info = self.info
        info.stage = stage
        info.sidMap = RecModel.sidMapFile
        info.state = state
        if let t = itemTable {
            info.itemMemory = ItemMemoryInfo(items: t.count, sidWeight: info.itemMemory?.sidWeight ?? 0,
                                             trunkGradient: info.itemMemory?.trunkGradient ?? .full)
        } else {
            info.itemMemory = nil
        }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        var lines = ""
        for it in items { lines += String(decoding: try enc.encode(it), as: UTF8.self) + "\n" }
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        let taskJSON = try enc.encode(taskConfig)
        try AtomicFile.writeDirectory(dir) { tmp in
            try HFCheckpoint.writeContents(into: tmp, config: params.config, tensors: params.exportTensors(), tokenizer: tokenizer,
                                           alignInfo: nil, optimizer: optimizer.map { OptimizerState($0, ema: ema) })
            try sidMap.write(tmp.appendingPathComponent(RecModel.sidMapFile))
            try AtomicFile.write(lines, to: tmp.appendingPathComponent(RecModel.itemsFile))
            try AtomicFile.write(taskJSON, to: tmp.appendingPathComponent(RecModel.taskConfigFile))
            try prompts.save(to: tmp.appendingPathComponent(RecModel.promptsDir))
            if let t = itemTable { try ItemMemoryFile.write(params: params, items: t, to: tmp.appendingPathComponent(ItemMemoryFile.fileName)) }
            try extra?(tmp)
            info.files = try FileDigest.files(in: tmp, include: RecModel.isFingerprinted)
            try AtomicFile.write(info.jsonData(), to: tmp.appendingPathComponent(AlignInfo.fileName))
        }
        self.info = info
    }

    /// What a fingerprinted file is, for messages.
    static func describeFile(_ rel: String) -> String {
        switch rel {
        case Tokenizer.modelFileName, AddedTokensFile.fileName, TokenizerJSON.fileName: return "the tokenizer"
        case sidMapFile: return "the SID map"
        case itemsFile: return "the catalogue"
        case taskConfigFile: return "the task configuration"
        default: return "a prompt template file"
        }
    }

    /// The files whose digests align.json records: what the weights' token ids and prompts mean.
    static func isFingerprinted(_ rel: String) -> Bool {
        [Tokenizer.modelFileName, AddedTokensFile.fileName, TokenizerJSON.fileName, sidMapFile, itemsFile, taskConfigFile].contains(rel)
            || (rel.hasPrefix(promptsDir + "/") && !rel.split(separator: "/").contains { $0.hasPrefix(".") })
    }
}
