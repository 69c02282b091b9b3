#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where VirtualBox's Guest Additions ISO lives on common installs.
public enum GuestAdditions {
    /// The places looked at, in order.
    public static let candidates = [
        "/usr/lib/virtualbox/additions/VBoxGuestAdditions.iso",
        "/usr/share/virtualbox/VBoxGuestAdditions.iso",
        "/opt/VirtualBox/additions/VBoxGuestAdditions.iso",
    ]

    /// The ISO to attach: `override` when given (`""` or `none` means none), else the first readable candidate.
    /// - Returns: a path, or nil when there is none.
    public static func find(override: String?) -> String? {
        if let override { return override.isEmpty || override == "none" ? nil : override }
        return candidates.first { access($0, R_OK) == 0 }
    }
}
