import Foundation

/// A free TCP port on 127.0.0.1 (bound, then released).
public func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// Waits until something accepts connections on the port.
func waitForPort(_ port: Int, seconds: Double = 10) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        close(fd)
        if rc == 0 { return true }
        usleep(50_000)
    }
    return false
}

/// A real nginx on loopback serving a folder, with Range, ETag and If-Range as nginx does them.
///
/// Locations: `/` serves the folder; `/slow/` the same at 1 MiB/s (for kill-and-resume tests); `/r/NAME` redirects
/// with 302 to `/NAME`; `/DIR/latest--NAME` redirects with 302 to `/DIR/NAME` (an alias whose name differs from the
/// file's, like `latest.iso`). The access log records the Range and If-Range headers of every request.
public final class NginxServer: @unchecked Sendable {
    public let root: TempDir
    public let port: Int
    private let process: Process
    private let work: TempDir
    public var base: String { "http://127.0.0.1:\(port)" }
    public var accessLog: String { work.file("access.log").path }

    /// The HTTPS port (a self-signed certificate for 127.0.0.1, `certificate`), when made with `tls: true`.
    public private(set) var tlsPort: Int?
    public var tlsBase: String? { tlsPort.map { "https://127.0.0.1:\($0)" } }
    public var certificate: String { work.file("cert.pem").path }

