// Progress reporting: in a log one line every N units with rate, ETA and the caller's info, plus start and end
// lines; in a terminal every draw clears its line and fits the width, and Console.line prints above the bar.
import AlignCore
import Foundation
import Testing

/// A fake clock and a captured output stream.
final class ProgressHarness: @unchecked Sendable {
    var now = 0.0
    var out = ""
    func bar(total: Int, style: ProgressStyle, logEvery: Int? = nil, minSeconds: Double = 0, maxSeconds: Double = 1e9,
             width: Int = 200) -> ProgressBar {
        ProgressBar(total: total, label: "sft", unit: "step", style: style, logEvery: logEvery, minSeconds: minSeconds,
                    maxSeconds: maxSeconds, write: { self.out += $0 }, clock: { self.now }, width: { width })
    }
}

@Test func progressLinesEveryNStepsWithRateETAAndInfo() {
    let h = ProgressHarness()
    let bar = h.bar(total: 100, style: .lines, logEvery: 25)
    for step in 1...100 {
        h.now += 2   // 0.5 step/s
        bar.advance(info: "loss \(step)")
    }
    bar.finish()
    let lines = h.out.split(separator: "\n").map(String.init)
    #expect(lines.count == 5, "start, 25, 50, 75, end: \(lines)")
    #expect(lines[0] == "sft: start, 100 step")
    #expect(lines[1] == "sft: 25/100 step (25%), 0.50 step/s, elapsed 0:50, ETA 2:30, loss 25")
    #expect(lines[2].hasPrefix("sft: 50/100 step (50%)") && lines[2].contains("ETA 1:40"))
    #expect(lines[4] == "sft: done, 100 step in 3:20 (0.50 step/s), loss 100")
    #expect(!h.out.contains("\r"), "no carriage returns in a log")
}

@Test func progressLinesRespectTheTimeLimits() {
    let h = ProgressHarness()
    // 1,000 fast steps (0.01 s each): every 10 steps would be due, but at most one line per 5 s.
    let fast = h.bar(total: 1000, style: .lines, logEvery: 10, minSeconds: 5)
    for _ in 1...1000 { h.now += 0.01; fast.advance() }
    #expect(h.out.split(separator: "\n").count == 2, "start and one line at 5 s (the 10 s mark is the last step) … \(h.out)")
    // Slow steps: a line after maxSeconds even before logEvery units.
    let h2 = ProgressHarness()
    let slow = h2.bar(total: 100, style: .lines, logEvery: 50, maxSeconds: 60)
    for _ in 1...10 { h2.now += 25; slow.advance() }
    #expect(h2.out.split(separator: "\n").count == 1 + 3, "start, then a line at 75, 150 and 225 s … \(h2.out)")
}

@Test func progressBarClearsItsLineAndFitsTheWidth() {
    let h = ProgressHarness()
    let bar = h.bar(total: 10, style: .bar, width: 40)
    bar.advance(info: String(repeating: "x", count: 200))
    h.now += 1
    bar.advance()
    let draws = h.out.components(separatedBy: "\r\u{1B}[K").filter { !$0.isEmpty }
    #expect(h.out.hasPrefix("\r\u{1B}[K"))
    #expect(!draws.isEmpty && draws.allSatisfy { $0.count <= 39 }, "\(draws)")
    h.out = ""
    bar.finish()
    #expect(h.out.hasPrefix("\r\u{1B}[K") && h.out.hasSuffix("\n"))
}

@Test func consoleLinePrintsAboveTheBar() {
    let h = ProgressHarness()
    let bar = h.bar(total: 10, style: .bar)
    bar.advance()
    h.out = ""
    Console.line("step 5 valid: NDCG@10 0.05", write: { h.out += $0 })
    // Cleared, the line on its own, the bar drawn again.
    #expect(h.out.hasPrefix("\r\u{1B}[Kstep 5 valid: NDCG@10 0.05\n\r\u{1B}[Ksft "), "\(h.out.debugDescription)")
    bar.finish()
    h.out = ""
    Console.line("after", write: { h.out += $0 })
    #expect(h.out == "after\n", "a finished bar is not redrawn")
}

@Test func progressOffWritesNothing() {
    let h = ProgressHarness()
    let bar = ProgressBar(total: 5, label: "x", enabled: false, write: { h.out += $0 }, clock: { h.now })
    for _ in 0..<5 { h.now += 100; bar.advance() }
    bar.finish()
    #expect(h.out.isEmpty)
}

@Test func aLoopThatDoesNotAnnounceItselfIsSilentWhenQuick() {
    let h = ProgressHarness()
    let quick = ProgressBar(total: 100, label: "eval", unit: "users", style: .lines, announce: false, minSeconds: 5,
                            write: { h.out += $0 }, clock: { h.now })
    for _ in 0..<100 { h.now += 0.01; quick.advance() }
    quick.finish()
    #expect(h.out.isEmpty)
    let slow = ProgressBar(total: 100, label: "eval", unit: "users", style: .lines, announce: false, minSeconds: 5,
                           write: { h.out += $0 }, clock: { h.now })
    for _ in 0..<100 { h.now += 0.2; slow.advance() }
    slow.finish()
    let lines = h.out.split(separator: "\n")
    #expect(lines.count >= 2 && lines.last?.hasPrefix("eval: done, 100 users") == true, "\(h.out)")
}
