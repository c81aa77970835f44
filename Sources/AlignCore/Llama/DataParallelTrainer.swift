// Data-parallel training over the cores for mean cross-entropy (SFT): a [B,T] batch is cut into contiguous row
// shards, one per replica; every replica (its own activations and gradients, the weights shared read-only)
// runs forward and backward on its shard on one core with OpenBLAS on one thread, and the gradients are summed
// into replica 0's buffer. For small models this beats one trainer whose OpenBLAS splits each (small) matrix
// product over both cores: no hand-off per sgemm, no BLAS threads spinning while element-wise kernels run, and
// the element-wise work, attention and the LM head's log-softmax are split across the cores as well.
//
// The objective is exactly the full batch's: each shard's backward is scaled by its share of the batch's
// trained positions (n_r / n), so Σ_r grads_r = ∇ mean CE of the whole batch. With one replica this is the
// plain LlamaTrainer path, bit for bit. With several, the sum over shards changes the order of floating-point
// additions (and OpenBLAS's blocking for the smaller row counts), so results agree with the one-trainer path up
// to rounding (tested), and are deterministic for a given replica count.
//
// Precision: the replicas share one bf16 copy of the weights (refreshed once per forward here). Their oneDNN
// products run on one thread each while replicas run side by side (one OpenMP thread per core, like OpenBLAS
// on one thread), and on every core when a batch leaves a single replica active.
//
// Dropout: replica 0 uses the step's key, so its rows get the masks the one-trainer path gives them; replica r
// draws from the key mixed with r (masks remain a pure function of (seed, step, replica, index)).
//
// Across processes (`cluster` with several ranks, an MPI job): every rank is handed the same whole batch, which
// is cut as one process with P·R replicas would cut it (R replicas per rank, P ranks); rank k runs shards
// k·R ..< (k+1)·R, shard g with replica g's dropout key (a batch of fewer rows than P·R leaves the last ranks
// without work, as it leaves one process's last replicas idle). After the forward the ranks sum their
// trained positions, item-head rows and loss sums (in rank order), so the loss and every shard's scale (n_r / n,
// and the item head's h_r / m) are those of the whole batch; the backward ends by summing the gradient buffers
// in rank order (Cluster.swift), so every rank holds the same gradient of the whole batch's objective. With one
// replica per rank the shards, their planned sizes, keys and the order of every sum are those of one process
// running R·P replicas, so P ranks × 1 replica reproduce 1 process × P replicas bit for bit (tested).
import Dispatch
import Foundation

/// Mean-cross-entropy forward/backward of one LLaMA model over several cores by splitting the batch.
public final class DataParallelTrainer: @unchecked Sendable {
    /// The weights (shared by every replica; an optimizer updates them in place between steps).
    public let params: LlamaParameters
    /// One trainer per worker, each planned for ⌈maxBatch / workers⌉ rows.
    public let replicas: [LlamaTrainer]
    /// Largest batch and sequence the memory was planned for.
    public let maxBatch: Int
    public var maxSeq: Int { replicas[0].maxSeq }
    /// Key of the next forward's dropout masks (nil = no dropout).
    public var dropoutKey: UInt64?
    /// Rows of the next forward that get dropout (nil = every row); see LlamaTrainer.dropoutRows.
    public var dropoutRows: [Bool]?
    /// Row ranges (of the whole batch) of the last forward, one per active replica of this rank.
    private var shards: [Range<Int>] = []
    /// The replicas' shared bf16 weight copy (bf16 only).
    private let weights16: BF16Weights?
    public var precision: Precision { replicas[0].precision }
    /// The processes the batch is split over (one: this process alone).
    public let cluster: any Collective
    /// Replicas a rank runs on a full batch (R; `replicas` may hold fewer on the last ranks of a small batch).
    private let perRank: Int
    /// The last forward's totals over every rank and replica: trained positions, item-head rows, and the sums of
    /// their cross-entropies.
    private var total = (trained: 0, heads: 0, loss: 0.0, itemLoss: 0.0)
    private var forwarded = false
    /// Whether the gradients were zeroed since the last backward (required across ranks: see `backward…`).
    private var zeroed = true

