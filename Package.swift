// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "vmprov",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "vmprov", targets: ["vmprov"]),
        .library(name: "Basics", targets: ["Basics"]),
        .library(name: "VBoxXML", targets: ["VBoxXML"]),
        .library(name: "DiskImages", targets: ["DiskImages"]),
        .library(name: "Provision", targets: ["Provision"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibXML2",
            pkgConfig: "libxml-2.0",
            providers: [.apt(["libxml2-dev"]), .brew(["libxml2"])]
        ),
        // libcurl's loader: headers only at build time (libcurl4-openssl-dev); libcurl itself is loaded once, at the
        // first download (see Sources/CCurlLoader/include/ccurlloader.h).
        .target(
            name: "CCurlLoader",
            linkerSettings: [.linkedLibrary("dl", .when(platforms: [.linux])),
                             .linkedLibrary("pthread", .when(platforms: [.linux]))]
        ),
        .target(
            name: "CSystem"
        ),
        .systemLibrary(
            name: "CZlib",
            providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]
        ),
        // libarchive: ISO 9660 seed images written in-process, installer ISOs read (Sources/DiskImages).
        .systemLibrary(
            name: "CArchive",
            pkgConfig: "libarchive",
            providers: [.apt(["libarchive-dev"]), .brew(["libarchive"])]
        ),
        // libxcrypt: SHA-512-crypt (`$6$`) password hashes for installer answer files.
        .systemLibrary(
            name: "CCrypt",
            pkgConfig: "libxcrypt",
            providers: [.apt(["libcrypt-dev"]), .brew(["libxcrypt"])]
        ),
        .target(
            name: "Basics",
            dependencies: ["CSystem"]
        ),
        .target(
            name: "VBoxXML",
            dependencies: ["Basics", "CLibXML2"]
        ),
        // Disk images: the VDI writer and grower, seed ISOs (libarchive), VISO recipes.
        .target(
            name: "DiskImages",
            dependencies: ["Basics", "CArchive", "VBoxXML"]
        ),
        .target(
            name: "Provision",
            dependencies: [
                "CCrypt",
                "CCurlLoader",
                "CSystem",
                "CZlib",
                "Basics",
                "DiskImages",
                "VBoxXML",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .target(
            name: "VMProvCLI",
            dependencies: [
                "Basics",
                "VBoxXML",
                "DiskImages",
                "Provision",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "vmprov",
            dependencies: ["VMProvCLI"]
        ),
        .target(
            name: "TestSupport",
            path: "Tests/TestSupport"
        ),
        .testTarget(
            name: "BasicsTests",
            dependencies: ["Basics", "TestSupport"]
        ),
        .testTarget(
            name: "VBoxXMLTests",
            dependencies: ["Basics", "VBoxXML", "DiskImages", "TestSupport"]
        ),
        .testTarget(
            name: "DiskImagesTests",
            dependencies: ["Basics", "DiskImages", "VBoxXML", "TestSupport"]
        ),
        .testTarget(
            name: "ProvisionTests",
            dependencies: ["Basics", "Provision", "DiskImages", "TestSupport"]
        ),
        .testTarget(
            name: "VMProvCLITests",
            dependencies: ["VMProvCLI", "Basics", "VBoxXML", "DiskImages", "Provision"],
            exclude: ["HelpSnapshots"]  // read by HelpSnapshotTests from the source tree
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["vmprov", "Basics", "VBoxXML", "DiskImages", "Provision", "TestSupport"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// `VMPROV_WARNINGS_AS_ERRORS=1` (set by .ci/run) builds every target of this package, not its dependencies, with
// warnings as errors. `swift build -Xswiftc -warnings-as-errors` cannot do this: SwiftPM compiles the dependencies with
// `-suppress-warnings`, which swiftc refuses in the same command line ("conflicting options").
if Context.environment["VMPROV_WARNINGS_AS_ERRORS"] == "1" {
    for target in package.targets where target.type != .system {
        target.swiftSettings = (target.swiftSettings ?? []) + [.unsafeFlags(["-warnings-as-errors"])]
    }
}
