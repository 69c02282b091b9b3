import Foundation
import Provision
import Testing
import TestSupport

/// Release-form profiles resolved through each publisher's checksum file, against a local nginx mirror laid out
/// like the publisher (current and archive folders, the publisher's checksum format and signature form, signed by
/// a test key), with the built binary and real gpgv. The binary's built-in profiles are used (no VMPROV_PROFILES):
/// `BuiltinProfileTests` proves they are the files in profiles/.
@Suite("Release-form profiles, end to end", .serialized)
struct ReleaseProfileTests {
    /// What a publisher's folder looks like for one profile.
    struct Layout: Sendable {
        var name: String
        /// Three releases, oldest first (the middle one is "current" at the start).
        var versions: [String]
        /// Other images in the same folder and checksum file that must never match.
        var others: @Sendable (String) -> [String]
        /// The publisher ships no point releases into this folder (the checksum file's name is the release's).
        var fixed = false
    }

    static let layouts: [Layout] = [
        Layout(name: "debian", versions: ["13.6.0", "13.7.0", "13.8.0"]) {
            ["debian-edu-\($0)-amd64-netinst.iso", "debian-mac-\($0)-amd64-netinst.iso", "debian-\($0)-amd64-DVD-1.iso"]
        },
        Layout(name: "ubuntu", versions: ["24.04.4", "24.04.5", "24.04.6"]) {
            ["ubuntu-\($0)-desktop-amd64.iso", "ubuntu-\($0)-live-server-arm64.iso"]
        },
        Layout(name: "ubuntu-desktop", versions: ["24.04.4", "24.04.5.1", "24.04.6"]) {
            ["ubuntu-\($0)-live-server-amd64.iso", "ubuntu-\($0)-desktop-arm64.iso"]
        },
        Layout(name: "fedora", versions: ["1.6", "1.7", "1.8"], others: { ["Fedora-Server-dvd-x86_64-44-\($0).iso"] },
               fixed: true),
        Layout(name: "alma", versions: ["9.7", "9.8", "9.9"]) {
            ["AlmaLinux-9-latest-x86_64-boot.iso", "AlmaLinux-\($0)-x86_64-minimal.iso", "AlmaLinux-\($0)-x86_64-dvd.iso"]
        },
        Layout(name: "rocky", versions: ["9.7", "9.8", "9.9"]) {
            ["Rocky-9-latest-x86_64-boot.iso", "Rocky-\($0)-x86_64-minimal.iso"]
        },
        Layout(name: "arch", versions: ["2026.09.01", "2026.10.01", "2026.11.01"]) {
            ["archlinux-x86_64.iso", "archlinux-bootstrap-\($0)-x86_64.tar.zst"]
        },
        Layout(name: "opensuse", versions: ["16.0", "16.0", "16.0"], others: { _ in [] }, fixed: true),
        Layout(name: "freebsd", versions: ["14.4", "14.4", "14.4"], others: {
            ["FreeBSD-\($0)-RELEASE-amd64-disc1.iso.xz", "FreeBSD-\($0)-RELEASE-amd64-bootonly.iso"]
        }, fixed: true),
    ]

    static let profilesDir = TestPaths.packageRoot.appendingPathComponent("profiles").path

    /// A local mirror for every publisher, under `PREFIX/HOST/PATH`.
    final class PublisherMirror: @unchecked Sendable {
        let nginx: NginxServer
        let key: TestKey
        var prefix: String { nginx.base + "/m" }
        init() throws {
            nginx = try NginxServer()
            key = try TestKey()
        }

        /// `https://HOST/PATH/` → `m/HOST/PATH/` under the served root.
        func local(_ url: String) -> String {
            "m/" + String(url.drop { $0 != "/" }.dropFirst(2))
        }

        /// The current folder on every mirror, or the archive folder for `release`.
        func folders(_ p: Profile, archiveFor release: String? = nil) -> [String] {
            func slash(_ s: String) -> String { s.hasSuffix("/") ? s : s + "/" }
            if let release {
                let a = p.iso.archive[0].replacingOccurrences(of: "{release}", with: release)
                return a.contains("://") ? [local(slash(a))] : p.iso.mirrors.map { local(slash($0) + slash(a)) }
            }
            return p.iso.mirrors.map { local(slash($0) + slash(p.iso.folder!)) }
        }

        static func payload(_ name: String) -> Data {
            var d = Data("stand-in for \(name)\n".utf8)
            d.append(randomData(4096))
            return d
        }