    /// Plans `workers` replicas (at most one per row of this rank's share; ALIGN_THREADS or the core count by
    /// default) for batches of up to `maxBatch` rows over every rank of `cluster`.
    public init(params: LlamaParameters, maxBatch: Int, maxSeq: Int, dropout: Float = 0, items: ItemTable? = nil,
                workers: Int = Parallel.workers, precision: Precision = .fp32, cluster: any Collective = Cluster.world) {
        precondition(maxBatch > 0 && maxSeq > 0 && workers > 0)
        self.params = params
        self.maxBatch = maxBatch
        self.cluster = cluster
        // R replicas per rank, G = P·R shards of a full batch over the job; rank k runs shards k·R ..< (k+1)·R.
        perRank = min(workers, maxBatch)
        let shardsOfFull = min(cluster.size * perRank, maxBatch)
        let per = (maxBatch + shardsOfFull - 1) / shardsOfFull
        let w = max(1, min(perRank, shardsOfFull - cluster.rank * perRank))   // one at least: it holds the gradient
        let shared = precision == .bf16 ? BF16Weights(layout: params.layout) : nil
        weights16 = shared
        replicas = (0..<w).map { _ in
            LlamaTrainer(params: params, maxBatch: per, maxSeq: maxSeq, dropout: dropout, items: items, precision: precision,
                         sharedWeights: shared, gemmThreads: w > 1 ? 1 : Parallel.workers)
        }
    }

    /// d objective / d parameter after `backwardMeanCrossEntropy` (replica 0's buffer holds the sum).
    public var grads: UnsafeMutableBufferPointer<Float> { replicas[0].grads }

    /// false: every replica's LM head runs over trained positions only (see LlamaTrainer).
    public var logitsForAllPositions: Bool {
        get { replicas[0].logitsForAllPositions }
        set { for r in replicas { r.logitsForAllPositions = newValue } }
    }

    /// Whether forwards run the item-scoring head (see LlamaTrainer).
    public var itemHead: Bool {
        get { replicas[0].itemHead }
        set { for r in replicas { r.itemHead = newValue } }
    }

    /// Probability of leaving a completed item's residual out of a training forward (see LlamaTrainer).
    public var itemInputDropout: Float {
        get { replicas[0].itemInputDropout }
        set { for r in replicas { r.itemInputDropout = newValue } }
    }

    /// How much of the item head's gradient reaches the transformer (see LlamaTrainer).
    public var itemHeadTrunkGradient: ItemHeadTrunkGradient {
        get { replicas[0].itemHeadTrunkGradient }
        set { for r in replicas { r.itemHeadTrunkGradient = newValue } }
    }

    /// Zeroes every replica's gradients (each replica's buffer on its own core).
    public func zeroGrads() {
        let rs = UncheckedSendable(replicas)
        Parallel.forEach(replicas.count) { rs.value[$0].zeroGrads() }
        zeroed = true
    }

    /// Runs `body(r)` for each active replica: inline for one, else one per core with single-threaded BLAS.
    /// Replicas touch disjoint memory (their own activations and gradients), the weights are only read.
    private func each(_ count: Int, _ body: (Int) throws -> Void) throws {
        replicas[0].gemm.threads = count == 1 ? Parallel.workers : 1
        if count == 1 { try body(0); return }
        var errors = [Error?](repeating: nil, count: count)
        withoutActuallyEscaping(body) { body in
            let box = UncheckedSendable(body)
            errors.withUnsafeMutableBufferPointer { errs in
                let out = UncheckedSendable(errs)
                withSingleThreadedBlas {
                    DispatchQueue.concurrentPerform(iterations: count) { r in
                        do { try Parallel.inline { try box.value(r) } } catch { out.value[r] = error }
                    }
                }
            }
        }
        if let e = errors.compactMap({ $0 }).first { throw e }
    }

