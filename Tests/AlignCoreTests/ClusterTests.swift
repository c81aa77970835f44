// Cluster without a launcher: the single process's collectives return their input, and the shares every rank
// computes for itself cover the work exactly once, in order (whole blocks when asked). The collectives across
// processes are tested through `mpirun` in AlignRecTests/MPIJobTests.swift.
import AlignCore
import Foundation
import Testing

@Suite struct ClusterTests {
    @Test func withoutALauncherTheWorldIsOneProcess() throws {
        #expect(!Cluster.launched(environment: ["PATH": "/usr/bin"]))
        #expect(Cluster.launched(environment: ["OMPI_COMM_WORLD_SIZE": "2"]) && Cluster.launched(environment: ["PMIX_RANK": "0"]))
        let w = Cluster.world
        #expect(w.rank == 0 && w.size == 1 && w.isRoot && !w.isDistributed)
        var buf: [Float] = [1.5, -2, 3]
        try buf.withUnsafeMutableBufferPointer { try w.sum($0) }
        #expect(buf == [1.5, -2, 3])
        #expect(try w.sumInRankOrder([0.25, 4]) == [0.25, 4] && w.sum([3, 7]) == [3, 7])
        #expect(try w.gather([UInt16(9), 8]) == [9, 8] && w.gatherEncoded(["a", "b"]) == ["a", "b"])
        #expect(try w.allGather([1, 2, 3]) == [[1, 2, 3]])
        try w.barrier()
        try [Float.nan, 1].withUnsafeBufferPointer { try w.checkSame($0, what: "weights") }
    }

    @Test func sharesCoverTheWorkOnceInRankOrder() {
        for size in 1...5 {
            for n in [0, 1, 2, 3, 7, 16, 101] {
                let parts = (0..<size).map { SingleProcess.share(of: n, rank: $0, size: size) }
                #expect(parts.flatMap { Array($0) } == Array(0..<n), "n \(n) over \(size)")
                #expect(parts.map(\.count).max()! - parts.map(\.count).min()! <= 1)
            }
        }
        // Whole blocks: every share starts at a multiple of the block, together they cover the work once.
        for size in 1...4 {
            for (n, block) in [(10, 4), (32, 8), (3, 8), (17, 1)] {
                let parts = (0..<size).map { SingleProcess.share(of: n, inBlocksOf: block, rank: $0, size: size) }
                #expect(parts.flatMap { Array($0) } == Array(0..<n))
                #expect(parts.allSatisfy { $0.isEmpty || $0.lowerBound % block == 0 })
            }
        }
        #expect(Cluster.world.share(of: 10, inBlocksOf: 4) == 0..<10)
    }
}
