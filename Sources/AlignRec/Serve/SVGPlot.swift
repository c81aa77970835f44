// Inline SVG charts for the run report: line charts (training/validation curves) and bar charts (codebook
// usage). Pure string building, no scripts, no external resources, so a report renders offline anywhere.
// Owns axis ranges, "nice" tick values and number formatting on axes; the report decides what to plot.
import Foundation

/// One line of a line chart.
public struct PlotSeries: Sendable {
    /// Legend label.
    public var name: String
    /// (x, y) points; non-finite values are skipped.
    public var points: [(x: Double, y: Double)]
    /// CSS colour.
    public var color: String
    /// Dashed line with point markers (for sparse series such as validation).
    public var markers: Bool
    /// A series drawn in `color`.
    public init(name: String, points: [(x: Double, y: Double)], color: String, markers: Bool = false) {
        self.name = name; self.points = points; self.color = color; self.markers = markers
    }
}

/// SVG chart builders.
public enum SVGPlot {
    /// A qualitative palette (colour-blind friendly, Okabe–Ito).
    public static let palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]

    /// Escapes text for HTML/SVG.
    public static func escape(_ s: String) -> String {
        var o = ""
        for c in s {
            switch c {
            case "&": o += "&amp;"
            case "<": o += "&lt;"
            case ">": o += "&gt;"
            case "\"": o += "&quot;"
            default: o.append(c)
            }
        }
        return o
    }

    /// A compact number for axes and tables: 0.0123, 12.3, 1.2k, 3.4M.
    public static func format(_ v: Double) -> String {
        guard v.isFinite else { return "–" }
        let a = abs(v)
        if a == 0 { return "0" }
        if a >= 1e6 { return String(format: "%.3gM", v / 1e6) }
        if a >= 1e4 { return String(format: "%.3gk", v / 1e3) }
        if a >= 100 { return String(format: "%.0f", v) }
        if a >= 1 { return String(format: "%.3g", v) }
        return String(format: "%.3g", v)
    }

    /// Labels for a tick sequence: as many decimals as writing every tick exactly needs (0.6925 vs 0.6930,
    /// 0.025), scientific notation when every value is tiny (learning rates), thousands as "12k".
    public static func tickLabels(_ t: [Double]) -> [String] {
        guard t.count > 1 else { return t.map(format) }
        let top = t.map(abs).max() ?? 0
        if top < 1e-2 && top > 0 { return t.map { $0 == 0 ? "0" : String(format: "%.1e", $0) } }
        if top >= 1e4 { return t.map(format) }
        // The fewest decimals that write every tick exactly (0.025 needs 3, not the 2 its magnitude suggests).
        let d = (0...8).first { d in
            let scale = pow(10, Double(d))
            return t.allSatisfy { abs(($0 * scale).rounded() - $0 * scale) < 1e-6 * max(1, abs($0 * scale)) }
        } ?? 8
        return t.map { String(format: "%.\(d)f", $0) }
    }

    /// About `count` round tick values covering [lo, hi].
    public static func ticks(_ lo: Double, _ hi: Double, count: Int = 5) -> [Double] {
        guard hi > lo, lo.isFinite, hi.isFinite else { return [lo] }
        let raw = (hi - lo) / Double(max(count, 1))
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * mag }.first { $0 >= raw * 0.7 } ?? 10 * mag
        var out: [Double] = []
        var t = ceil(lo / step) * step
        while t <= hi + step * 1e-9 { out.append(abs(t) < step * 1e-9 ? 0 : t); t += step }
        return out
    }

    /// Legend entries laid out in rows between the title and the plot, so they never cover data: (series
    /// index, x, row), wrapping at `width`. An entry is a 18-px line, a gap and its name (about 6 px a character).
    public static func legendLayout(_ names: [String], left: Double, width: Double) -> [(index: Int, x: Double, row: Int)] {
        var out: [(Int, Double, Int)] = []
        var x = left, row = 0
        for (i, n) in names.enumerated() {
            let w = 26 + 6.2 * Double(min(n.count, 24)) + 14
            if x > left, x + w > left + width { x = left; row += 1 }
            out.append((i, x, row))
            x += w
        }
        return out
    }

    /// A line chart with axes, ticks, a title and a legend above the plot. Returns an `<svg>` element. `padX` leaves 5%
    /// of the x range free at both ends (scatter plots, whose points would otherwise sit on the frame).
    public static func lineChart(title: String, xLabel: String, series: [PlotSeries], width: Int = 440, height: Int = 260,
                                 padX: Bool = false) -> String {
        let pts = series.flatMap { $0.points.filter { $0.x.isFinite && $0.y.isFinite } }
        let shown = series.enumerated().filter { !$0.element.points.isEmpty }
        let ml = 56.0, mr = 12.0, mb = 40.0
        let w = Double(width), h = Double(height)
        let legend = legendLayout(shown.map(\.element.name), left: ml, width: w - ml - mr)
        let rows = legend.isEmpty ? 0 : legend.map(\.row).max()! + 1
        let mt = 32.0 + 15 * Double(rows)
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" class=\"chart\">"
        s += "<text x=\"\(w / 2)\" y=\"17\" text-anchor=\"middle\" class=\"ct\">\(escape(title))</text>"
        guard let x0 = pts.map(\.x).min(), let x1 = pts.map(\.x).max(), let y0r = pts.map(\.y).min(), let y1r = pts.map(\.y).max() else {
            return s + "<text x=\"\(w / 2)\" y=\"\(h / 2)\" text-anchor=\"middle\" class=\"na\">no data</text></svg>"
        }
        let pad = (y1r - y0r) * 0.05
        let y0 = y0r == y1r ? y0r - max(abs(y0r) * 0.1, 1e-3) : y0r - pad
        let y1 = y0r == y1r ? y1r + max(abs(y1r) * 0.1, 1e-3) : y1r + pad
        let xp = padX ? (x1 - x0) * 0.05 : 0
        let xa = x0 == x1 ? x0 - 1 : x0 - xp, xb = x0 == x1 ? x1 + 1 : x1 + xp
        func px(_ x: Double) -> Double { ml + (x - xa) / (xb - xa) * (w - ml - mr) }
        func py(_ y: Double) -> Double { h - mb - (y - y0) / (y1 - y0) * (h - mt - mb) }
        // Grid and ticks.
        let yt = ticks(y0, y1)
        for (t, label) in zip(yt, tickLabels(yt)) {
            let y = py(t)
            s += "<line x1=\"\(ml)\" x2=\"\(w - mr)\" y1=\(q(y)) y2=\(q(y)) class=\"grid\"/>"
            s += "<text x=\"\(ml - 5)\" y=\(q(y + 4)) text-anchor=\"end\" class=\"tk\">\(label)</text>"
        }
        let xt = ticks(xa, xb)
        for (t, label) in zip(xt, tickLabels(xt)) {
            let x = px(t)
            s += "<line x1=\(q(x)) x2=\(q(x)) y1=\"\(h - mb)\" y2=\"\(h - mb + 4)\" class=\"ax\"/>"
            s += "<text x=\(q(x)) y=\"\(h - mb + 16)\" text-anchor=\"middle\" class=\"tk\">\(label)</text>"
        }
        s += "<line x1=\"\(ml)\" x2=\"\(w - mr)\" y1=\"\(h - mb)\" y2=\"\(h - mb)\" class=\"ax\"/>"
        s += "<line x1=\"\(ml)\" x2=\"\(ml)\" y1=\"\(mt)\" y2=\"\(h - mb)\" class=\"ax\"/>"
        s += "<text x=\"\((ml + w - mr) / 2)\" y=\"\(h - 6)\" text-anchor=\"middle\" class=\"tk\">\(escape(xLabel))</text>"
        // Lines.
        for ser in series {
            let p = ser.points.filter { $0.x.isFinite && $0.y.isFinite }.sorted { $0.x < $1.x }
            guard !p.isEmpty else { continue }
            let d = p.map { "\(f1(px($0.x))),\(f1(py($0.y)))" }.joined(separator: " ")
            let dash = ser.markers ? " stroke-dasharray=\"5 3\"" : ""
            s += "<polyline points=\"\(d)\" fill=\"none\" stroke=\"\(ser.color)\" stroke-width=\"1.6\"\(dash)/>"
            if ser.markers || p.count == 1 {
                for pt in p { s += "<circle cx=\(q(px(pt.x))) cy=\(q(py(pt.y))) r=\"2.6\" fill=\"\(ser.color)\"/>" }
            }
        }
        // Legend: rows between the title and the plot area.
        for e in legend {
            let ser = shown[e.index].element, ly = 30.0 + 15 * Double(e.row)
            let dash = ser.markers ? " stroke-dasharray=\"5 3\"" : ""
            s += "<line x1=\(q(e.x)) x2=\(q(e.x + 18)) y1=\(q(ly)) y2=\(q(ly)) stroke=\"\(ser.color)\" stroke-width=\"2\"\(dash)/>"
            s += "<text x=\(q(e.x + 22)) y=\(q(ly + 4)) class=\"lg\">\(escape(String(ser.name.prefix(24))))</text>"
        }
        return s + "</svg>"
    }

    /// A bar chart: one bar per value (labels under the bars when given and few enough), a y axis, an
    /// optional dashed reference line (e.g. the uniform share).
    public static func barChart(title: String, values: [Double], labels: [String]? = nil, color: String = palette[0],
                                reference: Double? = nil, yLabel: String = "", width: Int = 440, height: Int = 220) -> String {
        let ml = 56.0, mr = 12.0, mt = 28.0, mb = labels == nil ? 28.0 : 40.0
        let w = Double(width), h = Double(height)
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" class=\"chart\">"
        s += "<text x=\"\(w / 2)\" y=\"17\" text-anchor=\"middle\" class=\"ct\">\(escape(title))</text>"
        let finite = values.filter(\.isFinite)
        guard !finite.isEmpty else { return s + "<text x=\"\(w / 2)\" y=\"\(h / 2)\" text-anchor=\"middle\" class=\"na\">no data</text></svg>" }
        let top = max(finite.max()!, reference ?? 0) * 1.05
        let y1 = top > 0 ? top : 1
        func py(_ y: Double) -> Double { h - mb - y / y1 * (h - mt - mb) }
        let bt = ticks(0, y1, count: 4)
        for (t, label) in zip(bt, tickLabels(bt)) {
            s += "<line x1=\"\(ml)\" x2=\"\(w - mr)\" y1=\(q(py(t))) y2=\(q(py(t))) class=\"grid\"/>"
            s += "<text x=\"\(ml - 5)\" y=\(q(py(t) + 4)) text-anchor=\"end\" class=\"tk\">\(label)</text>"
        }
        let n = Double(values.count)
        let slot = (w - ml - mr) / n
        let bw = max(slot * (n > 40 ? 1.0 : 0.7), 0.5)
        for (i, v) in values.enumerated() where v.isFinite && v > 0 {
            let x = ml + Double(i) * slot + (slot - bw) / 2
            s += "<rect x=\(q(x)) y=\(q(py(v))) width=\(q(bw)) height=\(q(h - mb - py(v))) fill=\"\(color)\"/>"
        }
        if let labels, labels.count == values.count, values.count <= 24 {
            for (i, l) in labels.enumerated() {
                s += "<text x=\(q(ml + (Double(i) + 0.5) * slot)) y=\"\(h - mb + 14)\" text-anchor=\"middle\" class=\"tk\">\(escape(l))</text>"
            }
        }
        if let r = reference {
            s += "<line x1=\"\(ml)\" x2=\"\(w - mr)\" y1=\(q(py(r))) y2=\(q(py(r))) stroke=\"#D55E00\" stroke-dasharray=\"4 3\"/>"
        }
        s += "<line x1=\"\(ml)\" x2=\"\(w - mr)\" y1=\"\(h - mb)\" y2=\"\(h - mb)\" class=\"ax\"/>"
        s += "<line x1=\"\(ml)\" x2=\"\(ml)\" y1=\"\(mt)\" y2=\"\(h - mb)\" class=\"ax\"/>"
        if !yLabel.isEmpty {
            s += "<text x=\"12\" y=\"\((mt + h - mb) / 2)\" transform=\"rotate(-90 12 \((mt + h - mb) / 2))\" text-anchor=\"middle\" class=\"tk\">\(escape(yLabel))</text>"
        }
        return s + "</svg>"
    }

    static func f1(_ v: Double) -> String { String(format: "%.1f", v) }
    static func q(_ v: Double) -> String { "\"\(f1(v))\"" }
}
