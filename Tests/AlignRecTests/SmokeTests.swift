import AlignRec
import Testing

@Test func rngIsDeterministic() {
    var a = Rng(seed: 42), b = Rng(seed: 42)
    #expect((0..<5).map { _ in a.next() } == (0..<5).map { _ in b.next() })
}
