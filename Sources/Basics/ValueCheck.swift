#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Checks of values given by the user, with messages that say what is allowed.
public enum ValueCheck {
    /// A VRDE `TCP/Ports` value: `N`, `N-M` (N ≤ M), comma lists, ports 1–65535, digits only, no spaces.
    /// Returns the ranges, or a message saying what is wrong.
    public static func vrdePorts(_ spec: String) -> Result<[ClosedRange<Int>], ValueError> {
        guard !spec.isEmpty else { return .failure(ValueError("the port list is empty")) }
        var ranges: [ClosedRange<Int>] = []
        for item in spec.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = item.split(separator: "-", omittingEmptySubsequences: false)
            guard bounds.count == 1 || bounds.count == 2 else {
                return .failure(ValueError("\"\(item)\" is not a port or a range N-M"))
            }
            var numbers: [Int] = []
            for b in bounds {
                guard !b.isEmpty, b.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), b.count <= 5, let n = Int(b) else {
                    return .failure(ValueError("\"\(item)\" is not a port or a range N-M (digits only, no spaces)"))
                }
                guard (1...65535).contains(n) else {
                    return .failure(ValueError("port \(b) is outside 1-65535"))
                }
                numbers.append(n)
            }
            if numbers.count == 2, numbers[0] > numbers[1] {
                return .failure(ValueError("the range \(item) runs backwards (write the lower port first)"))
            }
            ranges.append(numbers[0]...(numbers.last ?? numbers[0]))
        }
        return .success(ranges)
    }

    /// A TCP/UDP port 1–65535 given as text.
    public static func port(_ text: String, what: String) -> Result<Int, ValueError> {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), text.count <= 5, let n = Int(text) else {
            return .failure(ValueError("\(what) \"\(text)\" is not a number"))
        }
        guard (1...65535).contains(n) else { return .failure(ValueError("\(what) \(n) is outside 1-65535")) }
        return .success(n)
    }

    /// An IPv4 or IPv6 address literal.
    public static func isIPAddress(_ s: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, s, &v4) == 1 || inet_pton(AF_INET6, s, &v6) == 1
    }

    /// A loopback address (127.0.0.0/8 or ::1).
    public static func isLoopback(_ s: String) -> Bool {
        var v4 = in_addr()
        if inet_pton(AF_INET, s, &v4) == 1 { return s.hasPrefix("127.") }
        return s == "::1"
    }
}

/// A value the user gave that cannot be used.
public struct ValueError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong, as a clause ("port 70000 is outside 1-65535").
    public var message: String
    /// An error saying `message`.
    public init(_ message: String) { self.message = message }
    /// The message itself.
    public var description: String { message }
}
