import Foundation

/// Paths and helpers shared by the test targets.
public enum TestPaths {
    /// The package root (the folder holding Package.swift).
    public static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        fatalError("Package.swift not found above \(#filePath)")
    }()

    /// `../shared/corpus`, or nil (tests then skip with a message).
    public static let corpus: URL? = {
        let url = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/corpus")
        return FileManager.default.fileExists(atPath: url.path) ? url : nil
    }()

    /// Says visibly that a corpus test is skipped.
    public static func corpusMissing(_ what: String) {
        print("SKIPPED: \(what): ../shared/corpus is absent next to the package")
    }

    /// The built `vmprov` binary next to the test bundle.
    public static let vmprov: URL = {
        if let env = ProcessInfo.processInfo.environment["VMPROV_BIN"] { return URL(fileURLWithPath: env) }
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        while dir.path != "/" {
            let candidate = dir.appendingPathComponent("vmprov")
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDir), !isDir.boolValue {
                return candidate
            }
            dir.deleteLastPathComponent()
        }
        return packageRoot.appendingPathComponent(".build/debug/vmprov")
    }()

    /// Every `.vbox` in the corpus, sorted.
    public static func corpusVBoxFiles() -> [URL] {
        guard let corpus else { return [] }
        let dir = corpus.appendingPathComponent("vbox")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { $0.hasSuffix(".vbox") }.sorted().map { dir.appendingPathComponent($0) }
    }
}

/// A temporary folder removed when the value goes away.
public final class TempDir: @unchecked Sendable {
    public let url: URL
    public var path: String { url.path }

    public init(_ label: String = "vmprov-test") {
        let base = URL(fileURLWithPath: NSTemporaryDirectory())
            .appendingPathComponent("\(label)-\(UUID().uuidString.prefix(8))")
        try? FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        url = base
    }

    public func file(_ name: String) -> URL { url.appendingPathComponent(name) }

    @discardableResult
    public func write(_ name: String, _ text: String) -> URL {
        let u = file(name)
        try? FileManager.default.createDirectory(at: u.deletingLastPathComponent(), withIntermediateDirectories: true)
        try? Data(text.utf8).write(to: u)
        return u
    }

    @discardableResult
    public func write(_ name: String, bytes: Data) -> URL {
        let u = file(name)
        try? FileManager.default.createDirectory(at: u.deletingLastPathComponent(), withIntermediateDirectories: true)
        try? bytes.write(to: u)
        return u
    }

    deinit {
        // Undo any read-only modes the test set, then remove.
        _ = try? run("/bin/chmod", ["-R", "u+w", url.path])
        try? FileManager.default.removeItem(at: url)
    }
}

/// What a finished process left.
public struct RunResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public var output: String { stdout + stderr }
}

/// Runs a program with arguments (no shell), optional standard input and extra environment.
@discardableResult
public func run(_ executable: String, _ arguments: [String], stdin: String? = nil,
                environment: [String: String] = [:], currentDirectory: String? = nil,
                removeEnvironment: [String] = []) throws -> RunResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    for key in removeEnvironment { env.removeValue(forKey: key) }
    for (k, v) in environment { env[k] = v }
    process.environment = env
    if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
    let out = Pipe()
    let err = Pipe()
    let input = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = input
    try process.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try? input.fileHandleForWriting.close()
    // Read both pipes concurrently so a chatty child cannot block on a full pipe.
    let group = DispatchGroup()
    nonisolated(unsafe) var errData = Data()
    group.enter()
    DispatchQueue.global().async {
        errData = err.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return RunResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                     stderr: String(decoding: errData, as: UTF8.self))
}

/// Runs the built vmprov.
@discardableResult
public func vmprov(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:],
                   currentDirectory: String? = nil) throws -> RunResult {
    try run(TestPaths.vmprov.path, arguments, stdin: stdin, environment: environment,
            currentDirectory: currentDirectory, removeEnvironment: ["VMDIR"])
}

/// A tool on PATH, or nil.
public func which(_ name: String) -> String? {
    for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let p = "\(dir)/\(name)"
        if FileManager.default.isExecutableFile(atPath: p) { return p }
    }
    for dir in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
        return "\(dir)/\(name)"
    }
    return nil
}

/// The bytes of a file, or empty.
public func bytes(_ url: URL) -> Data { (try? Data(contentsOf: url)) ?? Data() }

/// The names in a folder, sorted.
public func leftovers(_ dir: TempDir) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
}
