// The kernels that write bf16 directly (Kernels/BF16Output.swift) against their fp32 kernels followed by
// `convertToBF16`: bit for bit, over row counts that leave partial blocks and split across workers, widths with
// and without a 16-lane tail, and inputs that cover the rounding's edge cases (ties, tiny values).
import AlignCore
import Foundation
import TestSupport
import Testing

@Suite struct BF16OutputTests {
    static let rows = [1, 5, 33, 157, 301]

    func values(_ n: Int, _ rng: inout Rng, scale: Double = 1) -> [Float] {
        var v = (0..<n).map { _ in Float(rng.normal() * scale) }
        if n > 4 { v[0] = 1 + 1.0 / 256; v[1] = Float(bitPattern: 0x0001_0000); v[2] = -0.0; v[3] = 1 + 3.0 / 256 }   // ties, subnormal, −0
        return v
    }

    func rounded(_ x: [Float]) -> [UInt16] {
        var out = [UInt16](repeating: 0, count: x.count)
        convertToBF16(&out, x, x.count)
        return out
    }

    @Test(arguments: rows, [8, 96, 100])
    func rmsnormWritesItsOutputRounded(n: Int, c: Int) {
        var rng = Rng(seed: UInt64(n * 1000 + c))
        let x = values(n * c, &rng), w = values(c, &rng)
        var out = [Float](repeating: 0, count: n * c), rstd = [Float](repeating: 0, count: n)
        rmsnormForward(&out, &rstd, x, w, n, c, 1e-5)
        let scratch = BF16Scratch(widest: c)
        var out16 = [UInt16](repeating: 7, count: n * c), rstd16 = [Float](repeating: .nan, count: n)
        rmsnormForward(&out16, &rstd16, x, w, n, c, 1e-5, scratch: scratch)
        #expect(out16 == rounded(out))
        #expect(rstd16.map(\.bitPattern) == rstd.map(\.bitPattern))
    }

    @Test(arguments: rows, [8, 288, 300])
    func swigluWritesItsOutputAndInputGradientRounded(n: Int, f: Int) {
        var rng = Rng(seed: UInt64(n * 1000 + f))
        let gu = values(n * 2 * f, &rng, scale: 3), dh = values(n * f, &rng)
        let scratch = BF16Scratch(widest: 2 * f)
        var h = [Float](repeating: 0, count: n * f), h16 = [UInt16](repeating: 7, count: n * f)
        swigluForward(&h, gu, n, f)
        swigluForward(&h16, gu, n, f, scratch: scratch)
        #expect(h16 == rounded(h))
        var dgu = [Float](repeating: 0, count: n * 2 * f), dgu16 = [UInt16](repeating: 7, count: n * 2 * f)
        swigluBackward(&dgu, dh, gu, n, f)
        swigluBackward(&dgu16, dh, gu, n, f, scratch: scratch)
        #expect(dgu16 == rounded(dgu))
    }

    @Test(arguments: rows)
    func dropoutBackwardWritesTheBranchGradientRounded(n: Int) {
        var rng = Rng(seed: UInt64(n))
        let c = 96, dout = values(n * c, &rng)
        var mask = [Float](repeating: 0, count: n * c)
        dropoutMask(&mask, n * c, p: 0.2, key: 11)
        var d = [Float](repeating: 0, count: n * c), d16 = [UInt16](repeating: 7, count: n * c)
        dropoutBackward(&d, dout, mask, n * c)
        dropoutBackward(&d16, dout, mask, n, c, scratch: BF16Scratch(widest: c))
        #expect(d16 == rounded(d))
    }

    @Test(arguments: rows, [(2, 1, 48), (4, 2, 16)])
    func ropeOfACopyIsTheInPlaceRotationRounded(n: Int, heads: (Int, Int, Int)) {
        let (q, kv, hd) = heads   // query heads, key/value heads, head width
        var rng = Rng(seed: UInt64(n * 7 + hd))
        let width = (q + 2 * kv) * hd, rotated = q + kv
        let table = RopeTable(headDim: hd, theta: 10_000, maxPositions: 64)
        let positions = (0..<n).map { Int32($0 % 64) }, x = values(n * width, &rng)
        let scratch = BF16Scratch(widest: width)
        for sign: Float in [1, -1] {
            var inPlace = x
            if sign > 0 {
                ropeForward(&inPlace, width, rotated, positions, n, table)
            } else {
                ropeBackward(&inPlace, width, rotated, positions, n, table)
            }
            var out16 = [UInt16](repeating: 7, count: n * width)
            ropeForward(&out16, x, width, rotated, positions, n, table, sign: sign, scratch: scratch)
            #expect(out16 == rounded(inPlace), "sign \(sign)")
        }
    }

    @Test func aRowWiderThanABlockGetsABlockOfItsOwn() {
        var rng = Rng(seed: 3)
        let n = 3, f = BF16Scratch.blockFloats   // rows of 2·blockFloats gradient values
        let gu = values(n * 2 * f, &rng), dh = values(n * f, &rng)
        var dgu = [Float](repeating: 0, count: n * 2 * f), dgu16 = [UInt16](repeating: 7, count: n * 2 * f)
        swigluBackward(&dgu, dh, gu, n, f)
        swigluBackward(&dgu16, dh, gu, n, f, scratch: BF16Scratch(widest: 2 * f))
        #expect(dgu16 == rounded(dgu))
    }
}