    public init(slowRate: String = "1m", tls: Bool = false) throws {
        root = TempDir("nginx-root")
        work = TempDir("nginx-work")
        chmod(root.path, 0o755)
        chmod(work.path, 0o755)
        port = freePort()
        var tlsServer = ""
        if tls {
            let p = freePort()
            let r = try run(which("openssl") ?? "/usr/bin/openssl", [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", work.file("key.pem").path,
                "-out", work.file("cert.pem").path])
            guard r.status == 0 else { throw ServerError(message: "openssl req failed: \(r.stderr)") }
            tlsPort = p
            tlsServer = """
              server {
                listen 127.0.0.1:\(p) ssl;
                ssl_certificate \(work.path)/cert.pem;
                ssl_certificate_key \(work.path)/key.pem;
                root \(root.path);
              }
            """
        }
        let nginx = which("nginx") ?? "/usr/sbin/nginx"
        let user = geteuid() == 0 ? "user root root;" : ""
        let conf = """
        daemon off;
        master_process off;
        worker_processes 1;
        \(user)
        pid \(work.path)/nginx.pid;
        error_log \(work.path)/error.log;
        events { worker_connections 64; }
        http {
          log_format ranges '$request_uri $status range="$http_range" ifrange="$http_if_range" bytes=$body_bytes_sent';
          access_log \(work.path)/access.log ranges;
          client_body_temp_path \(work.path)/body;
          proxy_temp_path \(work.path)/proxy;
          fastcgi_temp_path \(work.path)/fastcgi;
          uwsgi_temp_path \(work.path)/uwsgi;
          scgi_temp_path \(work.path)/scgi;
          types { application/octet-stream iso; text/plain txt; }
          default_type application/octet-stream;
          server {
            listen 127.0.0.1:\(port);
            root \(root.path);
            location /slow/ { alias \(root.path)/; limit_rate \(slowRate); }
            location ~ ^/r/(.*)$ { return 302 /$1; }
            location ~ ^(.*/)latest--([^/]+)$ { return 302 $1$2; }
          }
        \(tlsServer)
        }
        """
        work.write("nginx.conf", conf)
        process = Process()
        process.executableURL = URL(fileURLWithPath: nginx)
        process.arguments = ["-c", work.file("nginx.conf").path, "-e", work.file("error.log").path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        guard waitForPort(port) else {
            let err = (try? String(contentsOf: work.file("error.log"), encoding: .utf8)) ?? ""
            throw ServerError(message: "nginx did not start on port \(port): \(err)")
        }
    }

    /// Adds a file to the served folder.
    @discardableResult
    public func add(_ name: String, bytes data: Data) -> URL {
        let url = root.write(name, bytes: data)
        chmod(url.path, 0o644)
        return url
    }

    /// The access-log lines so far.
    public func requests() -> [String] {
        ((try? String(contentsOf: URL(fileURLWithPath: accessLog), encoding: .utf8)) ?? "")
            .split(separator: "\n").map(String.init)
    }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// Our fault-injecting server (Tests/Fixtures/fault_server.py).
public final class FaultServer: @unchecked Sendable {
    public let root: TempDir
    public private(set) var port = 0
    private let process: Process
    public var base: String { "http://127.0.0.1:\(port)" }

    public init() throws {
        root = TempDir("fault-root")
        process = Process()
        process.executableURL = URL(fileURLWithPath: which("python3") ?? "/usr/bin/python3")
        process.arguments = [TestPaths.packageRoot.appendingPathComponent("Tests/Fixtures/fault_server.py").path, root.path]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = Data()
        while !line.contains(0x0A) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let p = text.split(separator: " ").last.flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) else {
            throw ServerError(message: "fault server did not start: \(text)")
        }
        port = p
    }

    @discardableResult
    public func add(_ name: String, bytes data: Data) -> URL { root.write(name, bytes: data) }

    /// GET a control path (/_log, /_reset, /_set?...).
    public func control(_ path: String) throws -> String {
        try run(which("curl") ?? "/usr/bin/curl", ["-s", base + path]).stdout
    }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

public struct ServerError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Random bytes of a given size.
public func randomData(_ count: Int) -> Data {
    var g = SystemRandomNumberGenerator()
    var d = Data(count: count)
    d.withUnsafeMutableBytes { raw in
        let words = raw.bindMemory(to: UInt64.self)
        for i in words.indices { words[i] = g.next() }
        for i in (words.count * 8)..<count { raw[i] = UInt8.random(in: 0...255) }
    }
    return d
}

/// Lowercase hex SHA-256 of data, by the system's sha256sum (an independent implementation).
public func sha256sum(_ data: Data) throws -> String {
    let dir = TempDir("sum")
    let url = dir.write("f", bytes: data)
    let r = try run(which("sha256sum") ?? "/usr/bin/sha256sum", [url.path])
    return String(r.stdout.prefix(64))
}

/// A real RDP server (Debian's `xrdp`) on a free loopback port, with its own xrdp.ini and log in a temp folder,
/// in the foreground (`--nodaemon`); stopped when released. Its configuration is Debian's `/etc/xrdp/xrdp.ini`
/// with the listening address, log file and syslog changed; it reads the package's key and certificate, so it
/// needs to run as root (the test machine's user) or a member of the `ssl-cert` group.
public final class XRDPServer: @unchecked Sendable {
    public let port: Int
    private let process: Process
    private let work: TempDir

    public init() throws {
        work = TempDir("xrdp")
        let port = freePort()
        self.port = port
        let xrdp = which("xrdp") ?? "/usr/sbin/xrdp"
        let log = work.file("xrdp.log").path
        let base = try String(contentsOfFile: "/etc/xrdp/xrdp.ini", encoding: .utf8)
        let conf = base.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            if line.hasPrefix("port=3389") { return "port=tcp://127.0.0.1:\(port)" }
            if line.hasPrefix("LogFile=") { return "LogFile=\(log)" }
            if line.hasPrefix("EnableSyslog=") { return "EnableSyslog=false" }
            return String(line)
        }.joined(separator: "\n")
        let ini = work.write("xrdp.ini", conf)
        process = Process()
        process.executableURL = URL(fileURLWithPath: xrdp)
        process.arguments = ["--nodaemon", "--config", ini.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        guard waitForPort(port) else {
            process.terminate()
            let log = (try? String(contentsOfFile: work.file("xrdp.log").path, encoding: .utf8)) ?? ""
            throw ServerError(message: "xrdp did not start on port \(port): \(log)")
        }
    }

    deinit {
        // xrdp 0.9 does not always exit on TERM while it has children; it holds nothing worth a clean stop.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
