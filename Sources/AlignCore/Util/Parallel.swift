// Parallel loops over both cores. Work is split into contiguous chunks so each worker touches its own
// memory; callers pass raw buffers, never Swift arrays (no copy-on-write inside a loop).
// `shards` runs coarse independent pieces of work (e.g. halves of a decoding batch) one per worker, with
// OpenBLAS single-threaded and every parallel loop inside a shard run inline on its worker: one fork/join
// per call instead of one per kernel, and no BLAS threads spinning between small products.
import Dispatch
import Foundation

/// Thread-specific flag: set while a worker runs a shard (nested parallel loops then run inline).
private let inlineKey: pthread_key_t = {
    var key = pthread_key_t()
    precondition(pthread_key_create(&key, nil) == 0)
    return key
}()

public enum Parallel {
    /// Number of workers (ALIGN_THREADS overrides; defaults to the active processor count).
    public static let workers: Int = {
        if let s = ProcessInfo.processInfo.environment["ALIGN_THREADS"], let n = Int(s), n > 0 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// True on a worker running a shard: parallel loops there run inline.
    @inline(__always)
    public static var insideShard: Bool { pthread_getspecific(inlineKey) != nil }

    /// Runs `body(s)` for s in 0..<n, each on its own worker (n ≤ workers is the intended use), with BLAS
    /// single-threaded and nested `forEach`/`chunks` inline. n = 1 runs `body(0)` here, loops parallel as usual.
    public static func shards(_ n: Int, _ body: (Int) -> Void) {
        if n <= 1 || insideShard {
            for s in 0..<n { body(s) }
            return
        }
        let saved = Blas.threads
        if saved != 1 { Blas.setThreads(1) }
        withoutActuallyEscaping(body) { body in
            let box = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: n) { s in
                let marker = UnsafeMutableRawPointer(bitPattern: 1)
                pthread_setspecific(inlineKey, marker)
                box.value(s)
                pthread_setspecific(inlineKey, nil)
            }
        }
        if saved != 1 { Blas.setThreads(saved) }
    }

    /// Runs `body(i)` for i in 0..<n, in parallel when n is large enough to pay for it.
    @inline(__always)
    public static func forEach(_ n: Int, minPerWorker: Int = 1, _ body: (Int) -> Void) {
        let w = insideShard ? 1 : min(workers, n / max(1, minPerWorker))
        if w <= 1 {
            for i in 0..<n { body(i) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let box = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: w) { t in
                let lo = n * t / w, hi = n * (t + 1) / w
                for i in lo..<hi { box.value(i) }
            }
        }
    }

    /// Runs `body(range)` on contiguous chunks of 0..<n, one chunk per worker.
    @inline(__always)
    public static func chunks(_ n: Int, minPerWorker: Int = 1, _ body: (Range<Int>) -> Void) {
        let w = insideShard ? 1 : min(workers, n / max(1, minPerWorker))
        if w <= 1 {
            if n > 0 { body(0..<n) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let box = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: w) { t in
                box.value((n * t / w)..<(n * (t + 1) / w))
            }
        }
    }
}

/// Carries a value into a `@Sendable` closure. Used only where the caller guarantees that concurrent
/// workers touch disjoint memory (each worker its own chunk), which the compiler cannot see through
/// raw pointers.
public struct UncheckedSendable<T>: @unchecked Sendable {
    public let value: T
    @inline(__always) public init(_ value: T) { self.value = value }
}
