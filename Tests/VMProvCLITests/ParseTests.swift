import ArgumentParser
import Testing
@testable import VMProvCLI

/// In-process parsing of every command: a good command line gives the command with the values given, a bad one the
/// error text argument-parser prints and exit 64 (usage).
@Suite("Parsing")
struct ParseTests {
    // MARK: Good command lines

    @Test func create() throws {
        let c = try #require(try VMProv.parseAsRoot(["create", "--profile", "ubuntu", "--dir", "vms", "--memory", "4096",
                                                      "--no-cache", "-q", "--verbose"]) as? Create)
        #expect(c.profile == "ubuntu" && c.dir == "vms" && c.memory == 4096)
        #expect(c.transfer.noCache && c.transfer.quiet && c.transfer.retries == 5 && c.global.verbose)
    }

    @Test func profiles() throws {
        #expect(try VMProv.parseAsRoot(["profiles"]) is ListProfiles)
        let list = try #require(try VMProv.parseAsRoot(["profiles", "list", "--json"]) as? ListProfiles)
        #expect(list.json)
        let show = try #require(try VMProv.parseAsRoot(["profiles", "show", "debian"]) as? ShowProfile)
        #expect(show.name == "debian" && !show.json)
    }

    @Test func edits() throws {
        let e = try #require(try VMProv.parseAsRoot(["enable-rdp", "vms/a", "--port", "3390-3392", "--auth", "external",
                                                      "--user", "u", "--password-stdin"]) as? EnableRDP)
        #expect(e.target.target == "vms/a" && e.port == "3390-3392" && e.user == "u" && e.passwordStdin)
        let d = try #require(try VMProv.parseAsRoot(["disable-rdp", "--force"]) as? DisableRDP)
        #expect(d.target.target == nil && d.target.force)
        let a = try #require(try VMProv.parseAsRoot(["add-forward", "x.vbox", "--name", "ssh", "--host-port", "2222",
                                                      "--guest-port", "22", "--adapter", "2"]) as? AddForward)
        #expect(a.name == "ssh" && a.hostPort == "2222" && a.guestPort == "22" && a.adapter == 2 && a.proto == "tcp")
        let r = try #require(try VMProv.parseAsRoot(["remove-forward", "--name", "ssh"]) as? RemoveForward)
        #expect(r.name == "ssh" && r.adapter == 1)
    }

    @Test func inspection() throws {
        let f = try #require(try VMProv.parseAsRoot(["forwards", "vms/a", "--json"]) as? Forwards)
        #expect(f.read.target == "vms/a" && f.read.json)
        let s = try #require(try VMProv.parseAsRoot(["show"]) as? Show)
        #expect(s.read.target == nil && !s.read.json)
        let c = try #require(try VMProv.parseAsRoot(["check", "a.vbox", "--verbose"]) as? Check)
        #expect(c.read.target == "a.vbox" && c.global.verbose)
    }

    @Test func downloads() throws {
        let f = try #require(try VMProv.parseAsRoot(["fetch", "https://a/x.iso", "http://b/x.iso", "--checksum",
                                                      "sha256:" + String(repeating: "a", count: 64), "-o", "x",
                                                      "--max-size", "8G", "--stall-time", "60"]) as? Fetch)
        #expect(f.urls == ["https://a/x.iso", "http://b/x.iso"] && f.output == "x" && f.maxSize == "8G")
        #expect(f.transfer.stallTime == 60 && f.transfer.stallSpeed == 1024 && !f.json)
        let v = try #require(try VMProv.parseAsRoot(["verify", "x.iso", "--checksum", "none", "-q"]) as? Verify)
        #expect(v.file == "x.iso" && v.verification.checksum == "none" && v.quiet)
    }

    @Test func setup() throws {
        let s = try #require(try VMProv.parseAsRoot(["setup", "--user", "vbox", "--uid", "1000", "--vmdir", "/vms",
                                                      "--extpack", "auto"]) as? Setup)
        #expect(s.root == "/" && s.user == "vbox" && s.uid == 1000 && s.vmdir == "/vms" && s.extpack == "auto")
    }

    @Test func runner() throws {
        let r = try #require(try VMProv.parseAsRoot(["run", "--verbose"]) as? Run)
        #expect(r.verbose)
        #expect(try VMProv.parseAsRoot(["list"]) is List)
        let s = try #require(try VMProv.parseAsRoot(["state", "--vm", "u", "--json"]) as? State)
        #expect(s.machine.vm == "u" && s.json)
        let h = try #require(try VMProv.parseAsRoot(["healthcheck"]) as? Healthcheck)
        #expect(h.machine.vm == nil)
    }

    @Test func snapshot() throws {
        let t = try #require(try VMProv.parseAsRoot(["snapshot", "take", "before upgrade", "vms/a", "--json"]) as? Snapshot)
        #expect(t.operation == .take && t.name == "before upgrade" && t.target == "vms/a" && t.json && !t.powerOff)
        let r = try #require(try VMProv.parseAsRoot(["snapshot", "restore", "base", "--power-off"]) as? Snapshot)
        #expect(r.operation == .restore && r.name == "base" && r.target == nil && r.powerOff)
        let d = try #require(try VMProv.parseAsRoot(["snapshot", "delete", "0b6c3d2e-1f1a-4c4e-9a0e-7d1c2b3a4f50"])
            as? Snapshot)
        #expect(d.operation == .delete)
    }

    @Test func shares() throws {
        let a = try #require(try VMProv.parseAsRoot(["add-share", "data", "--host-path", "/srv/data", "vms/a", "--readonly",
                                                      "--automount", "--mount-point", "/mnt/data", "--json"]) as? AddShare)
        #expect(a.name == "data" && a.hostPath == "/srv/data" && a.target.target == "vms/a")
        #expect(a.readonly && a.automount && a.mountPoint == "/mnt/data" && a.json)
        let r = try #require(try VMProv.parseAsRoot(["remove-share", "data", "--force"]) as? RemoveShare)
        #expect(r.name == "data" && r.target.target == nil && r.target.force && !r.json)
    }

    @Test func disks() throws {
        let a = try #require(try VMProv.parseAsRoot(["add-disk", "vms/a", "--size", "64G", "--name", "data",
                                                      "--controller", "SATA", "--port", "3"]) as? AddDisk)
        #expect(a.target.target == "vms/a" && a.size == "64G" && a.name == "data" && a.controller == "SATA" && a.port == 3)
        let plain = try #require(try VMProv.parseAsRoot(["add-disk", "--size", "1G"]) as? AddDisk)
        #expect(plain.name == nil && plain.controller == nil && plain.port == nil && !plain.json)
        let r = try #require(try VMProv.parseAsRoot(["remove-disk", "data.vdi", "vms/a", "--delete", "--json"]) as? RemoveDisk)
        #expect(r.disk == "data.vdi" && r.target.target == "vms/a" && r.delete && r.json)
        let g = try #require(try VMProv.parseAsRoot(["grow-disk", "vms/a/data.vdi", "--to", "2T", "--force"]) as? GrowDisk)
        #expect(g.disk == "vms/a/data.vdi" && g.to == "2T" && g.force && g.vm == nil)
        let h = try #require(try VMProv.parseAsRoot(["grow-disk", "--to", "64G", "--vm", "vms/a", "--json"]) as? GrowDisk)
        #expect(h.disk == nil && h.vm == "vms/a" && h.json)
    }

    @Test func usbAndSnapshots() throws {
        let a = try #require(try VMProv.parseAsRoot(["add-usb", "vms/a", "--vendor-id", "0781", "--product-id", "5567",
                                                      "--name", "stick", "--controller", "ehci"]) as? AddUSB)
        #expect(a.target.target == "vms/a" && a.vendorId == "0781" && a.productId == "5567" && a.name == "stick")
        #expect(a.controller == "ehci")
        let d = try #require(try VMProv.parseAsRoot(["add-usb", "--vendor-id", "1", "--product-id", "2"]) as? AddUSB)
        #expect(d.controller == "xhci" && d.name == nil)
        let r = try #require(try VMProv.parseAsRoot(["remove-usb", "--name", "stick", "--json"]) as? RemoveUSB)
        #expect(r.name == "stick" && r.json)
        let s = try #require(try VMProv.parseAsRoot(["snapshots", "vms/a", "--json"]) as? Snapshots)
        #expect(s.read.target == "vms/a" && s.read.json)
    }

    @Test func guests() throws {
        let c = try #require(try VMProv.parseAsRoot(["compose", "vms", "--out", "c.yml", "--assign", "--console",
                                                      "--console-user", "admin", "--console-port", "9090",
                                                      "--stop-timeout", "60", "--force"]) as? Compose)
        #expect(c.dir == "vms" && c.out == "c.yml" && c.assign && c.console && c.consoleUser == "admin")
        #expect(c.consolePort == 9090 && c.stopTimeout == 60 && c.force)
        let plain = try #require(try VMProv.parseAsRoot(["compose"]) as? Compose)
        #expect(plain.dir == "." && plain.consoleUser == "vmprov" && plain.consolePort == 8080 && plain.stopTimeout == nil)
        let k = try #require(try VMProv.parseAsRoot(["kube", "vms", "--out", "k.yml", "--image", "vmprov:7.2",
                                                      "--node-label", "vmprov/vboxdrv=7.2.4", "--storage", "500Mi",
                                                      "--stop-timeout", "0"]) as? Kube)
        #expect(k.dir == "vms" && k.out == "k.yml" && k.image == "vmprov:7.2" && k.nodeLabel == "vmprov/vboxdrv=7.2.4")
        #expect(k.storage == "500Mi" && k.stopTimeout == 0)
    }

    @Test func newOptions() throws {
        let p = try #require(try VMProv.parseAsRoot(["profiles", "check", "debian", "ubuntu", "--keyring", "k.asc", "--json",
                                                      "--connections", "1"]) as? CheckProfiles)
        #expect(p.names == ["debian", "ubuntu"] && p.keyring == "k.asc" && p.json && p.transfer.connections == 1)
        let all = try #require(try VMProv.parseAsRoot(["profiles", "check"]) as? CheckProfiles)
        #expect(all.names.isEmpty && all.keyring == nil)
        let c = try #require(try VMProv.parseAsRoot(["create", "--profile", "debian", "--release", "13.6.0"]) as? Create)
        #expect(c.release == "13.6.0" && c.profile == "debian")
        let f = try #require(try VMProv.parseAsRoot(["fetch", "https://a/x.iso", "--checksum", "none", "--connections", "16"])
            as? Fetch)
        #expect(f.transfer.connections == 16)
    }

    // MARK: Bad command lines: the message printed and exit 64

    static let bad: [(argv: [String], message: String)] = [
        (["bogus"], "Error: Unexpected argument 'bogus'"),
        (["create"], "Error: Missing expected argument '--profile <name>'"),
        (["create", "--profile", "u", "--iso", "a.iso", "--iso-url", "https://x/a.iso"],
         "Error: give --iso or --iso-url, not both."),
        (["create", "--profile", "u", "--iso-url", "ftp://x/a.iso"],
         "Error: --iso-url ftp://x/a.iso: only http and https URLs can be fetched."),
        (["create", "--profile", "u", "--memory", "lots"], "Error: The value 'lots' is invalid for '--memory <mb>'"),
        (["profiles", "show"], "Error: Missing expected argument '<name>'"),
        (["create", "--profile", "debian", "--release", "../../../x"],
         "Error: --release ../../../x: give a version such as 24.04.5 (digits and dots)."),
        (["profiles", "show", "debian", "--resolve", "--release", "13.7?x=1"],
         "Error: --release 13.7?x=1: give a version such as 24.04.5 (digits and dots)."),
        (["enable-rdp", "--user", "u"], "Error: --user needs --password-stdin: the password is read from standard input"),
        (["enable-rdp", "--auth", "kerberos"], "Error: The value 'kerberos' is invalid for '--auth <type>'"),
        (["disable-rdp", "a", "b"], "Error: Unexpected argument 'b'"),
        (["add-forward"], "Error: give --rule \"name,proto,hostip,hostport,guestip,guestport\" or --host-port and "),
        (["add-forward", "--rule", "a,tcp", "--adapter", "1"], "Error: --rule \"a,tcp\" has 2 fields; it needs 6: "),
        (["add-forward", "--adapter", "0", "--host-port", "1", "--guest-port", "2"],
         "Error: --adapter 0: adapters are numbered from 1."),
        (["remove-forward"], "Error: Missing expected argument '--name <name>'"),
        (["forwards", "--bogus"], "Error: Unknown option '--bogus'"),
        (["show", "a", "b"], "Error: Unexpected argument 'b'"),
        (["check", "--json=1"], "Error: The option '--json' does not take any value, but '1' was specified."),
        (["fetch", "--checksum", "none"], "Error: Missing expected argument '<url> ...'"),
        (["fetch", "file:///etc/passwd", "--checksum", "none"],
         "Error: file:///etc/passwd: only http and https URLs can be fetched."),
        (["fetch", "https://a/b", "--checksum", "none", "--max-size", "huge"],
         "Error: --max-size huge: give a size such as 512M, 8G or 700K."),
        (["fetch", "https://a/b", "--checksum", "none", "--retries=-1"], "Error: --retries must be 0 or more."),
        (["fetch", "https://a/b", "--checksum", "none", "--stall-time", "0"],
         "Error: --stall-time 0: give 1 to 86400 seconds."),
        (["verify", "x", "--checksum", "none", "--signature", "s", "--no-signature"],
         "Error: --signature and --no-signature contradict each other: drop one of them"),
        (["verify", "x"], "Error: Missing expected argument '--checksum <spec>'"),
        (["setup", "--user", "vbox"], "Error: --user and --uid go together."),
        (["setup", "--extpack-url", "ftp://m"], "Error: --extpack-url ftp://m: only http and https."),
        (["run", "--json"], "Error: Unknown option '--json'"),
        (["list", "extra"], "Error: Unexpected argument 'extra'"),
        (["state", "--vm"], "Error: Missing value for '--vm <vm>'"),
        (["healthcheck", "--bogus"], "Error: Unknown option '--bogus'"),
        (["snapshot", "list", "x"], "Error: The value 'list' is invalid for '<operation>'"),
        (["snapshot", "take"], "Error: Missing expected argument '<name>'"),
        (["snapshot", "take", "x", "--power-off"], "Error: --power-off applies to restore only"),
        (["snapshot", "delete", "--", "-x"], "Error: snapshot name -x: it starts with \"-\", which reads as an option"),
        (["add-share", "--host-path", "/srv"], "Error: Missing expected argument '<name>'"),
        (["add-share", "data"], "Error: Missing expected argument '--host-path <path>'"),
        (["add-share", "data", "--host-path"], "Error: Missing value for '--host-path <path>'"),
        (["remove-share"], "Error: Missing expected argument '<name>'"),
        (["remove-share", "data", "--readonly"], "Error: Unknown option '--readonly'"),
        (["add-disk"], "Error: Missing expected argument '--size <size>'"),
        (["add-disk", "--size", "1G", "--port", "x"], "Error: The value 'x' is invalid for '--port <n>'"),
        (["add-disk", "--size", "1G", "--port=-1"], "Error: --port -1: ports are numbered from 0."),
        (["remove-disk"], "Error: Missing expected argument '<disk>'"),
        (["remove-disk", "d.vdi", "--delete=yes"], "Error: The option '--delete' does not take any value, but 'yes' was specified."),
        (["grow-disk", "d.vdi"], "Error: Missing expected argument '--to <size>'"),
        (["grow-disk", "a", "b", "--to", "1G"], "Error: Unexpected argument 'b'"),
        (["add-usb", "--vendor-id", "0781"], "Error: Missing expected argument '--product-id <hex>'"),
        (["add-usb", "--vendor-id", "1", "--product-id", "2", "--controller", "uhci"],
         "Error: --controller uhci: use xhci, ehci or ohci."),
        (["remove-usb"], "Error: Missing expected argument '--name <name>'"),
        (["snapshots", "a", "b"], "Error: Unexpected argument 'b'"),
        (["snapshots", "--force"], "Error: Unknown option '--force'"),
        (["compose", "--stop-timeout", "86401"], "Error: --stop-timeout 86401: give 0 to 86400 seconds."),
        (["compose", "--console-port", "0"], "Error: --console-port 0 is outside 1-65535."),
        (["compose", "--console-user", ""], "Error: --console-user: give a non-empty name without control characters."),
        (["kube", "--node-label", "nolabel"], "Error: --node-label nolabel: give KEY=VALUE, for example vmprov/vboxdrv=7.2.4."),
        (["kube", "--storage", "64GB"], "Error: --storage 64GB: give a Kubernetes quantity such as 64Gi or 500Mi."),
        (["kube", "--stop-timeout=-1"], "Error: --stop-timeout -1: give 0 to 86400 seconds."),
        (["profiles", "check", "--keyring"], "Error: Missing value for '--keyring <file>'"),
        (["profiles", "check", "--connections", "0"], "Error: --connections 0: give 1 to 16 (1 is one stream)."),
        (["create", "--profile", "debian", "--release"], "Error: Missing value for '--release <version>'"),
        (["fetch", "https://a/b", "--checksum", "none", "--connections", "17"],
         "Error: --connections 17: give 1 to 16 (1 is one stream)."),
        (["fetch", "https://a/b", "--checksum", "none", "--connections", "many"],
         "Error: The value 'many' is invalid for '--connections <n>'"),
    ]

    @Test(arguments: bad)
    func badCommandLine(_ argv: [String], _ message: String) {
        do {
            let command = try VMProv.parseAsRoot(argv)
            Issue.record("\(argv) parsed as \(type(of: command))")
        } catch {
            #expect(VMProv.fullMessage(for: error).hasPrefix(message), "\(argv)")
            #expect(VMProv.exitCode(for: error).rawValue == VMProvExit.usage, "\(argv)")
        }
    }

    /// Every command in the grouped help is reachable by name (the groups hold the same commands as before).
    @Test func everyCommandIsRegistered() {
        let names = VMProv.configuration.subcommands.map { $0._commandName }
        #expect(names == ["create", "profiles", "enable-rdp", "disable-rdp", "add-forward", "remove-forward",
                          "add-share", "remove-share", "add-disk", "remove-disk", "grow-disk", "add-usb", "remove-usb",
                          "snapshots", "snapshot", "forwards", "show", "check", "fetch", "verify", "setup", "compose", "kube",
                          "run", "list", "state", "healthcheck"])
    }
}
