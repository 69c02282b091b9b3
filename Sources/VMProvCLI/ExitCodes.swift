#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import Provision
import VBoxXML
import Basics
import DiskImages

// The one place that decides exit codes: every error type the commands throw adopts `HasExitCode` here, and
// `VMProv.runMain` has the one `catch` that prints the description and exits with `exitCode`. Each mapping below is
// an exhaustive `switch` (no `default:`), so a new case does not compile until it has a code. The README's
// "Exit codes" table lists the same codes; `Tests/VMProvCLITests/ExitCodeTests.swift` checks every case.

/// Exit codes (sysexits.h), documented in the README.
public enum VMProvExit {
    /// Done.
    public static let ok: Int32 = 0
    /// Aborted or failed guest / VirtualBox tool failure (runner), or an unhealthy guest.
    public static let failure: Int32 = 1
    /// Usage: bad options or arguments (argument-parser's validation code).
    public static let usage: Int32 = 64
    /// Bad data: malformed XML, rules VirtualBox would refuse, checksum or signature mismatch.
    public static let dataError: Int32 = 65
    /// Input not found: no such file, folder, profile or URL.
    public static let noInput: Int32 = 66
    /// Tool failure: a required external program is missing or failed.
    public static let unavailable: Int32 = 69
    /// Internal error: `run` could not set up its signal handling (a signalfd, a pipe, the signal mask), or an edit
    /// built overlapping splices (`EditBatchError`, a bug).
    public static let software: Int32 = 70
    /// Cannot create: the output exists already.
    public static let cannotCreate: Int32 = 73
    /// I/O error while reading or writing.
    public static let ioError: Int32 = 74
    /// Temporary failure: VirtualBox holds the machine, or the network failed; try again later.
    public static let tempFailure: Int32 = 75
}

/// An error that knows the exit code the README documents for it.
public protocol HasExitCode: Error, CustomStringConvertible {
    /// The process exit code for this error.
    var exitCode: Int32 { get }
}

/// An error the CLI itself detects (not a library error), with the kind that decides its exit code.
public struct CLIError: HasExitCode {
    /// What went wrong, in the README's exit-code terms.
    public enum Kind: Sendable, CaseIterable {
        /// A bad option, value or environment setting (64).
        case usage
        /// Data that cannot be used (65).
        case dataError
        /// A named file, folder or machine is not there (66).
        case noInput
        /// A required tool is missing or failed (69).
        case unavailable
        /// The output exists already (73).
        case cannotCreate
        /// An I/O error (74).
        case ioError
        /// Busy: try again later (75).
        case tempFailure
    }

    /// The message shown after `vmprov: error:`.
    public var message: String
    /// The kind, which decides the exit code.
    public var kind: Kind

    /// An error with `message` of `kind`.
    public init(_ message: String, kind: Kind) {
        self.message = message
        self.kind = kind
    }

    /// The message.
    public var description: String { message }

    /// The exit code of `kind`.
    public var exitCode: Int32 {
        switch kind {
        case .usage: return VMProvExit.usage
        case .dataError: return VMProvExit.dataError
        case .noInput: return VMProvExit.noInput
        case .unavailable: return VMProvExit.unavailable
        case .cannotCreate: return VMProvExit.cannotCreate
        case .ioError: return VMProvExit.ioError
        case .tempFailure: return VMProvExit.tempFailure
        }
    }
}

/// An error whose message was already shown (as findings, or as a runner log line): `runMain` prints nothing more
/// and exits with the code of the error it stands for.
public struct AlreadyReported: HasExitCode {
    /// The error that was reported.
    public var cause: any HasExitCode
    /// Stands for `cause`.
    public init(_ cause: any HasExitCode) { self.cause = cause }
    /// The cause's description.
    public var description: String { cause.description }
    /// The cause's exit code.
    public var exitCode: Int32 { cause.exitCode }
}

