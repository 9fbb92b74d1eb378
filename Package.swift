// swift-tools-version:6.1
// Isola: a self-hosted, Lambda-compatible platform whose core is per-tenant isolation.
//
// Dependencies point one way: LambdaAPI <- IsolaStore <- IsolaServer <- IsolaCLI <- isola.
// AWSSigV4 is a leaf used by the server (verify) and the CLI (sign).
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "isola",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "isola", targets: ["isola"]),
        .executable(name: "isola-agent", targets: ["IsolaAgent"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/weichsel/ZIPFoundation.git", from: "0.9.20"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        // Tests only: the fake runtime speaks HTTP over the environment's Unix socket with it.
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    ],
    targets: [
        // Wire shapes of the Lambda API, validation, ARNs and the one error vocabulary. No I/O.
        .target(name: "LambdaAPI", swiftSettings: strict),
        // AWS Signature Version 4: signing (CLI) and verification (server). Pure.
        .target(
            name: "AWSSigV4",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        // Persistence behind small protocols: functions, versions, aliases, code blobs (SQLite by default).
        .target(
            name: "IsolaStore",
            dependencies: [
                "LambdaAPI",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Log groups, streams and events: storage (SQLite by default), the Logs API, the filter pattern language.
        .target(
            name: "IsolaLogs",
            dependencies: [.product(name: "GRDB", package: "GRDB.swift"), .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // The tenant-aware HTTP gateway's logic: route keys and precedence, tenant mapping, proxy events and responses.
        .target(name: "IsolaGateway", dependencies: ["LambdaAPI", "IsolaStore"], swiftSettings: strict),
        // The function registry: create, update, publish, aliases, tags, concurrency, over the store.
        .target(
            name: "IsolaControlPlane",
            dependencies: [
                "LambdaAPI", "IsolaStore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // libseccomp and the GNU system calls Swift's Glibc module hides (pipe2, closefrom for posix_spawn).
        .systemLibrary(name: "CIsolaSystem", providers: [.apt(["libseccomp-dev"])]),
        // Passing the Runtime API listener from the sandbox's agent to the host (SCM_RIGHTS); plain libc.
        .target(name: "CFDPassing"),
        // The isolation boundary: the Sandbox protocol, the crun backend, bundles, seccomp, host detection.
        .target(
            name: "IsolaSandbox",
            dependencies: ["CIsolaSystem", "CFDPassing", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // Execution environments and their lifecycle, pools keyed by (function, version, tenant), the Runtime API.
        .target(
            name: "IsolaEngine",
            dependencies: [
                "LambdaAPI", "IsolaStore", "IsolaControlPlane", "IsolaSandbox", "IsolaLogs",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // HTTP adapters only: decode -> validate -> call the store/engine -> encode.
        .target(
            name: "IsolaServer",
            dependencies: [
                "LambdaAPI", "IsolaStore", "IsolaControlPlane", "IsolaEngine", "IsolaSandbox", "IsolaLogs", "IsolaGateway", "AWSSigV4",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // One file per command; the executable below is a thin @main over it.
        .target(
            name: "IsolaCLI",
            dependencies: [
                "IsolaServer", "IsolaEngine", "AWSSigV4", "LambdaAPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "isola",
            dependencies: ["IsolaCLI", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")],
            swiftSettings: strict
        ),
        // PID 1 of every sandbox. Glibc only (no Foundation), built static: see scripts/build-agent.
        .executableTarget(name: "IsolaAgent", dependencies: ["CFDPassing"], swiftSettings: strict),

        .testTarget(name: "LambdaAPITests", dependencies: ["LambdaAPI"], swiftSettings: strict),
        .testTarget(name: "AWSSigV4Tests", dependencies: ["AWSSigV4"], swiftSettings: strict),
        .testTarget(name: "IsolaStoreTests", dependencies: ["IsolaStore"], swiftSettings: strict),
        .testTarget(name: "IsolaGatewayTests", dependencies: ["IsolaGateway", "IsolaStore"], swiftSettings: strict),
        .testTarget(
            name: "IsolaLogsTests", dependencies: ["IsolaLogs", .product(name: "Logging", package: "swift-log")], swiftSettings: strict
        ),
        .testTarget(name: "IsolaSandboxTests", dependencies: ["IsolaSandbox"], swiftSettings: strict),
        .testTarget(
            name: "IsolaEngineTests",
            dependencies: [
                "IsolaEngine", "IsolaSandbox", "IsolaControlPlane", "IsolaStore", "LambdaAPI",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "IsolaControlPlaneTests", dependencies: ["IsolaControlPlane", "IsolaStore", "LambdaAPI"], swiftSettings: strict),
        .testTarget(
            name: "IsolaServerTests",
            dependencies: [
                "IsolaServer", "IsolaStore", "IsolaControlPlane", "AWSSigV4", "LambdaAPI",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
    ]
)
