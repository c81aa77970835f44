// Finding NaN and ±inf in weight buffers: a checkpoint is never written, and never loaded, with a non-finite
// value in it (the divergence guard of SFT/DPO/GRPO stops training before one gets there).
import Foundation

public enum NonFinite {
    /// The first non-finite value of `values` and its index, or nil when all are finite.
    public static func first(in values: UnsafeBufferPointer<Float>) -> (index: Int, value: Float)? {
        guard let base = values.baseAddress else { return nil }
        // Sum of x·0 is 0 for finite x and NaN otherwise: one branch-free pass, the slow scan only on failure.
        var acc: Float = 0
        for i in 0..<values.count { acc += base[i] * 0 }
        guard !acc.isFinite else { return nil }
        for i in 0..<values.count where !base[i].isFinite { return (i, base[i]) }
        return nil
    }

    /// Counts of one tensor's problem for an error message.
    public static func describe(_ bad: (index: Int, value: Float), in count: Int) -> String {
        "holds non-finite values (first at index \(bad.index) of \(count): \(bad.value)); the file is corrupt or was written by a run that diverged"
    }
}