    /// Forward of a right-padded [B,T] batch (B ≤ maxBatch), tokens/targets row-major — the whole batch, the same
    /// on every rank; this rank's shard of rows goes to its replicas. Collective across ranks.
    public func forward(tokens: [Int32], targets: [Int32], batch B: Int, seq T: Int) throws {
        guard B >= 1, B <= maxBatch, tokens.count == B * T, targets.count == B * T else {
            throw AlignError.invalidArgument("forward: [\(B), \(T)] batch with \(tokens.count) tokens / \(targets.count) targets (planned \(maxBatch) rows)")
        }
        if let rows = dropoutRows, rows.count != B {
            throw AlignError.invalidArgument("forward: \(rows.count) dropout rows for a batch of \(B)")
        }
        forwarded = false
        // The shards of one process with P·R replicas; this rank's are k·R ..< (k+1)·R of them.
        let all = min(cluster.size * perRank, B), first = min(cluster.rank * perRank, all)
        let w = min(perRank, all - first)
        shards = (first..<(first + w)).map { (B * $0 / all)..<(B * ($0 + 1) / all) }
        let key = dropoutKey, rows = dropoutRows, shards = self.shards
        if w > 0 {
            weights16?.refresh(from: params)
            try each(w) { r in
                let shard = shards[r], t = self.replicas[r], g = first + r
                t.dropoutKey = key.map { g == 0 ? $0 : mix64($0 ^ (0xD1B5_4A32_D192_ED03 &* UInt64(g))) }
                t.dropoutRows = rows.map { Array($0[shard]) }
                defer { t.dropoutKey = nil; t.dropoutRows = nil }
                try t.forward(tokens: Array(tokens[(shard.lowerBound * T)..<(shard.upperBound * T)]),
                              targets: Array(targets[(shard.lowerBound * T)..<(shard.upperBound * T)]), batch: shard.count, seq: T)
            }
        }
        var n = 0, m = 0, loss = 0.0, itemLoss = 0.0
        for r in 0..<w {
            let c = replicas[r].trainedCount, h = replicas[r].itemHeadRows
            loss += Double(replicas[r].meanCrossEntropy()) * Double(c); n += c
            itemLoss += Double(replicas[r].meanItemCrossEntropy()) * Double(h); m += h
        }
        if cluster.isDistributed {   // one exchange: the counts are exact as doubles, the loss sums in rank order
            let t = try cluster.sumInRankOrder([Double(n), Double(m), loss, itemLoss])
            total = (Int(t[0]), Int(t[1]), t[2], t[3])
        } else {
            total = (n, m, loss, itemLoss)
        }
        forwarded = true
    }

    /// Trained positions (targets ≠ -100) of the last forward's whole batch.
    public var trainedCount: Int { total.trained }

    /// Mean cross-entropy over the last forward's trained positions (0 when none).
    public func meanCrossEntropy() -> Float {
        if shards.count == 1 && !cluster.isDistributed { return replicas[0].meanCrossEntropy() }
        return total.trained == 0 ? 0 : Float(total.loss / Double(total.trained))
    }

    /// Item-head rows of the last forward's whole batch.
    public var itemHeadRows: Int { total.heads }

    /// Mean item-head cross-entropy over the last forward's head rows (0 when none).
    public func meanItemCrossEntropy() -> Float {
        total.heads == 0 ? 0 : Float(total.itemLoss / Double(total.heads))
    }

    /// Backward of the whole batch's mean cross-entropy plus `itemWeight` × its mean item-head cross-entropy,
    /// ACCUMULATED into `grads` (replica 0's buffer; the other replicas' buffers are summed into it and left
    /// holding their shard's part). Across ranks it then sums `grads` over the ranks — the whole buffer, so the
    /// gradients must have been zeroed before the forward (as every training step does). Collective across ranks.
    public func backwardMeanCrossEntropy(itemWeight: Float = 0) throws {
        guard forwarded else { throw AlignError.invalidArgument("backward needs a forward first") }
        forwarded = false
        let w = shards.count
        if w == 1 && !cluster.isDistributed { try replicas[0].backwardMeanCrossEntropy(itemWeight: itemWeight); return }
        guard zeroed || !cluster.isDistributed else {
            throw AlignError.invalidArgument("a data-parallel backward across ranks sums the whole gradient buffer: zero the gradients before the forward")
        }
        zeroed = false
        let n = total.trained, m = total.heads
        let counts = (0..<w).map { replicas[$0].trainedCount }, heads = (0..<w).map { replicas[$0].itemHeadRows }
        if w > 0 {
            try each(w) { r in
                try self.replicas[r].backwardMeanCrossEntropy(scale: n == 0 ? 0 : Float(counts[r]) / Float(n),
                                                              itemWeight: m == 0 ? 0 : itemWeight * Float(heads[r]) / Float(m))
            }
        }
        if w > 1 {
            // Sum the replicas' gradients into replica 0's, in fixed chunks (the same order every run).
            let total = replicas[0].grads.baseAddress!, count = params.count
            let others = (1..<w).map { UnsafePointer(replicas[$0].grads.baseAddress!) }
            let box = UncheckedSendable((total, others))
            Parallel.chunks(count, minPerWorker: 4096) { range in
                let (total, others) = box.value
                for o in others { for i in range { total[i] += o[i] } }
            }
        }
        if cluster.isDistributed { try cluster.sum(replicas[0].grads) }
    }
}
