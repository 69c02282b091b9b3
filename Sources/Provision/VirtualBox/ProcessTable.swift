#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import VBoxXML
import Basics

/// Reads `/proc` to find VirtualBox's background processes of one user.
public enum ProcessTable {
    /// A process seen in `/proc`.
    public struct Entry: Sendable, Equatable {
        /// Process id.
        public var pid: Int32
        /// `comm` (the executable's name, at most 15 bytes).
        public var name: String
        /// Real user id.
        public var uid: UInt32
    }

    /// Every live process whose command name is one of `names` and whose real uid is `uid`. Zombies (`State: Z`,
    /// exited but not yet reaped by their parent) and dead entries (`X`) are left out: they hold no settings and
    /// will never exit by themselves, so counting them would refuse edits and stall the runner for nothing.
    public static func find(names: Set<String>, uid: UInt32, procRoot: String = "/proc") -> [Entry] {
        var out: [Entry] = []
        for name in FileIO.names(in: procRoot) ?? [] {
            guard let pid = Int32(name) else { continue }
            guard let comm = readSmall("\(procRoot)/\(name)/comm")?.split(separator: "\n").first.map(String.init),
                  names.contains(comm) else { continue }
            guard let status = readSmall("\(procRoot)/\(name)/status") else { continue }
            let lines = status.split(separator: "\n")
            if let state = lines.first(where: { $0.hasPrefix("State:") }),
               let code = state.dropFirst(6).first(where: { $0 != " " && $0 != "\t" }), code == "Z" || code == "X" {
                continue
            }
            for line in lines where line.hasPrefix("Uid:") {
                let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                if fields.count > 1, let real = UInt32(fields[1]), real == uid {
                    out.append(Entry(pid: pid, name: comm, uid: real))
                }
            }
        }
        return out.sorted { $0.pid < $1.pid }
    }

    static func readSmall(_ path: String) -> String? {
        guard let fd = OwnedFD.openOrNil(path, O_RDONLY) else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = Syscall.retrying { FileIO.read(fd.raw, into: &buffer) }
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }
}
