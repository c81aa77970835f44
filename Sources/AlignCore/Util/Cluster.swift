// The processes of a data-parallel job and the few collectives align's training and evaluation need: sums of
// gradient buffers and counts, an all-gather of results in rank order, a barrier and an abort.
//
// Under an MPI launcher (`mpirun -np N align …`, recognised by OMPI_COMM_WORLD_SIZE or PMIX_RANK in the
// environment) `Cluster.world` is MPI_COMM_WORLD through the CMPI shim; otherwise it is `SingleProcess`, whose
// collectives return their input: libmpi is linked but never initialised, and `align` runs exactly as a plain
// process. Callers use one interface (`Collective`) either way.
//
// Determinism: float and double sums are taken in rank order, ((x₀ + x₁) + x₂) + …, and every rank gets the
// same bits. A float buffer is reduced in two phases: an all-to-all hands rank r every rank's r-th chunk, which
// it adds in rank order, and an all-gather returns the reduced chunks to everyone. Each element is added once, in
// one fixed order, whatever transport MPI picks; MPI_Allreduce promises neither the order nor, across its
// algorithms, identical bits on every rank. The two phases move the same 2·(P−1)/P of the buffer per rank as a
// ring all-reduce. Integer counts use MPI_Allreduce (exact in any order).
//
// Every rank must make the same collective calls in the same order (the training and evaluation loops do: they
// run the same code on the same data). A rank that fails reports its error and calls `abort`, which ends every
// rank of the job (mpirun then exits with the code).
import CMPI
import Foundation

/// The ranks of a job and their collectives (see the file header). Calls are made from one thread at a time.
public protocol Collective: AnyObject, Sendable {
    /// This process's rank, 0..<size.
    var rank: Int { get }
    /// Processes in the job.
    var size: Int { get }
    /// In place: buffer[i] = Σ over ranks in rank order (every rank gets the same bits).
    func sum(_ buffer: UnsafeMutableBufferPointer<Float>) throws
    /// Element-wise Σ over ranks of `values` in rank order (every rank passes the same count).
    func sumInRankOrder(_ values: [Double]) throws -> [Double]
    /// Element-wise Σ over ranks (exact).
    func sum(_ values: [Int]) throws -> [Int]
    /// Every rank's bytes, in rank order.
    func allGather(_ bytes: [UInt8]) throws -> [[UInt8]]
    func barrier() throws
    /// Ends every rank of the job with `code` (the error has been reported). Does not return.
    func abort(_ code: Int32) -> Never
    /// Leaves the job after the last collective (MPI_Finalize); nothing for a single process.
    func finish()
    /// The transport, for logs ("single process" or the MPI library's version).
    var transport: String { get }
}

extension Collective {
    /// Rank 0: the one that writes checkpoints, metrics, reports and console output.
    public var isRoot: Bool { rank == 0 }
    /// More than one process.
    public var isDistributed: Bool { size > 1 }

    /// This rank's contiguous share of `n` units: n·rank/size ..< n·(rank+1)/size (empty when n < size for some).
    public func share(of n: Int) -> Range<Int> { Self.share(of: n, rank: rank, size: size) }

    /// This rank's contiguous share of `n` units processed `block` at a time: whole blocks (micro-batches), so the
    /// blocks are those one process would run.
    public func share(of n: Int, inBlocksOf block: Int) -> Range<Int> { Self.share(of: n, inBlocksOf: block, rank: rank, size: size) }

    /// Rank `rank`'s share of `n` units in whole blocks of `block` among `size`.
    public static func share(of n: Int, inBlocksOf block: Int, rank: Int, size: Int) -> Range<Int> {
        let blocks = share(of: (n + block - 1) / block, rank: rank, size: size)
        return min(n, blocks.lowerBound * block)..<min(n, blocks.upperBound * block)
    }

    /// Rank `rank`'s share of `n` units among `size`.
    public static func share(of n: Int, rank: Int, size: Int) -> Range<Int> { (n * rank / size)..<(n * (rank + 1) / size) }

