import DiskImages
import Foundation
@testable import Provision
import Testing
import TestSupport

/// Answer files per installer family, checked by each installer's own validator (cloud-init, subiquity's JSON
/// schema, ksvalidator, debconf-set-selections, xmllint); each test also proves the validator rejects a mutation.
@Suite struct AnswerFileTests {
    static let hash = try! PasswordHash.sha512(password: "changeme", salt: "testcase123")
    static let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB3xq0Cz5Zl8yW5YfP3Qp0Y0Yb0kC0wXh1m7QYp8Jg9x alice@laptop"

    static func input(post: String? = "#!/bin/sh\necho 'hello from post-install' > /root/vmprov-was-here\n") -> UnattendedInput {
        UnattendedInput(user: "alice", fullName: "Alice Example", passwordHash: hash, hostname: "demo-vm",
                        timezone: "Europe/Paris", locale: "fr_FR", keyboard: "fr", sshKeys: [key],
                        packages: ["curl", "git"], postInstall: post.map { Array($0.utf8) })
    }

    func text(_ files: AnswerFiles, _ path: String) throws -> String {
        let f = try #require(files.files.first { $0.path == path }, "no \(path)")
        return String(decoding: f.bytes, as: UTF8.self)
    }

    func tool(_ name: String) throws -> String { try #require(which(name), "\(name) missing: run scripts/install-deps") }

    // MARK: Ubuntu

    /// subiquity's published autoinstall schema (`autoinstall-schema.json` in canonical/subiquity, GPL-3.0) is not
    /// kept in this repository; a machine that has it sets `SUBIQUITY_AUTOINSTALL_SCHEMA=PATH` to run the checks
    /// against it. The SHA-256 it was tested with (subiquity 44e42fc6, 2026-08-20) is `schemaSHA256`.
    static let schemaPath: String? = ProcessInfo.processInfo.environment["SUBIQUITY_AUTOINSTALL_SCHEMA"]
        .flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil }
    static let schemaSHA256 = "beb72fefb590af5dfaaa615f6836c56fd74451f31b21dca631cb8c414f45a2ae"
    static let schemaReason: Comment = "subiquity's autoinstall schema is not in the repository: set SUBIQUITY_AUTOINSTALL_SCHEMA=PATH"

