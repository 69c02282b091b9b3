import Foundation
import Testing
import TestSupport

/// `vmprov setup` under a temporary root with real groupadd/useradd, and the extension pack from a local server.
extension ProcessSensitive {
@Suite("Setup command, end to end", .serialized)
struct SetupCommandTests {
    /// A root with passwd, group, shadow, gshadow, login.defs, a zoneinfo tree and nologin.
    static func makeRoot() throws -> TempDir {
        let root = TempDir("setup-root")
        root.write("etc/passwd", "root:x:0:0:root:/root:/bin/bash\ntaken:x:1600:1600::/home/taken:/usr/bin/nologin\n")
        root.write("etc/group", "root:x:0:\nusers:x:100:\ntaken:x:1600:\n")
        root.write("etc/shadow", "root:*:19000:0:99999:7:::\ntaken:!:19000::::::\n")
        root.write("etc/gshadow", "root:::\nusers:!::\ntaken:!::\n")
        root.write("etc/login.defs", "UID_MIN 1000\nUID_MAX 60000\nGID_MIN 1000\nGID_MAX 60000\nCREATE_HOME no\n")
        chmod(root.file("etc/shadow").path, 0o600)
        chmod(root.file("etc/gshadow").path, 0o600)
        let zone = "/usr/share/zoneinfo/Europe/Berlin"
        root.write("usr/share/zoneinfo/Europe/Berlin", bytes: FileManager.default.fileExists(atPath: zone)
                   ? bytes(URL(fileURLWithPath: zone)) : Data("TZif2 stand-in".utf8))
        let nologin = root.write("usr/sbin/nologin", "#!/bin/sh\nexit 1\n")
        chmod(nologin.path, 0o755)
        return root
    }

    func text(_ root: TempDir, _ path: String) -> String { String(decoding: bytes(root.file(path)), as: UTF8.self) }

    @Test func freshThenRepeatedThenConflicting() throws {
        guard geteuid() == 0 else { print("SKIPPED: setup needs root (chown, useradd)"); return }
        let root = try Self.makeRoot()
        let args = ["setup", "--root", root.path, "--timezone", "Europe/Berlin", "--user", "vbox", "--uid", "70000", "--vmdir", "/vms"]
        let first = try vmprov(args)
        #expect(first.status == 0, "\(first.output)")
        #expect(!first.output.lowercased().contains("warning"), "ids outside UID_MIN..UID_MAX give no warning: \(first.output)")
        let link = try FileManager.default.destinationOfSymbolicLink(atPath: root.file("etc/localtime").path)
        #expect(link == "/usr/share/zoneinfo/Europe/Berlin")
        #expect(text(root, "etc/passwd").contains("vbox:x:70000:70000::/home/vbox:/usr/sbin/nologin\n"))
        #expect(text(root, "etc/group").contains("vbox:x:70000:"))
        let shadow = text(root, "etc/shadow").split(separator: "\n").first { $0.hasPrefix("vbox:") }
        #expect(shadow.map { $0.split(separator: ":", omittingEmptySubsequences: false)[1].hasPrefix("!") } == true, "locked password")
        for (path, mode) in [("home/vbox", 0o700), ("vms", 0o750)] {
            let attrs = try FileManager.default.attributesOfItem(atPath: root.file(path).path)
            #expect(attrs[.posixPermissions] as? Int == mode, "\(path)")
            #expect(attrs[.ownerAccountID] as? Int == 70000 && attrs[.groupOwnerAccountID] as? Int == 70000, "\(path)")
        }
        let snapshot = ["etc/passwd", "etc/group", "etc/shadow", "etc/gshadow"].map { bytes(root.file($0)) }
        let again = try vmprov(args)
        #expect(again.status == 0)
        #expect(again.stdout.contains("already present") && again.stdout.contains("already right") && again.stdout.contains("already Europe/Berlin"))
        #expect(["etc/passwd", "etc/group", "etc/shadow", "etc/gshadow"].map { bytes(root.file($0)) } == snapshot)
        let nameTaken = try vmprov(["setup", "--root", root.path, "--user", "taken", "--uid", "1500"])
        #expect(nameTaken.status == 65 && nameTaken.stderr.contains("group taken exists with gid 1600"), "\(nameTaken.output)")
        #expect(nameTaken.stderr.contains("/etc/group:3"))
        // A user whose group is fine but whose name is taken with another uid.
        let onlyUser = try vmprov(["setup", "--root", root.path, "--user", "vbox", "--uid", "70001"])
        #expect(onlyUser.status == 65 && onlyUser.stderr.contains("exists with gid 70000, not 70001"), "\(onlyUser.output)")
        let idTaken = try vmprov(["setup", "--root", root.path, "--user", "other", "--uid", "1600"])
        #expect(idTaken.status == 65 && idTaken.stderr.contains("gid 1600 is held by group taken"), "\(idTaken.output)")
        let zone = try vmprov(["setup", "--root", root.path, "--timezone", "Mars/Olympus"])
        #expect(zone.status == 66 && zone.stderr.contains("zoneinfo/Mars/Olympus does not exist"))
        let sneaky = try vmprov(["setup", "--root", root.path, "--timezone", "../../etc/passwd"])
        #expect(sneaky.status != 0 && sneaky.stderr.contains("not a zone name"))
        #expect(["etc/passwd", "etc/group", "etc/shadow", "etc/gshadow"].map { bytes(root.file($0)) } == snapshot)
    }

