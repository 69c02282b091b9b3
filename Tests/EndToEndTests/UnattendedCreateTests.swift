import Foundation
import Testing
import TestSupport

/// `vmprov create --unattended` end to end, per installer family: a small installer ISO built by xorriso with the
/// stock boot-menu text (Tests/Fixtures/bootmenus), given with `--iso` and its digest; the `.vbox` read with
/// xmllint XPath, the seed read back by isoinfo and pycdlib, the VISO replayed by xorriso, the installer's digest
/// checked after create, and the password searched for in every output and file.
@Suite("create --unattended, end to end", .serialized)
struct UnattendedCreateTests {
    static let fixtures = TestPaths.packageRoot.appendingPathComponent("Tests/Fixtures/bootmenus")
    static let password = "Corr3ct-h0rse battery staple"

    func tool(_ name: String) throws -> String { try #require(which(name), "\(name) missing: run scripts/install-deps") }

    /// An installer-like ISO: the fixture's menus plus placeholder kernels; nil fixture → a data-only ISO (Windows).
    func installerISO(_ fixture: String?, volid: String, in dir: TempDir) throws -> URL {
        let tree = dir.file("tree")
        if let fixture {
            try FileManager.default.copyItem(at: Self.fixtures.appendingPathComponent(fixture), to: tree)
        }
        for f in ["casper/vmlinuz", "install.amd/vmlinuz", "images/pxeboot/vmlinuz", "sources/boot.wim", "README.txt"] {
            let u = tree.appendingPathComponent(f)
            try FileManager.default.createDirectory(at: u.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data("placeholder \(f)\n".utf8).write(to: u)
        }
        let iso = dir.file("installer.iso")
        let r = try run(try tool("xorriso"), ["-abort_on", "FAILURE", "-outdev", iso.path, "-volid", volid,
                                              "-joliet", "on", "-map", tree.path, "/", "-commit"])
        #expect(r.status == 0, "\(r.output)")
        return iso
    }

    func xpath(_ file: String, _ expr: String) throws -> String {
        let r = try run(try tool("xmllint"), ["--xpath", expr, file])
        return r.status == 0 ? r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) : ""
    }

    /// Replays the `.viso` with xorriso (`--import-iso` → `-indev`, `P=:must-remove:` → `-rm`, `P=S` → `-map`).
    func replay(viso: String, output: String) throws -> RunResult {
        let folder = (viso as NSString).deletingLastPathComponent
        let text = try String(contentsOfFile: viso, encoding: .utf8)
        let args = text.split(separator: "\n").map { w -> String in
            w.hasPrefix("'") && w.hasSuffix("'") && w.count >= 2 ? String(w.dropFirst().dropLast()) : String(w)
        }
        var x = ["-abort_on", "FAILURE"]
        var ops: [String] = []
        func abs(_ p: String) -> String { p.hasPrefix("/") ? p : folder + "/" + p }
        for a in args.dropFirst(2) {
            if a.hasPrefix("--import-iso=") {
                x += ["-indev", abs(String(a.dropFirst("--import-iso=".count))), "-outdev", output, "-boot_image", "any", "keep"]
            } else if a.hasPrefix("--") {
                continue
            } else if let eq = a.firstIndex(of: "=") {
                let path = String(a[..<eq]), source = String(a[a.index(after: eq)...])
                ops += source == ":must-remove:" ? ["-rm", path, "--"] : ["-map", abs(source), path]
            }
        }
        return try run(try tool("xorriso"), x + ops + ["-commit"])
    }

    /// Extracts `path` from `iso` with xorriso.
    func extract(_ iso: String, _ path: String, in dir: TempDir) throws -> String {
        let out = dir.file("x-" + UUID().uuidString).path
        let r = try run(try tool("xorriso"), ["-osirrox", "on", "-indev", iso, "-extract", path, out])
        #expect(r.status == 0, "\(r.output)")
        return (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
    }

    struct Case: Sendable, CustomStringConvertible {
        var profile: String
        var fixture: String?
        var params: [String]
        var removed: [String]
        var seedLabel: String?
        var seedFiles: [String]
        var description: String { profile }
    }

    @Test(arguments: [
        Case(profile: "ubuntu", fixture: "ubuntu-24.04-server", params: ["autoinstall"], removed: [], seedLabel: "cidata",
             seedFiles: ["user-data", "meta-data"]),
        Case(profile: "debian", fixture: "debian-12-netinst",
             params: ["auto=true", "priority=critical", "preseed/file=/cdrom/preseed.cfg"], removed: [], seedLabel: nil,
             seedFiles: []),
        Case(profile: "fedora", fixture: "fedora-41-netinst", params: ["inst.ks=hd:LABEL=OEMDRV:/ks.cfg"],
             removed: ["rd.live.check"], seedLabel: "OEMDRV", seedFiles: ["ks.cfg"]),
        Case(profile: "rocky", fixture: "rocky-9-dvd", params: ["inst.ks=hd:LABEL=OEMDRV:/ks.cfg"],
             removed: ["rd.live.check"], seedLabel: "OEMDRV", seedFiles: ["ks.cfg"]),
        Case(profile: "alma", fixture: "rocky-9-dvd", params: ["inst.ks=hd:LABEL=OEMDRV:/ks.cfg"],
             removed: ["rd.live.check"], seedLabel: "OEMDRV", seedFiles: ["ks.cfg"]),
        Case(profile: "windows11", fixture: nil, params: [], removed: [], seedLabel: "VMPROV_UNATTEND",
             seedFiles: ["autounattend.xml", "vmprov-post-install.cmd"]),
    ])
    func createUnattended(_ c: Case) throws {
        let work = TempDir(), out = TempDir()
        let iso = try installerISO(c.fixture, volid: "INSTALLER", in: work)
        let digest = try sha256sum(bytes(iso))
        let key = work.write("id.pub", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test@host\n")
        let script = work.write("post.sh", "#!/bin/sh\necho vmprov-post-install-ran\n")
        let env = ["VMPROV_CACHE": TempDir().path, "VMPROV_GUEST_ADDITIONS": "none"]
        let r = try vmprov(["create", "--profile", c.profile, "--name", "vm", "--dir", out.path, "--iso", iso.path,
                            "--checksum", "sha256:\(digest)", "--unattended", "--user", "alice", "--password-stdin",
                            "--hostname", "box1", "--ssh-key", key.path, "--packages", "curl,git",
                            "--post-install", script.path],
                           stdin: Self.password + "\n", environment: env)
        #expect(r.status == 0, "\(r.output)")
        #expect(!r.output.contains(Self.password), "the password is never printed")
        #expect(r.stdout.contains("Unattended install (") && r.stdout.contains("vmprov/PendingInstall"))

        let folder = out.file("vm")
        let vbox = folder.appendingPathComponent("vm.vbox").path
        // The verified installer is byte-identical, in the folder and at its source.
        #expect(try sha256sum(bytes(folder.appendingPathComponent("installer.iso"))) == digest)
        #expect(try sha256sum(bytes(iso)) == digest)
        // Nowhere in the folder is the password itself.
        let files = FileManager.default.enumerator(atPath: folder.path)?.compactMap { $0 as? String } ?? []
        for f in files {
            let data = bytes(folder.appendingPathComponent(f))
            #expect(data.range(of: Data(Self.password.utf8)) == nil, "\(f) holds the password")
        }
        #expect(!files.contains { $0.hasPrefix("Unattended-") })

        let ns = "/*[local-name()='VirtualBox']/*[local-name()='Machine']"
        let pending = try xpath(vbox, "string(\(ns)/*[local-name()='ExtraData']/*[@name='vmprov/PendingInstall']/@value)")
        let dvdImages = "\(ns)/*[local-name()='MediaRegistry']/*[local-name()='DVDImages']/*[local-name()='Image']"
        let attachedDVDs = try xpath(vbox, "count(//*[local-name()='AttachedDevice'][@type='DVD']/*[local-name()='Image'])")
        if c.profile == "windows11" {
            #expect(try xpath(vbox, "count(\(dvdImages)[@format='VBoxIsoMaker'])") == "0")
            #expect(try xpath(vbox, "string(\(dvdImages)[1]/@location)") == "installer.iso")
            #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("vmprov-installer.viso").path))
            #expect(pending == "family=windows;viso=;seed=vmprov-seed.iso;private=")
        } else {
            let visoUUID = try xpath(vbox, "string(\(dvdImages)[@format='VBoxIsoMaker'][@location='vmprov-installer.viso']/@uuid)")
            #expect(!visoUUID.isEmpty)
            #expect(try xpath(vbox, "count(\(dvdImages)[@location='installer.iso'])") == "0", "the VISO replaces the plain ISO")
            // The drive holds the VISO, under the same UUID as the recipe's marker.
            #expect(try xpath(vbox, "count(//*[local-name()='AttachedDevice'][@type='DVD']/*[local-name()='Image'][@uuid='\(visoUUID)'])") == "1")
            let viso = folder.appendingPathComponent("vmprov-installer.viso").path
            let recipe = try String(contentsOfFile: viso, encoding: .utf8)
            #expect(recipe.hasPrefix("--iprt-iso-maker-file-marker-bourne-sh\n\(visoUUID.dropFirst().dropLast())\n"))
            #expect(recipe.contains("--import-iso=installer.iso\n"))
            #expect(pending == "family=\(c.profile == "ubuntu" || c.profile == "debian" ? c.profile : "anaconda");viso=vmprov-installer.viso;seed=\(c.seedLabel == nil ? "" : "vmprov-seed.iso");private=vmprov-install")
            // Replayed, every kernel line carries the parameters and none of the removed words.
            let replayed = work.file("replayed.iso").path
            let rr = try replay(viso: viso, output: replayed)
            #expect(rr.status == 0, "\(rr.output)")
            #expect(try sha256sum(bytes(folder.appendingPathComponent("installer.iso"))) == digest)
            var kernelLines = 0
            let menus = try FileManager.default.subpathsOfDirectory(atPath: Self.fixtures.appendingPathComponent(c.fixture!).path)
                .filter { $0.hasSuffix(".cfg") }
            for menu in menus {
                let text = try extract(replayed, "/" + menu, in: work)
                for line in text.split(separator: "\n") {
                    let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
                    guard let k = words.first, ["linux", "linuxefi", "append"].contains(k) else { continue }
                    kernelLines += 1
                    for p in c.params { #expect(words.contains(p), "\(menu): \(p) in «\(line)»") }
                    for p in c.removed { #expect(!words.contains(p), "\(menu): \(p) gone from «\(line)»") }
                }
            }
            #expect(kernelLines >= 2)
            if c.profile == "debian" {
                let preseed = try extract(replayed, "/preseed.cfg", in: work)
                #expect(preseed.contains("d-i passwd/user-password-crypted password $6$"))
                #expect(try extract(replayed, "/vmprov/post-install.sh", in: work) == "#!/bin/sh\necho vmprov-post-install-ran\n")
            }
        }
        #expect(attachedDVDs == (c.seedLabel == nil ? "1" : "2"))
        // show and check name the new media.
        let show = try vmprov(["show", vbox])
        #expect(show.status == 0 && show.stdout.contains("Install:   unattended "), "\(show.output)")
        #expect(show.stdout.contains(c.profile == "windows11" ? "installer.iso" : "vmprov-installer.viso (VISO)"))
        if c.seedLabel != nil { #expect(show.stdout.contains("vmprov-seed.iso (install seed)"), "\(show.stdout)") }
        let check = try vmprov(["check", vbox])
        #expect(check.status == 0 && check.stdout.contains("install pending"), "\(check.output)")
        // The seed: registered as a second DVD image, read back by isoinfo and pycdlib.
        guard let label = c.seedLabel else {
            #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("vmprov-seed.iso").path))
            return
        }
        #expect(try xpath(vbox, "count(\(dvdImages)[@location='vmprov-seed.iso'])") == "1")
        let seed = folder.appendingPathComponent("vmprov-seed.iso").path
        let d = try run(try tool("blkid"), ["-p", "-o", "export", seed])
        #expect(d.stdout.contains("LABEL=\(label)\n") && d.stdout.contains("TYPE=iso9660"), "\(d.output)")
        let listed = try run(try tool("isoinfo"), ["-f", "-J", "-i", seed]).stdout
        for f in c.seedFiles { #expect(listed.contains("/" + f), "\(listed)") }
        let py = """
        import pycdlib, sys, io
        iso = pycdlib.PyCdlib(); iso.open(sys.argv[1])
        for name in sys.argv[2:]:
            b = io.BytesIO(); iso.get_file_from_iso_fp(b, joliet_path='/' + name)
            sys.stdout.write('==%s==\\n%s\\n' % (name, b.getvalue().decode()))
        """
        let dump = try run("/usr/bin/python3", ["-c", py, seed] + c.seedFiles)
        #expect(dump.status == 0, "\(dump.output)")
        defer {
            // A seed that went missing is an error check reports (the machine would not start).
            try? FileManager.default.removeItem(atPath: seed)
            let missing = try? vmprov(["check", vbox])
            #expect(missing?.status == 65 && missing?.stdout.contains("vmprov-seed.iso is attached") == true, "\(missing?.output ?? "")")
        }
        switch c.profile {
        case "ubuntu":
            #expect(dump.stdout.contains("#cloud-config\nautoinstall:") && (dump.stdout.contains("password: '$6$") || dump.stdout.contains("password: \"$6$")))
            #expect(dump.stdout.contains("instance-id:") && dump.stdout.contains("shutdown: poweroff"))
        case "windows11":
            #expect(dump.stdout.contains("<Name>alice</Name>") && dump.stdout.contains("BypassSecureBootCheck"))
            #expect(dump.stdout.contains("echo vmprov-post-install-ran"))
        default:
            #expect(dump.stdout.contains("user --name=alice") && dump.stdout.contains("--iscrypted") && dump.stdout.contains("$6$"))
            #expect(dump.stdout.contains("poweroff"))
        }
    }

    @Test func refusals() throws {
        let work = TempDir(), out = TempDir()
        let iso = try installerISO("ubuntu-24.04-server", volid: "INSTALLER", in: work)
        let digest = try sha256sum(bytes(iso))
        let env = ["VMPROV_CACHE": TempDir().path, "VMPROV_GUEST_ADDITIONS": "none"]
        func create(_ profile: String, _ extra: [String], stdin: String? = Self.password + "\n") throws -> RunResult {
            try vmprov(["create", "--profile", profile, "--dir", out.path, "--iso", iso.path, "--checksum",
                        "sha256:\(digest)"] + extra, stdin: stdin, environment: env)
        }
        // A profile without a family: exit 64 naming the profile and the families; nothing read, nothing left.
        let alpine = try create("alpine", ["--unattended", "--user", "alice", "--password-stdin"])
        #expect(alpine.status == 64, "\(alpine.output)")
        #expect(alpine.stderr.contains("alpine") && alpine.stderr.contains("ubuntu, debian, anaconda, windows"))
        // No password on stdin, a password option given without --unattended, no --password-stdin.
        let empty = try create("ubuntu", ["--unattended", "--user", "alice", "--password-stdin"], stdin: "")
        #expect(empty.status == 64 && empty.stderr.contains("standard input"), "\(empty.output)")
        let stray = try create("ubuntu", ["--user", "alice"])
        #expect(stray.status == 64 && stray.stderr.contains("--unattended"), "\(stray.output)")
        let noStdin = try create("ubuntu", ["--unattended", "--user", "alice"])
        #expect(noStdin.status == 64 && noStdin.stderr.contains("--password-stdin"), "\(noStdin.output)")
        // A bad user name and a product key for Linux: refused, and the password is not echoed.
        let badUser = try create("ubuntu", ["--unattended", "--user", "root", "--password-stdin"])
        #expect(badUser.status == 64 && badUser.stderr.contains("user \"root\""), "\(badUser.output)")
        let key = try create("ubuntu", ["--unattended", "--user", "alice", "--password-stdin", "--product-key",
                                        "VK7JG-NPHTM-C97JM-9MPGT-3V66T"])
        #expect(key.status == 64 && key.stderr.contains("--product-key"), "\(key.output)")
        for r in [alpine, empty, stray, noStdin, badUser, key] { #expect(!r.output.contains(Self.password)) }
        #expect(leftovers(out).isEmpty)
        #expect(try sha256sum(bytes(iso)) == digest)
    }

    @Test func profilesListSaysWhichSupportUnattended() throws {
        let r = try vmprov(["profiles", "list", "--json"])
        #expect(r.status == 0, "\(r.output)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]])
        var families: [String: String] = [:]
        for row in rows { if let f = row["installer"] as? String { families[row["name"] as? String ?? ""] = f } }
        #expect(families == ["ubuntu": "ubuntu", "debian": "debian", "fedora": "anaconda", "rocky": "anaconda",
                             "alma": "anaconda", "windows11": "windows"])
        let text = try vmprov(["profiles", "list"])
        #expect(text.stdout.contains("[--unattended: anaconda]"))
    }
}
