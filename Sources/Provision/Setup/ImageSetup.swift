#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Why a setup step failed; names the file, the id or the holder.
public struct SetupError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The image build step, applied under a root folder (`/` in the image, a temporary tree in tests).
/// Every step is idempotent: run twice, the second run changes nothing and says so.
public struct ImageSetup: Sendable {
    public var root: String
    public var log: @Sendable (String) -> Void

    public init(root: String, log: @escaping @Sendable (String) -> Void) {
        self.root = root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root
        self.log = log
    }

    /// A path inside the root.
    public func inRoot(_ path: String) -> String {
        root == "/" ? path : root + (path.hasPrefix("/") ? path : "/" + path)
    }

    // MARK: timezone

    /// Points /etc/localtime at the zone, which must exist in the root's zoneinfo tree.
    public func timezone(_ zone: String) throws(SetupError) {
        guard !zone.isEmpty, !zone.hasPrefix("/"), !zone.split(separator: "/").contains(".."),
              zone.allSatisfy({ $0.isLetter || $0.isNumber || "/_-+".contains($0) }) else {
            throw SetupError("--timezone \(zone): not a zone name (for example Europe/Berlin or UTC).")
        }
        let target = "/usr/share/zoneinfo/" + zone
        var st = stat()
        guard stat(inRoot(target), &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw SetupError("--timezone \(zone): \(inRoot(target)) does not exist; install tzdata or pick a zone from "
                + "\(inRoot("/usr/share/zoneinfo")).")
        }
        let link = inRoot("/etc/localtime")
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink(link, &buf, 4095)
        if n > 0, String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) == target {
            log("timezone: already \(zone)")
            return
        }
        mkdir(inRoot("/etc"), 0o755)
        let temp = link + ".vmprov-tmp"
        unlink(temp)
        guard symlink(target, temp) == 0, rename(temp, link) == 0 else {
            let e = errno
            unlink(temp)
            throw SetupError("\(link): cannot point it at \(target): \(String(cString: strerror(e)))")
        }
        log("timezone: /etc/localtime → \(target)")
    }

    // MARK: user and group

    struct Entry { var name: String; var id: UInt32; var line: Int }

    func entries(_ file: String) throws(SetupError) -> [Entry] {
        let path = inRoot(file)
        let bytes: [UInt8]
        do { bytes = try TempFiles.read(path) } catch { throw SetupError("\(path): \(error.description)") }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").enumerated().compactMap { n, line in
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 3, let id = UInt32(f[2]) else { return nil }
            return Entry(name: String(f[0]), id: id, line: n + 1)
        }
    }

    /// A group and a user with the same fixed id, no login shell, a locked password and a private home.
    public func user(_ name: String, uid: UInt32) throws(SetupError) {
        guard !name.isEmpty, name.count <= 32, name.first.map({ $0.isLowercase || $0 == "_" }) == true,
              name.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "_" || $0 == "-" }) else {
            throw SetupError("--user \(name): a user name is lowercase letters, digits, _ and -, starting with a letter.")
        }
        guard uid > 0, uid < 4_294_967_295 else { throw SetupError("--uid \(uid): give an id above 0 (root).") }
        let groups = try entries("/etc/group")
        let users = try entries("/etc/passwd")
        let groupByName = groups.first { $0.name == name }
        let groupByID = groups.first { $0.id == uid }
        let userByName = users.first { $0.name == name }
        let userByID = users.first { $0.id == uid }
        if let g = groupByName, g.id != uid {
            throw SetupError("\(inRoot("/etc/group")):\(g.line): group \(name) exists with gid \(g.id), not \(uid); "
                + "pick VBUID=\(g.id) or another VBUSR.")
        }
        if let g = groupByID, g.name != name {
            throw SetupError("\(inRoot("/etc/group")):\(g.line): gid \(uid) is held by group \(g.name); pick another VBUID.")
        }
        if let u = userByName, u.id != uid {
            throw SetupError("\(inRoot("/etc/passwd")):\(u.line): user \(name) exists with uid \(u.id), not \(uid); "
                + "pick VBUID=\(u.id) or another VBUSR.")
        }
        if let u = userByID, u.name != name {
            throw SetupError("\(inRoot("/etc/passwd")):\(u.line): uid \(uid) is held by user \(u.name); pick another VBUID.")
        }
        // Ids outside UID_MIN..UID_MAX are fine: say so to the tools instead of letting them warn.
        let range = ["-K", "UID_MIN=\(min(uid, 1000))", "-K", "UID_MAX=\(max(uid, 60000))"]
        let grange = ["-K", "GID_MIN=\(min(uid, 1000))", "-K", "GID_MAX=\(max(uid, 60000))"]
        let prefix = root == "/" ? [] : ["--prefix", root]
        if groupByName == nil {
            try tool(["groupadd"] + prefix + grange + ["--gid", String(uid), name])
            log("group: \(name) (gid \(uid)) created")
        } else {
            log("group: \(name) (gid \(uid)) already present")
        }
        let home = "/home/" + name
        if userByName == nil {
            try tool(["useradd"] + prefix + range + ["--uid", String(uid), "--gid", String(uid), "--home-dir", home,
                                                     "--no-create-home", "--shell", nologin(), name])
            log("user: \(name) (uid \(uid)) created, password locked, shell \(nologin())")
        } else {
            log("user: \(name) (uid \(uid)) already present")
        }
        try directory(home, uid: uid, mode: 0o700)
    }

    /// The nologin shell the root has.
    func nologin() -> String {
        for p in ["/usr/bin/nologin", "/usr/sbin/nologin", "/sbin/nologin"] where access(inRoot(p), X_OK) == 0 { return p }
        return "/usr/sbin/nologin"
    }

    private func tool(_ argv: [String]) throws(SetupError) {
        let out: ProcessOutput
        do { out = try Subprocess.run(argv, environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"]) } catch {
            throw SetupError(error.description)
        }
        guard out.status == 0 else { throw SetupError("user setup failed: \(out.failureDescription)") }
        if !out.stderr.isEmpty { log(out.stderrText.trimmingSpacesAndNewlines) }
    }

    // MARK: folders

    /// A folder owned by `uid` (and its group) with `mode`; created with its parents if missing.
    public func directory(_ path: String, uid: UInt32, mode: mode_t) throws(SetupError) {
        let full = inRoot(path)
        var current = ""
        for part in full.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw SetupError("\(current): cannot create it: \(String(cString: strerror(errno)))")
            }
        }
        var st = stat()
        guard lstat(full, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw SetupError("\(full): exists and is not a folder (or is a symlink); vmprov will not use it.")
        }
        var changed: [String] = []
        if st.st_uid != uid || st.st_gid != uid {
            guard chown(full, uid, uid) == 0 else {
                throw SetupError("\(full): cannot give it to \(uid):\(uid): \(String(cString: strerror(errno))) (run setup as root).")
            }
            changed.append("owner \(uid):\(uid)")
        }
        if st.st_mode & 0o7777 != mode {
            guard chmod(full, mode) == 0 else { throw SetupError("\(full): cannot set its mode: \(String(cString: strerror(errno)))") }
            changed.append("mode \(String(mode, radix: 8))")
        }
        log("folder: \(path) " + (changed.isEmpty ? "already right" : changed.joined(separator: ", ")))
    }
}