extension VBoxXMLError: HasExitCode {
    /// Missing file 66, I/O 74, refused data 65, lock held 75.
    public var exitCode: Int32 {
        switch self {
        case .notFound: return VMProvExit.noInput
        case .io: return VMProvExit.ioError
        case .malformed, .invalid, .conflict: return VMProvExit.dataError
        case .busy: return VMProvExit.tempFailure
        }
    }
}

extension ControlError: HasExitCode {
    /// `vmprov snapshot`: no runner 69, a bad name 64, a control folder or socket that is not the runner's 74,
    /// no answer in time 75, a reply vmprov cannot read 69, a socket error 74.
    public var exitCode: Int32 {
        switch self {
        case .noRunner, .tooLarge, .malformed: return VMProvExit.unavailable
        case .badName: return VMProvExit.usage
        case .unsafe, .io: return VMProvExit.ioError
        case .timedOut: return VMProvExit.tempFailure
        }
    }
}

extension IOError: HasExitCode {
    /// A missing file 66, any other operating-system error 74.
    public var exitCode: Int32 { code == ENOENT ? VMProvExit.noInput : VMProvExit.ioError }
}

extension CacheError: HasExitCode {
    /// An unusable cache folder: 74.
    public var exitCode: Int32 { VMProvExit.ioError }
}

extension SpawnError: HasExitCode {
    /// A program that cannot be started: 69.
    public var exitCode: Int32 { VMProvExit.unavailable }
}

extension ChecksumError: HasExitCode {
    /// Every checksum refusal is bad data (65); a missing checksum file reaches the CLI as `DownloadError.notFound`.
    public var exitCode: Int32 {
        switch self {
        case .badSpec, .noEntry, .contradictory, .unreadable, .mismatch, .localMismatch, .unsupported:
            return VMProvExit.dataError
        }
    }
}

extension SignatureError: HasExitCode {
    /// gpgv missing 69, a keyring file that is not there 66, every other refusal 65.
    public var exitCode: Int32 {
        switch self {
        case .gpgvMissing: return VMProvExit.unavailable
        case let .keyring(path, _):
            return URLText.scheme(path) == nil && access(path, F_OK) != 0 ? VMProvExit.noInput : VMProvExit.dataError
        case .noKeyring, .bad, .rejected, .unknownKey, .wrongSigner, .missing, .notSigned, .required:
            return VMProvExit.dataError
        }
    }
}

extension DownloadError: HasExitCode {
    /// Missing files 66, network trouble 75, refusals 65, tools 69, unusable names 64, existing files 73.
    public var exitCode: Int32 {
        switch self {
        case .unsupportedScheme, .badFileName: return VMProvExit.usage
        case .failed:
            return isNotFound ? VMProvExit.noInput : isTemporary ? VMProvExit.tempFailure : VMProvExit.dataError
        case .notFound: return VMProvExit.noInput
        case .verification, .tooLarge, .oversize: return VMProvExit.dataError
        case let .signature(e): return e.exitCode
        case let .io(e): return e.exitCode
        case let .cache(e): return e.exitCode
        case .exists, .unsafeFile: return VMProvExit.cannotCreate
        case .busy: return VMProvExit.tempFailure
        case .curlUnavailable, .curlOption: return VMProvExit.unavailable
        }
    }
}

extension ProfileError: HasExitCode {
    /// No such profile 66, a profile that cannot be used 65.
    public var exitCode: Int32 {
        switch kind {
        case .notFound: return VMProvExit.noInput
        case .invalid: return VMProvExit.dataError
        }
    }
}

extension CreateError: HasExitCode {
    /// The folder exists 73, bad options 64, refused settings 65; downloads, settings and I/O as their own errors.
    public var exitCode: Int32 {
        switch self {
        case .exists: return VMProvExit.cannotCreate
        case .invalid: return VMProvExit.usage
        case let .download(e): return e.exitCode
        case let .settings(e): return e.exitCode
        case .check: return VMProvExit.dataError
        case let .io(e): return e.exitCode
        case let .release(e): return e.exitCode
        }
    }
}

