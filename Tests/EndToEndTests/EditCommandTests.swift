import Foundation
import Testing
import TestSupport
import Basics

let sample = """
<?xml version="1.0"?>
<VirtualBox xmlns="http://www.virtualbox.org/" version="1.19-linux">
  <Machine uuid="{3b9f5a10-7c2d-4e8a-b1f4-0a1b2c3d4e5f}" name="demo" OSType="Ubuntu_64">
    <Hardware>
      <Memory RAMSize="2048"/>
      <Network>
        <Adapter slot="0" enabled="true" MACAddress="080027C0FFEE" type="82540EM">
          <NAT localhost-reachable="false"/>
        </Adapter>
        <Adapter slot="1" enabled="true" MACAddress="080027C0FFEF" type="82540EM">
          <BridgedInterface name="eth0"/>
        </Adapter>
      </Network>
    </Hardware>
  </Machine>
</VirtualBox>

"""

/// Runs vmprov on a copy of `text` and checks that the file is byte-identical afterwards.
func expectRefusedUntouched(_ args: [String], file text: String, code: Int32, message: String,
                            stdin: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let dir = TempDir()
    let url = dir.write("m.vbox", text)
    let before = bytes(url)
    let r = try vmprov(args + [url.path], stdin: stdin)
    #expect(r.status == code, "status \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
    #expect(r.stderr.contains(message), "\(r.stderr)", sourceLocation: sourceLocation)
    #expect(bytes(url) == before, sourceLocation: sourceLocation)
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path)
    #expect(leftovers == ["m.vbox"], sourceLocation: sourceLocation)
}

extension ProcessSensitive {
@Suite("Edit commands, end to end", .serialized)
struct EditCommandTests {
    @Test func versionAndHelp() throws {
        let v = try vmprov(["--version"])
        #expect(v.status == 0 && v.stdout.hasPrefix("0."))
        let h = try vmprov(["--help"])
        #expect(h.status == 0 && h.stdout.contains("enable-rdp") && h.stdout.contains("add-forward"))
        let c = try vmprov(["--generate-completion-script", "bash"])
        #expect(c.status == 0 && c.stdout.contains("vmprov"))
    }

    @Test func addForwardPrintsComposeEntryAndIsRepeatable() throws {
        let dir = TempDir()
        let url = dir.write("vm/demo.vbox", sample)
        let r = try vmprov(["add-forward", dir.file("vm").path, "--name", "ssh", "--host-port", "2222", "--guest-port", "22"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("- \"127.0.0.1:2222:2222\""))
        let once = bytes(url)
        #expect(String(decoding: once, as: UTF8.self).contains(
            "<Forwarding name=\"ssh\" proto=\"1\" hostip=\"\" hostport=\"2222\" guestip=\"\" guestport=\"22\"/>"))
        #expect(bytes(dir.file("vm/demo.vbox-prev")) == Data(sample.utf8))
        let again = try vmprov(["add-forward", url.path, "--rule", "ssh,tcp,,2222,,22"])
        #expect(again.status == 0)
        #expect(bytes(url) == once)
        let list = try vmprov(["forwards", url.path, "--json"])
        #expect(list.stdout.contains("\"hostPort\" : 2222"))
        let rm = try vmprov(["remove-forward", url.path, "--name", "ssh"])
        #expect(rm.status == 0)
        #expect(bytes(url) == Data(sample.utf8))
    }

