import ArgumentParser
import VBoxXML

/// Exit codes (sysexits.h), documented in the README.
public enum VMProvExit {
    public static let ok: Int32 = 0
    /// Aborted or failed guest / VirtualBox tool failure (runner).
    public static let failure: Int32 = 1
    /// Usage: bad options or arguments (argument-parser's validation code).
    public static let usage: Int32 = 64
    /// Bad data: malformed XML, rules VirtualBox would refuse, checksum or signature mismatch.
    public static let dataError: Int32 = 65
    /// Input not found: no such file, folder, profile or URL.
    public static let noInput: Int32 = 66
    /// Tool failure: a required external program is missing or failed.
    public static let unavailable: Int32 = 69
    /// Cannot create: the output exists already.
    public static let cannotCreate: Int32 = 73
    /// I/O error while reading or writing.
    public static let ioError: Int32 = 74
    /// Temporary failure: VirtualBox holds the machine, or the network failed; try again later.
    public static let tempFailure: Int32 = 75
}

/// An error the CLI reports with a chosen exit code.
public struct CLIError: Error, CustomStringConvertible {
    public var message: String
    public var code: Int32
    public init(_ message: String, code: Int32) {
        self.message = message
        self.code = code
    }
    public var description: String { message }
}

extension VBoxXMLError {
    /// The exit code for this error.
    var exitCode: Int32 {
        switch self {
        case .notFound: return VMProvExit.noInput
        case .io: return VMProvExit.ioError
        case .malformed, .invalid, .conflict: return VMProvExit.dataError
        case .busy: return VMProvExit.tempFailure
        }
    }
}
