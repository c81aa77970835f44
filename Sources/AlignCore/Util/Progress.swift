// Progress bars with rate and ETA on stderr; silent when stderr is not a terminal (logs stay clean).
import Foundation

public final class ProgressBar {
    let total: Int
    let label: String
    let unit: String
    let enabled: Bool
    let start = Date()
    var lastDraw = Date.distantPast
    public private(set) var done = 0
    var extra = ""

    public init(total: Int, label: String, unit: String = "it", enabled: Bool? = nil) {
        self.total = total; self.label = label; self.unit = unit
        self.enabled = enabled ?? (isatty(STDERR_FILENO) != 0 && ProcessInfo.processInfo.environment["CI"] == nil)
    }

    /// Advances by `n` and redraws at most 10 times a second. `info` is shown after the bar (e.g. loss).
    public func advance(_ n: Int = 1, info: String? = nil) {
        done += n
        if let info { extra = info }
        guard enabled else { return }
        let now = Date()
        if now.timeIntervalSince(lastDraw) < 0.1 && done < total { return }
        lastDraw = now
        draw(now)
    }

    func draw(_ now: Date) {
        let elapsed = now.timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let frac = total > 0 ? min(1, Double(done) / Double(total)) : 0
        let width = 24
        let filled = Int(frac * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let line = String(format: "\r%@ %@ %d/%d %.1f %@/s ETA %@ %@", label, bar, done, total, rate, unit, ProgressBar.clock(eta), extra)
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// Ends the bar (newline) when it was drawn.
    public func finish() {
        guard enabled else { return }
        draw(Date())
        FileHandle.standardError.write(Data("\n".utf8))
    }

    static func clock(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, (t / 60) % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
    }
}
