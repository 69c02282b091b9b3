import Foundation
import Provision
import VBoxXML
import Testing
import TestSupport
import Basics

/// `vmprov create` for every downloadable profile against a local mirror laid out like the real servers, with
/// stand-in ISOs, checksum files in each publisher's format and signatures by a test key.
@Suite("Create command, end to end", .serialized)
struct CreateCommandTests {
    static let profilesDir = TestPaths.packageRoot.appendingPathComponent("profiles").path

    final class Mirror: @unchecked Sendable {
        let nginx: NginxServer
        let key: TestKey
        init() throws {
            nginx = try NginxServer()
            key = try TestKey()
        }

        /// Publishes `payload` where `profile`'s first URL points, with its checksum file and signature.
        /// Returns the local URL of the ISO.
        func publish(_ profile: Profile, payload: Data) throws -> String {
            // A release-form profile: a stand-in name in its current folder (create is given it with --iso-url).
            // The versions the profiles pinned before they named release folders, so golden files stay the same.
            let versions = ["ubuntu": "24.04.5", "ubuntu-desktop": "24.04.5.1", "debian": "13.7.0", "fedora": "1.7",
                            "alma": "9.8", "rocky": "9.8", "arch": "2026.10.01", "opensuse": "16.0", "freebsd": "14.4"]
            let url = profile.iso.urls.first ?? (profile.iso.mirrors[0] + profile.iso.folder!
                + profile.iso.pattern!.replacingOccurrences(of: "{version}", with: versions[profile.name] ?? "1.0"))
            let path = String(url.drop { $0 != "/" }.dropFirst(2).drop { $0 != "/" })  // /dir/…/name.iso
            let name = String(path.split(separator: "/").last!)
            let folder = String(path.dropLast(name.count))
            let iso = nginx.add(String(path.dropFirst()), bytes: payload)
            let sha256 = try sha256sum(payload)
            let tmp = TempDir()
            let sha512 = try run(which("sha512sum")!, [tmp.write("x", bytes: payload).path]).stdout.prefix(128)
            var sumsName: String?
            if case .file(let ref)? = profile.iso.checksum.flatMap({ try? ChecksumSpec($0) }) {
                sumsName = ref
                let text: String
                switch ref {
                case "SHA256SUMS": text = "\(String(repeating: "0", count: 64)) *other.iso\n\(sha256) *\(name)\n"
                case "SHA512SUMS": text = "\(sha512)  \(name)\n\(String(repeating: "1", count: 128))  other.iso\n"
                case _ where ref.hasPrefix("CHECKSUM") || ref.hasSuffix("-CHECKSUM"):
                    text = "# \(name): \(payload.count) bytes\nSHA256 (\(name)) = \(sha256)\n"
                default: text = "\(sha256)  \(name)\n"
                }
                let sums = nginx.add(String(folder.dropFirst()) + ref, bytes: Data(text.utf8))
                if profile.iso.signature == nil && profile.iso.keyFingerprint != nil {
                    nginx.add(String(folder.dropFirst()) + ref, bytes: try key.sign(sums, .clearsigned))
                }
            }
            if let sig = profile.iso.signature?.replacingOccurrences(of: "{iso}", with: name) {
                let ofSums = sumsName.map { sig.hasPrefix($0) } ?? false
                let target = ofSums ? nginx.root.file(String(folder.dropFirst()) + sumsName!) : iso
                let kind: TestKey.Kind = sig.hasSuffix(".sig") ? .detachedBinary : .detachedArmoured
                nginx.add(String(folder.dropFirst()) + sig, bytes: try key.sign(target, kind))
            }
            return nginx.base + path
        }
    }

    static let downloadable = ["alma", "alpine", "arch", "custom", "debian", "fedora", "freebsd", "opensuse", "rocky",
                               "ubuntu", "ubuntu-desktop"]

