// bf16 copies of the matrices of a LLaMA model for the bf16 matrix products: the same flat layout as
// `LlamaParameters.data` (so a tensor's offset is the same in both), filled from the fp32 master weights by
// `refresh` (round to nearest even). Only the tensors that enter a product are converted: every projection
// and the LM head (the embedding table too when it is tied to the head); norm weights and an untied embedding
// table stay fp32 only. A trainer refreshes the copy at each forward (after the optimizer changed the
// weights), a decoder at each prefill; data-parallel replicas share one copy.
import Foundation

/// bf16 copies of the matrix weights of one LLaMA model.
public final class BF16Weights: @unchecked Sendable {
    /// bf16 bit patterns, `layout.count` values (entries outside `ranges` are unused).
    public let data: UnsafeMutableBufferPointer<UInt16>
    /// The converted ranges (contiguous runs of product weights).
    public let ranges: [Range<Int>]

    public init(layout: LlamaLayout) {
        data = .allocate(capacity: layout.count)
        data.initialize(repeating: 0)
        var r: [Range<Int>] = []
        for t in layout.tensors where t.shape.count == 2 && (t.offset != layout.embed || layout.lmHead == layout.embed) {
            if let last = r.last, last.upperBound == t.offset { r[r.count - 1] = last.lowerBound..<t.range.upperBound } else { r.append(t.range) }
        }
        ranges = r
    }

    deinit { data.deallocate() }

    /// Pointer to the bf16 tensor at `offset` (an offset of the model's layout).
    @inline(__always) public func ptr(_ offset: Int) -> UnsafePointer<UInt16> { UnsafePointer(data.baseAddress! + offset) }

    /// Converts the current fp32 weights of `params` (same layout) into the copy.
    public func refresh(from params: LlamaParameters) {
        precondition(params.count == data.count, "bf16 copy planned for another layout")
        let src = UnsafePointer(params.data.baseAddress!), dst = data.baseAddress!
        for r in ranges { convertToBF16(dst + r.lowerBound, src + r.lowerBound, r.count) }
    }
}
