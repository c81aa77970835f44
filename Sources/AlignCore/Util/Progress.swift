// Progress of long loops on stderr, in the form the reader can use:
// - in a terminal (`.bar`): one line with a bar, count, rate, elapsed time, ETA and the caller's info (loss,
//   tokens/s), redrawn at most 10 times a second. Every draw starts with "\r" + erase-to-end-of-line and is cut
//   to the terminal's width, so no stale characters stay behind and the line never wraps. `Console.line` prints
//   a line of output above the bar (clear, print, redraw), so validation lines are never glued to it.
// - in a log (`.lines`, stderr not a terminal, e.g. `align sft … 2>&1 | tee log`): a start line, a line every
//   `logEvery` units (default 5% of the total, at most one per `minSeconds`, and at least one a minute), and an
//   end line with the total time and rate. A loop that does not `announce` itself (an evaluation inside a
//   stage) writes only its progress lines and, when it wrote any, its end line: a quick one stays silent.
// - `.off`: nothing (`--no-progress`).
import Foundation

/// How a `ProgressBar` reports.
public enum ProgressStyle: Sendable, Equatable {
    /// A redrawn bar line (terminals).
    case bar
    /// Plain progress lines (logs, CI).
    case lines
    /// Silent.
    case off

    /// `.bar` when stderr is a terminal (and `CI` and `TERM=dumb` are not set), `.lines` otherwise; `.off` on the
    /// ranks of a data-parallel job other than 0 (rank 0 reports for the job).
    public static var automatic: ProgressStyle {
        if !Cluster.world.isRoot { return .off }
        let env = ProcessInfo.processInfo.environment
        let tty = isatty(STDERR_FILENO) != 0 && env["CI"] == nil && env["TERM"] != "dumb"
        return tty ? .bar : .lines
    }
}

/// Progress of one loop (see the file header). Thread-safe: `advance` may be called from worker threads.
public final class ProgressBar: @unchecked Sendable {
    public let total: Int
    public let label: String
    public let unit: String
    public let style: ProgressStyle
    /// `.lines`: units between two lines (before `minSeconds` is applied).
    public let logEvery: Int
    /// `.lines`: the least time between two progress lines; a line is also written after `maxSeconds` without one.
    public let minSeconds: Double, maxSeconds: Double
    /// `.lines`: start and end lines even when no progress line was due.
    public let announce: Bool
    let write: (String) -> Void
    let clock: () -> Double
    let width: () -> Int
    let lock = NSLock()
    let start: Double
    var lastDraw = -Double.infinity
    var lastLine: Double
    var lastLineDone = 0
    var linesWritten = 0
    var finished = false
    /// Whether the bar line is on the screen now (`.bar`).
    var drawn = false
    public private(set) var done = 0
    var extra = ""

    /// `enabled: false` is `.off`; otherwise `style` (default `.automatic`). `write`, `clock` (seconds) and `width`
    /// (terminal columns) default to stderr, the wall clock and the terminal; tests pass their own.
    public init(total: Int, label: String, unit: String = "it", enabled: Bool? = nil, style: ProgressStyle? = nil,
                announce: Bool = true, logEvery: Int? = nil, minSeconds: Double = 5, maxSeconds: Double = 60,
                write: ((String) -> Void)? = nil, clock: (() -> Double)? = nil, width: (() -> Int)? = nil) {
        self.total = max(0, total); self.label = label; self.unit = unit
        self.style = enabled == false ? .off : (style ?? .automatic)
        self.announce = announce
        self.logEvery = max(1, logEvery ?? (total + 19) / 20)
        self.minSeconds = minSeconds; self.maxSeconds = maxSeconds
        self.write = write ?? { FileHandle.standardError.write(Data($0.utf8)) }
        self.clock = clock ?? { Date().timeIntervalSinceReferenceDate }
        self.width = width ?? Terminal.columns
        start = self.clock()
        lastLine = start
        switch self.style {
        case .lines: if announce { self.write("\(label): start, \(self.total) \(unit)\n") }
        case .bar: Console.register(self)
        case .off: break
        }
    }

    /// Advances by `n`. `info` (e.g. loss and tokens/s) is shown after the rate until the next `info`.
    public func advance(_ n: Int = 1, info: String? = nil) {
        lock.lock(); defer { lock.unlock() }
        done += n
        if let info { extra = info }
        guard !finished else { return }
        let now = clock()
        switch style {
        case .off: return
        case .bar:
            if now - lastDraw < 0.1 && done < total { return }
            lastDraw = now
            drawLocked(now)
        case .lines:
            let due = done - lastLineDone >= logEvery && now - lastLine >= minSeconds
            guard n > 0, done < total, due || now - lastLine >= maxSeconds else { return }
            lastLine = now; lastLineDone = done; linesWritten += 1
            write(logLine(now) + "\n")
        }
    }

