import Foundation
import Testing
import TestSupport

/// ../set-perm-vmsrc on temporary trees.
@Suite("set-perm-vmsrc")
struct SetPermTests {
    static let script = TestPaths.packageRoot.appendingPathComponent("set-perm-vmsrc").path

    /// chown and chmod stand-ins that only record their arguments, first on PATH.
    static func recordingPath(_ dir: TempDir) -> [String: String] {
        for tool in ["chown", "chmod"] {
            let stub = dir.write("bin/\(tool)", "#!/bin/sh\necho \"\(tool) $*\" >> \(dir.file("calls").path)\n")
            chmod(stub.path, 0o755)
        }
        return ["PATH": dir.file("bin").path + ":/usr/bin:/bin"]
    }

    func calls(_ dir: TempDir) -> String { String(decoding: bytes(dir.file("calls")), as: UTF8.self) }

    @Test func readsTheEnvFileAsDataOnly() throws {
        let dir = TempDir()
        let vms = dir.file("data/vms").path
        try FileManager.default.createDirectory(atPath: vms, withIntermediateDirectories: true)
        let pwned = dir.file("pwned").path
        dir.write("docker/.env", """
        # comment\r
        BASE='\(dir.path)/data'\r
        export VMDIR=/vms
        VMSRC="${BASE}/vms" # the folder
        VBUID=4321
        EVIL1=$(touch \(pwned))
        EVIL2=`touch \(pwned)`
        EVIL3=x; touch \(pwned)
        EVIL4="$(touch \(pwned))"
        """)
        let env = Self.recordingPath(dir)
        let r = try run(which("bash")!, [Self.script, "--env", dir.file("docker/.env").path], environment: env)
        #expect(r.status == 0, "\(r.output)")
        #expect(!FileManager.default.fileExists(atPath: pwned), "nothing in .env ran")
        #expect(calls(dir) == "chown -R -h -P -c 4321:4321 -- \(vms)\nchmod -R -c u=rwX,g=rX,o= -- \(vms)\n")
        let dry = try run(which("bash")!, [Self.script, "--env", dir.file("docker/.env").path, "--dry-run"], environment: env)
        // --dry-run prints exactly the two commands the real run ran (as recorded above).
        #expect(dry.status == 0 && dry.stdout.contains("would run: chown -R -h -P -c 4321:4321 -- \(vms)\n"), "\(dry.output)")
        #expect(dry.stdout.contains("would run: chmod -R -c u=rwX,g=rX,o= -- \(vms)\n"), "\(dry.output)")
        #expect(calls(dir).split(separator: "\n").count == 2, "--dry-run changes nothing")
    }

    @Test(arguments: [
        ("VMSRC=\nVBUID=1000\n", "VMSRC is empty"),
        ("VBUID=1000\n", "VMSRC is empty"),
        ("VMSRC=/\nVBUID=1000\n", "root folder"),
        ("VMSRC=/.//\nVBUID=1000\n", "root folder"),
        ("VMSRC=LINK\nVBUID=1000\n", "is a symlink"),
        ("VMSRC=FILE\nVBUID=1000\n", "is not a folder"),
        ("VMSRC=MISSING\nVBUID=1000\n", "does not exist"),
        ("VMSRC=DIR\nVBUID=abc\n", "not a number"),
        ("VMSRC=DIR\nVBUID=0\n", "root"),
        ("VMSRC=DIR\nnot a line\n", "not a KEY=VALUE line"),
        ("VMSRC='DIR\nVBUID=1\n", "unterminated"),
    ])
    func refusals(envText: String, message: String) throws {
        let dir = TempDir()
        try FileManager.default.createDirectory(atPath: dir.file("dir").path, withIntermediateDirectories: true)
        dir.write("file", "x")
        try FileManager.default.createSymbolicLink(atPath: dir.file("link").path, withDestinationPath: "/")
        let text = envText.replacingOccurrences(of: "LINK", with: dir.file("link").path)
            .replacingOccurrences(of: "FILE", with: dir.file("file").path)
            .replacingOccurrences(of: "MISSING", with: dir.file("missing").path)
            .replacingOccurrences(of: "DIR", with: dir.file("dir").path)
        let envFile = dir.write("x.env", text)
        let r = try run(which("bash")!, [Self.script, "--env", envFile.path], environment: Self.recordingPath(dir))
        #expect(r.status != 0)
        #expect(r.stderr.contains(message), "\(r.stderr)")
        #expect(!r.stderr.contains(" 65\n") && !r.stderr.contains(" 66\n"), "no exit code in the message: \(r.stderr)")
        #expect(calls(dir).isEmpty, "no chown or chmod ran")
    }