    /// Validates the autoinstall mapping of a user-data file against subiquity's schema; exit 0 when valid.
    func schemaCheck(_ userData: String) throws -> RunResult {
        let dir = TempDir()
        let f = dir.write("user-data", userData)
        let script = """
        import json, sys, yaml, jsonschema
        doc = yaml.safe_load(open(sys.argv[2]))
        assert open(sys.argv[2]).readline() == "#cloud-config\\n", "first line must be #cloud-config"
        jsonschema.validate(doc["autoinstall"], json.load(open(sys.argv[1])))
        print("valid")
        """
        return try run("/usr/bin/python3", ["-c", script, try #require(Self.schemaPath), f.path])
    }

    func cloudInitCheck(_ userData: String) throws -> RunResult {
        let dir = TempDir()
        let f = dir.write("user-data", userData)
        return try run(try tool("cloud-init"), ["schema", "--config-file", f.path])
    }

    @Test(.enabled(if: schemaPath != nil, schemaReason))
    func theSchemaGivenIsTheOneTestedWith() throws {
        let r = try run("/usr/bin/sha256sum", [try #require(Self.schemaPath)])
        #expect(r.stdout.hasPrefix(Self.schemaSHA256), "a different subiquity schema: \(r.stdout)")
    }

    @Test(.enabled(if: schemaPath != nil, schemaReason))
    func ubuntuUserDataPassesSubiquitySchema() throws {
        let files = try UbuntuAutoinstall.answerFiles(Self.input(), instanceID: "3b9f5a10-7c2d-4e8a-b1f4-0a1b2c3d4e5f")
        let s = try schemaCheck(try text(files, "user-data"))
        #expect(s.status == 0, "\(s.output)")
    }

    @Test func ubuntuUserDataPassesCloudInit() throws {
        let files = try UbuntuAutoinstall.answerFiles(Self.input(), instanceID: "3b9f5a10-7c2d-4e8a-b1f4-0a1b2c3d4e5f")
        #expect(files.placement == .seed(label: "cidata"))
        #expect(files.kernelParameters == ["autoinstall"])
        let userData = try text(files, "user-data")
        #expect(userData.hasPrefix("#cloud-config\nautoinstall:\n"))
        let c = try cloudInitCheck(userData)
        #expect(c.status == 0, "\(c.output)")
        #expect(c.stdout.contains("Valid cloud-config"), "\(c.output)")
        // The values read back as YAML are what went in.
        let dir = TempDir()
        let f = dir.write("user-data", userData)
        let dump = try run("/usr/bin/python3", ["-c", """
            import json, sys, yaml; a = yaml.safe_load(open(sys.argv[1]))["autoinstall"]
            print(json.dumps(a, sort_keys=True))
            """, f.path])
        let a = try #require(try JSONSerialization.jsonObject(with: Data(dump.stdout.utf8)) as? [String: Any])
        #expect(a["shutdown"] as? String == "poweroff")
        #expect(a["version"] as? Int == 1)
        let identity = try #require(a["identity"] as? [String: String])
        #expect(identity == ["realname": "Alice Example", "username": "alice", "hostname": "demo-vm", "password": Self.hash.value])
        #expect((a["ssh"] as? [String: Any])?["authorized-keys"] as? [String] == [Self.key])
        #expect(a["packages"] as? [String] == ["curl", "git"])
        #expect(a["locale"] as? String == "fr_FR.UTF-8")
        let target = try #require(a["user-data"] as? [String: Any])
        let wf = try #require((target["write_files"] as? [[String: String]])?.first)
        #expect(Data(base64Encoded: wf["content"] ?? "") == Data(Self.input().postInstall ?? []))
        #expect(target["runcmd"] as? [[String]] == [["/bin/sh", UbuntuAutoinstall.postInstallPath]])
        let meta = try text(files, "meta-data")
        #expect(meta == "instance-id: '3b9f5a10-7c2d-4e8a-b1f4-0a1b2c3d4e5f'\nlocal-hostname: demo-vm\n", "a leading digit is quoted for YAML 1.1 readers")
    }

    /// Mutations the schema must reject: proves the schema check can fail.
    @Test(.enabled(if: schemaPath != nil, schemaReason))
    func subiquitySchemaRejectsMutations() throws {
        let files = try UbuntuAutoinstall.answerFiles(Self.input(), instanceID: "i-1")
        let good = try text(files, "user-data")
        for bad in [good.replacingOccurrences(of: "shutdown: poweroff", with: "shutdown: halt"),
                    good.replacingOccurrences(of: "  version: 1\n", with: "  version: 2\n"),
                    good.replacingOccurrences(of: "    hostname: demo-vm\n", with: "")] {
            #expect(bad != good)
            #expect(try schemaCheck(bad).status != 0, "schema accepted:\n\(bad)")
        }
    }

    /// A mutation cloud-init's own schema must reject: proves the cloud-init check can fail.
    @Test func cloudInitRejectsAMutation() throws {
        let files = try UbuntuAutoinstall.answerFiles(Self.input(), instanceID: "i-1")
        let good = try text(files, "user-data")
        let c = try cloudInitCheck(good.replacingOccurrences(of: "#cloud-config\n", with: "#cloud-config\nruncmd: 7\n"))
        #expect(c.status != 0, "\(c.output)")
    }

    /// YAML look-alikes in values stay strings (a user called `null`, a host called `true`, `yes`, `1e3`).
    @Test func yamlLookalikeValuesStayStrings() throws {
        for (user, host) in [("null", "true"), ("yes", "1e3"), ("on", "0x10"), ("off", "0700"), ("n", "1")] {
            var i = Self.input(post: nil)
            i.user = user
            i.hostname = host
            let ud = try text(try UbuntuAutoinstall.answerFiles(i, instanceID: "x"), "user-data")
            if Self.schemaPath != nil { #expect(try schemaCheck(ud).status == 0, "\(ud)") }
            let dir = TempDir()
            let f = dir.write("u", ud)
            let r = try run("/usr/bin/python3", ["-c", "import sys,yaml; i=yaml.safe_load(open(sys.argv[1]))['autoinstall']['identity']; print(repr(i['username']), repr(i['hostname']))", f.path])
            #expect(r.stdout == "'\(user)' '\(host)'\n", "\(ud)")
        }
    }

    // MARK: Debian

    func debconfCheck(_ preseed: String) throws -> RunResult {
        let dir = TempDir()
        let f = dir.write("preseed.cfg", preseed)
        return try run(try tool("debconf-set-selections"), ["-c", f.path])
    }

    @Test func debianPreseedPassesDebconf() throws {
        let files = try DebianPreseed.answerFiles(Self.input())
        #expect(files.placement == .installerMedium)
        #expect(files.kernelParameters == ["auto=true", "priority=critical", "preseed/file=/cdrom/preseed.cfg"])
        let p = try text(files, "preseed.cfg")
        let r = try debconfCheck(p)
        #expect(r.status == 0, "\(r.output)")
        let lines = Set(p.split(separator: "\n").map(String.init))
        for want in ["d-i passwd/user-password-crypted password \(Self.hash.value)", "d-i passwd/username string alice",
                     "d-i debian-installer/exit/poweroff boolean true", "d-i time/zone string Europe/Paris",
                     "d-i pkgsel/include string curl git", "d-i debian-installer/locale string fr_FR.UTF-8",
                     "d-i preseed/late_command string sh /cdrom/vmprov/late.sh", "tasksel tasksel/first multiselect standard, ssh-server"] {
            #expect(lines.contains(want), "missing: \(want)")
        }
        #expect(try text(files, "vmprov/authorized_keys") == Self.key + "\n")
        #expect(try text(files, "vmprov/post-install.sh") == String(decoding: Self.input().postInstall ?? [], as: UTF8.self))
        let late = try text(files, "vmprov/late.sh")
        let sh = try run(try tool("sh"), ["-n", "-c", late])
        #expect(sh.status == 0, "late.sh is valid sh: \(sh.output)")
        // debconf-set-selections can fail: a line without a value type.
        #expect(try debconfCheck(p + "d-i broken/question\n").status != 0)
    }

    @Test func preseedEntriesRefuseLineInjection() {
        for value in ["a\nd-i passwd/root-login boolean true", "a\\", "tab\tok?\u{7}"] {
            #expect(throws: UnattendedError.self) { try DebianPreseed.render([PreseedEntry("d-i", "x/y", .string, value)]) }
        }
        #expect(throws: UnattendedError.self) { try DebianPreseed.render([PreseedEntry("d-i", "x y", .string, "v")]) }
        #expect(throws: UnattendedError.self) { try DebianPreseed.render([PreseedEntry("d-i", "x/y", .boolean, "yes")]) }
        #expect(throws: UnattendedError.self) {
            var i = Self.input()
            i.fullName = "Alice\nd-i passwd/root-login boolean true"
            _ = try DebianPreseed.answerFiles(i)
        }
    }

    // MARK: Anaconda

    func ksCheck(_ ks: String, version: String) throws -> RunResult {
        let dir = TempDir()
        let f = dir.write("ks.cfg", ks)
        return try run(try tool("ksvalidator"), ["-v", version, f.path])
    }

    @Test(arguments: ["RHEL9", "F40"]) func kickstartPassesKsvalidator(version: String) throws {
        let files = try Kickstart.answerFiles(Self.input())
        #expect(files.placement == .seed(label: "OEMDRV"))
        #expect(files.removedKernelParameters == ["rd.live.check"])
        let ks = try text(files, "ks.cfg")
        let r = try ksCheck(ks, version: version)
        #expect(r.status == 0, "\(r.output)\n\(ks)")
        #expect(ks.contains("\npoweroff\n"))
        #expect(ks.contains("user --name=alice \"--gecos=Alice Example\" --groups=wheel --password=\(Self.hash.value) --iscrypted\n"))
        #expect(ks.contains("sshkey --username=alice \"\(Self.key)\"\n"))
        #expect(ks.contains("%post --interpreter=/bin/sh --log=/root/vmprov-post-install.log\n#!/bin/sh\necho 'hello from post-install' > /root/vmprov-was-here\n%end\n"))
        // ksvalidator can fail: an unknown command, or a removed one.
        #expect(try ksCheck(ks + "bogus_command --x\n", version: version).status != 0)
        #expect(try ksCheck(ks.replacingOccurrences(of: "text\n", with: "install\n"), version: "RHEL9").status != 0)
        let url = try Kickstart.render(Self.input(post: nil), repositoryURL: "https://dl.rockylinux.org/pub/rocky/9/BaseOS/x86_64/os/")
        #expect(try ksCheck(url, version: version).status == 0)
    }

    @Test func kickstartRefusesPostScriptThatEndsTheSection() {
        #expect(throws: UnattendedError.self) { try Kickstart.answerFiles(Self.input(post: "echo hi\n  %end\nreboot\n")) }
        #expect(throws: UnattendedError.self) { try Kickstart.render(Self.input(), repositoryURL: "ftp://x") }
    }

    @Test func kickstartQuotingRoundTripsThroughShlex() throws {
        let line = try KickstartCommand("user", ["--gecos=O'Brien \"the\" \\ one", "plain"]).line()
        let r = try run("/usr/bin/python3", ["-c", "import shlex,sys; print(shlex.split(sys.argv[1])[1:])", line])
        #expect(r.stdout == "['--gecos=O\\'Brien \"the\" \\\\ one', 'plain']\n", "\(line)")
        #expect(throws: UnattendedError.self) { try KickstartCommand("x", ["a\nb"]).line() }
    }

    // MARK: Windows

    func xpath(_ xml: [UInt8], _ expr: String) throws -> RunResult {
        let dir = TempDir()
        let f = dir.write("autounattend.xml", bytes: Data(xml))
        return try run(try tool("xmllint"), ["--noout", "--nonet", "--xpath", expr, f.path])
    }

    func windowsXML(_ options: WindowsSetupOptions, post: String? = nil) throws -> [UInt8] {
        let files = try WindowsUnattend.answerFiles(Self.input(post: post), options)
        return try #require(files.files.first { $0.path == "autounattend.xml" }).bytes
    }

    /// `count(...)` through xmllint with the unattend namespace bound to `u`.
    func count(_ xml: [UInt8], _ path: String) throws -> Int {
        let expr = "count(\(path))"
        let dir = TempDir()
        let f = dir.write("a.xml", bytes: Data(xml))
        let script = "setns u=\(WindowsUnattend.namespace)\nsetns wcm=\(WindowsUnattend.wcmNamespace)\nxpath \(expr)\n"
        let r = try run(try tool("xmllint"), ["--nonet", "--shell", f.path], stdin: script)
        let m = r.stdout.split(separator: "\n").first { $0.contains("Object is a number : ") }
        return Int(m?.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "") ?? -1
    }

    @Test func windowsAnswerFileIsWellFormedAndComplete() throws {
        let opts = WindowsSetupOptions(password: "P@ss <&> \"w'rd\"", productKey: "VK7JG-NPHTM-C97JM-9MPGT-3V66T")
        let xml = try windowsXML(opts, post: "echo hi\r\n")
        let dir = TempDir()
        let f = dir.write("autounattend.xml", bytes: Data(xml))
        let lint = try run(try tool("xmllint"), ["--noout", "--nonet", f.path])
        #expect(lint.status == 0, "\(lint.output)")
        #expect(try count(xml, "/u:unattend/u:settings[@pass='windowsPE']/u:component[@name='Microsoft-Windows-Setup']/u:UserData/u:ProductKey[u:Key='VK7JG-NPHTM-C97JM-9MPGT-3V66T']") == 1)
        #expect(try count(xml, "//u:LocalAccount[@wcm:action='add'][u:Name='alice'][u:Group='Administrators'][u:Password/u:PlainText='false']") == 1)
        #expect(try count(xml, "//u:settings[@pass='specialize']//u:ComputerName[.='demo-vm']") == 1)
        #expect(try count(xml, "//u:FirstLogonCommands/u:SynchronousCommand[last()][u:CommandLine='shutdown.exe /s /t 0']") == 1)
        #expect(try count(xml, "//u:AutoLogon[u:Enabled='true'][u:LogonCount='1'][u:Username='alice']") == 1)
        #expect(try count(xml, "//u:InstallTo[u:PartitionID='3']") == 1)
        #expect(try count(xml, "//u:CreatePartition[u:Type='EFI']") == 1)
        #expect(try count(xml, "//u:RunSynchronous") == 0, "a machine meeting the minimums gets no bypass keys")
        // The obfuscated password decodes to password + "Password" in UTF-16LE; the clear text is not in the file.
        let text = String(decoding: xml, as: UTF8.self)
        #expect(!text.contains("P@ss"))
        let value = try #require(text.components(separatedBy: "<Value>").dropFirst().first { $0.hasPrefix("U") }?.components(separatedBy: "<").first)
        let decoded = try #require(Data(base64Encoded: value))
        #expect(String(data: decoded, encoding: .utf16LittleEndian) == "P@ss <&> \"w'rd\"Password")
        // The validators can fail: a truncated file is not well-formed, and the XPath checks see a removed key.
        let cut = dir.write("cut.xml", bytes: Data(xml.prefix(xml.count - 20)))
        #expect(try run(try tool("xmllint"), ["--noout", "--nonet", cut.path]).status != 0)
        let noKey = try windowsXML(WindowsSetupOptions(password: "x"))
        #expect(try count(noKey, "//u:ProductKey") == 0)
    }

    @Test func windowsBypassKeysOnlyForWhatTheMachineLacks() throws {
        let lacking = WindowsSetupOptions(password: "x", firmware: .bios, hasTPM2: false, hasSecureBoot: false,
                                          memoryMB: 2048, diskMB: 32768, cpus: 1)
        let xml = try windowsXML(lacking)
        for value in ["BypassCPUCheck", "BypassRAMCheck", "BypassSecureBootCheck", "BypassStorageCheck", "BypassTPMCheck"] {
            #expect(try count(xml, "//u:RunSynchronousCommand[u:Path='reg.exe ADD HKLM\\SYSTEM\\Setup\\LabConfig /v \(value) /t REG_DWORD /d 1 /f']") == 1, "\(value)")
        }
        #expect(try count(xml, "//u:InstallTo[u:PartitionID='1']") == 1, "BIOS layout")
        let tpmOnly = try windowsXML(WindowsSetupOptions(password: "x", hasTPM2: false))
        #expect(try count(tpmOnly, "//u:RunSynchronousCommand") == 1)
        #expect(try count(tpmOnly, "//u:RunSynchronousCommand[contains(u:Path,'BypassTPMCheck')]") == 1)
    }

    @Test func windowsRefusesBadInputs() {
        var long = Self.input()
        long.hostname = "a-very-long-hostname"
        #expect(throws: UnattendedError.self) { try WindowsUnattend.answerFiles(long, WindowsSetupOptions(password: "x")) }
        #expect(throws: UnattendedError.self) { try WindowsUnattend.answerFiles(Self.input(), WindowsSetupOptions(password: "x", productKey: "ABC")) }
        #expect(throws: UnattendedError.self) { try WindowsUnattend.answerFiles(Self.input(), WindowsSetupOptions(password: "a\u{1}b")) }
        #expect(throws: UnattendedError.self) { try WindowsUnattend.answerFiles(Self.input(), WindowsSetupOptions(password: "x", timeZone: "<bad>")) }
    }

    // MARK: Common input checks

    @Test func inputValidationNamesTheField() {
        func fails(_ change: (inout UnattendedInput) -> Void, _ field: String) {
            var i = Self.input()
            change(&i)
            #expect { try i.validate() } throws: { error in
                guard case let UnattendedError.invalid(f, _) = error else { return false }
                return f.contains(field)
            }
        }
        fails({ $0.user = "Root" }, "user")
        fails({ $0.user = "root" }, "user")
        fails({ $0.user = "a b" }, "user")
        fails({ $0.hostname = "-x" }, "hostname")
        fails({ $0.hostname = "a.b" }, "hostname")
        fails({ $0.timezone = "../etc/passwd" }, "time zone")
        fails({ $0.locale = "english" }, "locale")
        fails({ $0.sshKeys = ["not a key"] }, "ssh key")
        fails({ $0.sshKeys = [Self.key + "\nssh-rsa AAAA x"] }, "ssh key")
        fails({ $0.packages = ["curl;reboot"] }, "package")
        fails({ $0.packages = ["-x"] }, "package")
        fails({ $0.postInstall = [0xFF, 0xFE] }, "--post-install")
        fails({ $0.postInstall = [] }, "--post-install")
    }

    /// The seed image for each family carries the rendered files byte for byte (read back with libarchive).
    @Test func seedImagesCarryTheRenderedFiles() throws {
        let dir = TempDir()
        let sets = [try UbuntuAutoinstall.answerFiles(Self.input(), instanceID: "i-1"), try Kickstart.answerFiles(Self.input()),
                    try WindowsUnattend.answerFiles(Self.input(), WindowsSetupOptions(password: "x"))]
        for files in sets {
            let seed = try #require(files.seedImage)
            let path = dir.file("\(files.family.rawValue).iso").path
            try seed.write(to: path)
            let back = try ISOReader.read(path, members: files.files.map(\.path))
            for f in files.files { #expect(back[f.path] == f.bytes, "\(files.family) \(f.path)") }
            let blkid = try run(try tool("blkid"), ["-p", "-o", "value", "-s", "LABEL", path])
            #expect(blkid.stdout == seed.label + "\n")
        }
    }
}
