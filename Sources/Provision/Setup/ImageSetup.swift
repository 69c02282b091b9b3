#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Basics

/// Why a setup step failed; names the file, the id or the holder.
public struct SetupError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure, for the exit code.
    public enum Kind: Sendable, Equatable {
        /// Bad data or a refusal (the default).
        case data
        /// A bad option value (`--vmdir` outside `--root`).
        case usage
        /// A file or folder that was named is not there (`--root`, its account files, `--extpack FILE`).
        case notFound
        /// A required tool is missing or failed (VBoxManage for `--extpack auto`).
        case unavailable
    }
    /// What went wrong, under which path, and what to do.
    public var message: String
    /// The kind, which decides the exit code.
    public var kind: Kind
    /// An error saying `message`, of `kind` (default: bad data).
    public init(_ message: String, kind: Kind = .data) {
        self.message = message
        self.kind = kind
    }
    /// The message.
    public var description: String { message }
}

/// The image build step, applied under a root folder (`/` in the image, a temporary tree in tests).
/// Every step is idempotent: run twice, the second run changes nothing and says so.
public struct ImageSetup: Sendable {
    /// The root every path is taken under (`/` in the image).
    public var root: String
    /// Receives one line per step taken or skipped.
    public var log: @Sendable (String) -> Void

