// Loading LLaMA weights from a Hugging Face checkpoint directory (single file or shards, F32/F16/BF16),
// with every tensor name and shape checked against the layout the config implies.
import Foundation

extension HFCheckpoint {
    /// Opens a LLaMA checkpoint, validating that exactly the config's tensors are present with their shapes.
    public static func readLlama(dir: URL) throws -> HFCheckpoint {
        let config = try LlamaConfig.load(dir.appendingPathComponent(configFileName))
        return try read(dir: dir, expected: LlamaLayout(config).tensors.map { ($0.name, $0.shape) })
    }

    /// The weights as one flat LlamaParameters buffer (converted to F32).
    public func llamaParameters() throws -> LlamaParameters {
        let params = LlamaParameters(config: config)
        for t in params.layout.tensors {
            try read(t.name, into: UnsafeMutableBufferPointer(rebasing: params.data[t.range]))
        }
        return params
    }
}
