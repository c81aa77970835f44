// Loading LLaMA weights from a Hugging Face checkpoint directory (single file or shards, F32/F16/BF16),
// with every tensor name and shape checked against the layout the config implies.
import Foundation

extension HFCheckpoint {
    /// Opens a LLaMA checkpoint, validating that exactly the config's tensors are present with their shapes.
    public static func readLlama(dir: URL) throws -> HFCheckpoint {
        let config = try LlamaConfig.load(dir.appendingPathComponent(configFileName))
        return try read(dir: dir, expected: LlamaLayout(config).tensors.map { ($0.name, $0.shape) },
                        ignored: config.tieWordEmbeddings ? ["lm_head.weight"] : [])
    }

    /// The weights as one flat LlamaParameters buffer (converted to F32). Refuses, before allocating, weights
    /// that cannot fit in memory, and after reading, a tensor holding NaN or ±inf (a corrupt file or a diverged
    /// run): the error names the tensor.
    public func llamaParameters() throws -> LlamaParameters {
        var need = MemoryEstimate()
        need.add("weights", floats: config.parameterFloats)
        try need.check("the model with \(config.summary)", file: directory.appendingPathComponent(Self.configFileName).path)
        let params = LlamaParameters(config: config)
        for t in params.layout.tensors {
            let dst = UnsafeMutableBufferPointer(rebasing: params.data[t.range])
            try read(t.name, into: dst)
            if let bad = NonFinite.first(in: UnsafeBufferPointer(dst)) {
                throw AlignError.tensor(path: directory.appendingPathComponent(tensors[t.name]?.file ?? Self.singleFileName).path,
                                        name: t.name, message: NonFinite.describe(bad, in: dst.count))
            }
        }
        return params
    }
}