    /// Every rank's `local` values concatenated in rank order (their bytes on the wire).
    public func gather<T: BitwiseCopyable>(_ local: [T]) throws -> [T] {
        guard isDistributed else { return local }
        let parts = try allGather(local.withUnsafeBytes { Array($0) })
        let stride = MemoryLayout<T>.stride
        let count = parts.reduce(0) { $0 + $1.count / stride }
        return [T](unsafeUninitializedCapacity: count) { out, done in
            let raw = UnsafeMutableRawBufferPointer(out)
            var at = 0
            for p in parts where !p.isEmpty {
                p.withUnsafeBytes { raw.baseAddress!.advanced(by: at).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                at += p.count
            }
            done = count
        }
    }

    /// Every rank's `local` elements concatenated in rank order (JSON on the wire: floats round-trip exactly).
    public func gatherEncoded<T: Codable>(_ local: [T]) throws -> [T] {
        guard isDistributed else { return local }
        let parts = try allGather(Array(try JSONEncoder().encode(local)))
        var out: [T] = []
        for p in parts { out += try JSONDecoder().decode([T].self, from: Data(p)) }
        return out
    }

    /// Checks that every rank holds the same bits in `buffer` (the weights of a data-parallel job must never
    /// drift apart); throws naming the first rank that differs from rank 0.
    public func checkSame(_ buffer: UnsafeBufferPointer<Float>, what: String) throws {
        guard isDistributed else { return }
        var h: UInt64 = 0xCBF2_9CE4_8422_2325   // FNV-1a over the bit patterns
        for x in buffer { h = (h ^ UInt64(x.bitPattern)) &* 0x0000_0100_0000_01B3 }
        let hashes = try allGather(withUnsafeBytes(of: h.littleEndian) { Array($0) })
        if let r = hashes.indices.first(where: { hashes[$0] != hashes[0] }) {
            throw AlignError.invalidArgument("the ranks of the job disagree on \(what): rank \(r) differs from rank 0 (the data-parallel replicas drifted apart; every rank must run the same align build on the same inputs)")
        }
    }
}

/// One process: every collective returns its input.
public final class SingleProcess: Collective {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func sum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {}
    public func sumInRankOrder(_ values: [Double]) throws -> [Double] { values }
    public func sum(_ values: [Int]) throws -> [Int] { values }
    public func allGather(_ bytes: [UInt8]) throws -> [[UInt8]] { [bytes] }
    public func barrier() throws {}
    public func abort(_ code: Int32) -> Never { exit(code) }
    public func finish() {}
    public var transport: String { "single process" }
}

/// MPI_COMM_WORLD (through the CMPI shim).
public final class MPICluster: Collective, @unchecked Sendable {
    public let rank: Int
    public let size: Int
    public let transport: String
    /// Receive buffer of the float reduction, [size × largest chunk], grown on first use of a larger buffer.
    private var scratch = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)
    private var finished = false

    /// Initialises MPI (once per process).
    init() throws {
        var r: Int32 = 0, s: Int32 = 0
        try Self.check(align_mpi_init(&r, &s), "MPI_Init_thread")
        rank = Int(r); size = Int(s)
        var buf = [CChar](repeating: 0, count: 256)
        align_mpi_library_version(&buf, Int32(buf.count))
        transport = Self.text(buf)
    }

    deinit { scratch.deallocate() }

    static func check(_ code: Int32, _ call: String) throws {
        guard code != 0 else { return }
        var buf = [CChar](repeating: 0, count: 512)
        align_mpi_error_string(code, &buf, Int32(buf.count))
        throw AlignError.invalidArgument("MPI: \(call) failed: \(text(buf))")
    }

    /// A NUL-terminated C string buffer as text.
    static func text(_ buf: [CChar]) -> String {
        String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Counts as MPI takes them (int): refuses buffers whose pieces do not fit.
    private func int32(_ n: Int, _ what: String) throws -> Int32 {
        guard let v = Int32(exactly: n) else {
            throw AlignError.invalidArgument("MPI: \(what) of \(n) elements is more than one message can carry (\(Int32.max))")
        }
        return v
    }

    public func sum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        let n = buffer.count, P = size, me = rank
        guard P > 1, n > 0, let base = buffer.baseAddress else { return }
        let bounds = (0...P).map { n * $0 / P }
        let mine = bounds[me + 1] - bounds[me]
        let maxChunk = (0..<P).map { bounds[$0 + 1] - bounds[$0] }.max()!
        if scratch.count < P * maxChunk {
            scratch.deallocate()
            scratch = .allocate(capacity: P * maxChunk)
        }
        // Phase 1: rank j's chunk r → rank r, stored at j·mine.
        let sendCounts = try (0..<P).map { try int32(bounds[$0 + 1] - bounds[$0], "a gradient chunk") }
        let sendDispls = try (0..<P).map { try int32(bounds[$0], "a gradient offset") }
        let recvCounts = [Int32](repeating: try int32(mine, "a gradient chunk"), count: P)
        let recvDispls = try (0..<P).map { try int32($0 * mine, "a gradient offset") }
        let recv = scratch.baseAddress!
        try Self.check(align_mpi_alltoallv_f32(base, sendCounts, sendDispls, recv, recvCounts, recvDispls), "MPI_Alltoallv")
        // Rank order: out = ((x₀ + x₁) + x₂) + …, written into this rank's chunk of the buffer.
        let out = base + bounds[me]
        let box = UncheckedSendable((out, UnsafePointer(recv)))
        Parallel.chunks(mine, minPerWorker: 1 << 14) { range in
            let (out, recv) = box.value
            for i in range {
                var s = recv[i]
                for j in 1..<P { s += recv[j * mine + i] }
                out[i] = s
            }
        }
        // Phase 2: every reduced chunk to every rank.
        try Self.check(align_mpi_allgatherv_f32(base, sendCounts, sendDispls), "MPI_Allgatherv")
    }

