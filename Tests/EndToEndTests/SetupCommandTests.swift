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

    /// A real gzip tarball laid out like an extension pack.
    static func makePack(_ dir: TempDir, license: String, name: String = "Oracle VirtualBox Extension Pack") throws -> Data {
        let src = TempDir("pack-src")
        src.write("ExtPack.xml", "<?xml version=\"1.0\"?>\n<VirtualBoxExtensionPack xmlns=\"http://www.virtualbox.org/VirtualBoxExtensionPack\" version=\"1.0\">\n  <Name>\(name)</Name>\n</VirtualBoxExtensionPack>\n")
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
