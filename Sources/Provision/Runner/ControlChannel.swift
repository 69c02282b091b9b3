#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Basics
import CSystem

/// A snapshot operation `vmprov snapshot` asks the runner to carry out (`VBoxManage snapshot VM take|restore|delete`,
/// VBoxManageSnapshot.cpp `handleSnapshot`).
public enum SnapshotOperation: String, Sendable, CaseIterable, Codable {
    case take, restore, delete
}

/// Why a control request could not be made, sent or understood.
public enum ControlError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A request or reply larger than `limit` bytes.
    case tooLarge(what: String, limit: Int)
    /// Not in the request or reply format; the text says where.
    case malformed(String)
    /// A snapshot name vmprov does not pass on, and why.
    case badName(String, reason: String)
    /// No runner answers at `path` (the folder or socket is missing, or nobody listens).
    case noRunner(path: String, reason: String)
    /// The control folder or socket is not the runner's own (owner, mode, type); nothing was sent.
    case unsafe(path: String, reason: String)
    /// The runner did not answer within `seconds`.
    case timedOut(path: String, seconds: Int)
    /// A socket call failed with `code` (errno).
    case io(path: String, operation: String, code: Int32)

    public var description: String {
        switch self {
        case let .tooLarge(what, limit):
            return "the \(what) is larger than \(limit) bytes; it is refused"
        case let .malformed(text):
            return text
        case let .badName(name, reason):
            return "snapshot name \(Shell.quote([name])): \(reason). Use a plain name such as \"before-upgrade\"."
        case let .noRunner(path, reason):
            return "no runner answers at \(path) (\(reason)). Snapshots are taken, restored and deleted by "
                + "`vmprov run` while it owns the machine: run this command inside the container that runs the "
                + "guest (docker exec CONTAINER vmprov snapshot …), with the same $VMDIR."
        case let .unsafe(path, reason):
            return "\(path) is not the runner's private control folder or socket: \(reason). Nothing was sent."
        case let .timedOut(path, seconds):
            return "the runner at \(path) did not answer within \(seconds) s; the operation may still be running: "
                + "check with `vmprov snapshots` before trying again."
        case let .io(path, operation, code):
            return "cannot \(operation) \(path): \(String(cString: strerror(code)))"
        }
    }
}

/// One request on the runner's control socket: a snapshot operation, in one line
/// `snapshot OPERATION FLAG NAME\n` (FLAG is `-` or, for restore only, `poweroff`), at most 1 KiB.
public struct ControlRequest: Sendable, Equatable {
    /// What to do.
    public var operation: SnapshotOperation
    /// The snapshot's name (or UUID, for restore and delete, as `FindSnapshot` accepts both).
    public var name: String
    /// Restore only: power the running guest off first, restore, and let the runner end.
    public var powerOff: Bool

    /// The longest request in bytes, the newline included.
    public static let maximumBytes = 1024
    /// The longest snapshot name in UTF-8 bytes.
    public static let maximumNameBytes = 255

    /// A request, its name checked by ``checkName(_:)``.
    /// - Throws: `ControlError.badName`, or `.malformed` for `powerOff` with an operation other than restore.
    public init(_ operation: SnapshotOperation, name: String, powerOff: Bool = false) throws(ControlError) {
        try Self.checkName(name)
        guard !powerOff || operation == .restore else {
            throw .malformed("--power-off applies to restore only")
        }
        self.operation = operation
        self.name = name
        self.powerOff = powerOff
    }

    /// The request's bytes on the socket.
    public var encoded: [UInt8] {
        Array("snapshot \(operation.rawValue) \(powerOff ? "poweroff" : "-") \(name)\n".utf8)
    }

