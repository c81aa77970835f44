// swift-tools-version:6.0
// align — generative recommendation with Semantic IDs, a LLaMA-style decoder, SFT, DPO/GRPO and
// trie-constrained decoding. See README.md.
import PackageDescription

let package = Package(
    name: "align",
    products: [
        .executable(name: "align", targets: ["AlignCLI"]),
        .library(name: "AlignCore", targets: ["AlignCore"]),
        .library(name: "AlignRec", targets: ["AlignRec"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // OpenBLAS: every matrix product goes through cblas_sgemm.
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", providers: [.apt(["libopenblas-dev"])]),
        // libsentencepiece behind a narrow extern "C" API (opaque handle, status, last error).
        .target(
            name: "CSentencePiece",
            path: "Sources/CSentencePiece",
            cxxSettings: [.unsafeFlags(["-std=c++17"])],
            linkerSettings: [.linkedLibrary("sentencepiece"), .linkedLibrary("sentencepiece_train"), .linkedLibrary("stdc++")]
        ),
        // AVX2 + FMA element-wise kernels and bf16 conversions, chosen at run time from the CPU's features
        // (portable code otherwise).
        .target(name: "CKernels", path: "Sources/CKernels"),
        // oneDNN (Debian: libdnnl-dev) matmul primitives behind a narrow C API: fp32 and bf16 products.
        .target(name: "CDnnl", path: "Sources/CDnnl", linkerSettings: [.linkedLibrary("dnnl")]),
        // MPI (Debian: libopenmpi-dev): the system library's flags (pkg-config mpi-c) and a narrow C API over the
        // calls align's data-parallel jobs make (Cluster owns it). Linked always, initialised only under a launcher.
        .systemLibrary(name: "MPISystem", path: "Sources/MPISystem", pkgConfig: "mpi-c", providers: [.apt(["libopenmpi-dev"])]),
        .target(name: "CMPI", dependencies: ["MPISystem"], path: "Sources/CMPI"),
        // Engine: kernels, LLaMA, BERT encoder, optimizer, checkpoints, tokenizer, the MPI cluster.
        .target(
            name: "AlignCore",
            dependencies: ["CBLAS", "CSentencePiece", "CKernels", "CDnnl", "CMPI"],
            path: "Sources/AlignCore",
            swiftSettings: [.unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release))]
        ),
        // Recommendation: data, Semantic IDs, prompts, constrained decoding, SFT, DPO/GRPO, evaluation, serving.
        .target(
            name: "AlignRec",
            dependencies: ["AlignCore", .product(name: "Yams", package: "Yams")],
            path: "Sources/AlignRec"
        ),
        .executableTarget(
            name: "AlignCLI",
            dependencies: ["AlignCore", "AlignRec", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/AlignCLI"
        ),
        .target(name: "TestSupport", dependencies: ["AlignCore"], path: "Tests/TestSupport"),
        .testTarget(
            name: "AlignCoreTests",
            dependencies: ["AlignCore", "CKernels", "CDnnl", "TestSupport"],
            path: "Tests/AlignCoreTests",
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "AlignRecTests",
            dependencies: ["AlignRec", "AlignCore", "TestSupport"],
            path: "Tests/AlignRecTests",
            resources: [.copy("Fixtures")]
        ),
    ]
)
