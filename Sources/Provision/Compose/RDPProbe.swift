#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Basics
import VBoxXML

/// Asks a port whether an RDP server answers there, without logging in: one X.224 Connection Request with an RDP
/// Negotiation Request (MS-RDPBCGR 2.2.1.1), and the answer must be an X.224 Connection Confirm (2.2.1.2), with
/// or without an RDP Negotiation Response or Failure. Used by `vmprov healthcheck --console`, so a guest whose
/// VRDE server is not there (a VirtualBox upgrade that moved the VRDE module) is unhealthy.
public enum RDPProbe {
    /// What the port did.
    public enum Outcome: Sendable, Equatable {
        /// An RDP server: the confirm's detail (the selected protocol, or the negotiation failure code).
        case rdp(String)
        /// Nothing listens (the connection was refused or could not be made): the reason.
        case unreachable(String)
        /// Something answered that is not an RDP Connection Confirm: what it sent, printable.
        case notRDP(String)
        /// No complete answer within the time limit, or the connection closed first.
        case noAnswer(String)

        /// Whether an RDP server answered.
        public var isRDP: Bool { if case .rdp = self { return true } else { return false } }

        /// One line for the healthcheck's output.
        public var text: String {
            switch self {
            case .rdp(let d): return "RDP server answered (\(d))"
            case .unreachable(let r): return "no RDP server: \(r)"
            case .notRDP(let r): return "not an RDP server: \(r)"
            case .noAnswer(let r): return "no RDP answer: \(r)"
            }
        }
    }

    /// TPKT (4) + X.224 Connection Request (7: LI 14, CR 0xE0, DST-REF 0, SRC-REF 0, class 0) + RDP_NEG_REQ (8:
    /// type 1, flags 0, length 8, requestedProtocols PROTOCOL_SSL | PROTOCOL_HYBRID), 19 bytes in all.
    public static let request: [UInt8] = [0x03, 0x00, 0x00, 0x13,
                                          0x0E, 0xE0, 0x00, 0x00, 0x00, 0x00, 0x00,
                                          0x01, 0x00, 0x08, 0x00, 0x03, 0x00, 0x00, 0x00]

    /// Reads an answer (the bytes received so far): nil while more bytes are needed.
    public static func judge(_ bytes: [UInt8]) -> Outcome? {
        guard let first = bytes.first else { return nil }
        guard first == 0x03 else { return .notRDP("it sent \(printable(bytes))") }
        guard bytes.count >= 4 else { return nil }
        guard bytes[1] == 0x00 else { return .notRDP("a TPKT header with reserved byte \(bytes[1])") }
        let length = Int(bytes[2]) << 8 | Int(bytes[3])
        guard length >= 11 else { return .notRDP("a TPKT of \(length) bytes, too short for an X.224 Connection Confirm") }
        guard bytes.count >= length else { return nil }
        guard bytes[5] & 0xF0 == 0xD0 else {
            return .notRDP(String(format2: bytes[5]) + " is not an X.224 Connection Confirm (0xD0)")
        }
        guard length >= 19 else { return .rdp("no negotiation: standard RDP security") }
        let value = UInt32(bytes[15]) | UInt32(bytes[16]) << 8 | UInt32(bytes[17]) << 16 | UInt32(bytes[18]) << 24
        switch bytes[11] {
        case 0x02:
            let names: [UInt32: String] = [0: "standard RDP security", 1: "TLS", 2: "CredSSP", 8: "CredSSP with early user auth"]
            return .rdp("selected protocol \(names[value] ?? "0x" + String(value, radix: 16))")
        case 0x03: return .rdp("negotiation failure code \(value)")
        default: return .rdp("X.224 Connection Confirm")
        }
    }

    static func printable(_ bytes: [UInt8]) -> String {
        let shown = bytes.prefix(24).map { b -> String in
            (0x20..<0x7F).contains(b) ? String(UnicodeScalar(b)) : "\\x" + (b < 16 ? "0" : "") + String(b, radix: 16)
        }.joined()
        return "\"" + shown + (bytes.count > 24 ? "…" : "") + "\""
    }

    /// Connects to `host`:`port` (a numeric IPv4/IPv6 address or a name), sends ``request`` and judges the
    /// answer; the whole exchange takes at most `timeout` seconds.
    public static func probe(host: String, port: Int, timeout: Double = 5) -> Outcome {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            return .unreachable("\(host): cannot resolve (\(String(cString: gai_strerror(rc))))")
        }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
                        | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return .unreachable("socket: \(FileIO.describe(errno))") }
        defer { close(fd) }
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let end = Double(deadline.tv_sec) + Double(deadline.tv_nsec) / 1e9 + timeout
        func remainingMS() -> Int32 {
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let left = end - (Double(now.tv_sec) + Double(now.tv_nsec) / 1e9)
            return left <= 0 ? 0 : Int32(min(left * 1000, 86_400_000))
        }
        func wait(_ events: Int16) -> Bool {
            var p = pollfd(fd: fd, events: events, revents: 0)
            return Syscall.retrying { poll(&p, 1, remainingMS()) } > 0
        }
        if connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) != 0 {
            guard errno == EINPROGRESS else { return .unreachable("\(host):\(port): \(FileIO.describe(errno))") }
            guard wait(Int16(POLLOUT)) else { return .noAnswer("\(host):\(port): the connection did not complete in \(timeout) s") }
            var err: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
            if err != 0 { return .unreachable("\(host):\(port): \(FileIO.describe(err))") }
        }
        if let e = FileIO.writeAll(fd: fd, request) {
            if e == EAGAIN, wait(Int16(POLLOUT)), FileIO.writeAll(fd: fd, request) == nil {} else {
                return .noAnswer("\(host):\(port): sending the request failed: \(FileIO.describe(e))")
            }
        }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 512)
        while answer.count < 4096 {
            guard wait(Int16(POLLIN)) else {
                return answer.isEmpty ? .noAnswer("\(host):\(port): nothing within \(timeout) s")
                    : .noAnswer("\(host):\(port): an incomplete answer \(printable(answer))")
            }
            let n = Syscall.retrying { buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) } }
            if n < 0 {
                if errno == EAGAIN { continue }
                if answer.isEmpty { return .noAnswer("\(host):\(port): \(FileIO.describe(errno)) before any answer") }
                break
            }
            if n == 0 { break }
            answer += buffer[0..<n]
            if let verdict = judge(answer) { return verdict }
        }
        if let verdict = judge(answer) { return verdict }
        return answer.isEmpty ? .noAnswer("\(host):\(port): the connection closed without an answer")
            : .notRDP("an incomplete answer \(printable(answer))")
    }
}

extension String {
    init(format2 byte: UInt8) { self = "0x" + (byte < 16 ? "0" : "") + String(byte, radix: 16) }
}
