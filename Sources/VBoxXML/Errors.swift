/// Errors of the `.vbox` document layer. Each names the file and says what to do next.
public enum VBoxXMLError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file does not exist or cannot be opened.
    case notFound(path: String, reason: String)
    /// Reading or writing failed at the operating-system level.
    case io(path: String, operation: String, reason: String)
    /// The bytes are not a well-formed XML document.
    case malformed(path: String, line: Int, column: Int, message: String)
    /// Well-formed XML that VirtualBox would not accept, or that vmprov refuses to touch.
    case invalid(path: String, message: String)
    /// An edit that VirtualBox would refuse or silently mangle.
    case conflict(path: String, message: String)
    /// Another process holds the file (the edit lock); trying again later may succeed.
    case busy(path: String, message: String)

    /// `PATH: what is wrong` (with line and column for malformed XML) and what to do.
    public var description: String {
        switch self {
        case let .notFound(path, reason):
            return "\(path): \(reason)"
        case let .io(path, operation, reason):
            return "\(path): cannot \(operation): \(reason)"
        case let .malformed(path, line, column, message):
            let place = line > 0 ? ":\(line):\(column)" : ""
            return "\(path)\(place): not a well-formed XML document: \(message). "
                + "Restore the file from NAME.vbox-prev or a backup; vmprov edits only intact settings files."
        case let .invalid(path, message):
            return "\(path): \(message)"
        case let .conflict(path, message):
            return "\(path): \(message)"
        case let .busy(path, message):
            return "\(path): \(message)"
        }
    }
}
