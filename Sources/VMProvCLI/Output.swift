#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where the CLI writes: results to stdout, warnings and errors to stderr, each line flushed.
public enum Output {
    public static func out(_ text: String) { write(1, text + "\n") }

    public static func warn(_ text: String) { write(2, "vmprov: warning: \(text)\n") }

    public static func error(_ text: String) { write(2, "vmprov: error: \(text)\n") }

    public static func note(_ text: String) { write(2, text + "\n") }

    /// Writes the whole text to a descriptor, unbuffered, so lines reach `docker logs` at once.
    public static func write(_ fd: Int32, _ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { raw in
                #if canImport(Glibc)
                Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                #else
                Musl.write(fd, raw.baseAddress! + offset, raw.count - offset)
                #endif
            }
            if n < 0 {
                if errno == EINTR { continue }
                return
            }
            offset += n
        }
    }

    /// Environment variable, nil when unset or empty.
    public static func env(_ name: String) -> String? {
        guard let p = getenv(name) else { return nil }
        let s = String(cString: p)
        return s.isEmpty ? nil : s
    }
}
