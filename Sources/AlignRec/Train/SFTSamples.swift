// The SFT sample set: instruction samples of the chosen tasks drawn ONLY from the protocol's training data
// (training sequences for sequence tasks, the catalogue for translation tasks), encoded with the loss mask.
//
// Sequence tasks take one sample per `stride`-th target position of each training sequence, counted back
// from its last item (stride 1 = every position, LC-Rec's recipe). With `offsets` (`sampling.offsets: random`
// draws them per sequence and epoch: SFTRun.epochOffsets) sequence u's windows are counted back from
// `offsets[u]` items before its end instead, plus the window that ends at its last item.
//
// Dense history loss (nextitem, optional): the nextitem prompt lists the history as consecutive SID tokens,
// oldest first. Besides the response, every history SID token is trained too: at the position before item k's
// j-th token the model predicts it from the instruction text, items < k and item k's earlier tokens — i.e.
// exactly the nextitem task for the shorter history items[<k] (SASRec's all-positions objective). The
// evaluation prompt is the same template with the same SID-only history layout, so what is learned at
// history positions is the same conditional the response position asks for; the response position (after
// the template's closing text) is still trained on every sample. This multiplies the supervised SID tokens
// per sample by up to `max_history + 1` at no extra forward cost. Only SID tokens inside the prompt get a
// target; instruction text never does.
import Foundation

/// Encoded training samples plus their tasks.
public struct SFTSamples: Sendable {
    /// Encoded samples (inputs, targets with −100 where no loss applies).
    public var examples: [EncodedExample]
    /// Task of each sample.
    public var tasks: [PromptTask]

    /// Number of samples per task.
    public var countsByTask: [PromptTask: Int] {
        var c: [PromptTask: Int] = [:]
        for t in tasks { c[t, default: 0] += 1 }
        return c
    }

    /// Keeps only the samples whose task satisfies `include`, in order.
    public mutating func keep(_ include: (PromptTask) -> Bool) {
        let idx = tasks.indices.filter { include(tasks[$0]) }
        examples = idx.map { examples[$0] }
        tasks = idx.map { tasks[$0] }
    }

    /// Longest input.
    public var maxLength: Int { examples.map(\.inputs.count).max() ?? 0 }

    /// Total positions with a target.
    public var targetTokens: Int { examples.reduce(0) { $0 + $1.targets.reduce(0) { $0 + ($1 == ignoreTarget ? 0 : 1) } } }

    /// Builds the sample set. `sequences` must be the protocol's training sequences only
    /// (`Dataset.trainingSequences`). `isSID(id)` says which token ids are SID tokens (dense loss).
    /// Templates are drawn from `rng`; same inputs and seed → same samples.
    public static func build(builder: TaskSampleBuilder, tokenizer: some TokenizerProtocol, tasks: [PromptTask],
                             sequences: [[Int]], stride: Int, denseHistoryLoss: Bool, maxLength: Int,
                             offsets: [Int]? = nil, exclude: Set<Int> = [], isSID: (Int32) -> Bool, rng: inout Rng) throws -> SFTSamples {
        guard stride >= 1 else { throw AlignError.invalidArgument("sampling stride must be ≥ 1 (got \(stride))") }
        if let offsets {
            guard offsets.count == sequences.count, offsets.allSatisfy({ $0 >= 0 && $0 < stride }) else {
                throw AlignError.invalidArgument("window offsets: need one offset in 0..<\(stride) per training sequence (\(sequences.count))")
            }
        }
        var raw: [InstructionExample] = []
        for task in tasks {
            if task.isSequential {
                let w = builder.config.weight(task)
                for (u, seq) in sequences.enumerated() where seq.count >= 2 {
                    // With an offset o > 0 the windows end at n−1−o, n−1−o−stride, …, and the window ending at the
                    // sequence's last item is kept as well: the most recent transitions train in every epoch.
                    let end = seq.count - 1, o = offsets?[u] ?? 0
                    var ends = Array(Swift.stride(from: max(1, end - o), through: 1, by: -stride))
                    if o > 0 && ends.first != end { ends.insert(end, at: 0) }
                    for t in ends {
                        let whole = Int(w.rounded(.down))
                        let n = whole + (rng.uniform() < w - Double(whole) ? 1 : 0)
                        for _ in 0..<n {
                            let k = builder.library.drawTemplate(task, rng: &rng)
                            raw.append(try builder.example(task, item: seq[t], history: Array(seq[..<t]), templateIndex: k))
                        }
                    }
                }
            } else {
                raw += try builder.trainingExamples(tasks: [task], sequences: [], exclude: exclude, rng: &rng)
            }
        }
        var out = SFTSamples(examples: [], tasks: [])
        out.examples.reserveCapacity(raw.count)
        for ex in raw {
            var enc = try builder.encode(ex, tokenizer: tokenizer, maxLength: maxLength)
            if denseHistoryLoss && ex.task == .nextitem { densify(&enc, isSID: isSID) }
            out.examples.append(enc)
            out.tasks.append(ex.task)
        }
        return out
    }

    /// Puts a target on every SID token inside the prompt: targets[p − 1] = inputs[p] for prompt positions
    /// p ≥ 1 holding a SID token (see the file header).
    public static func densify(_ enc: inout EncodedExample, isSID: (Int32) -> Bool) {
        for p in 1..<enc.promptLength where isSID(enc.inputs[p]) { enc.targets[p - 1] = enc.inputs[p] }
    }
}