    public func sumInRankOrder(_ values: [Double]) throws -> [Double] {
        let n = values.count
        guard n > 0 else { return values }
        var all = [Double](repeating: 0, count: n * size)
        try Self.check(align_mpi_allgather_f64(values, try int32(n, "a sum"), &all), "MPI_Allgather")
        var out = Array(all[0..<n])
        for j in 1..<size { for i in 0..<n { out[i] += all[j * n + i] } }
        return out
    }

    public func sum(_ values: [Int]) throws -> [Int] {
        var v = values.map { Int64($0) }
        guard !v.isEmpty else { return values }
        try Self.check(align_mpi_sum_i64(&v, try int32(v.count, "a count sum")), "MPI_Allreduce")
        return v.map { Int($0) }
    }

    public func allGather(_ bytes: [UInt8]) throws -> [[UInt8]] {
        var lengths = [Int64](repeating: 0, count: size)
        try Self.check(align_mpi_allgather_i64([Int64(bytes.count)], 1, &lengths), "MPI_Allgather")
        let counts = try lengths.map { try int32(Int($0), "a gathered result") }
        var displs: [Int32] = [], at = 0
        for c in counts { displs.append(try int32(at, "gathered results")); at += Int(c) }
        var all = [UInt8](repeating: 0, count: at)
        try Self.check(align_mpi_allgatherv_bytes(bytes, try int32(bytes.count, "a gathered result"), &all, counts, displs), "MPI_Allgatherv")
        return (0..<size).map { Array(all[Int(displs[$0])..<(Int(displs[$0]) + Int(counts[$0]))]) }
    }

    public func barrier() throws { try Self.check(align_mpi_barrier(), "MPI_Barrier") }

    public func abort(_ code: Int32) -> Never {
        align_mpi_say_on_sigterm(nil)   // this rank has said why the job ends
        align_mpi_abort(code)
        exit(code)
    }

    public func finish() {
        guard !finished else { return }
        finished = true
        _ = align_mpi_finalize()
    }
}

/// The job this process belongs to.
public enum Cluster {
    /// Whether the environment says an MPI launcher started this process.
    public static func launched(environment env: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        env["OMPI_COMM_WORLD_SIZE"] != nil || env["PMIX_RANK"] != nil
    }

    /// MPI_COMM_WORLD under a launcher, else a single process. Initialised on first use (`start` does it first
    /// thing in `main`); a failing MPI start ends the process with one `error:` line.
    public static let world: any Collective = {
        guard launched() else { return SingleProcess() }
        do {
            return try MPICluster()
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            exit(EXIT_FAILURE)
        }
    }()

    /// Joins the job (MPI_Init under a launcher). In a job of several ranks, ranks other than 0 send their
    /// standard output to /dev/null (rank 0 prints for the job; errors still reach stderr), OpenBLAS runs on
    /// the rank's own workers (`Parallel.workers`) instead of every core of the node, and rank 0 says what a
    /// SIGTERM from the launcher means (it ends the surviving ranks when one fails).
    public static func start() {
        let w = world
        guard w.isDistributed else { return }
        Blas.setThreads(Parallel.workers)
        if w.isRoot {
            align_mpi_say_on_sigterm("error: rank 0 of \(w.size): stopped by the MPI launcher, which ends the job when one of its ranks fails (its message follows); everything already written is intact: an interrupted SFT run continues with --resume\n")
        } else {
            fflush(nil)
            let null = open("/dev/null", O_WRONLY)
            if null >= 0 { dup2(null, STDOUT_FILENO); close(null) }
        }
    }
}
