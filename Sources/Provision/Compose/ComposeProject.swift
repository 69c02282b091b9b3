#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Basics
import VBoxXML

/// The guests under one folder, as one compose project (or one set of Kubernetes objects) sees them: every
/// machine folder's settings, their host ports, and the clashes between guests.
public struct ComposeProject: Sendable {
    /// The folder that was searched.
    public var folder: String
    /// The machines, sorted by settings path.
    public var settings: [VBoxSettings]
    /// The same machines as guests (same order).
    public var guests: [ComposeGuest]
    /// Warnings: VirtualBox's format backups skipped, `check` errors of single guests.
    public var notes: [String]

    /// A project of already-read machines (``load(_:)`` reads them from a folder).
    public init(folder: String, settings: [VBoxSettings], guests: [ComposeGuest], notes: [String]) {
        self.folder = folder
        self.settings = settings
        self.guests = guests
        self.notes = notes
    }

    /// Reads every machine folder under `folder` (the folder itself and its direct sub-folders; VirtualBox's
    /// format backups, `-prev` and temporary files are never machines, ``VBoxFileDiscovery``).
    /// - Throws: ``ComposeError/noMachines(folder:backups:)`` when there is none, `.settings` for a file that does
    ///   not load or a folder with two machines (one container runs one folder), `.sameServiceName`.
    public static func load(_ folder: String) throws(ComposeError) -> ComposeProject {
        var st = stat()
        guard stat(folder, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw .noMachines(folder: folder, backups: [])
        }
        let found = VBoxFileDiscovery.under(folder, depth: 1)
        guard !found.machines.isEmpty else { throw .noMachines(folder: folder, backups: found.backups) }
        var byFolder: [String: String] = [:]
        var settings: [VBoxSettings] = []
        for path in found.machines {
            let dir = FileIO.directory(of: path)
            if let other = byFolder[dir] {
                throw .settings("\(dir): two machines in one folder (\(FileIO.basename(other)), "
                    + "\(FileIO.basename(path))); a container runs one machine folder. Move one into a folder of its own.")
            }
            byFolder[dir] = path
            do { settings.append(try VBoxSettings.load(path: path)) } catch { throw .settings(error.description) }
        }
        let guests = settings.map(ComposeGuest.init)
        var names: [String: String] = [:]
        for g in guests {
            if let first = names[g.serviceName] {
                throw .sameServiceName(name: g.serviceName, first: first, second: g.settingsPath)
            }
            names[g.serviceName] = g.settingsPath
        }
        var notes = found.backups.map { "\($0): a copy VirtualBox kept when it raised the settings format; skipped." }
        for s in settings {
            for f in NATRules.check(NetworkModel(s)) where f.severity == .error {
                notes.append("\(s.path): \(f.message) (vmprov check \(s.path))")
            }
        }
        return ComposeProject(folder: folder, settings: settings, guests: guests, notes: notes)
    }

    /// Host ports two guests both publish (``NATRules/clashes(_:)``, the checker `add-forward` and `check` use).
    public var clashes: [HostPortClash] { NATRules.clashes(settings.map { NetworkModel($0) }) }

    /// A port to move: what binds it in which guest, and where to.
    public struct Move: Sendable, Equatable {
        /// Index of the guest.
        public var guest: Int
        /// What moves.
        public var use: HostPortUse
        /// The free ports it moves to (same width).
        public var to: ClosedRange<Int>
    }

    /// For every clash, a free span of the same width and protocol for the later guest: the first above the
    /// clashing one that no guest uses (wrapping to 1024 at 65535), so every fix is known before anything changes.
    public var moves: [Move] {
        var taken: [PortForward.Proto: [ClosedRange<Int>]] = [:]
        for g in guests { for u in g.uses { taken[u.proto, default: []].append(u.ports) } }
        var out: [Move] = []
        for clash in clashes {
            let width = clash.moved.ports.count
            let used = taken[clash.moved.proto] ?? []
            func free(_ start: Int) -> Bool {
                let span = start...(start + width - 1)
                return span.upperBound <= 65535 && !used.contains { $0.overlaps(span) }
            }
            var candidate = clash.moved.ports.upperBound + 1
            var found: Int?
            for _ in 0..<65536 {
                if candidate + width - 1 > 65535 { candidate = 1024 }
                if free(candidate) { found = candidate; break }
                candidate += 1
            }
            guard let start = found else { continue }
            let span = start...(start + width - 1)
            taken[clash.moved.proto, default: []].append(span)
            out.append(Move(guest: clash.mover, use: clash.moved, to: span))
        }
        return out
    }

