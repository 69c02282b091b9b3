import Foundation
import Testing
import TestSupport

/// `Sources/CLibXML2/shim.h` must compile against every libxml2 users build with (2.9 through 2.14). libxml2 2.12
/// changed `xmlStructuredErrorFunc` to take `const xmlError *`, which clang 16+ rejects as an incompatible function
/// pointer. These tests compile the shim with the toolchain's clang and `-Werror` against the installed headers and
/// against `Tests/Fixtures/libxml2-stub` (our own declarations of both prototype generations), with no network.
@Suite("libxml2 shim header")
struct ShimHeaderTests {
    static let clang: String? = {
        let bundled = "/opt/swift/usr/bin/clang"
        if FileManager.default.isExecutableFile(atPath: bundled) { return bundled }
        return which("clang")
    }()

    static let flags = ["-fsyntax-only", "-Werror", "-Wall", "-Wextra", "-Wincompatible-function-pointer-types",
                        "-Wincompatible-pointer-types"]

    /// A translation unit that includes the shim and uses every function in it, as the Swift importer does.
    static func translationUnit(_ dir: TempDir, extra: String = "") -> String {
        dir.write("tu.c", """
            #include "shim.h"
            void *vmp_shim_uses[] = { (void *)vmp_xml_parse, (void *)vmp_xml_free_string, (void *)vmp_xml_line };
            \(extra)

            """).path
    }

    static var shimFolder: String { TestPaths.packageRoot.appendingPathComponent("Sources/CLibXML2").path }
    static var stubFolder: String { TestPaths.packageRoot.appendingPathComponent("Tests/Fixtures/libxml2-stub").path }

    @Test func compilesAgainstTheInstalledHeaders() throws {
        let clang = try #require(Self.clang, "clang not found (the Swift toolchain ships it)")
        var include = ["-I/usr/include/libxml2"]
        if let pkg = which("pkg-config"), let r = try? run(pkg, ["--cflags", "libxml-2.0"]), r.status == 0 {
            include = r.stdout.split(separator: " ").map { String($0).trimmingCharacters(in: .whitespacesAndNewlines) }
                .filter { !$0.isEmpty }
        }
        let dir = TempDir()
        let r = try run(clang, Self.flags + include + ["-I", Self.shimFolder, Self.translationUnit(dir)])
        #expect(r.status == 0, "\(r.output)")
    }

    @Test(arguments: [20914, 21100, 21200, 21300, 21400])
    func compilesAgainstEachPrototypeGeneration(version: Int) throws {
        let clang = try #require(Self.clang, "clang not found (the Swift toolchain ships it)")
        let dir = TempDir()
        let r = try run(clang, Self.flags + ["-DSTUB_LIBXML_VERSION=\(version)", "-I", Self.stubFolder,
                                             "-I", Self.shimFolder, Self.translationUnit(dir)])
        #expect(r.status == 0, "\(r.output)")
    }

    /// The check can fail: a handler written for one generation is refused by the other's headers.
    @Test(arguments: [(20914, "const xmlError *"), (21200, "xmlErrorPtr")])
    func aHandlerOfTheOtherShapeIsRefused(version: Int, parameter: String) throws {
        let clang = try #require(Self.clang, "clang not found (the Swift toolchain ships it)")
        let dir = TempDir()
        let tu = Self.translationUnit(dir, extra: """
            static void wrong(void *ctx, \(parameter) err) { (void)ctx; (void)err; }
            void install(void) { xmlSetStructuredErrorFunc(NULL, wrong); }
            """)
        let r = try run(clang, Self.flags + ["-DSTUB_LIBXML_VERSION=\(version)", "-I", Self.stubFolder,
                                             "-I", Self.shimFolder, tu])
        #expect(r.status != 0)
        #expect(r.stderr.contains("incompatible function pointer types"), "\(r.output)")
    }
}
