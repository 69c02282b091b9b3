// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "vmprov",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "vmprov", targets: ["vmprov"]),
        .library(name: "VBoxXML", targets: ["VBoxXML"]),
        .library(name: "Provision", targets: ["Provision"]),
        .library(name: "DiskImages", targets: ["DiskImages"]),
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
        // Headers only at build time: libcurl itself is loaded at the first download (see Sources/CCurl/shim.h).
        .systemLibrary(
            name: "CCurl",
            providers: [.apt(["libcurl4-openssl-dev"]), .brew(["curl"])]
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
            name: "DiskImages",
            dependencies: ["CArchive", "VBoxXML"]
        ),
        .target(
            name: "VBoxXML",
            dependencies: ["CLibXML2"]
        ),
        .target(
            name: "Provision",
            dependencies: [
                "CCrypt",
                "CCurl",
                "CSystem",
                "DiskImages",
                "CZlib",
                "VBoxXML",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .target(
            name: "VMProvCLI",
            dependencies: [
                "VBoxXML",
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
            name: "VBoxXMLTests",
            dependencies: ["VBoxXML", "TestSupport"]
        ),
        .testTarget(
            name: "DiskImagesTests",
            dependencies: ["DiskImages", "TestSupport"]
        ),
        .testTarget(
            name: "ProvisionTests",
            dependencies: ["Provision", "DiskImages", "TestSupport"]
        ),
        .testTarget(
            name: "VMProvCLITests",
            dependencies: ["VMProvCLI", "VBoxXML", "Provision"]
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["vmprov", "VBoxXML", "Provision", "TestSupport"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
