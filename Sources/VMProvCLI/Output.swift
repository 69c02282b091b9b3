#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Provision
import Basics

/// Where the CLI writes: results to stdout, warnings and errors to stderr, each line flushed.
public enum Output {
    public static func out(_ text: String) { write(1, text + "\n") }

    public static func warn(_ text: String) { write(2, "vmprov: warning: \(lines(text))\n") }

    public static func error(_ text: String) { write(2, "vmprov: error: \(lines(text))\n") }

    public static func note(_ text: String) { write(2, lines(text) + "\n") }

    /// Messages keep their line breaks and tabs; every other control character (a CR or an escape sequence from a
    /// URL or a server that reached a message unescaped) is shown escaped, never sent to the terminal.
    static func lines(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { ($0.value < 0x20 && $0 != "\n" && $0 != "\t")
            || (0x7F..<0xA0).contains($0.value) }) else { return text }
        return text.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.split(separator: "\t", omittingEmptySubsequences: false).map { URLText.printable(String($0)) }
                .joined(separator: "\t") }
            .joined(separator: "\n")
    }

    /// Writes the whole text to a descriptor, unbuffered, so lines reach `docker logs` at once.
    public static func write(_ fd: Int32, _ text: String) {
        // A failed write (a closed pipe) has no one left to tell: the text is dropped.
        _ = FileIO.writeAll(fd: fd, Array(text.utf8))
    }

    /// Environment variable, nil when unset or empty.
    public static func env(_ name: String) -> String? {
        guard let p = getenv(name) else { return nil }
        let s = String(cString: p)
        return s.isEmpty ? nil : s
    }
}