    @Test func vmdirIsTheDefaultTarget() throws {
        let dir = TempDir()
        let url = dir.write("demo.vbox", sample)
        let r = try vmprov(["enable-rdp", "--address", "127.0.0.1"], environment: ["VMDIR": dir.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(String(decoding: bytes(url), as: UTF8.self).contains("<RemoteDisplay enabled=\"true\">"))
        #expect(!r.stderr.contains("no authentication"), "loopback with Null auth does not warn")
        let show = try vmprov(["show", "--json"], environment: ["VMDIR": dir.path])
        #expect(show.stdout.contains("\"enabled\" : true"))
    }

    @Test func passwordComesFromStdinAndIsNeverPrinted() throws {
        let dir = TempDir()
        let url = dir.write("demo.vbox", sample)
        let r = try vmprov(["enable-rdp", url.path, "--user", "alice", "--password-stdin"], stdin: "s3cret-pw\n")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!r.output.contains("s3cret-pw"))
        let text = String(decoding: bytes(url), as: UTF8.self)
        #expect(!text.contains("s3cret-pw"))
        let digest = try run("/usr/bin/sha256sum", [], stdin: "s3cret-pw").stdout.prefix(64)
        #expect(text.contains("name=\"VBoxAuthSimple/users/alice\" value=\"\(digest)\""))
        #expect(text.contains("authType=\"External\" authLibrary=\"VBoxAuthSimple\""))
    }

    @Test func nullAuthOnAllAddressesWarnsLoudly() throws {
        let dir = TempDir()
        let url = dir.write("demo.vbox", sample)
        let r = try vmprov(["enable-rdp", url.path, "--address", "0.0.0.0"])
        #expect(r.status == 0)
        #expect(r.stderr.contains("warning: RDP has no authentication"))
    }

    @Test(arguments: [
        (["add-forward", "--name", "a,b", "--host-port", "1", "--guest-port", "1"], Int32(64), "comma"),
        (["add-forward", "--host-port", "0", "--guest-port", "1"], 64, "outside 1-65535"),
        (["add-forward", "--host-port", "70000", "--guest-port", "1"], 64, "outside 1-65535"),
        (["add-forward", "--host-port", "x", "--guest-port", "1"], 64, "not a number"),
        (["add-forward", "--host-port", "22", "--guest-port", "1", "--proto", "sctp"], 64, "not tcp or udp"),
        (["add-forward", "--host-port", "22", "--guest-port", "1", "--host-ip", "300.1.1.1"], 65, "hostip \"300.1.1.1\" is not an IPv4 address"),
        (["add-forward", "--rule", "a,tcp,,1,,"], 64, "not a number"),
        (["add-forward", "--rule", "a,tcp,1,1"], 64, "needs 6"),
        (["add-forward", "--host-port", "22"], 64, "--guest-port"),
        (["add-forward", "--host-port", "2", "--guest-port", "1", "--adapter", "0"], 64, "numbered from 1"),
        (["add-forward", "--host-port", "2", "--guest-port", "1", "--adapter", "2"], 65, "BridgedInterface, not NAT"),
        (["add-forward", "--host-port", "2", "--guest-port", "1", "--adapter", "3"], 65, "not configured"),
        (["add-forward", "--host-port", "2", "--guest-port", "1", "--adapter", "9"], 65, "adapters 1-8"),
        (["remove-forward", "--name", "nope"], 65, "has no rule named"),
        (["enable-rdp", "--port", "0"], 64, "outside 1-65535"),
        (["enable-rdp", "--port", "10-5"], 64, "backwards"),
        (["enable-rdp", "--port", "3389, 3390"], 64, "digits only"),
        (["enable-rdp", "--port", "65536"], 64, "outside 1-65535"),
        (["enable-rdp", "--address", "localhost:1"], 64, "not an IP"),
        // Control characters from the command line are shown escaped, never sent raw to the terminal or log.
        (["enable-rdp", "--address", "1.2.3.4\n\u{1B}[2J"], 64, "--address 1.2.3.4\\n\\u{1B}[2J is not an IP"),
        (["add-forward", "--name", "a,\rb", "--host-port", "22", "--guest-port", "1"], 64, "--name \"a,\\rb\" contains a comma"),
        (["enable-rdp", "--auth", "kerberos"], 64, "auth"),
        (["enable-rdp", "--user", "bob"], 64, "--password-stdin"),
        (["enable-rdp", "--password-stdin"], 64, "--user"),
        (["enable-rdp", "--user", "bob", "--password-stdin", "--auth", "null"], 64, "--auth external"),
        (["enable-rdp", "--user", "DOM\\bob", "--password-stdin"], 65, "backslash"),
    ] as [([String], Int32, String)])
    func invalidOptionValues(args: [String], code: Int32, message: String) throws {
        try expectRefusedUntouched(args, file: sample, code: code, message: message, stdin: "pw\n")
    }

    /// A NUL in the password: the digest of the bytes after it could never match a login (RDP clients and
    /// VBoxAuthSimple treat the password as a C string), so it is refused instead of stored silently.
    @Test func aPasswordWithANulIsRefused() throws {
        try expectRefusedUntouched(["enable-rdp", "--force", "--user", "bob", "--password-stdin"], file: sample, code: 64,
                                   message: "contains a NUL byte", stdin: "p\u{0}w\n")
    }

    @Test func emptyPasswordIsRefused() throws {
        try expectRefusedUntouched(["enable-rdp", "--user", "bob", "--password-stdin"], file: sample, code: 64,
                                   message: "no password", stdin: "\n")
    }

    @Test(arguments: [
        ("", "empty"),
        ("not xml at all", "not a well-formed"),
        (String(sample.prefix(200)), "not a well-formed"),
        ("<?xml version=\"1.0\"?>\n<Other/>\n", "root element is <Other>"),
        ("<VirtualBox xmlns=\"http://www.virtualbox.org/\" version=\"1.19-linux\"/>\n", "no <Machine>"),
        ("<VirtualBox xmlns=\"http://www.virtualbox.org/\" version=\"1.19-linux\"><Machine/></VirtualBox>\n", "no <Hardware>"),
        (sample + "<VirtualBox/>\n", "not a well-formed"),
    ])
    func badDocuments(text: String, message: String) throws {
        for command in [["enable-rdp"], ["add-forward", "--host-port", "2", "--guest-port", "2"], ["disable-rdp"]] {
            try expectRefusedUntouched(command, file: text, code: 65, message: message)
        }
    }

    @Test func entityBombIsRefused() throws {
        var bomb = "<?xml version=\"1.0\"?>\n<!DOCTYPE VirtualBox [\n <!ENTITY a \"aaaaaaaaaaaaaaaaaaaa\">\n"
        var previous = "a"
        for i in 1...12 {
            bomb += " <!ENTITY e\(i) \"" + String(repeating: "&\(previous);", count: 10) + "\">\n"
            previous = "e\(i)"
        }
        bomb += "]>\n<VirtualBox version=\"1.19-linux\"><Machine name=\"&\(previous);\"><Hardware/></Machine></VirtualBox>\n"
        try expectRefusedUntouched(["enable-rdp"], file: bomb, code: 65, message: "DOCTYPE")
    }

    @Test func externalEntityTargetIsNeverRead() throws {
        let dir = TempDir()
        // A FIFO with no writer: opening it for reading would block, so the test would time out.
        let fifo = dir.file("secret").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let text = "<?xml version=\"1.0\"?>\n<!DOCTYPE VirtualBox [ <!ENTITY x SYSTEM \"file://\(fifo)\"> ]>\n"
            + "<VirtualBox version=\"1.19-linux\"><Machine name=\"&x;\"><Hardware/></Machine></VirtualBox>\n"
        try expectRefusedUntouched(["show"], file: text, code: 65, message: "DOCTYPE")
        try expectRefusedUntouched(["enable-rdp"], file: text, code: 65, message: "DOCTYPE")
    }

    @Test func invalidUTF8IsRefused() throws {
        let dir = TempDir()
        var data = Data(sample.utf8)
        let at = data.range(of: Data("demo".utf8))!.lowerBound
        data[at] = 0xFF
        let url = dir.write("m.vbox", bytes: data)
        let r = try vmprov(["enable-rdp", url.path])
        #expect(r.status == 65)
        #expect(r.stderr.contains("m.vbox"))
        #expect(bytes(url) == data)
    }

    @Test func fiftyMegabyteFileIsRefused() throws {
        let dir = TempDir()
        var big = Data(sample.utf8)
        big.append(Data(repeating: 0x20, count: 50 << 20))
        let url = dir.write("big.vbox", bytes: big)
        let r = try vmprov(["add-forward", url.path, "--host-port", "2", "--guest-port", "2"])
        #expect(r.status == 65)
        #expect(r.stderr.contains("big.vbox") && r.stderr.contains("more than any VirtualBox settings file"))
        #expect(r.stderr.contains("limit 16 MiB"), "\(r.stderr)")
        #expect(bytes(url) == big)
    }

    /// A FIFO (or device) named as TARGET is refused before a byte is read; opening it used to block forever.
    @Test func aPipeIsRefusedWithoutWaiting() throws {
        let dir = TempDir()
        let fifo = dir.file("pipe.vbox").path
        #expect(mkfifo(fifo, 0o644) == 0)
        let r = try vmprov(["show", fifo])
        #expect(r.status == 65, "\(r.output)")
        #expect(r.stderr.contains("pipe.vbox") && r.stderr.contains("not a regular file"))
        let edit = try vmprov(["add-forward", fifo, "--force", "--host-port", "2", "--guest-port", "2"])
        #expect(edit.status == 65, "\(edit.output)")
    }

    @Test func twoVBoxFilesInTheFolderAreListed() throws {
        let dir = TempDir()
        dir.write("a.vbox", sample)
        dir.write("b.vbox", sample)
        let r = try vmprov(["enable-rdp", dir.path])
        #expect(r.status == 64)
        #expect(r.stderr.contains("a.vbox, b.vbox"))
        #expect(bytes(dir.file("a.vbox")) == Data(sample.utf8) && bytes(dir.file("b.vbox")) == Data(sample.utf8))
    }

    @Test func missingTargetExits66() throws {
        let r = try vmprov(["enable-rdp", "/nonexistent/x.vbox"])
        #expect(r.status == 66)
        #expect(r.stderr.contains("/nonexistent/x.vbox"))
        let dir = TempDir()
        let empty = try vmprov(["show", dir.path])
        #expect(empty.status == 66 && empty.stderr.contains("no .vbox file"))
    }

    @Test func readOnlyFolderFailsWithIOErrorAndLeavesTheFile() throws {
        let dir = TempDir()
        let url = dir.write("ro/m.vbox", sample)
        let folder = dir.file("ro").path
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: folder)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: url.path)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir.path)
        let r: RunResult
        if geteuid() == 0 {
            // root ignores folder modes: run as nobody, as the container's user would be.
            let setpriv = try #require(which("setpriv"))
            r = try run(setpriv, ["--reuid=65534", "--regid=65534", "--clear-groups", TestPaths.vmprov.path,
                                  "enable-rdp", url.path])
        } else {
            r = try vmprov(["enable-rdp", url.path])
        }
        #expect(r.status == 74, "\(r.output)")
        #expect(r.stderr.contains("m.vbox") && r.stderr.contains("writable"))
        #expect(bytes(url) == Data(sample.utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["m.vbox"])
    }

    @Test(arguments: ["temp-written", "temp-synced", "backup-made", "renamed", "directory-synced"])
    func faultAfterEachSaveStep(step: String) throws {
        let dir = TempDir()
        let url = dir.write("m.vbox", sample)
        let r = try vmprov(["add-forward", url.path, "--host-port", "2", "--guest-port", "2"],
                           environment: ["VMPROV_TEST_SAVE_FAULT": step])
        #expect(r.status == 74)
        #expect(bytes(url) == Data(sample.utf8))
        #expect(!FileManager.default.fileExists(atPath: url.path + "-tmp"))
        // A crash at the same point leaves the old or the new file, and the next run recovers.
        let crash = try vmprov(["add-forward", url.path, "--host-port", "2", "--guest-port", "2"],
                               environment: ["VMPROV_TEST_SAVE_FAULT": "\(step):crash"])
        #expect(crash.status == 99)
        let now = String(decoding: bytes(url), as: UTF8.self)
        let isNew = now.contains("tcp_2_2")
        #expect(now == sample || isNew)
        #expect(isNew == ["renamed", "directory-synced"].contains(step))
        let next = try vmprov(["add-forward", url.path, "--host-port", "2", "--guest-port", "2"])
        #expect(next.status == 0)
        #expect(String(decoding: bytes(url), as: UTF8.self).contains("tcp_2_2"))
        #expect(!FileManager.default.fileExists(atPath: url.path + "-tmp"))
    }

    @Test func aRunningVBoxSVCBlocksEditsUnlessForced() throws {
        let dir = TempDir()
        let url = dir.write("m.vbox", sample)
        // A process whose command name is VBoxSVC, owned by this user.
        let svc = try NamedSleeper(name: "VBoxSVC")
        defer { withExtendedLifetime(svc) {} }
        let r = try vmprov(["enable-rdp", url.path])
        #expect(r.status == 75)
        #expect(r.stderr.contains("VBoxSVC is running") && r.stderr.contains("--force"))
        #expect(bytes(url) == Data(sample.utf8))
        let forced = try vmprov(["enable-rdp", url.path, "--force"])
        #expect(forced.status == 0)
        #expect(forced.stderr.contains("--force"))
    }
}
}