    /// One line per clash: who keeps the port, who must move, and the command that moves it.
    public var clashReport: [String] {
        let planned = moves
        return clashes.map { c in
            let keeper = guests[c.keeper], mover = guests[c.mover]
            var line = "\(mover.name) (\(mover.settingsPath)): \(c.moved.label) clashes with \(keeper.name)'s "
                + "\(c.kept.label)"
            if let m = planned.first(where: { $0.guest == c.mover && $0.use == c.moved }) {
                line += "; fix: " + Self.command(for: m, in: mover, settings: settings[c.mover])
            }
            return line
        }
    }

    static func span(_ r: ClosedRange<Int>) -> String { r.count == 1 ? "\(r.lowerBound)" : "\(r.lowerBound)-\(r.upperBound)" }

    static func command(for move: Move, in guest: ComposeGuest, settings: VBoxSettings) -> String {
        switch move.use.owner {
        case .remoteDisplay(let item):
            return "vmprov enable-rdp \(guest.settingsPath) --port \(portList(settings, replacing: item, with: move.to))"
        case .rule(let name, let adapter, _):
            let rule = NetworkModel(settings).keptAdapter(slot: adapter - 1)?.rules.first { $0.forward.name == name }?.forward
            let guestPort = rule?.guestPort ?? move.use.ports.lowerBound
            return "vmprov remove-forward \(guest.settingsPath) --adapter \(adapter) --name \(name) && "
                + "vmprov add-forward \(guest.settingsPath) --adapter \(adapter) --rule "
                + "\(name),\(move.use.proto.rawValue),\(rule?.hostIP ?? ""),\(move.to.lowerBound),\(rule?.guestIP ?? ""),\(guestPort)"
        }
    }

    /// The VRDE port list with item `item` replaced by `to`.
    static func portList(_ settings: VBoxSettings, replacing item: Int, with to: ClosedRange<Int>) -> String {
        let ports = settings.remoteDisplay.ports
        var items = (ports == "0" ? "3389" : ports).split(separator: ",").map(String.init)
        if items.indices.contains(item) { items[item] = span(to) }
        return items.joined(separator: ",")
    }

    /// Applies the moves of one guest to a freshly read `settings` (the caller holds the folder's lock): NAT host
    /// ports are rewritten in place (the `hostport` attribute only), the VRDE list through `enablingRDP`; every
    /// other byte stays. The network checker must find no new error.
    /// - Throws: `VBoxXMLError.conflict` when a rule is gone or the result has a new error.
    public static func applying(_ moves: [Move], to settings: VBoxSettings) throws(VBoxXMLError) -> EditResult {
        var doc = settings
        var rdp: String?
        for m in moves {
            switch m.use.owner {
            case .remoteDisplay(let item):
                rdp = portList(doc, replacing: item, with: m.to)
            case .rule(let name, let adapter, _):
                guard let rule = NetworkModel(doc).keptAdapter(slot: adapter - 1)?.rules.first(where: { $0.forward.name == name })
                else {
                    throw .conflict(path: settings.path, message: "adapter \(adapter) no longer has the rule \"\(name)\"; "
                        + "run vmprov compose again.")
                }
                doc = try doc.settingAttribute("hostport", to: String(m.to.lowerBound), on: rule.element)
            }
        }
        let before = NATRules.check(NetworkModel(settings)).filter { $0.severity == .error }.map(\.message)
        var after = NATRules.check(NetworkModel(doc)).filter { $0.severity == .error }.map(\.message)
        for b in before { if let k = after.firstIndex(of: b) { after.remove(at: k) } }
        guard after.isEmpty else {
            throw .conflict(path: settings.path, message: "moving its ports would add: " + after.joined(separator: "; "))
        }
        if let rdp { return try doc.enablingRDP(RDPRequest(ports: rdp)) }
        return EditResult(settings: doc, changed: doc.bytes != settings.bytes, warnings: [])
    }
}
