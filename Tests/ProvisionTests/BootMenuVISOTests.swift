import DiskImages
import Foundation
@testable import Provision
import Testing
import TestSupport

/// The boot-menu editor and the VISO recipe, proven by replaying the recipe's operations with xorriso on small
/// installer ISOs that carry the real Ubuntu 24.04 and Debian 12 boot-menu text.
@Suite struct BootMenuVISOTests {
    static let fixtures = TestPaths.packageRoot.appendingPathComponent("Tests/Fixtures/bootmenus")

    func tool(_ name: String) throws -> String { try #require(which(name), "\(name) missing: run scripts/install-deps") }

    /// Builds an installer-like ISO from a fixture folder plus placeholder kernel files.
    func fixtureISO(_ name: String, in dir: TempDir) throws -> String {
        let tree = dir.file("tree-\(name)")
        try FileManager.default.copyItem(at: Self.fixtures.appendingPathComponent(name), to: tree)
        for f in ["casper/vmlinuz", "install.amd/vmlinuz", "install.amd/initrd.gz", "README.txt"] {
            let u = tree.appendingPathComponent(f)
            try FileManager.default.createDirectory(at: u.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data("placeholder \(f)\n".utf8).write(to: u)
        }
        let iso = dir.file("\(name).iso").path
        let r = try run(try tool("xorriso"), ["-abort_on", "FAILURE", "-outdev", iso, "-volid", "INSTALLER",
                                              "-joliet", "on", "-map", tree.path, "/", "-commit"])
        #expect(r.status == 0, "\(r.output)")
        return iso
    }

    /// Runs the `.viso`'s operations through xorriso: `--import-iso` → `-indev`, `P=:must-remove:` → `-rm P`
    /// (fails when P is absent), `P=S` → `-map S P` (S relative to the .viso's folder).
    func replay(viso: String, output: String) throws -> RunResult {
        let text = try String(contentsOfFile: viso, encoding: .utf8)
        let args = text.split(whereSeparator: { $0 == "\n" || $0 == " " }).map { word -> String in
            var w = String(word)
            if w.hasPrefix("'") && w.hasSuffix("'") && w.count >= 2 { w = String(w.dropFirst().dropLast()) }
            return w
        }
        #expect(args.first == "--iprt-iso-maker-file-marker-bourne-sh")
        let folder = (viso as NSString).deletingLastPathComponent
        var xorriso = ["-abort_on", "FAILURE"]
        var ops: [String] = []
        for a in args.dropFirst(2) {
            if a.hasPrefix("--import-iso=") {
                xorriso += ["-indev", String(a.dropFirst("--import-iso=".count)), "-outdev", output, "-boot_image", "any", "keep"]
            } else if a.hasPrefix("--") {
                continue  // file/dir modes: attributes only
            } else if let eq = a.firstIndex(of: "=") {
                let path = String(a[..<eq])
                let source = String(a[a.index(after: eq)...])
                if source == ":must-remove:" {
                    ops += ["-rm", path, "--"]
                } else {
                    ops += ["-map", source.hasPrefix("/") ? source : folder + "/" + source, path]
                }
            } else {
                Issue.record("unexpected VISO argument \(a)")
            }
        }
        return try run(try tool("xorriso"), xorriso + ops + ["-commit"])
    }

    struct Case: Sendable, CustomStringConvertible {
        var fixture: String
        var append: [String]
        var remove: [String]
        var description: String { fixture }
    }

    @Test(arguments: [
        Case(fixture: "ubuntu-24.04-server", append: ["autoinstall"], remove: []),
        Case(fixture: "debian-12-netinst", append: ["auto=true", "priority=critical", "preseed/file=/cdrom/preseed.cfg"],
             remove: ["quiet"]),
    ])
    func visoReplayPutsParametersOnEveryKernelLineAndChangesNothingElse(_ c: Case) throws {
        let dir = TempDir()
        let iso = try fixtureISO(c.fixture, in: dir)
        let isoBefore = bytes(URL(fileURLWithPath: iso))
        let edited = try BootMenu.editMenus(isoPath: iso, append: c.append, remove: c.remove, timeoutSeconds: 1)
        #expect(!edited.isEmpty)
        // Write the edited menus and an answer file next to the .viso, then the recipe itself.
        var replacements: [VISORecipe.FileSpec] = []
        for (path, data) in edited.sorted(by: { $0.key < $1.key }) {
            let name = "vmprov-" + path.replacingOccurrences(of: "/", with: "-")
            dir.write(name, bytes: Data(data))
            replacements.append(.init(isoPath: "/" + path, source: name))
        }
        dir.write("vmprov-answer.cfg", "answers\n")
        let recipe = VISORecipe(uuid: "0d1f3c9e-5b7a-4c2e-9f10-2a3b4c5d6e7f", importISO: iso, replacements: replacements,
                                additions: [.init(isoPath: "/preseed.cfg", source: "vmprov-answer.cfg")])
        let viso = dir.file("install.viso").path
        try recipe.write(to: viso)
        let out = dir.file("replayed.iso").path
        let r = try replay(viso: viso, output: out)
        #expect(r.status == 0, "\(r.output)")
        #expect(bytes(URL(fileURLWithPath: iso)) == isoBefore, "the installer ISO is never written")

        let before = try ISOReader.list(iso).filter { !$0.isDirectory }.map(\.path)
        let after = try ISOReader.list(out).filter { !$0.isDirectory }.map(\.path)
        #expect(Set(after) == Set(before).union(["preseed.cfg"]))
        let old = try ISOReader.read(iso, members: before)
        let new = try ISOReader.read(out, members: after)
        #expect(new["preseed.cfg"] == Array("answers\n".utf8))
        var kernelLines = 0
        for path in before {
            let o = try #require(old[path]), n = try #require(new[path])
            guard let syntax = BootMenu.syntax(forPath: path) else {
                #expect(n == o, "\(path) must be unchanged")
                continue
            }
            let ol = String(decoding: o, as: UTF8.self).components(separatedBy: "\n")
            var nl = String(decoding: n, as: UTF8.self).components(separatedBy: "\n")
            if syntax == .grub, nl.count == ol.count + 1 {
                #expect(!ol.contains { $0.trimmingCharacters(in: .whitespaces).hasPrefix("set timeout=") })
                #expect(nl.remove(at: nl.count - 2) == "set timeout=1", "\(path): appended timeout")
            }
            #expect(nl.count == ol.count, "\(path)")
            for (a, b) in zip(ol, nl) {
                let words = a.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
                let keyword = words.first?.lowercased()
                let isKernel = syntax == .grub ? (keyword == "linux" || keyword == "linuxefi") : keyword == "append"
                if isKernel {
                    kernelLines += 1
                    let got = b.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
                    for p in c.append { #expect(got.filter { $0 == p }.count == 1, "\(path): \(p) once in «\(b)»") }
                    for p in c.remove { #expect(!got.contains(p), "\(path): \(p) removed from «\(b)»") }
                    // Removing what was added (and what was removed) gives back the stock words in order.
                    #expect(got.filter { !c.append.contains($0) } == words.filter { !c.remove.contains($0) && !c.append.contains($0) }, "\(path): «\(a)» → «\(b)»")
                    if let dash = got.firstIndex(of: "---") {
                        for p in c.append { #expect(got.firstIndex(of: p).map { $0 < dash } == true, "\(path): \(p) before ---") }
                    }
                } else if syntax == .grub, a.trimmingCharacters(in: .whitespaces).hasPrefix("set timeout=") {
                    #expect(b.trimmingCharacters(in: .whitespaces) == "set timeout=1")
                } else if syntax == .isolinux, keyword == "timeout" {
                    #expect(b == "timeout 10")
                } else {
                    #expect(a == b, "\(path): only kernel and timeout lines change")
                }
            }
        }
        #expect(kernelLines >= 2)
        // linux16 (memtest) is not a kernel line for the installer: untouched.
        if c.fixture.hasPrefix("ubuntu") {
            let grub = String(decoding: try #require(new["boot/grub/grub.cfg"]), as: UTF8.self)
            #expect(grub.contains("\tlinux\t/casper/vmlinuz  autoinstall ---\n"))
            #expect(grub.contains("\tlinux16 /boot/memtest86+x64.bin\n"))
            #expect(grub.hasPrefix("set timeout=1\n"))
        } else {
            let txt = String(decoding: try #require(new["isolinux/txt.cfg"]), as: UTF8.self)
            #expect(txt.contains("\tappend vga=788 initrd=/install.amd/initrd.gz auto=true priority=critical preseed/file=/cdrom/preseed.cfg --- \n"))
        }
    }

    @Test func editIsIdempotentAndKeepsCRLF() throws {
        let text = "set timeout=30\r\nmenuentry 'x' {\r\n  linux /vmlinuz inst.stage2=hd:LABEL=X quiet rd.live.check\r\n}\r\n"
        let e = try BootMenu.edit(text, syntax: .grub, append: ["inst.ks=hd:LABEL=OEMDRV:/ks.cfg"], remove: ["rd.live.check"])
        #expect(e.text == "set timeout=1\r\nmenuentry 'x' {\r\n  linux /vmlinuz inst.stage2=hd:LABEL=X quiet inst.ks=hd:LABEL=OEMDRV:/ks.cfg\r\n}\r\n")
        let again = try BootMenu.edit(e.text, syntax: .grub, append: ["inst.ks=hd:LABEL=OEMDRV:/ks.cfg"], remove: ["rd.live.check"])
        #expect(again.text == e.text && !again.changed)
        #expect(throws: UnattendedError.self) { try BootMenu.edit(text, syntax: .grub, append: ["ds=nocloud;s=/cdrom/"]) }
        #expect(throws: UnattendedError.self) { try BootMenu.edit(text, syntax: .grub, append: ["a b"]) }
    }

    @Test func isoWithoutKernelLinesIsRefused() throws {
        let dir = TempDir()
        let seed = dir.file("plain.iso").path
        try SeedImage(label: "data", files: [.init(path: "boot/grub/grub.cfg", text: "set timeout=5\n")]).write(to: seed)
        #expect(throws: UnattendedError.self) { try BootMenu.editMenus(isoPath: seed, append: ["autoinstall"]) }
    }

    @Test func visoRecipeTextAndRefusals() throws {
        let r = VISORecipe(uuid: "0d1f3c9e-5b7a-4c2e-9f10-2a3b4c5d6e7f", importISO: "/srv/isos/ubuntu 24.04.iso",
                           replacements: [.init(isoPath: "/boot/grub/grub.cfg", source: "vmprov-grub.cfg")],
                           additions: [.init(isoPath: "/user-data", source: "vmprov-user-data")])
        #expect(try r.render() == """
            --iprt-iso-maker-file-marker-bourne-sh
            0d1f3c9e-5b7a-4c2e-9f10-2a3b4c5d6e7f
            --file-mode=0444
            --dir-mode=0555
            --no-file-mode
            --no-dir-mode
            '--import-iso=/srv/isos/ubuntu 24.04.iso'
            --file-mode=0444
            --dir-mode=0555
            /boot/grub/grub.cfg=:must-remove:
            /boot/grub/grub.cfg=vmprov-grub.cfg
            /user-data=vmprov-user-data

            """)
        var bad = r
        bad.importISO = "/srv/it's.iso"
        #expect(throws: DiskImageError.self) { try bad.render() }
        bad = r
        bad.uuid = "not-a-uuid"
        #expect(throws: DiskImageError.self) { try bad.render() }
        bad = r
        bad.additions = [.init(isoPath: "/a=b", source: "x")]
        #expect(throws: DiskImageError.self) { try bad.render() }
        bad = r
        bad.additions = [.init(isoPath: "/x", source: ":must-remove:")]
        #expect(throws: DiskImageError.self) { try bad.render() }
        bad = r
        bad.additions = [.init(isoPath: "/boot/grub/grub.cfg", source: "y")]
        #expect(throws: DiskImageError.self) { try bad.render() }
        let dir = TempDir()
        let path = dir.file("x.viso").path
        try r.write(to: path)
        #expect(throws: DiskImageError.exists(path: path)) { try r.write(to: path) }
        #expect(leftovers(dir) == ["x.viso"])
    }
}
