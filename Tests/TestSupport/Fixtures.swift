// Locates test fixtures copied into each test target's `Fixtures/` resource folder.
import Foundation

public enum FixturePath {
    /// URL of `Fixtures/<relative>` inside the given test bundle.
    public static func url(_ relative: String, bundle: Bundle) -> URL {
        bundle.resourceURL!.appendingPathComponent("Fixtures").appendingPathComponent(relative)
    }
}

/// Max |a - b| over two equal-length arrays.
public func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "length mismatch \(a.count) vs \(b.count)")
    var m: Float = 0
    for i in 0..<a.count { m = max(m, abs(a[i] - b[i])) }
    return m
}