    /// `--vmdir` is a folder inside `--root`: `..` may not climb out, the root itself is refused, and so is a
    /// symlink inside the root that leads out of it. Refusals change nothing, not even earlier steps.
    @Test(arguments: [("../outside", "climbs out of the root folder"), ("/vms/../../outside", "climbs out of the root folder"),
                      ("/", "is the root folder"), ("/./", "is the root folder"), ("vms/..", "is the root folder")])
    func vmdirClimbingOutOrTheRootItselfIsRefused(vmdir: String, message: String) throws {
        let root = try Self.makeRoot()
        let before = ["etc/passwd", "etc/group"].map { bytes(root.file($0)) }
        let r = try vmprov(["setup", "--root", root.path, "--timezone", "Europe/Berlin", "--user", "vbox", "--uid", "70000",
                            "--vmdir", vmdir])
        #expect(r.status == 64, "\(r.output)")
        #expect(r.stderr.contains("--vmdir \(vmdir): ") && r.stderr.contains(message), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: root.file("etc/localtime").path), "no step ran")
        #expect(["etc/passwd", "etc/group"].map { bytes(root.file($0)) } == before)
        #expect(!FileManager.default.fileExists(atPath: root.file("../outside").standardizedFileURL.path))
    }

    @Test func symlinksInsideTheRootThatLeadOutAreRefused() throws {
        guard geteuid() == 0 else { print("SKIPPED: setup needs root (chown, useradd)"); return }
        let root = try Self.makeRoot()
        let outside = TempDir("outside")
        try FileManager.default.createSymbolicLink(atPath: root.file("vms").path, withDestinationPath: outside.path)
        try FileManager.default.createSymbolicLink(atPath: root.file("abs").path, withDestinationPath: "/")
        let a = try vmprov(["setup", "--root", root.path, "--user", "taken", "--uid", "1600", "--vmdir", "/vms/guest"])
        #expect(a.status == 64, "\(a.output)")
        #expect(a.stderr.contains("leads to \(URL(fileURLWithPath: outside.path).resolvingSymlinksInPath().path), outside the root folder"), "\(a.stderr)")
        #expect(leftovers(outside).isEmpty, "nothing created outside the root")
        let b = try vmprov(["setup", "--root", root.path, "--user", "taken", "--uid", "1600", "--vmdir", "/abs/tmp"])
        #expect(b.status == 64 && b.stderr.contains("outside the root folder"), "\(b.output)")
        var st = stat()
        #expect(stat("/tmp", &st) == 0 && st.st_uid == 0 && st.st_mode & 0o7777 == 0o1777, "the host's /tmp untouched")
        // An /etc that leads out of the root: the timezone step would replace the host's /etc/localtime.
        let etcRoot = try Self.makeRoot()
        let hostEtc = TempDir("host-etc")
        try FileManager.default.removeItem(atPath: etcRoot.file("etc").path)
        try FileManager.default.createSymbolicLink(atPath: etcRoot.file("etc").path, withDestinationPath: hostEtc.path)
        let t = try vmprov(["setup", "--root", etcRoot.path, "--timezone", "Europe/Berlin"])
        #expect(t.status == 65 && t.stderr.contains("outside the root folder"), "\(t.output)")
        #expect(leftovers(hostEtc).isEmpty)
        // A symlink that stays inside the root is fine.
        try FileManager.default.createDirectory(atPath: root.file("data").path, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: root.file("srv").path, withDestinationPath: "data")
        let ok = try vmprov(["setup", "--root", root.path, "--user", "taken", "--uid", "1600", "--vmdir", "/srv/vms"])
        #expect(ok.status == 0, "\(ok.output)")
        #expect(FileManager.default.fileExists(atPath: root.file("data/vms").path))
    }