    /// Ends the loop: the bar's final state and a newline (`.bar`), or the end line (`.lines`).
    public func finish() {
        lock.lock(); defer { lock.unlock() }
        guard !finished else { return }
        finished = true
        let now = clock()
        switch style {
        case .off: return
        case .bar:
            drawLocked(now)
            write("\n")
            drawn = false
            Console.unregister(self)
        case .lines:
            guard announce || linesWritten > 0 else { return }
            let elapsed = now - start
            let rate = elapsed > 0 ? Double(done) / elapsed : 0
            write("\(label): done, \(done) \(unit) in \(Self.clock(elapsed)) (\(Self.rate(rate)) \(unit)/s)"
                  + (extra.isEmpty ? "" : ", \(extra)") + "\n")
        }
    }

    /// The bar line without the leading control characters (what `.bar` draws, before cutting to the width);
    /// `cells` 0 leaves the bar out.
    public func barText(_ now: Double, cells: Int = 20) -> String {
        let elapsed = now - start
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let frac = total > 0 ? min(1, Double(done) / Double(total)) : 0
        let filled = Int(frac * Double(cells))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: cells - filled)
        var s = "\(label) \(cells > 0 ? bar + " " : "")\(done)/\(total) \(Self.rate(rate)) \(unit)/s \(Self.clock(elapsed)) ETA \(eta(rate))"
        if !extra.isEmpty { s += "  " + extra }
        return s
    }

    /// One `.lines` progress line.
    public func logLine(_ now: Double) -> String {
        let elapsed = now - start
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let pct = total > 0 ? 100 * Double(done) / Double(total) : 0
        var s = "\(label): \(done)/\(total) \(unit) (\(String(format: "%.0f", pct))%), \(Self.rate(rate)) \(unit)/s, "
            + "elapsed \(Self.clock(elapsed)), ETA \(eta(rate))"
        if !extra.isEmpty { s += ", " + extra }
        return s
    }

    func eta(_ rate: Double) -> String { rate > 0 && total >= done ? Self.clock(Double(total - done) / rate) : "–" }

    /// Draws the bar (lock held): start of line, erase to its end, the text cut to the width (the bar cells go
    /// first when the line is too long).
    func drawLocked(_ now: Double) {
        let cols = max(20, width() - 1)
        var text = barText(now)
        if text.count > cols { text = barText(now, cells: 0) }
        write("\r\u{1B}[K" + (text.count > cols ? String(text.prefix(cols)) : text))
        drawn = true
    }

    /// Clears the bar line if it is drawn (`Console.line`).
    func clearLine() {
        lock.lock(); defer { lock.unlock() }
        if drawn { write("\r\u{1B}[K"); drawn = false }
    }

    /// Draws the bar again after `clearLine`.
    func redraw() {
        lock.lock(); defer { lock.unlock() }
        if style == .bar && !finished { drawLocked(clock()) }
    }

    static func clock(_ s: Double) -> String {
        let t = Int(max(0, s).rounded())
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, (t / 60) % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
    }

    static func rate(_ r: Double) -> String {
        r >= 100 ? String(format: "%.0f", r) : r >= 10 ? String(format: "%.1f", r) : String(format: "%.2f", r)
    }
}

/// Lines of output that share the terminal with progress bars.
public enum Console {
    nonisolated(unsafe) static var active: [ProgressBar] = []
    static let lock = NSLock()

    static func register(_ bar: ProgressBar) { lock.lock(); active.append(bar); lock.unlock() }
    static func unregister(_ bar: ProgressBar) { lock.lock(); active.removeAll { $0 === bar }; lock.unlock() }

    /// Writes `text` and a newline to stdout (or through `write`) above any bar on the screen: the bar line is
    /// cleared first and drawn again after, so the two never share a line.
    public static func line(_ text: String, write: ((String) -> Void)? = nil) {
        lock.lock(); let bars = active; lock.unlock()
        for b in bars { b.clearLine() }
        fflush(nil)
        if let write { write(text + "\n") } else { FileHandle.standardOutput.write(Data((text + "\n").utf8)) }
        for b in bars { b.redraw() }
    }
}

/// The terminal's width.
public enum Terminal {
    /// Columns of the terminal on stderr (TIOCGWINSZ), else `COLUMNS`, else 100.
    public static func columns() -> Int {
        var ws = winsize()
        let ok = withUnsafeMutablePointer(to: &ws) { ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), $0) } == 0
        if ok, ws.ws_col > 0 { return Int(ws.ws_col) }
        if let c = ProcessInfo.processInfo.environment["COLUMNS"].flatMap(Int.init), c > 0 { return c }
        return 100
    }
}