    @Test func everyDownloadableProfile() throws {
        let mirror = try Mirror()
        let out = TempDir()
        let cache = TempDir()
        let catalog = ProfileCatalog(folders: [Self.profilesDir])
        for name in Self.downloadable {
            let profile = try catalog.load(name)
            let payload = randomData(200_000 + name.count)
            let url = try mirror.publish(profile, payload: payload)
            // A key is passed only where the publisher signs: a key in play demands a verified signature.
            let key = profile.isSigned ? ["--keyring", mirror.key.publicKey.path] : []
            let r = try vmprov(["create", "--profile", name, "--dir", out.path, "--iso-url", url,
                                "--disk-size", "64M", "--quiet"] + key,
                               environment: ["VMPROV_CACHE": cache.path, "VMPROV_GUEST_ADDITIONS": "none"])
            #expect(r.status == 0, "\(name): \(r.output)")
            if !profile.isSigned {
                // A key given for a download nobody signs has nothing to verify: refused, never silently unused.
                let k = try vmprov(["create", "--profile", name, "--name", name + "-k", "--dir", out.path, "--iso-url",
                                    url, "--keyring", mirror.key.publicKey.path, "--quiet"],
                                   environment: ["VMPROV_CACHE": cache.path, "VMPROV_GUEST_ADDITIONS": "none"])
                #expect(k.status == 65 && k.stderr.contains("no signature was verified"), "\(name): \(k.output)")
            }
            let folder = out.file(name)
            let iso = folder.appendingPathComponent(URLText.fileName(url))
            #expect(bytes(iso) == payload, "\(name)")
            if profile.isSigned {
                #expect(r.stdout.contains("signature: good signature"), "\(name): \(r.stdout)")
            } else {
                #expect(r.stdout.contains("the publisher signs nothing"), "\(name): \(r.stdout)")
            }
            let check = try vmprov(["check", folder.path])
            #expect(check.status == 0 && check.stdout.contains("0 error(s), 0 warning(s)"), "\(name): \(check.output)")
            let q = try run(which("qemu-img")!, ["check", "-f", "vdi", folder.appendingPathComponent("\(name).vdi").path])
            #expect(q.status == 0, "\(name): \(q.output)")
            let show = try vmprov(["show", folder.path, "--json"])
            #expect(show.stdout.contains("\"osType\" : \"\(profile.osType)\""))
        }
        #expect(leftovers(out) == Self.downloadable.sorted())
    }

    @Test func goldenSettingsWithInjectedIdentity() throws {
        let mirror = try Mirror()
        let profile = try ProfileCatalog(folders: [Self.profilesDir]).load("ubuntu")
        let payload = Data(repeating: 0x42, count: 4096)
        let url = try mirror.publish(profile, payload: payload)
        let out = TempDir()
        let env = ["VMPROV_CACHE": TempDir().path, "VMPROV_GUEST_ADDITIONS": "/usr/lib/virtualbox/additions/VBoxGuestAdditions.iso",
                   "VMPROV_TEST_UUIDS": "3b9f5a10-7c2d-4e8a-b1f4-0a1b2c3d4e5f,6d1f9c2e-8a47-4b6e-9f1e-2b3c4d5e6f70,"
                       + "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d,0f1e2d3c-4b5a-4968-8776-655443322110",
                   "VMPROV_TEST_MAC": "080027C0FFEE", "VMPROV_TEST_TIME": "1767225600"]
        let r = try vmprov(["create", "--profile", "ubuntu", "--name", "golden", "--dir", out.path, "--iso-url", url,
                            "--keyring", mirror.key.publicKey.path, "--quiet"], environment: env)
        #expect(r.status == 0, "\(r.output)")
        let written = String(decoding: bytes(out.file("golden/golden.vbox")), as: UTF8.self)
        let goldenURL = TestPaths.packageRoot.appendingPathComponent("Tests/Fixtures/golden/create-ubuntu.vbox")
        if ProcessInfo.processInfo.environment["VMPROV_WRITE_GOLDEN"] == "1" { try Data(written.utf8).write(to: goldenURL) }
        #expect(written == String(decoding: bytes(goldenURL), as: UTF8.self))
        #expect(VDIHeader.creationUUID(path: out.file("golden/golden.vdi").path)?.description == "6d1f9c2e-8a47-4b6e-9f1e-2b3c4d5e6f70")
        // A 2 TiB disk is sparse and quick.
        let t0 = Date()
        let big = try vmprov(["create", "--profile", "ubuntu", "--name", "big", "--dir", out.path, "--iso-url", url,
                              "--keyring", mirror.key.publicKey.path, "--disk-size", "2T", "--quiet"], environment: env)
        #expect(big.status == 0)
        #expect(Date().timeIntervalSince(t0) < 10)
        #expect(FileHasher.allocated(out.file("big/big.vdi").path) < 16 << 20)
    }

