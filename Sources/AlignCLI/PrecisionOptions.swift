// `--precision fp32|bf16`, shared by every command that runs the model. Unset: the config's `precision:` where
// the command has a config, else the CPU's default (bf16 with AVX512_BF16 or AMX, fp32 elsewhere).
import AlignCore
import ArgumentParser
import Foundation

extension Precision: ExpressibleByArgument {}

struct PrecisionOptions: ParsableArguments {
    @Option(name: .long, help: "Matrix-product precision: fp32 or bf16 (bf16 products with fp32 accumulation, fp32 master weights). Default: bf16 where the CPU has AVX512_BF16 or AMX, else fp32.")
    var precision: Precision?

    /// The precision to run with (`configured` = a config file's value, overridden by the flag), after printing
    /// the fallback note when a bf16 request cannot run here, and the one-line summary when `announce`.
    func resolve(configured: Precision? = nil, announce: Bool = true) -> Precision {
        let (p, note) = Precision.resolve(precision ?? configured)
        if let note { FileHandle.standardError.write(Data((note + "\n").utf8)) }
        if announce { print(p.summary) }
        return p
    }
}
