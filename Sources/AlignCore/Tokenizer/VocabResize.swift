// Growing a vocabulary-indexed matrix (token embeddings, untied LM head) when tokens are added to a
// pretrained model: the new rows start at the mean of the existing rows (docs/design.md §4).
import Foundation

/// Returns the row-major `[newRows, dim]` matrix whose first `rows` rows are `w` ([rows, dim]) and whose
/// remaining rows are each the mean of the old rows (accumulated in Double).
public func growRowsWithMean(_ w: [Float], rows: Int, dim: Int, newRows: Int) throws -> [Float] {
    guard rows > 0, dim > 0, w.count == rows * dim else {
        throw AlignError.invalidArgument("growRowsWithMean: matrix has \(w.count) values, expected \(rows)×\(dim)")
    }
    guard newRows >= rows else {
        throw AlignError.invalidArgument("growRowsWithMean: cannot shrink \(rows) rows to \(newRows)")
    }
    var mean = [Double](repeating: 0, count: dim)
    for r in 0..<rows { for j in 0..<dim { mean[j] += Double(w[r * dim + j]) } }
    let meanF = mean.map { Float($0 / Double(rows)) }
    var out = w
    out.reserveCapacity(newRows * dim)
    for _ in rows..<newRows { out.append(contentsOf: meanF) }
    return out
}