    /// Parses exactly one request: valid UTF-8, one line ending in `\n` (no CR, NUL or other newline), the words
    /// `snapshot`, an operation, a flag and a name separated by single spaces, at most ``maximumBytes``.
    /// - Throws: `ControlError.tooLarge`, `.malformed` naming what is wrong, or `.badName`.
    public static func parse(_ bytes: [UInt8]) throws(ControlError) -> ControlRequest {
        guard bytes.count <= maximumBytes else { throw .tooLarge(what: "request", limit: maximumBytes) }
        guard let last = bytes.last, last == 0x0A else {
            throw .malformed("the request does not end with a newline (it is \(bytes.count) bytes)")
        }
        let body = bytes.dropLast()
        guard !body.contains(where: { $0 == 0x0A || $0 == 0x0D || $0 == 0 }) else {
            throw .malformed("the request holds more than one line (or a NUL byte)")
        }
        guard let text = String(validating: body, as: UTF8.self) else {
            throw .malformed("the request is not valid UTF-8")
        }
        let words = text.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
        guard words.count == 4, words[0] == "snapshot" else {
            throw .malformed("expected \"snapshot take|restore|delete -|poweroff NAME\", got \(Shell.quote([text]))")
        }
        guard let operation = SnapshotOperation(rawValue: String(words[1])) else {
            throw .malformed("unknown snapshot operation \(Shell.quote([String(words[1])])): take, restore or delete")
        }
        guard words[2] == "-" || words[2] == "poweroff" else {
            throw .malformed("unknown flag \(Shell.quote([String(words[2])])): - or poweroff")
        }
        return try ControlRequest(operation, name: String(words[3]), powerOff: words[2] == "poweroff")
    }

    /// The names vmprov passes to VBoxManage: 1 to 255 UTF-8 bytes, no control, format (bidirectional overrides,
    /// zero-width) or line-separator characters, no leading or trailing space, not starting with `-`.
    /// - Throws: `ControlError.badName` saying which rule it breaks.
    public static func checkName(_ name: String) throws(ControlError) {
        if name.isEmpty { throw .badName(name, reason: "it is empty") }
        if name.utf8.count > maximumNameBytes {
            throw .badName(name, reason: "it is \(name.utf8.count) bytes long; at most \(maximumNameBytes)")
        }
        let hidden = name.unicodeScalars.first {
            switch $0.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .unassigned, .privateUse:
                return true
            default:
                return false
            }
        }
        if let hidden {
            throw .badName(name, reason: "it contains U+\(String(hidden.value, radix: 16, uppercase: true)), a "
                + "control, format or unassigned character")
        }
        if name.hasPrefix("-") { throw .badName(name, reason: "it starts with \"-\", which reads as an option") }
        if name.first?.isWhitespace == true || name.last?.isWhitespace == true {
            throw .badName(name, reason: "it starts or ends with a space")
        }
    }
}

/// The runner's answer to one ``ControlRequest``: `outcome WORD\n`, optionally `uuid UUID\n`, an empty line, then
/// the message (UTF-8), at most ``maximumBytes``.
public struct ControlReply: Sendable, Equatable {
    /// How the request ended.
    public enum Outcome: String, Sendable, Equatable, CaseIterable {
        /// VBoxManage carried it out.
        case done
        /// Refused for a reason that a retry does not change (the guest is running for a restore, a bad name).
        case refused
        /// VBoxManage failed (no such snapshot, a snapshot with two children, …) or did not finish in time.
        case failed
        /// Not now: the guest is starting or stopping.
        case busy
    }

    /// How it ended.
    public var outcome: Outcome
    /// The snapshot's UUID (lowercase, no braces) when VBoxManage printed it.
    public var uuid: String?
    /// What happened, for the user (VBoxManage's own lines included).
    public var message: String

    /// The longest reply in bytes.
    public static let maximumBytes = 65_536

    /// A reply.
    public init(_ outcome: Outcome, uuid: String? = nil, message: String) {
        self.outcome = outcome
        self.uuid = uuid
        self.message = message
    }

    /// The reply's bytes on the socket; a message that would not fit is cut at a character boundary.
    public var encoded: [UInt8] {
        var head = "outcome \(outcome.rawValue)\n"
        if let uuid { head += "uuid \(uuid)\n" }
        head += "\n"
        var text = message
        while head.utf8.count + text.utf8.count > Self.maximumBytes { text.removeLast() }
        return Array((head + text).utf8)
    }