    /// A trailing "/" or "/." makes `[ -L ]` look through a symlink; ".." can climb into a system folder; and
    /// system folders themselves are refused: every check runs on the canonical path.
    @Test(arguments: [
        ("VMSRC=LINK/\nVBUID=1000\n", "is a symlink"),
        ("VMSRC=LINK/.\nVBUID=1000\n", "is a symlink"),
        ("VMSRC=LINK//.//\nVBUID=1000\n", "is a symlink"),
        ("VMSRC=DIR/../../../../../../../../etc\nVBUID=1000\n", "resolves to /etc, a system folder"),
        ("VMSRC=DIR/../../../../../../../../usr/share\nVBUID=1000\n", "resolves to /usr/share, a system folder"),
        ("VMSRC=/etc/\nVBUID=1000\n", "resolves to /etc, a system folder"),
        ("VMSRC=/home/.\nVBUID=1000\n", "resolves to /home, a system folder"),
        ("VMSRC=/var\nVBUID=1000\n", "resolves to /var, a system folder"),
        ("VMSRC=/tmp\nVBUID=1000\n", "resolves to /tmp, a system folder"),
        ("VMSRC=/usr/lib\nVBUID=1000\n", "resolves to /usr/lib, a system folder"),
        ("VMSRC=/proc/self\nVBUID=1000\n", "is a symlink"),
        ("VMSRC=/sys/kernel\nVBUID=1000\n", "resolves to /sys/kernel, a system folder"),
    ])
    func canonicalBeforeEveryCheck(envText: String, message: String) throws {
        let dir = TempDir()
        try FileManager.default.createDirectory(atPath: dir.file("dir").path, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.file("outside").path, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir.file("link").path, withDestinationPath: dir.file("outside").path)
        let text = envText.replacingOccurrences(of: "LINK", with: dir.file("link").path)
            .replacingOccurrences(of: "DIR", with: dir.file("dir").path)
        let envFile = dir.write("x.env", text)
        for dry in [false, true] {
            let r = try run(which("bash")!, [Self.script, "--env", envFile.path] + (dry ? ["--dry-run"] : []),
                            environment: Self.recordingPath(dir))
            #expect(r.status == 65, "\(r.output)")
            #expect(r.stderr.contains(message), "\(r.stderr)")
            #expect(!r.stdout.contains("would run"), "\(r.stdout)")
        }
        #expect(calls(dir).isEmpty, "no chown or chmod ran")
    }

