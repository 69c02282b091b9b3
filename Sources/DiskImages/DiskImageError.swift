/// What went wrong while writing or reading a disk image (seed ISO, installer ISO, VISO recipe).
public enum DiskImageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// An input the caller gave cannot be used: a bad label, path or content. `field` names it.
    case invalid(field: String, message: String)
    /// The output exists already and replacing it was not asked for.
    case exists(path: String)
    /// A file to read is not there.
    case notFound(path: String, reason: String)
    /// A system call or libarchive failed on `path` while doing `operation`.
    case io(path: String, operation: String, reason: String)
    /// An image that cannot be read as ISO 9660, or lacks what was asked for.
    case badImage(path: String, message: String)

    /// What happened, to which file or value, and what to do.
    public var description: String {
        switch self {
        case let .invalid(field, message):
            return "\(field): \(message)"
        case let .exists(path):
            return "\(path): exists already. Remove it or choose another path."
        case let .notFound(path, reason):
            return "\(path): \(reason)"
        case let .io(path, operation, reason):
            return "\(path): could not \(operation): \(reason)."
        case let .badImage(path, message):
            return "\(path): \(message)"
        }
    }
}
