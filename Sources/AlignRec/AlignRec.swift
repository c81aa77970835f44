// AlignRec: the recommendation side of align — datasets and protocols, Semantic IDs, prompts and tasks,
// constrained decoding, SFT, preference alignment, evaluation and serving. Kernels, the LLaMA engine,
// checkpoints and tokenizers live in AlignCore.
@_exported import AlignCore