    /// Parses a reply.
    /// - Throws: `ControlError.tooLarge` or `.malformed`.
    public static func parse(_ bytes: [UInt8]) throws(ControlError) -> ControlReply {
        guard bytes.count <= maximumBytes else { throw .tooLarge(what: "runner's reply", limit: maximumBytes) }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw .malformed("the runner's reply is not valid UTF-8")
        }
        guard let split = text.range(of: "\n\n") else {
            throw .malformed("the runner's reply has no header (\(bytes.count) bytes)")
        }
        var outcome: Outcome?
        var uuid: String?
        for line in text[..<split.lowerBound].split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("outcome "), outcome == nil, let o = Outcome(rawValue: String(line.dropFirst(8))) {
                outcome = o
            } else if line.hasPrefix("uuid "), uuid == nil {
                uuid = String(line.dropFirst(5))
            } else {
                throw .malformed("unexpected line in the runner's reply: \(Shell.quote([String(line)]))")
            }
        }
        guard let outcome else { throw .malformed("the runner's reply names no outcome") }
        return ControlReply(outcome, uuid: uuid, message: String(text[split.upperBound...]))
    }
}

/// The runner's control channel: a UNIX stream socket `control.sock` in the private folder `$VMDIR/.vmprov`
/// (mode 0700, owned by the runner's uid, opened with `O_NOFOLLOW` and reached through `/proc/self/fd`, so no
/// symlink is followed); both ends check the other's uid with `SO_PEERCRED`.
public enum ControlChannel {
    /// The private folder's name inside `$VMDIR`.
    public static let folderName = ".vmprov"
    /// The socket's name inside the folder.
    public static let socketName = "control.sock"

    /// `$VMDIR/.vmprov`.
    public static func folder(vmDir: String) -> String {
        (vmDir.hasSuffix("/") ? vmDir : vmDir + "/") + folderName
    }

    /// `$VMDIR/.vmprov/control.sock`.
    public static func socketPath(vmDir: String) -> String {
        folder(vmDir: vmDir) + "/" + socketName
    }

    /// Opens the private folder (creating it 0700 when `create`), refusing a symlink, a non-folder, another
    /// owner, and (when not creating) one others can reach; a folder the runner owns is set back to 0700.
    /// - Throws: `ControlError.noRunner` (missing, when not creating), `.unsafe` or `.io`.
    static func openFolder(vmDir: String, uid: UInt32, create: Bool) throws(ControlError) -> OwnedFD {
        let path = folder(vmDir: vmDir)
        if create, mkdir(path, 0o700) != 0, errno != EEXIST {
            throw .io(path: path, operation: "create the folder", code: errno)
        }
        guard let dir = OwnedFD.openOrNil(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) else {
            let code = errno
            if code == ENOENT { throw .noRunner(path: socketPath(vmDir: vmDir), reason: "\(path) does not exist") }
            var owner = stat()
            if code == EACCES, lstat(path, &owner) == 0, owner.st_uid != uid {
                throw .unsafe(path: path, reason: "it belongs to uid \(owner.st_uid), not to uid \(uid); run vmprov "
                    + "snapshot as the runner's user (docker exec -u \(owner.st_uid) …)")
            }
            if code == ELOOP || code == ENOTDIR {
                throw .unsafe(path: path, reason: "it is a symlink or not a folder; remove it")
            }
            throw .io(path: path, operation: "open", code: code)
        }
        var st = stat()
        guard fstat(dir.raw, &st) == 0 else { throw .io(path: path, operation: "stat", code: errno) }
        guard st.st_uid == uid else {
            throw .unsafe(path: path, reason: "it belongs to uid \(st.st_uid), not to uid \(uid)" + (create ? ""
                : "; run vmprov snapshot as the runner's user (docker exec -u \(st.st_uid) …)"))
        }
        if st.st_mode & 0o077 != 0 {
            guard create else {
                throw .unsafe(path: path, reason: "its mode is \(String(st.st_mode & 0o777, radix: 8)), not 700 (the "
                    + "runner sets it back when it starts)")
            }
            guard fchmod(dir.raw, 0o700) == 0 else { throw .io(path: path, operation: "chmod 700", code: errno) }
        }
        return dir
    }