    /// useradd's portable rule, ASCII only: look-alikes (Cyrillic а, fullwidth, other scripts' digits, combining
    /// marks), uppercase, a leading "-" or digit, a trailing "$", and more than 32 characters are refused before
    /// anything changes.
    @Test(arguments: ["vbоx", "ｖbox", "vbox١", "vbox\u{301}", "VBox", "-vbox", "1vbox", "vbox$", "vb.ox", "vb ox",
                      String(repeating: "a", count: 33), "ǀvbox", "vbox\u{200B}"])
    func userNamesFollowUseraddsPortableRule(name: String) throws {
        let root = try Self.makeRoot()
        let before = ["etc/passwd", "etc/group"].map { bytes(root.file($0)) }
        let r = try vmprov(["setup", "--root", root.path, "--timezone", "Europe/Berlin", "--user=\(name)", "--uid", "70000"])
        #expect(r.status == 64, "\(name): \(r.output)")
        #expect(r.stderr.contains("useradd's portable rule"), "\(r.stderr)")
        #expect(["etc/passwd", "etc/group"].map { bytes(root.file($0)) } == before)
        #expect(!FileManager.default.fileExists(atPath: root.file("etc/localtime").path), "no step ran")
    }

    /// The extension pack reader streams: a decompression bomb is refused early with a few MiB of RAM. Peak RSS
    /// is measured with GNU time around `vmprov setup --extpack FILE`, against `vmprov --version` as a baseline.
    @Test(arguments: [("zeros", "has no ExtPack-license.txt"), ("member", "inflates to more than 512 MiB"),
                      ("license", "claims 104857600 bytes")])
    func aDecompressionBombIsRefusedWithBoundedMemory(kind: String, message: String) throws {
        guard let time = which("time") ?? (FileManager.default.isExecutableFile(atPath: "/usr/bin/time") ? "/usr/bin/time" : nil) else {
            print("SKIPPED: GNU time is not installed (scripts/install-deps installs it)"); return
        }
        let work = TempDir()
        let bomb = work.file("bomb.vbox-extpack").path
        let script = TestPaths.packageRoot.appendingPathComponent("Tests/Fixtures/make_bomb.py").path
        let made = try run(which("python3")!, [script, bomb, kind, "4"])
        #expect(made.status == 0, "\(made.output)")
        func peakKiB(_ args: [String]) throws -> (RunResult, Int) {
            let report = work.file("rss-\(args.count)").path
            let r = try run(time, ["-f", "%M", "-o", report, TestPaths.vmprov.path] + args, environment: ["PATH": "/usr/bin:/bin"])
            let text = String(decoding: bytes(URL(fileURLWithPath: report)), as: UTF8.self)
            return (r, Int(text.split(separator: "\n").last.map(String.init) ?? "") ?? -1)
        }
        let (_, baseline) = try peakKiB(["--version"])
        let (r, peak) = try peakKiB(["setup", "--extpack", bomb])
        print("extension-pack bomb (\(kind), 4 GiB): peak RSS \(peak) KiB, baseline \(baseline) KiB")
        #expect(r.status == 65, "\(r.output)")
        #expect(r.stderr.contains(message), "\(r.stderr)")
        #expect(baseline > 0 && peak > 0)
        #expect(peak - baseline < 16 << 10, "peak RSS \(peak) KiB against \(baseline) KiB at start-up")
    }

    /// RDP from VirtualBox 7.2.6 on is in the base package: a 7.2.6 pack has no VRDE module, and setup says the
    /// pack is not needed for RDP instead of failing; before 7.2.6 it says the pack's module provides RDP.
    @Test(arguments: [("7.2.6", nil as String?, "the extension pack is not needed for RDP (this pack has no VRDE module, as expected)"),
                      ("7.2.4", "VBoxVRDP", "needs the extension pack for RDP; its VRDE module is VBoxVRDP"),
                      ("7.1.4", nil, "needs the extension pack's VRDE module for RDP, and this pack has none")])
    func extensionPackAndRDPByVersion(version: String, module: String?, says: String) throws {
        let fake = FakeVirtualBox(version: version)
        let nginx = try NginxServer()
        let work = TempDir()
        let file = "Oracle_VirtualBox_Extension_Pack-\(version).vbox-extpack"
        let pack = try Self.makePack(work, license: "license \(version)\n", vrdeModule: module)
        nginx.add("virtualbox/\(version)/\(file)", bytes: pack)
        nginx.add("virtualbox/\(version)/SHA256SUMS", bytes: Data("\(try sha256sum(pack)) *\(file)\n".utf8))
        var env = fake.environment
        env["TMPDIR"] = work.path
        let r = try run(TestPaths.vmprov.path, ["setup", "--extpack", "auto", "--extpack-url", "\(nginx.base)/virtualbox"], environment: env)
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stdout.contains("setup: RDP: ") && r.stdout.contains(says), "\(r.stdout)")
        // A local file says the same.
        let local = work.write("local/\(file)", bytes: pack)
        let l = try run(TestPaths.vmprov.path, ["setup", "--extpack", local.path], environment: env)
        #expect(l.status == 0 && l.stdout.contains(says), "\(l.output)")
    }

