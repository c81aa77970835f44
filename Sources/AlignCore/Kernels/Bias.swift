// Bias rows of a projection (Qwen2's q/k/v biases): forward adds b[cols] to each of `rows` rows of y (row stride
// ld), backward accumulates the column sums of dy into db. Plain loops; the column sums run in Double per column
// block so the result does not depend on how rows are split.
import Foundation

/// y[r, c] += b[c] for r < rows, c < cols (y rows `ld` floats apart).
public func biasForward(_ y: UnsafeMutablePointer<Float>, ld: Int, _ b: UnsafePointer<Float>, rows: Int, cols: Int) {
    for r in 0..<rows {
        let row = y + r * ld
        for c in 0..<cols { row[c] += b[c] }
    }
}

/// db[c] += Σ_r dy[r, c] (dy rows `ld` floats apart).
public func biasBackward(_ db: UnsafeMutablePointer<Float>, _ dy: UnsafePointer<Float>, ld: Int, rows: Int, cols: Int) {
    var acc = [Double](repeating: 0, count: cols)
    acc.withUnsafeMutableBufferPointer { a in
        for r in 0..<rows {
            let row = dy + r * ld
            for c in 0..<cols { a[c] += Double(row[c]) }
        }
        for c in 0..<cols { db[c] += Float(a[c]) }
    }
}
