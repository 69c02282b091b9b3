#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Provision
import Basics

/// Where the CLI writes: results to stdout, warnings and errors to stderr, each line flushed.
public enum Output {
    /// Writes `text` and a newline to stdout (results: what scripts read).
    public static func out(_ text: String) { write(1, text + "\n") }

    /// Writes `vmprov: warning: TEXT` to stderr, control characters escaped (see `lines`).
    public static func warn(_ text: String) { write(2, "vmprov: warning: \(lines(text))\n") }

    /// Writes `vmprov: error: TEXT` to stderr, control characters escaped; `VMProv.runMain` calls it once per
    /// failed command.
    public static func error(_ text: String) { write(2, "vmprov: error: \(lines(text))\n") }

    /// Writes `TEXT` as is (control characters escaped) to stderr: notes and progress lines.
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

    /// Writes the whole text (UTF-8) to descriptor `fd` (1 stdout, 2 stderr), unbuffered, so lines reach
    /// `docker logs` at once; retries on EINTR and gives up silently on any other error (a closed pipe).
    public static func write(_ fd: Int32, _ text: String) {
        // A failed write (a closed pipe) has no one left to tell: the text is dropped.
        _ = FileIO.writeAll(fd: fd, Array(text.utf8))
    }
}