    /// A real gzip tarball laid out like an extension pack.
    static func makePack(_ dir: TempDir, license: String, name: String = "Oracle VirtualBox Extension Pack",
                         vrdeModule: String? = nil) throws -> Data {
        let src = TempDir("pack-src")
        let vrde = vrdeModule.map { "  <VRDEModule>\($0)</VRDEModule>\n" } ?? ""
        src.write("ExtPack.xml", "<?xml version=\"1.0\"?>\n<VirtualBoxExtensionPack xmlns=\"http://www.virtualbox.org/VirtualBoxExtensionPack\" version=\"1.0\">\n  <Name>\(name)</Name>\n\(vrde)</VirtualBoxExtensionPack>\n")
        src.write("ExtPack-license.txt", license)
        src.write("linux.amd64/VBoxVRDP.so", "stand-in")
        let out = dir.file("pack.tgz").path
        let r = try run(which("tar")!, ["-czf", out, "-C", src.path, "./ExtPack.xml", "./ExtPack-license.txt", "./linux.amd64"])
        #expect(r.status == 0, "\(r.output)")
        return bytes(URL(fileURLWithPath: out))
    }

    @Test(arguments: [("7.1.4", "Oracle_VirtualBox_Extension_Pack-7.1.4.vbox-extpack"),
                      ("7.0.20_Ubuntu", "Oracle_VM_VirtualBox_Extension_Pack-7.0.20.vbox-extpack")])
    func extensionPackIsVerifiedAndItsLicenseAcceptedByHash(version: String, file: String) throws {
        let fake = FakeVirtualBox(version: version)
        let nginx = try NginxServer()
        let work = TempDir()
        let license = "VirtualBox Extension Pack Personal Use and Evaluation License (PUEL)\n\nstand-in text \(version)\n"
        let pack = try Self.makePack(work, license: license)
        let number = String(version.prefix { $0 != "_" })
        nginx.add("virtualbox/\(number)/\(file)", bytes: pack)
        nginx.add("virtualbox/\(number)/SHA256SUMS", bytes: Data("\(String(repeating: "a", count: 64)) *VirtualBox.tar.bz2\n\(try sha256sum(pack)) *\(file)\n".utf8))
        var env = fake.environment
        env["TMPDIR"] = work.path
        let r = try run(TestPaths.vmprov.path, ["setup", "--extpack", "auto", "--extpack-url", "\(nginx.base)/virtualbox"], environment: env)
        #expect(r.status == 0, "\(r.output)")
        let log = String(decoding: bytes(fake.home.file("extpack.log")), as: UTF8.self)
        #expect(log == "accept-license=\(try sha256sum(Data(license.utf8))) file=\(file)\n")
        #expect(r.stdout.contains("Successfully installed"))
        #expect(leftovers(work) == ["pack.tgz"], "the downloaded pack is removed")
    }

    @Test func aBadChecksumInstallsNothing() throws {
        let fake = FakeVirtualBox(version: "7.1.4")
        let nginx = try NginxServer()
        let work = TempDir()
        let pack = try Self.makePack(work, license: "license\n")
        let file = "Oracle_VirtualBox_Extension_Pack-7.1.4.vbox-extpack"
        nginx.add("virtualbox/7.1.4/\(file)", bytes: pack)
        nginx.add("virtualbox/7.1.4/SHA256SUMS", bytes: Data("\(String(repeating: "b", count: 64)) *\(file)\n".utf8))
        var env = fake.environment
        env["TMPDIR"] = work.path
        let r = try run(TestPaths.vmprov.path, ["setup", "--extpack", "auto", "--extpack-url", "\(nginx.base)/virtualbox"], environment: env)
        #expect(r.status == 65)
        #expect(r.stderr.contains("checksum mismatch"))
        #expect(!FileManager.default.fileExists(atPath: fake.home.file("extpack.log").path))
        // A local file with a wrong archive is refused before VBoxManage runs.
        let junk = work.write("junk.vbox-extpack", "not a tarball")
        let j = try run(TestPaths.vmprov.path, ["setup", "--extpack", junk.path], environment: env)
        #expect(j.status == 65 && j.stderr.contains("not a gzip-compressed tar archive"))
        #expect(!FileManager.default.fileExists(atPath: fake.home.file("extpack.log").path))
    }
}
}