    /// Sends `request` to the runner for `vmDir` and waits up to `timeout` for its reply. Checks the folder (see
    /// ``openFolder``), that `control.sock` is a socket, and that the peer runs as `uid`.
    /// - Throws: `ControlError.noRunner` when nothing listens, `.unsafe`, `.timedOut`, `.tooLarge`, `.malformed`
    ///   or `.io`.
    public static func send(_ request: ControlRequest, vmDir: String, uid: UInt32 = getuid(),
                            timeout: Duration) throws(ControlError) -> ControlReply {
        let path = socketPath(vmDir: vmDir)
        let dir = try openFolder(vmDir: vmDir, uid: uid, create: false)
        var st = stat()
        guard fstatat(dir.raw, socketName, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { throw .noRunner(path: path, reason: "no socket: no runner runs here") }
            throw .io(path: path, operation: "stat", code: errno)
        }
        guard st.st_mode & S_IFMT == S_IFSOCK else {
            throw .unsafe(path: path, reason: "it is not a socket (the runner replaces it when it starts)")
        }
        let fd = vmp_unix_connect(dir.raw, socketName)
        guard fd >= 0 else {
            let code = errno
            if code == ECONNREFUSED || code == ENOENT {
                throw .noRunner(path: path, reason: "nothing listens: the runner has ended")
            }
            throw .io(path: path, operation: "connect to", code: code)
        }
        let socket = OwnedFD(taking: fd)
        var peer: UInt32 = 0
        guard vmp_peer_uid(socket.raw, &peer) == 0 else { throw .io(path: path, operation: "check the peer of", code: errno) }
        guard peer == uid else { throw .unsafe(path: path, reason: "the process listening runs as uid \(peer), not \(uid)") }
        try sendAll(socket.raw, request.encoded, path: path)
        _ = shutdown(socket.raw, Int32(SHUT_WR))
        let bytes = try readAll(socket.raw, limit: ControlReply.maximumBytes, timeout: timeout, path: path)
        return try ControlReply.parse(bytes)
    }

    /// Writes all of `bytes` (MSG_NOSIGNAL: a peer that went away is an error, not SIGPIPE).
    static func sendAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(ControlError) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return 0 }
                return vmp_send(fd, base + sent, UInt(bytes.count - sent))
            }
            if n > 0 { sent += n; continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                if poll(&p, 1, 1000) > 0 { continue }
            }
            throw .io(path: path, operation: "write to", code: n < 0 ? errno : EPIPE)
        }
    }

    /// Reads until end of file (or, with `stopAtNewline`, the first newline), at most `limit` bytes, within
    /// `timeout`.
    /// - Throws: `ControlError.tooLarge` past `limit`, `.timedOut`, or `.io`.
    static func readAll(_ fd: Int32, limit: Int, timeout: Duration, path: String,
                        stopAtNewline: Bool = false) throws(ControlError) -> [UInt8] {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = Clock.now() + timeout.inSeconds
        while true {
            let left = deadline - Clock.now()
            if left <= 0 { throw .timedOut(path: path, seconds: Int(timeout.inSeconds.rounded(.up))) }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, Int32(min(left, 1.0) * 1000) + 1)
            if ready < 0 && errno != EINTR { throw .io(path: path, operation: "wait for", code: errno) }
            if ready <= 0 { continue }
            let n = Syscall.retrying { FileIO.read(fd, into: &buffer) }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { continue }
            if n < 0 { throw .io(path: path, operation: "read", code: errno) }
            if n == 0 { return out }
            out += buffer[0..<n]
            if out.count > limit { throw .tooLarge(what: stopAtNewline ? "request" : "runner's reply", limit: limit) }
            if stopAtNewline && buffer[0..<n].contains(0x0A) { return out }
        }
    }
}
