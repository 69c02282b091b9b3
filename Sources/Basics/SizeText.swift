/// Sizes as users write them: `512M`, `64G`, `2T`, `1024K`; a bare number is MiB, as in VBoxManage.
public enum SizeText {
    /// The size `text` stands for, in bytes: a decimal number with an optional binary suffix `K`, `M`, `G` or `T`
    /// (also `KB`/`KiB` …; case-insensitive). A bare number is MiB.
    /// - Returns: nil for anything else, or when the size overflows 64 bits.
    public static func parse(_ text: String) -> UInt64? {
        var t = Substring(text.uppercased())
        if t.hasSuffix("IB") { t = t.dropLast(2) } else if t.hasSuffix("B") && t.count > 1 && !t.dropLast().allSatisfy(\.isNumber) { t = t.dropLast() }
        let multipliers: [Character: UInt64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        var unit: UInt64 = 1 << 20
        if let last = t.last, let m = multipliers[last] {
            unit = m
            t = t.dropLast()
        }
        guard !t.isEmpty, t.allSatisfy({ $0.isASCII && $0.isNumber }), let n = UInt64(t) else { return nil }
        let (v, overflow) = n.multipliedReportingOverflow(by: unit)
        return overflow ? nil : v
    }

    /// `n` bytes for people, with binary units and one decimal: `512 B`, `1.5 KiB`, `64.0 GiB`.
    public static func format(_ n: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n)
        var u = 0
        while v >= 1024 && u < units.count - 1 { v /= 1024; u += 1 }
        if u == 0 { return "\(n) B" }
        let tenths = Int((v * 10).rounded())
        return "\(tenths / 10).\(tenths % 10) \(units[u])"
    }

    /// A limit in bytes for messages: `16 MiB` when it is a whole number of MiB, else `N bytes`.
    public static func limit(_ bytes: Int) -> String {
        bytes >= 1 << 20 && bytes % (1 << 20) == 0 ? "\(bytes >> 20) MiB" : "\(bytes) bytes"
    }
}