    @Test func refusalsLeaveNothingBehind() throws {
        let mirror = try Mirror()
        let stranger = try TestKey(name: "stranger")
        let catalog = ProfileCatalog(folders: [Self.profilesDir])
        let profile = try catalog.load("debian")
        let payload = randomData(100_000)
        let url = try mirror.publish(profile, payload: payload)
        let out = TempDir()
        let cache = TempDir()
        let env = ["VMPROV_CACHE": cache.path, "VMPROV_GUEST_ADDITIONS": "none"]
        // A foreign signature.
        let foreign = try vmprov(["create", "--profile", "debian", "--dir", out.path, "--iso-url", url,
                                  "--keyring", stranger.publicKey.path, "--quiet"], environment: env)
        #expect(foreign.status == 65, "\(foreign.output)")
        #expect(leftovers(out).isEmpty)
        // A tampered ISO (the mirror serves other bytes than the checksum file says).
        mirror.nginx.add(String(url.dropFirst(mirror.nginx.base.count + 1)), bytes: randomData(100_000))
        let tampered = try vmprov(["create", "--profile", "debian", "--dir", out.path, "--iso-url", url,
                                   "--keyring", mirror.key.publicKey.path, "--quiet"], environment: env)
        #expect(tampered.status == 65)
        #expect(tampered.stderr.contains("checksum mismatch"))
        #expect(leftovers(out).isEmpty)
        // An existing folder.
        mirror.nginx.add(String(url.dropFirst(mirror.nginx.base.count + 1)), bytes: payload)
        #expect(try vmprov(["create", "--profile", "debian", "--dir", out.path, "--iso-url", url,
                            "--keyring", mirror.key.publicKey.path, "--quiet"], environment: env).status == 0)
        let before = bytes(out.file("debian/debian.vbox"))
        let again = try vmprov(["create", "--profile", "debian", "--dir", out.path, "--iso-url", url,
                                "--keyring", mirror.key.publicKey.path, "--quiet"], environment: env)
        #expect(again.status == 73 && again.stderr.contains("exists already"))
        #expect(bytes(out.file("debian/debian.vbox")) == before)
        #expect(leftovers(out) == ["debian"])
        // --force replaces it, served from the cache this time.
        let forced = try vmprov(["create", "--profile", "debian", "--dir", out.path, "--iso-url", url,
                                 "--keyring", mirror.key.publicKey.path, "--force", "--memory", "4096"], environment: env)
        #expect(forced.status == 0 && forced.stdout.contains("from the cache"))
        #expect(String(decoding: bytes(out.file("debian/debian.vbox")), as: UTF8.self).contains("RAMSize=\"4096\""))
        #expect(leftovers(out) == ["debian"])
    }

    /// Two creates of one name into one --dir at once (each with its own cache): one wins, the other is refused with
    /// 73, and the winner's folder is never replaced without --force. The first is held in a stalled download while
    /// the second runs from start to end.
    @Test func twoCreatesOfOneNameAtOnceNeverReplaceEachOther() throws {
        let server = try FaultServer()
        let payload = randomData(200_000)
        server.add("disk.iso", bytes: payload)
        let digest = try sha256sum(payload)
        let out = TempDir()
        let cacheA = TempDir()
        func args(_ url: String, memory: String) -> [String] {
            ["create", "--profile", "ubuntu", "--name", "vm", "--dir", out.path, "--iso-url", url, "--checksum",
             "sha256:\(digest)", "--memory", memory, "--quiet"]
        }
        let first = Process()
        first.executableURL = TestPaths.vmprov
        first.arguments = args("\(server.base)/stall/disk.iso", memory: "1111")
        var env = ProcessInfo.processInfo.environment
        env["VMPROV_CACHE"] = cacheA.path
        env["VMPROV_GUEST_ADDITIONS"] = "none"
        env["VMPROV_TEST_STALL_SECONDS"] = "3"
        env["VMPROV_TEST_BACKOFF"] = "0.1"
        env.removeValue(forKey: "VMDIR")
        first.environment = env
        first.standardOutput = FileHandle.nullDevice
        first.standardError = FileHandle.nullDevice
        try first.run()
        // Start signal only (no timing assertion): the first one has passed its check and is downloading.
        let part = cacheA.path + "/downloads/disk.iso.partial"
        for _ in 0..<200 where FileHasher.size(part) == 0 { Thread.sleep(forTimeInterval: 0.05) }
        let second = try vmprov(args("\(server.base)/ok/disk.iso", memory: "2222"),
                                environment: ["VMPROV_CACHE": TempDir().path, "VMPROV_GUEST_ADDITIONS": "none"])
        first.waitUntilExit()
        let statuses = [first.terminationStatus, second.status].sorted()
        #expect(statuses == [0, 73], "first \(first.terminationStatus), second \(second.output)")
        let winner = first.terminationStatus == 0 ? "1111" : "2222"
        let vbox = String(decoding: bytes(out.file("vm/vm.vbox")), as: UTF8.self)
        #expect(vbox.contains("RAMSize=\"\(winner)\""))
        #expect(leftovers(out) == ["vm"])
    }

    /// Without a cache the download waits in DIR/.vmprov-downloads before it moves into the machine folder by name;
    /// a link planted there (to a folder others can write) is refused, and nothing is written through it.
    @Test func aPlantedDownloadsFolderLinkIsRefused() throws {
        let server = try FaultServer()
        let payload = randomData(50_000)
        server.add("disk.iso", bytes: payload)
        let out = TempDir()
        let elsewhere = TempDir()
        chmod(elsewhere.path, 0o777)
        try FileManager.default.createSymbolicLink(atPath: out.file(".vmprov-downloads").path,
                                                   withDestinationPath: elsewhere.path)
        let args = ["create", "--profile", "ubuntu", "--dir", out.path, "--iso-url", "\(server.base)/ok/disk.iso",
                    "--checksum", "sha256:\(try sha256sum(payload))", "--no-cache", "--quiet"]
        let linked = try vmprov(args, environment: ["VMPROV_GUEST_ADDITIONS": "none"])
        #expect(linked.status == 73, "\(linked.output)")
        #expect(linked.stderr.contains(out.file(".vmprov-downloads").path), "\(linked.output)")
        #expect(leftovers(elsewhere).isEmpty)
        #expect(leftovers(out) == [".vmprov-downloads"])
        // A real folder of ours works.
        try FileManager.default.removeItem(atPath: out.file(".vmprov-downloads").path)
        let plain = try vmprov(args, environment: ["VMPROV_GUEST_ADDITIONS": "none"])
        #expect(plain.status == 0, "\(plain.output)")
    }

    @Test func thePinnedProfileKeyIsFetchedOnceAndChecked() throws {
        let mirror = try Mirror()
        let stranger = try TestKey(name: "stranger")
        mirror.nginx.add("keys/signer.asc", bytes: bytes(mirror.key.publicKey))
        mirror.nginx.add("keys/stranger.asc", bytes: bytes(stranger.publicKey))
        let profiles = TempDir()
        let base = try String(contentsOfFile: Self.profilesDir + "/ubuntu.yaml", encoding: .utf8)
        func profile(_ name: String, keyPath: String) -> String {
            base.replacingOccurrences(of: "name: ubuntu", with: "name: \(name)")
                .replacingOccurrences(of: "843938DF228D22F7B3742BC0D94AA3F0EFE21092", with: mirror.key.fingerprint)
                .replacingOccurrences(of: "https://keyserver.ubuntu.com/pks/lookup?op=get&search=0x\(mirror.key.fingerprint)",
                                      with: "\(mirror.nginx.base)/\(keyPath)")
        }
        profiles.write("pinned.yaml", profile("pinned", keyPath: "keys/signer.asc"))
        profiles.write("swapped.yaml", profile("swapped", keyPath: "keys/stranger.asc"))
        let p = try ProfileCatalog(folders: [profiles.path]).load("pinned")
        let url = try mirror.publish(p, payload: randomData(50_000))
        let out = TempDir()
        let cache = TempDir()
        let env = ["VMPROV_CACHE": cache.path, "VMPROV_GUEST_ADDITIONS": "none", "VMPROV_PROFILES": profiles.path]
        let ok = try vmprov(["create", "--profile", "pinned", "--dir", out.path, "--iso-url", url], environment: env)
        #expect(ok.status == 0, "\(ok.output)")
        #expect(ok.stdout.contains("good signature by \(mirror.key.fingerprint)"))
        #expect(FileManager.default.fileExists(atPath: cache.file("keys/\(mirror.key.fingerprint).asc").path))
        let requests = mirror.nginx.requests().filter { $0.hasPrefix("/keys/") }.count
        #expect(try vmprov(["create", "--profile", "pinned", "--name", "second", "--dir", out.path, "--iso-url", url],
                           environment: env).status == 0)
        #expect(mirror.nginx.requests().filter { $0.hasPrefix("/keys/") }.count == requests, "the key came from the cache")
        // The key cache follows the cache's rules: private folder, read-only entry, fingerprint re-checked on reuse.
        let keyFile = cache.file("keys/\(mirror.key.fingerprint).asc").path
        let mode = { (p: String) in ((try? FileManager.default.attributesOfItem(atPath: p)[.posixPermissions]) as? Int) ?? -1 }
        #expect(mode(keyFile) == 0o444 && mode(cache.file("keys").path) == 0o700)
        chmod(keyFile, 0o644)
        try bytes(stranger.publicKey).write(to: URL(fileURLWithPath: keyFile))
        let swappedEntry = try vmprov(["create", "--profile", "pinned", "--name", "third", "--dir", out.path,
                                       "--iso-url", url], environment: env)
        #expect(swappedEntry.status == 0, "\(swappedEntry.output)")
        #expect(swappedEntry.stderr.contains("does not hold \(mirror.key.fingerprint); removed, fetching it again"))
        #expect(mirror.nginx.requests().filter { $0.hasPrefix("/keys/") }.count == requests + 1)
        #expect(bytes(URL(fileURLWithPath: keyFile)) == bytes(mirror.key.publicKey))
        // A key URL that serves another key: refused before anything is trusted (fresh cache, no key in it).
        var fresh = env
        fresh["VMPROV_CACHE"] = TempDir().path
        let swapped = try vmprov(["create", "--profile", "swapped", "--dir", out.path, "--iso-url", url], environment: fresh)
        #expect(swapped.status == 65)
        #expect(swapped.stderr.contains("does not hold the pinned key"))
        #expect(leftovers(out) == ["pinned", "second", "third"])
    }

    @Test func windowsNeedsALocalISO() throws {
        let out = TempDir()
        let env = ["VMPROV_CACHE": TempDir().path, "VMPROV_GUEST_ADDITIONS": "none"]
        let none = try vmprov(["create", "--profile", "windows11", "--dir", out.path], environment: env)
        #expect(none.status == 64 && none.stderr.contains("give --iso PATH"))
        let isoDir = TempDir()
        let payload = randomData(10_000)
        let iso = isoDir.write("Win11_24H2_English_x64.iso", bytes: payload)
        let unverified = try vmprov(["create", "--profile", "windows11", "--dir", out.path, "--iso", iso.path], environment: env)
        #expect(unverified.status == 0, "\(unverified.output)")
        #expect(unverified.stderr.contains("is not verified"))
        let text = String(decoding: bytes(out.file("windows11/windows11.vbox")), as: UTF8.self)
        #expect(text.contains("<Firmware type=\"EFI\"/>") && text.contains("<TrustedPlatformModule type=\"v2_0\"")
                && text.contains("name=\"vmprov/SecureBoot\" value=\"requested\""))
        let good = try vmprov(["create", "--profile", "windows11", "--name", "w2", "--dir", out.path, "--iso", iso.path,
                               "--checksum", "sha256:\(try sha256sum(payload))"], environment: env)
        #expect(good.status == 0 && good.stdout.contains("verified"))
        let bad = try vmprov(["create", "--profile", "windows11", "--name", "w3", "--dir", out.path, "--iso", iso.path,
                              "--checksum", "sha256:\(String(repeating: "e", count: 64))"], environment: env)
        #expect(bad.status == 65)
        #expect(leftovers(out) == ["w2", "windows11"])
    }

    @Test func badOptions() throws {
        let out = TempDir()
        for (args, code, message) in [
            (["--profile", "nope"], Int32(66), "no such profile"),
            (["--profile", "ubuntu", "--memory", "2"], 64, "--memory"),
            (["--profile", "ubuntu", "--disk-size", "12Q"], 64, "--disk-size"),
            (["--profile", "ubuntu", "--rdp-port", "0"], 64, "--rdp-port"),
            (["--profile", "ubuntu", "--name", "a/b"], 64, "plain file name"),
            (["--profile", "ubuntu", "--iso", "/x", "--iso-url", "http://x/y.iso"], 64, "not both"),
        ] as [([String], Int32, String)] {
            let r = try vmprov(["create", "--dir", out.path] + args, environment: ["VMPROV_CACHE": TempDir().path])
            #expect(r.status == code, "\(args): \(r.output)")
            #expect(r.stderr.contains(message), "\(r.stderr)")
        }
        #expect(leftovers(out).isEmpty)
    }
}