extension ReleaseError: HasExitCode {
    /// Downloads and signatures as their own errors; no or ambiguous match 65; a `--release` nowhere found 66.
    public var exitCode: Int32 {
        switch self {
        case let .download(e): return e.exitCode
        case .noMatch, .ambiguous: return VMProvExit.dataError
        case .releaseNotFound: return VMProvExit.noInput
        }
    }
}

extension SetupError: HasExitCode {
    /// By kind: usage 64, not found 66, tool 69, everything else 65.
    public var exitCode: Int32 {
        switch kind {
        case .usage: return VMProvExit.usage
        case .notFound: return VMProvExit.noInput
        case .unavailable: return VMProvExit.unavailable
        case .data: return VMProvExit.dataError
        }
    }
}

extension VirtualBoxError: HasExitCode {
    /// VirtualBox's tools missing, failing, hanging or unreadable: 69.
    public var exitCode: Int32 {
        switch self {
        case .missing, .failed, .unparsable, .timedOut, .interrupted: return VMProvExit.unavailable
        }
    }
}

extension RunnerError: HasExitCode {
    /// No machine 66, registration refused 65, VirtualBox 69, VBoxHeadless failed 1, signal setup 70, settings 64.
    public var exitCode: Int32 {
        switch self {
        case .noMachine: return VMProvExit.noInput
        case .registration: return VMProvExit.dataError
        case .virtualBox: return VMProvExit.unavailable
        case .headlessStartFailed: return VMProvExit.failure
        case .signals: return VMProvExit.software
        case .setting: return VMProvExit.usage
        }
    }
}

extension ComposeError: HasExitCode {
    /// No machine 66, clashes and unusable machines 65, options 64, files 74.
    public var exitCode: Int32 {
        switch self {
        case .noMachines: return VMProvExit.noInput
        case .clashes, .sameServiceName, .settings, .data: return VMProvExit.dataError
        case .usage: return VMProvExit.usage
        case .io: return VMProvExit.ioError
        }
    }
}

extension DiskImageError: HasExitCode {
    /// A value or image that cannot be used 65, output exists 73, input missing 66, I/O 74.
    public var exitCode: Int32 {
        switch self {
        case .invalid, .badImage: return VMProvExit.dataError
        case .exists: return VMProvExit.cannotCreate
        case .notFound: return VMProvExit.noInput
        case .io: return VMProvExit.ioError
        }
    }
}

extension TarGz.Failure: HasExitCode {
    /// An archive that is not an extension pack (or is damaged or hostile) 65; unreadable: missing 66, else 74.
    public var exitCode: Int32 {
        switch self {
        case .notGzip, .notFound, .damaged, .memberTooLarge, .inflatesTooMuch: return VMProvExit.dataError
        case let .unreadable(_, code): return code == ENOENT ? VMProvExit.noInput : VMProvExit.ioError
        }
    }
}

extension ValueError: HasExitCode {
    /// A value the user gave that cannot be used: 64.
    public var exitCode: Int32 { VMProvExit.usage }
}

extension StorageAllocationError: HasExitCode {
    /// A drive that does not fit its controller (slot taken, out of range, controller full): 65.
    public var exitCode: Int32 { VMProvExit.dataError }
}

extension EditBatchError: HasExitCode {
    /// Overlapping or out-of-bounds splices are a bug in vmprov, never in the user's file: 70.
    public var exitCode: Int32 {
        switch self {
        case .overlap, .outOfBounds: return VMProvExit.software
        }
    }
}

extension UnattendedError: HasExitCode {
    /// A bad `--unattended` input (an empty password line, a bad user name) 64; stdin unreadable 74; libcrypt 70.
    public var exitCode: Int32 {
        switch self {
        case .invalid: return VMProvExit.usage
        case .io: return VMProvExit.ioError
        case .hashFailed: return VMProvExit.software
        }
    }
}
