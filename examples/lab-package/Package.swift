// swift-tools-version:6.0
import PackageDescription

// A project that keeps MeshLab labs as regression tests in its own `swift test`.
let package = Package(
    name: "LabPackage",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "MeshLab", path: "../.."),
    ],
    targets: [
        // The project's labs, written in MeshLab's lab language.
        .target(name: "CheckoutLabs", dependencies: [.product(name: "MeshLab", package: "MeshLab")]),
        // Runs them: up, checks, down.
        .testTarget(name: "CheckoutLabTests", dependencies: [
            "CheckoutLabs", .product(name: "MeshLabRuntime", package: "MeshLab"), .product(name: "meshlab", package: "MeshLab"),
        ]),
    ]
)
