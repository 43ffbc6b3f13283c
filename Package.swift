// swift-tools-version:6.0
import PackageDescription

// MARK: - System libraries (Debian packages, found through pkg-config)

let systemLibraries: [Target] = [
    .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
    .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
    .systemLibrary(name: "CJansson", pkgConfig: "jansson", providers: [.apt(["libjansson-dev"])]),
    .systemLibrary(name: "CSPNG", pkgConfig: "spng", providers: [.apt(["libspng-dev"])]),
    // Keras' .h5 and .keras weights (model.load).
    .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
]

// MARK: - Libraries and executables

let targets: [Target] = [
    // JSON values and their jansson codec: the one JSON stack, for the protocol and for every file the engine
    // writes or reads (checkpoint headers and metadata, Keras configs, manifests).
    .target(name: "UNetJSON", dependencies: ["CJansson"]),
    .target(name: "UNetCore", dependencies: ["UNetJSON", "COpenBLAS", "CCPUID", "CKernels", "CHDF5"]),
    // Depthwise convolution, SiLU and gating compiled for AVX2 + FMA and for AVX-512 (target attributes on the
    // functions, so the rest of the build stays baseline x86-64); UNetCore's SIMDLevel picks one at start-up.
    .target(name: "CKernels"),
    // cpuid and xgetbv: what the CPU offers, to check the kernels OpenBLAS chose (BLASCoreCheck).
    .target(name: "CCPUID"),
    .target(name: "UNetData", dependencies: ["UNetJSON", "UNetCore", "CTurboJPEG", "CSPNG", "CDICOM"]),
    // DICOM through DCMTK (Debian's libdcmtk-dev) behind a small C API. Linked by name: dcmtk.pc lists private
    // requirements (sndfile, ...) that Debian does not ship .pc files for, so pkg-config cannot resolve it.
    .target(name: "CDICOM", linkerSettings: [
        "dcmjpls", "dcmtkcharls", "dcmjpeg", "ijg8", "ijg12", "ijg16", "dcmimage", "dcmimgle", "dcmdata", "oflog",
        "ofstd",
    ].map { .linkedLibrary($0) }),
    .target(name: "UNetProtocol", dependencies: ["UNetJSON", "UNetCore", "UNetData", "CMPI"]),
    // Open MPI for `--mpi`, loaded with dlopen (not linked): the default binary runs where libmpi is absent.
    .target(name: "CMPI", linkerSettings: [.linkedLibrary("dl")]),
    .executableTarget(name: "unet-engine", dependencies: [
        "UNetProtocol", .product(name: "ArgumentParser", package: "swift-argument-parser"),
    ]),
    // Counts every heap allocation in the process, for the benchmark's allocations-per-step figure and the tests.
    .target(name: "CAllocationCounter"),
    .executableTarget(name: "unet-bench", dependencies: [
        "UNetCore", "UNetProtocol", "CAllocationCounter",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
    ]),
    .executableTarget(name: "unet-decode-bench", dependencies: ["UNetData"]),
    .executableTarget(name: "train-shapes", dependencies: ["UNetCore"], path: "Examples/train-shapes"),
    .target(name: "TestSupport", dependencies: ["UNetCore"]),
]

// MARK: - Tests

let tests: [Target] = [
    // CAllocationCounter: the tests that warm steps and parallel loops allocate nothing count malloc calls.
    .testTarget(name: "UNetCoreTests", dependencies: ["UNetCore", "TestSupport", "CAllocationCounter"],
                resources: [.copy("Fixtures")]),
    .testTarget(name: "UNetDataTests", dependencies: ["UNetData", "TestSupport"],
                resources: [.copy("Fixtures")]),
    .testTarget(name: "UNetProtocolTests", dependencies: ["UNetProtocol", "TestSupport"]),
]

// MARK: - Packages

// The command lines of unet-engine and unet-bench (options, subcommands, --help, exit code 2 on bad usage).
let dependencies: [Package.Dependency] = [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
]

let package = Package(
    name: "unet-engine",
    products: [
        .executable(name: "unet-engine", targets: ["unet-engine"]),
        .library(name: "UNetCore", targets: ["UNetCore"]),
    ],
    dependencies: dependencies,
    targets: systemLibraries + targets + tests,
    swiftLanguageModes: [.v6]
)