    /// Folders that are not a VM's even though they are not in the top-level list: /var's service folders and the
    /// trees below logs and caches, a user's home folder as a whole, and the project holding the compose file
    /// (`VMSRC=..` from docker/). Refused before any chown or chmod, with --dry-run too.
    @Test(arguments: [
        ("VMSRC=/var/log\nVBUID=1000\n", "resolves to /var/log, a system folder"),
        ("VMSRC=/var/lib/dpkg\nVBUID=1000\n", "resolves to /var/lib/dpkg, a system folder"),
        ("VMSRC=/var/cache/..//cache/.\nVBUID=1000\n", "resolves to /var/cache, a system folder"),
        ("VMSRC=HOME/\nVBUID=1000\n", "a user's home folder"),
        ("VMSRC=..\nVBUID=1000\n", "which holds"),
        ("VMSRC=.\nVBUID=1000\n", "which holds"),
        ("VMSRC=../..\nVBUID=1000\n", "which holds"),
    ])
    func serviceHomeAndProjectFoldersAreRefused(envText: String, message: String) throws {
        let dir = TempDir()
        let home = dir.file("home/me").path
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.file("project/vms/ubuntu").path, withIntermediateDirectories: true)
        let compose = dir.write("project/docker/compose.yml", "services: {}\n")
        let envFile = dir.write("project/docker/.env", envText.replacingOccurrences(of: "HOME", with: home))
        var env = Self.recordingPath(dir)
        env["HOME"] = home
        for dry in [false, true] {
            let r = try run(which("bash")!, [Self.script, "--env", envFile.path, "--compose", compose.path]
                            + (dry ? ["--dry-run"] : []), environment: env)
            #expect(r.status == 65, "\(r.output)")
            #expect(r.stderr.contains(message), "\(r.stderr)")
            #expect(!r.stdout.contains("would run"), "\(r.stdout)")
        }
        #expect(calls(dir).isEmpty, "no chown or chmod ran")
        // The VM's own folder beside them is still accepted.
        let ok = dir.write("project/docker/ok.env", "VMSRC=../vms/ubuntu\nVBUID=1000\n")
        let r = try run(which("bash")!, [Self.script, "--env", ok.path, "--compose", compose.path, "--dry-run"], environment: env)
        #expect(r.status == 0, "\(r.output)")
    }

    /// docker compose resolves a relative bind-mount source against the compose file's folder, not the env
    /// file's; the script does the same, so `--env` elsewhere (and the shipped `.env`) name the folder compose mounts.
    @Test func aRelativeVMSRCIsResolvedAsComposeResolvesIt() throws {
        let dir = TempDir()
        let vm = dir.file("project/vms/ubuntu").path
        try FileManager.default.createDirectory(atPath: vm, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.file("elsewhere/vms/ubuntu").path, withIntermediateDirectories: true)
        let compose = dir.write("project/docker/compose.yml", "services: {}\n")
        let envFile = dir.write("elsewhere/conf/my.env", "VMSRC=../vms/ubuntu/\nVBUID=1000\n")
        let env = Self.recordingPath(dir)
        let dry = try run(which("bash")!, [Self.script, "--env", envFile.path, "--compose", compose.path, "--dry-run"], environment: env)
        #expect(dry.status == 0, "\(dry.output)")
        #expect(dry.stdout.contains("VMSRC=../vms/ubuntu/ resolves to \(vm)\n"), "\(dry.stdout)")
        #expect(dry.stdout.contains("would run: chown -R -h -P -c 1000:1000 -- \(vm)\n"), "\(dry.stdout)")
        #expect(calls(dir).isEmpty, "--dry-run changes nothing")
        let real = try run(which("bash")!, [Self.script, "--env", envFile.path, "--compose", compose.path], environment: env)
        #expect(real.status == 0, "\(real.output)")
        #expect(calls(dir) == "chown -R -h -P -c 1000:1000 -- \(vm)\nchmod -R -c u=rwX,g=rX,o= -- \(vm)\n")
        // The shipped docker/.env and compose.yml: VMSRC=../vms/ubuntu is <package>/vms/ubuntu.
        let shipped = try run(which("bash")!, [Self.script, "--dry-run"], environment: env)
        let root = URL(fileURLWithPath: TestPaths.packageRoot.path).resolvingSymlinksInPath().path
        #expect(shipped.stderr.contains("VMSRC=\(root)/docker/../vms/ubuntu does not exist")
                || shipped.stdout.contains("resolves to \(root)/vms/ubuntu\n"), "\(shipped.output)")
    }

    @Test func realOwnershipAndModesWithoutFollowingSymlinks() throws {
        guard geteuid() == 0 else { print("SKIPPED: chown to another uid needs root"); return }
        let dir = TempDir()
        let outside = dir.write("outside/secret", "do not touch")
        chmod(outside.path, 0o644)
        let vm = dir.file("vms/vm").path
        try FileManager.default.createDirectory(atPath: vm, withIntermediateDirectories: true)
        let disk = dir.write("vms/vm/vm.vdi", "disk")
        chmod(disk.path, 0o644)
        let tool = dir.write("vms/vm/tool.sh", "#!/bin/sh\n")
        chmod(tool.path, 0o755)
        try FileManager.default.createSymbolicLink(atPath: dir.file("vms/vm/escape").path, withDestinationPath: outside.path)
        let envFile = dir.write("docker/.env", "VMSRC=../vms\nVBUID=4321\n")
        dir.write("docker/compose.yml", "services: {}\n")
        let r = try run(which("bash")!, [Self.script, "--env", envFile.path, "--compose", dir.file("docker/compose.yml").path])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stdout.contains("changed ownership"))
        func attrs(_ p: String) throws -> (Int, Int) {
            let a = try FileManager.default.attributesOfItem(atPath: p)
            return (a[.ownerAccountID] as? Int ?? -1, a[.posixPermissions] as? Int ?? -1)
        }
        #expect(try attrs(dir.file("vms").path) == (4321, 0o750))
        #expect(try attrs(disk.path) == (4321, 0o640))
        #expect(try attrs(tool.path) == (4321, 0o750))
        #expect(try attrs(outside.path) == (0, 0o644), "the symlink's target outside VMSRC is untouched")
    }
}
