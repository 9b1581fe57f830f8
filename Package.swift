// swift-tools-version:6.0
import PackageDescription

// Every process of a lab's data plane (ztunnels, waypoints, sidecars, echo servers) is this binary,
// several per lab, so it is linked for a small footprint per process: the Swift runtime and
// Foundation static (a process maps only the pages it touches, not whole shared libraries), no
// exported symbols, and no PIE (no relocations to apply and dirty at start). The Foundation archives
// go in one group: their autolink order leaves references unresolved. lld lays out the functions a
// ztunnel runs together, first (scripts/ztunnel-layout profiles them): the kernel maps code in
// 64 KiB steps around each touched page, so scattered code is held whole. docs/figures.md has the
// resulting memory figures and the command that measures them.
let smallFootprint: [LinkerSetting] = [.unsafeFlags([
    "-static-stdlib",
    "-use-ld=lld",
    "-Xlinker", "--symbol-ordering-file=\(Context.packageDirectory)/Sources/meshlab/ztunnel.order",
    "-Xlinker", "--no-warn-symbol-ordering",
    "-Xlinker", "--start-group",
    "-lFoundation", "-lCoreFoundation", "-lFoundationEssentials", "-lFoundationInternationalization",
    "-l_FoundationICU", "-l_FoundationCShims", "-l_FoundationCollections", "-lswiftSynchronization", "-lstdc++",
    "-Xlinker", "--end-group",
    "-Xlinker", "--no-export-dynamic",
    "-Xclang-linker", "-no-pie",
])]

let package = Package(
    name: "MeshLab",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "meshlab", targets: ["meshlab"]),
        // Lab files outside the package are compiled on the fly against this library.
        .library(name: "MeshLab", type: .dynamic, targets: ["MeshLab"]),
        // For a project's own `swift test`: `LabTesting.run(lab)` brings a lab up, checks it, brings it down.
        .library(name: "MeshLabRuntime", targets: ["MeshLabRuntime"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        // Syscalls Swift's Glibc does not expose (setns, unshare, TUN ioctls).
        .target(name: "CSyscalls"),
        // libnl-3 / libnl-route-3 headers, linked via pkg-config.
        .systemLibrary(
            name: "CNetlink",
            pkgConfig: "libnl-route-3.0",
            providers: [.apt(["libnl-3-dev", "libnl-route-3-dev"])]
        ),
        // libnl-nf-3: conntrack entries over netlink, for fast-path evidence.
        .systemLibrary(
            name: "CNetfilter",
            pkgConfig: "libnl-nf-3.0",
            providers: [.apt(["libnl-nf-3-dev"])]
        ),
        // libpcap: packet captures on named links, written as pcap files Wireshark opens.
        .systemLibrary(name: "CPcap", providers: [.apt(["libpcap-dev"])]),
        // libbpf: loads the eBPF redirection programs and attaches them to tc hooks.
        .systemLibrary(name: "CBPF", pkgConfig: "libbpf", providers: [.apt(["libbpf-dev"])]),
        .target(name: "Netns", dependencies: ["CSyscalls", "CNetlink"]),
        // Its own config types (MeshConfig, routes included): the lab language is compiled to them, never imported.
        .target(name: "Dataplane", dependencies: [
            "Netns", "CBPF",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOWebSocket", package: "swift-nio"),
            .product(name: "NIOTLS", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOHTTP2", package: "swift-nio-http2"),
            .product(name: "NIOHPACK", package: "swift-nio-http2"),
        ], resources: [
            // The eBPF redirection programs, compiled on first use (see EBPFPrograms).
            .copy("Redirector/bpf"),
        ]),
        // Evidence collectors (rule counters, conntrack, captures), the judges of every expectation, and reporters.
        .target(name: "Assertions", dependencies: ["MeshLab", "Dataplane", "Netns", "CNetfilter", "CPcap"]),
        // The module lab files import: DSL, LabSpec, validation, topology, plan. Pure Swift.
        .target(name: "MeshLab"),
        // The labs shipped with MeshLab (labs/*.swift, linked in as LabFiles) and the benchmarks' labs.
        .target(name: "Labs", dependencies: ["MeshLab"]),
        // Runs labs: orchestrator, plan applier, state directory, control plane, check runner, lab
        // loader and compiler, and `LabTesting` for a project's own `swift test`.
        .target(name: "MeshLabRuntime", dependencies: ["MeshLab", "Labs", "Netns", "Dataplane", "Assertions"]),
        // The `meshlab` commands, each a thin call into the runtime.
        .target(name: "MeshLabCLI", dependencies: [
            "MeshLab", "MeshLabRuntime", "Labs", "Netns", "Dataplane", "Assertions",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // `meshlab bench …`: MeshLab against its baselines (ip -batch, stunnel, haproxy, no mesh).
        .target(name: "Benchmarks", dependencies: [
            "MeshLab", "MeshLabRuntime", "MeshLabCLI", "Labs", "Netns", "Dataplane", "Assertions",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "meshlab", dependencies: [
            "MeshLabCLI", "Benchmarks", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], exclude: ["ztunnel.order"], linkerSettings: smallFootprint),
        .testTarget(name: "MeshLabTests", dependencies: [
            "MeshLab", "Labs", "MeshLabRuntime", "MeshLabCLI", "Benchmarks", "Netns", "Dataplane", "Assertions", .product(name: "X509", package: "swift-certificates"),
            .product(name: "NIOEmbedded", package: "swift-nio"), .product(name: "NIOHTTP2", package: "swift-nio-http2"),
        ]),
        // The independent peers (Peers/*.py) are run from their source folder, not bundled.
        .testTarget(name: "EndToEndTests", dependencies: ["MeshLab", "Labs", "MeshLabRuntime", "Assertions", "Dataplane", "Netns"], exclude: ["Peers"]),
    ]
)
