// Parallel.shards: every shard runs once, nested parallel loops run inline on the shard's worker and still
// cover their whole range, and the BLAS thread count is single-threaded inside and restored after.
import AlignCore
import Foundation
import Testing

@Suite struct ParallelTests {
    @Test func shardsRunOnceWithInlineNestedLoopsAndRestoreBlas() {
        let n = 5, inner = 100
        let hits = UnsafeMutableBufferPointer<Int>.allocate(capacity: n * inner)
        let inside = UnsafeMutableBufferPointer<Bool>.allocate(capacity: n)
        let blas = UnsafeMutableBufferPointer<Int>.allocate(capacity: n)
        defer { hits.deallocate(); inside.deallocate(); blas.deallocate() }
        hits.initialize(repeating: 0); inside.initialize(repeating: false); blas.initialize(repeating: 0)
        let saved = Blas.threads
        Blas.setThreads(2)
        Parallel.shards(n) { s in
            inside[s] = Parallel.insideShard
            blas[s] = Blas.threads
            Parallel.forEach(inner) { i in hits[s * inner + i] += 1 }
            Parallel.chunks(inner) { r in for i in r { hits[s * inner + i] += 1 } }
        }
        #expect(hits.allSatisfy { $0 == 2 })
        #expect(inside.allSatisfy { $0 }, "shards run with the inline flag set")
        #expect(blas.allSatisfy { $0 == 1 }, "BLAS is single-threaded inside shards")
        #expect(Blas.threads == 2, "BLAS thread count restored")
        #expect(!Parallel.insideShard)
        // One shard runs on the calling thread with normal parallel loops.
        var ran = 0
        Parallel.shards(1) { _ in ran += 1; #expect(!Parallel.insideShard) }
        #expect(ran == 1)
        Blas.setThreads(saved)
    }
}
