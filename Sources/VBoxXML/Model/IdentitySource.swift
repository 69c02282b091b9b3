#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where a new machine's identifiers come from: as many UUIDs as the machine needs (the machine first, then each
/// medium in attachment order), one MAC address and the creation time.
public protocol IdentitySource: Sendable {
    /// The next UUID; every call gives another one.
    mutating func nextUUID() -> VBoxUUID
    /// The first adapter's MAC address: 12 hex digits, unicast.
    var macAddress: String { get }
    /// Seconds since 1970 (UTC), for `lastStateChange`.
    var time: Int { get }
}

/// Random version-4 UUIDs, a random MAC address under VirtualBox's `08:00:27` prefix, the current time.
public struct RandomIdentity: IdentitySource {
    /// 12 hex digits: the given address, or `080027` and three random bytes.
    public let macAddress: String
    /// Seconds since 1970 (UTC): the given time, or the time the source was made.
    public let time: Int

    /// Random identifiers; a given `macAddress` or `time` replaces the random one (test hooks).
    public init(macAddress: String? = nil, time: Int? = nil) {
        var g = SystemRandomNumberGenerator()
        let hex = Array("0123456789ABCDEF")
        self.macAddress = macAddress ?? "080027" + (0..<3).map { _ in
            let b = UInt8.random(in: 0...255, using: &g)
            return String([hex[Int(b >> 4)], hex[Int(b & 0x0F)]])
        }.joined()
        self.time = time ?? Int(Glibc.time(nil))
    }

    /// A fresh random version-4 UUID.
    public mutating func nextUUID() -> VBoxUUID { .random() }
}

/// Fixed identifiers for golden tests (`VMPROV_TEST_UUIDS`): the given UUIDs in order; once they are used up,
/// `00000000-0000-4000-8000-NNNNNNNNNNNN` with N counting from 1, so a machine needing more still gets distinct,
/// repeatable ones.
public struct FixedIdentity: IdentitySource {
    /// UUIDs handed out first, in order; derived repeatable ones follow.
    public var uuids: [VBoxUUID]
    /// 12 hex digits.
    public var macAddress: String
    /// Seconds since 1970 (UTC).
    public var time: Int
    /// How many UUIDs were handed out.
    public private(set) var used = 0

    /// `uuids` in the order they are drawn (machine, disk, installer, Guest Additions for `vmprov create`).
    public init(uuids: [VBoxUUID], macAddress: String, time: Int) {
        self.uuids = uuids
        self.macAddress = macAddress
        self.time = time
    }

    /// The next given UUID, then the counted ones.
    public mutating func nextUUID() -> VBoxUUID {
        defer { used += 1 }
        if used < uuids.count { return uuids[used] }
        var bytes = [UInt8](repeating: 0, count: 16)
        bytes[6] = 0x40
        bytes[8] = 0x80
        var n = used - uuids.count + 1
        for i in stride(from: 15, through: 10, by: -1) {
            bytes[i] = UInt8(n & 0xFF)
            n >>= 8
        }
        return VBoxUUID(bytes: bytes)
    }
}