        /// Publishes `names` (with stand-in contents) into `folder`, with the profile's checksum file in the
        /// publisher's format and its signature form. `after` is appended after signing (outside the signed part).
        func publish(_ p: Profile, names: [String], in folder: String, signed: Bool = true, after: String = "") throws {
            let ref = p.iso.checksum!.replacingOccurrences(of: "file:", with: "")
            var lines = ""
            for name in names {
                let data = Self.payload(name)
                let iso = nginx.add(folder + name, bytes: data)
                let sha256 = try sha256sum(data)
                switch ref {
                case "SHA512SUMS":
                    let tmp = TempDir()
                    let sha512 = try run(which("sha512sum")!, [tmp.write("x", bytes: data).path]).stdout.prefix(128)
                    lines += "\(sha512)  \(name)\n"
                case "SHA256SUMS": lines += "\(sha256) *\(name)\n"
                case _ where ref.hasSuffix("CHECKSUM"): lines += "# \(name): \(data.count) bytes\nSHA256 (\(name)) = \(sha256)\n"
                case _ where ref.hasPrefix("CHECKSUM.SHA256"): lines += "SHA256 (\(name)) = \(sha256)\n"
                default: lines += "\(sha256)  \(name)\n"
                }
                if let sig = p.iso.signature, sig.contains("{iso}") {
                    nginx.add(folder + sig.replacingOccurrences(of: "{iso}", with: name), bytes: try key.sign(iso, .detachedBinary))
                }
            }
            let sums = nginx.add(folder + ref, bytes: Data(lines.utf8))
            guard signed, p.iso.keyFingerprint != nil else { return }
            if let sig = p.iso.signature, !sig.contains("{iso}") {
                nginx.add(folder + sig, bytes: try key.sign(sums, .detachedArmoured))
            } else if p.iso.signature == nil {
                var clear = try key.sign(sums, .clearsigned)
                clear.append(Data(after.utf8))
                nginx.add(folder + ref, bytes: clear)
            }
        }

        func remove(_ folder: String) {
            try? FileManager.default.removeItem(at: nginx.root.file(folder))
        }
    }

    static func env(_ m: PublisherMirror) -> [String: String] {
        ["VMPROV_TEST_MIRROR_PREFIX": m.prefix, "VMPROV_CACHE": TempDir().path, "VMPROV_GUEST_ADDITIONS": "none"]
    }

    static func keyArgs(_ p: Profile, _ m: PublisherMirror) -> [String] {
        p.isSigned ? ["--keyring", m.key.publicKey.path] : []
    }

    struct Shown: Decodable { var resolved: ResolvedRelease? }

    /// `profiles show NAME --resolve --json` → the resolution, or the failed run.
    static func resolve(_ p: Profile, _ m: PublisherMirror, _ extra: [String] = []) throws -> (ResolvedRelease?, RunResult) {
        let r = try vmprov(["profiles", "show", p.name, "--resolve", "--json"] + keyArgs(p, m) + extra, environment: env(m))
        guard r.status == 0 else { return (nil, r) }
        return (try JSONDecoder().decode(Shown.self, from: Data(r.stdout.utf8)).resolved, r)
    }

    static func file(_ p: Profile, _ version: String) -> String {
        p.iso.pattern!.replacingOccurrences(of: "{version}", with: version)
    }

