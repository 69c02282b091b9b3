/// Why `vmprov compose`, `vmprov kube` or the console mapping could not be made; nothing was written.
public enum ComposeError: Error, Sendable, CustomStringConvertible {
    /// No machine folder under the folder (named), with what was found instead.
    case noMachines(folder: String, backups: [String])
    /// Two or more guests publish one host port; each line names the fix.
    case clashes([String])
    /// Two machines' names give one service name.
    case sameServiceName(name: String, first: String, second: String)
    /// A machine that cannot be read, or an edit of `--assign` that was refused.
    case settings(String)
    /// A file that exists and is not what vmprov writes (a symlink, a folder), or an I/O error.
    case io(path: String, operation: String, reason: String)
    /// An option value that cannot be used.
    case usage(String)
    /// YAML or XML could not be produced or read back.
    case data(path: String, reason: String)

    /// What went wrong, with the file or guest it concerns, and what to do.
    public var description: String {
        switch self {
        case let .noMachines(folder, backups):
            return "\(folder): no machine folder with a .vbox file"
                + (backups.isEmpty ? "" : " (only VirtualBox's format backups: \(backups.joined(separator: ", ")))")
                + ". Give the folder that holds the machine folders (vmprov create --dir DIR makes DIR/NAME)."
        case let .clashes(lines):
            return "guests publish the same host port (one compose project publishes all of them on one host):\n"
                + lines.map { "  " + $0 }.joined(separator: "\n")
                + "\nMove them with the commands above, or run again with --assign to rewrite the later guests' "
                + ".vbox files to free ports."
        case let .sameServiceName(name, first, second):
            return "\(first) and \(second) both give the service name \"\(name)\"; rename one machine "
                + "(its Machine name) so the names differ after lowercasing."
        case let .settings(text):
            return text
        case let .io(path, operation, reason):
            return "\(path): cannot \(operation): \(reason)"
        case let .usage(text):
            return text
        case let .data(path, reason):
            return "\(path): \(reason)"
        }
    }
}