    /// Setup under `root`, logging to `log`.
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
                + "\(inRoot("/usr/share/zoneinfo")).", kind: .notFound)
        }
        let link = inRoot("/etc/localtime")
        try mustStayInside(inRoot("/etc"), what: "--timezone \(zone)")
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
        do { bytes = try TempFiles.read(path) } catch {
            // The IOError names the path already.
            throw SetupError(error.description + (error.code == ENOENT ? "; " + Self.accountFilesAdvice(root) : ""),
                             kind: error.code == ENOENT ? .notFound : .data)
        }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").enumerated().compactMap { n, line in
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 3, let id = UInt32(f[2]) else { return nil }
            return Entry(name: String(f[0]), id: id, line: n + 1)
        }
    }

    /// The account files groupadd and useradd update under `--root`.
    public static let accountFiles = ["/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow"]

    static func accountFilesAdvice(_ root: String) -> String {
        "--root \(root) must be a system tree holding " + accountFiles.map { String($0.dropFirst()) }.joined(separator: ", ")
            + " (for example a distribution's root file system); give such a folder, or leave out --root to use /"
    }

    /// Checked before any step runs: the root folder exists, and when a user is to be made it holds the account
    /// files (`etc/passwd`, `etc/group`, `etc/shadow`, `etc/gshadow`).
    /// - Throws: `SetupError` of kind `.notFound` naming the missing path once and what the root must hold.
    public func checkRoot(forUser: Bool) throws(SetupError) {
        var st = stat()
        guard stat(root, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw SetupError("--root \(root): no such folder; " + Self.accountFilesAdvice(root) + ".", kind: .notFound)
        }
        guard forUser else { return }
        for file in Self.accountFiles where access(inRoot(file), F_OK) != 0 {
            throw SetupError("\(inRoot(file)): no such file; " + Self.accountFilesAdvice(root) + ".", kind: .notFound)
        }
    }

    /// Checked before any step runs: every existing folder on the way to `path` (inside the root) stays inside the
    /// root once symlinks are followed. Nothing is created.
    /// - Throws: `SetupError` of kind `.usage` for `..` above the root, the root itself, or a symlink leading out.
    public func checkInside(_ path: String, what: String) throws(SetupError) {
        let parts = try segments(of: path, what: what)
        guard root != "/", Self.realPath(root) != nil else { return }
        var current = root
        for part in parts {
            current += "/" + part
            do { try mustStayInside(current, what: what + " " + path) } catch { throw SetupError(error.message, kind: .usage) }
        }
    }

    /// Checks a user or group name against useradd's portable rule (shadow-utils `is_valid_user_name` without
    /// `--badname`, and POSIX's portable filename set): ASCII only, `[a-z_][a-z0-9_-]*`, at most 32 bytes.
    ///
    /// Stricter than useradd in one point: the trailing `$` useradd allows (for Samba machine accounts) is refused,
    /// because the VirtualBox user is a service account and a `$` in its name only invites shell-quoting mistakes.
    /// Look-alikes are refused because they are not ASCII: Cyrillic `а`, fullwidth letters, digits of other scripts,
    /// combining marks, uppercase, and a leading `-` (which tools would read as an option).
    /// - Throws: `SetupError` naming the option (`what`), the name and the first offending character.
    public static func validateUserName(_ name: String, what: String = "--user") throws(SetupError) {
        let bytes = Array(name.utf8)
        func refuse(_ why: String) -> SetupError {
            SetupError("\(what) \(name): \(why); a user or group name is ASCII lowercase letters, digits, _ and -, "
                + "starts with a letter or _, and has at most 32 characters (useradd's portable rule).")
        }
        guard !bytes.isEmpty else { throw refuse("empty") }
        guard bytes.count <= 32 else { throw refuse("\(bytes.count) bytes long") }
        if let bad = name.unicodeScalars.first(where: { !$0.isASCII }) {
            throw refuse("U+\(String(bad.value, radix: 16, uppercase: true)) is not ASCII (a look-alike of a Latin letter?)")
        }
        let first = bytes[0]
        guard (first >= 0x61 && first <= 0x7A) || first == 0x5F else {
            throw refuse("it starts with \"\(Character(Unicode.Scalar(first)))\"")
        }
        for b in bytes {
            let ok = (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x5F || b == 0x2D
            guard ok else { throw refuse("\"\(Character(Unicode.Scalar(b)))\" is not allowed") }
        }
    }

    /// A group and a user with the same fixed id, no login shell, a locked password and a private home.
    /// - Throws: `SetupError` for a name outside useradd's portable rule, a name or id held by someone else, or a
    ///   failing groupadd/useradd.
    public func user(_ name: String, uid: UInt32) throws(SetupError) {
        try Self.validateUserName(name)
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
        try directory(home, uid: uid, mode: 0o700, what: "home folder")
    }

    /// The nologin shell the root has.
    func nologin() -> String {
        for p in ["/usr/bin/nologin", "/usr/sbin/nologin", "/sbin/nologin"] where access(inRoot(p), X_OK) == 0 { return p }
        return "/usr/sbin/nologin"
    }

    private func tool(_ argv: [String]) throws(SetupError) {
        let out: ProcessOutput
        do { out = try ProcessRunner.run(argv, environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"]) } catch {
            throw SetupError(error.description)
        }
        guard out.status == 0 else { throw SetupError("user setup failed: \(out.failureDescription)") }
        if !out.stderr.isEmpty { log(out.stderrText.trimmingSpacesAndNewlines) }
    }

    // MARK: folders

    /// The kernel's canonical form of an existing path (every symlink and `..` resolved), or nil.
    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    /// `path` (a path inside the root, `/`-relative) with `.`, empty segments and `..` resolved lexically.
    /// - Throws: `SetupError` when `..` climbs above the root, or when nothing is left (the root itself).
    public func segments(of path: String, what: String) throws(SetupError) -> [String] {
        var out: [String] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                guard !out.isEmpty else {
                    throw SetupError("\(what) \(path): \"..\" climbs out of the root folder \(root); give a folder inside it.")
                }
                out.removeLast()
                continue
            }
            out.append(String(part))
        }
        guard !out.isEmpty else {
            throw SetupError("\(what) \(path): that is the root folder \(root) itself; give a folder inside it (for example /vms).")
        }
        return out
    }

    /// Refuses an existing path whose real location (symlinks followed, as the kernel will follow them when setup
    /// writes there) is outside the root folder.
    /// - Throws: `SetupError` naming the path, where it really leads, and the root.
    func mustStayInside(_ full: String, what: String) throws(SetupError) {
        guard root != "/" else { return }
        guard let realRoot = Self.realPath(root) else {
            throw SetupError("--root \(root): does not exist; create it first.", kind: .notFound)
        }
        guard let real = Self.realPath(full) else { return }
        if real != realRoot && !real.hasPrefix(realRoot == "/" ? "/" : realRoot + "/") {
            throw SetupError("\(what): \(full) leads to \(real), outside the root folder \(root) (a symlink inside the "
                + "root points out of it); remove the symlink or give another folder.")
        }
    }

    /// A folder owned by `uid` (and its group) with `mode`; created with its parents if missing. `path` is taken
    /// inside the root: `..` may not climb out of it, it may not be the root itself, and no symlink on the way may
    /// lead out of it.
    /// - Throws: `SetupError` for a path outside the root, something that is not a folder, or a failing
    ///   mkdir/chown/chmod (with errno's text).
    public func directory(_ path: String, uid: UInt32, mode: mode_t, what: String = "--vmdir") throws(SetupError) {
        let parts = try segments(of: path, what: what)
        var current = root == "/" ? "" : root
        for part in parts {
            current += "/" + part
            try mustStayInside(current, what: what + " " + path)
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw SetupError("\(current): cannot create it: \(String(cString: strerror(errno)))")
            }
            try mustStayInside(current, what: what + " " + path)
        }
        let full = current
        let path = "/" + parts.joined(separator: "/")
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