    @Test(arguments: layouts.map(\.name))
    func resolvesLikeThePublisher(name: String) throws {
        let layout = try #require(Self.layouts.first { $0.name == name })
        let p = try ProfileCatalog(folders: [Self.profilesDir]).load(name)
        #expect(p.iso.isRelease && p.iso.urls.isEmpty, "\(name) names no pinned ISO")
        let m = try PublisherMirror()
        let (old, current, next) = (layout.versions[0], layout.versions[1], layout.versions[2])
        let others = layout.others(current)
        // 1. The right file: the highest version, never the other images in the folder.
        let first = layout.fixed ? [Self.file(p, current)] : [Self.file(p, old), Self.file(p, current)]
        for folder in m.folders(p) { try m.publish(p, names: others + first, in: folder) }
        let (r1, out1) = try Self.resolve(p, m)
        #expect(r1?.fileName == Self.file(p, current), "\(name): \(out1.output)")
        #expect(r1?.fromArchive == false)
        #expect(r1.map { Set($0.candidates).isDisjoint(with: others) } ?? false, "\(name): \(r1?.candidates ?? [])")
        #expect(r1?.signer == (p.iso.keyFingerprint != nil && p.iso.signature.map { !$0.contains("{iso}") } ?? true
                                ? m.key.fingerprint : nil), "\(name)")

        if !layout.fixed {
            // 2. A new point release appears: picked without changing the profile.
            for folder in m.folders(p) { try m.publish(p, names: others + [Self.file(p, current), Self.file(p, next)], in: folder) }
            let (r2, out2) = try Self.resolve(p, m)
            #expect(r2?.fileName == Self.file(p, next), "\(name): \(out2.output)")
            // 3. The old one moved to the archive: --release still finds it there; the summary says so.
            for folder in m.folders(p, archiveFor: current) { try m.publish(p, names: [Self.file(p, current)], in: folder) }
            for folder in m.folders(p) { try m.publish(p, names: others + [Self.file(p, next)], in: folder) }
            let (r3, out3) = try Self.resolve(p, m, ["--release", current])
            #expect(r3?.fileName == Self.file(p, current) && r3?.fromArchive == true, "\(name): \(out3.output)")
            let (r4, out4) = try Self.resolve(p, m, ["--release", "1.2.3.4"])
            #expect(r4 == nil && out4.status == 66 && out4.stderr.contains("release 1.2.3.4 was not found"), "\(name): \(out4.output)")
        } else if !p.iso.archive.isEmpty {
            // The release left the mirrors: its archive folder serves it.
            for folder in m.folders(p) { m.remove(folder) }
            for folder in m.folders(p, archiveFor: "") { try m.publish(p, names: others + [Self.file(p, current)], in: folder) }
            let (r3, out3) = try Self.resolve(p, m)
            #expect(r3?.fileName == Self.file(p, current) && r3?.fromArchive == true, "\(name): \(out3.output)")
            for folder in m.folders(p, archiveFor: "") { m.remove(folder) }
            for folder in m.folders(p) { try m.publish(p, names: others + [Self.file(p, current)], in: folder) }
        }
        let latest = layout.fixed ? current : next
        let folder0 = m.folders(p)[0]
        // 4. Two matches the ordering cannot separate (13.8.0 and 13.8.0.0): refused, both named.
        let tie = Self.file(p, latest + ".0")
        try m.publish(p, names: others + [Self.file(p, latest), tie], in: folder0)
        let (r5, out5) = try Self.resolve(p, m)
        #expect(r5 == nil && out5.status == 65, "\(name): \(out5.output)")
        #expect(out5.stderr.contains("cannot be ordered") && out5.stderr.contains(tie), "\(name): \(out5.stderr)")
        // 5. A newer match outside the signed part, and 6. an unsigned checksum file, where the publisher signs it.
        let checksumSigned = p.iso.keyFingerprint != nil && !(p.iso.signature ?? "").contains("{iso}")
        let newer = Self.file(p, latest.split(separator: ".").map { String((Int($0) ?? 0) + 1) }.joined(separator: "."))
        if checksumSigned {
            if p.iso.signature == nil {
                // Clearsigned: text after the signature block is never read.
                let trailer = "SHA256 (\(newer)) = \(String(repeating: "a", count: 64))\n"
                try m.publish(p, names: others + [Self.file(p, latest)], in: folder0, after: trailer)
                let (r6, out6) = try Self.resolve(p, m)
                #expect(r6?.fileName == Self.file(p, latest), "\(name): \(out6.output)")
            } else {
                // An unsigned second checksum file beside the signed one, listing a newer match: never read.
                try m.publish(p, names: others + [Self.file(p, latest)], in: folder0)
                m.nginx.add(folder0 + "SHA1SUMS", bytes: Data("\(String(repeating: "b", count: 40))  \(newer)\n".utf8))
                m.nginx.add(folder0 + "SHA256SUMS.txt", bytes: Data("\(String(repeating: "b", count: 64))  \(newer)\n".utf8))
                let (r6a, out6a) = try Self.resolve(p, m)
                #expect(r6a?.fileName == Self.file(p, latest), "\(name): \(out6a.output)")
                // Detached: a line added after signing breaks the signature.
                let sums = m.nginx.root.file(folder0 + p.iso.checksum!.replacingOccurrences(of: "file:", with: ""))
                var text = try Data(contentsOf: sums)
                text.append(Data("\(String(repeating: "a", count: 64)) *\(newer)\n".utf8))
                try text.write(to: sums)
                let (r6, out6) = try Self.resolve(p, m)
                #expect(r6 == nil && out6.status == 65 && out6.stderr.contains("BAD signature"), "\(name): \(out6.output)")
            }
            try m.publish(p, names: others + [Self.file(p, latest)], in: folder0, signed: false)
            if let sig = p.iso.signature { m.remove(folder0 + sig) }
            let (r7, out7) = try Self.resolve(p, m)
            #expect(r7 == nil && out7.status != 0, "\(name): \(out7.output)")
            #expect(out7.stderr.contains("no signature was verified") || out7.stderr.contains("signature"), "\(name): \(out7.stderr)")
        }
    }

    /// `create --profile NAME` for every downloadable release-form profile, with no pinned ISO name anywhere.
    @Test func createEveryReleaseProfileEndToEnd() throws {
        let m = try PublisherMirror()
        let out = TempDir()
        for layout in Self.layouts {
            let p = try ProfileCatalog(folders: [Self.profilesDir]).load(layout.name)
            let current = layout.versions[1]
            let names = layout.others(current) + (layout.fixed ? [] : [Self.file(p, layout.versions[0])]) + [Self.file(p, current)]
            for folder in m.folders(p) { try m.publish(p, names: names, in: folder) }
            let r = try vmprov(["create", "--profile", p.name, "--dir", out.path, "--disk-size", "64M"] + Self.keyArgs(p, m),
                               environment: Self.env(m))
            #expect(r.status == 0, "\(p.name): \(r.output)")
            let iso = out.file(p.name).appendingPathComponent(Self.file(p, current))
            #expect(FileManager.default.fileExists(atPath: iso.path), "\(p.name): \(r.output)")
            #expect(bytes(iso).starts(with: Data("stand-in for \(Self.file(p, current))\n".utf8)))
            #expect(r.stdout.contains("release: \(Self.file(p, current)) (version \(current)) from \(m.prefix)/"), "\(p.name): \(r.stdout)")
            #expect(r.stdout.contains(p.isSigned ? "signature: good signature" : "the publisher signs nothing"), "\(p.name): \(r.stdout)")
            if !layout.fixed {
                // --release finds an archived release; the summary names the archive folder.
                for folder in m.folders(p, archiveFor: layout.versions[0]) {
                    try m.publish(p, names: [Self.file(p, layout.versions[0])], in: folder)
                }
                for folder in m.folders(p) { try m.publish(p, names: layout.others(current) + [Self.file(p, current)], in: folder) }
                let old = try vmprov(["create", "--profile", p.name, "--name", p.name + "-old", "--release", layout.versions[0],
                                      "--dir", out.path, "--disk-size", "64M"] + Self.keyArgs(p, m), environment: Self.env(m))
                #expect(old.status == 0 && old.stdout.contains("(an archive folder)"), "\(p.name): \(old.output)")
            }
        }
        // --release with a pinned-URL profile is a usage error.
        let pinned = try vmprov(["create", "--profile", "alpine", "--release", "3.24.1", "--dir", out.path],
                                environment: Self.env(m))
        #expect(pinned.status == 64 && pinned.stderr.contains("--release needs a profile in the release form"), "\(pinned.output)")
    }

    @Test func profilesCheckSucceedsAndFails() throws {
        let m = try PublisherMirror()
        let names = Self.layouts.map(\.name)
        for layout in Self.layouts {
            let p = try ProfileCatalog(folders: [Self.profilesDir]).load(layout.name)
            for folder in m.folders(p) { try m.publish(p, names: layout.others(layout.versions[1]) + [Self.file(p, layout.versions[1])], in: folder) }
        }
        let ok = try vmprov(["profiles", "check"] + names + ["--keyring", m.key.publicKey.path, "--json"], environment: Self.env(m))
        #expect(ok.status == 0, "\(ok.output)")
        let results = try JSONDecoder().decode([ProfileCheckResult].self, from: Data(ok.stdout.utf8))
        #expect(results.map(\.profile) == names && results.allSatisfy { $0.status == "ok" }, "\(ok.stdout)")
        // Every mirror of every profile was asked for the installer (and Arch's signature over it).
        let ubuntu = try #require(results.first { $0.profile == "ubuntu" })
        #expect(ubuntu.probes.count == 2 && ubuntu.signer == m.key.fingerprint)
        #expect(results.first { $0.profile == "arch" }?.probes.count == 4)
        let table = try vmprov(["profiles", "check", "debian", "--keyring", m.key.publicKey.path], environment: Self.env(m))
        #expect(table.status == 0 && table.stdout.contains("PROFILE") && table.stdout.contains("debian-13.7.0-amd64-netinst.iso"),
                "\(table.output)")
        // The ISO gone from the second Ubuntu mirror, and Debian's signature gone: both reported, non-zero exit.
        let ubuntuProfile = try ProfileCatalog(folders: [Self.profilesDir]).load("ubuntu")
        // (ubuntu and ubuntu-desktop share the 24.04 folder and its SHA256SUMS, as on the real server; the desktop
        // publication listed 24.04.5.1 images last, so the server profile resolved to that one's server image.)
        m.remove(m.folders(ubuntuProfile)[1] + (ubuntu.fileName ?? ""))
        let debian = try ProfileCatalog(folders: [Self.profilesDir]).load("debian")
        m.remove(m.folders(debian)[0] + "SHA512SUMS.sign")
        let bad = try vmprov(["profiles", "check"] + names + ["--keyring", m.key.publicKey.path, "--json"], environment: Self.env(m))
        #expect(bad.status == 65, "\(bad.output)")
        #expect(bad.stderr.contains("2 of \(names.count) profile(s) failed the check: debian, ubuntu"), "\(bad.stderr)")
        let failed = try JSONDecoder().decode([ProfileCheckResult].self, from: Data(bad.stdout.utf8)).filter(\.failed)
        #expect(failed.map(\.profile) == ["debian", "ubuntu"], "\(bad.stdout)")
        #expect(failed.first?.error?.contains("SHA512SUMS.sign") == true, "\(failed.first?.error ?? "")")
        #expect(failed.last?.probes.filter { !$0.ok }.count == 1)
    }

    /// Arch's sha256sums.txt is unsigned: a newer name planted in it still needs the ISO's own signature by the
    /// pinned key, so the download is refused and nothing is left.
    @Test func aNamePlantedInArchsUnsignedListStillNeedsTheISOSignature() throws {
        let m = try PublisherMirror()
        let stranger = try TestKey(name: "stranger")
        let p = try ProfileCatalog(folders: [Self.profilesDir]).load("arch")
        let planted = Self.file(p, "2026.11.01")
        for f in m.folders(p) {
            try m.publish(p, names: [Self.file(p, "2026.10.01"), planted], in: f)
            m.nginx.add(f + planted + ".sig", bytes: try stranger.sign(m.nginx.root.file(f + planted), .detachedBinary))
        }
        let out = TempDir()
        let r = try vmprov(["create", "--profile", "arch", "--dir", out.path, "--disk-size", "64M",
                            "--keyring", m.key.publicKey.path], environment: Self.env(m))
        #expect(r.status == 65, "\(r.output)")
        #expect(r.stderr.contains(planted), "\(r.stderr)")
        #expect(leftovers(out).isEmpty)
    }

    /// An installed binary outside the source tree knows every profile (built-in), and a file overrides by name.
    @Test func builtInProfilesTravelWithTheBinary() throws {
        let elsewhere = TempDir()
        let copy = elsewhere.file("vmprov")
        try FileManager.default.copyItem(at: TestPaths.vmprov, to: copy)
        let list = try run(copy.path, ["profiles", "list", "--json"], environment: ["VMPROV_PROFILES": ""])
        #expect(list.status == 0, "\(list.output)")
        for name in ["alma", "alpine", "arch", "custom", "debian", "fedora", "freebsd", "opensuse", "rocky", "ubuntu",
                     "ubuntu-desktop", "windows-server", "windows11"] {
            #expect(list.stdout.contains("\"name\" : \"\(name)\""), "\(name)")
        }
        #expect(list.stdout.contains("built-in:debian"))
        let override = TempDir()
        let text = try String(contentsOfFile: Self.profilesDir + "/debian.yaml", encoding: .utf8)
            .replacingOccurrences(of: "cpus: 1", with: "cpus: 3")
        override.write("debian.yaml", text)
        let shown = try run(copy.path, ["profiles", "show", "debian"], environment: ["VMPROV_PROFILES": override.path])
        #expect(shown.status == 0 && shown.stdout.contains("3 CPU(s)") && shown.stdout.contains(override.path), "\(shown.output)")
        #expect(shown.stdout.contains("newest debian-{version}-amd64-netinst.iso listed in SHA512SUMS (signed part only) of"))
    }
}
