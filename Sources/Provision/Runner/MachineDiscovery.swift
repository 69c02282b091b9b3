#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Basics
import VBoxXML
import CSystem

/// Finding (and registering) the machine to run.
extension Runner {
    // MARK: finding the machine

    /// The first registered machine, registering the first `.vbox` under VMDIR when none is.
    func findMachine() throws(RunnerError) -> VMListEntry {
        let listed: [VMListEntry]
        do {
            listed = VMListParser.parse(try manage(VirtualBoxTools.listVMs()).stdoutText)
        } catch { throw .virtualBox(error) }
        if let first = listed.first(where: { !$0.inaccessible }) {
            if listed.count > 1 {
                log(.info, "\(listed.count) machines are registered; using the first, \"\(first.name)\"")
            }
            return first
        }
        let found = VBoxFileDiscovery.under(config.vmDir, depth: 3)
        let files = found.machines
        guard let file = files.first else {
            var searched = config.vmDir + " (and 3 levels below)"
            if !found.backups.isEmpty {
                searched += "; found only copies VirtualBox keeps when it raises the settings format, which are "
                    + "never registered (" + found.backups.joined(separator: ", ") + "); restore the machine's own "
                    + "NAME.vbox from one of them to use it"
            }
            throw .noMachine(searched: [searched])
        }
        log(.info, "no machine is registered; registering \(file) (the first .vbox under \(config.vmDir))")
        if files.count > 1 {
            log(.warning, "\(files.count) .vbox files found; ignoring " + files.dropFirst().joined(separator: ", "))
        }
        do throws(VirtualBoxError) {
            try manage(VirtualBoxTools.registerVM(file))
            let after = VMListParser.parse(try manage(VirtualBoxTools.listVMs()).stdoutText)
            guard let entry = after.first(where: { !$0.inaccessible }) else {
                throw VirtualBoxError.unparsable(what: "VBoxManage list vms after registervm", output: "")
            }
            return entry
        } catch { throw .registration(path: file, error) }
    }
}

/// Finding `.vbox` files under a folder.
public enum VBoxFiles {
    /// Every machine settings file under `root` (to `depth` levels), sorted by path; VirtualBox's format backups
    /// (`NAME-1.16-linux.vbox`), `-prev` and `-tmp` files are left out (``VBoxFileDiscovery``).
    public static func find(under root: String, depth: Int) -> [String] {
        VBoxFileDiscovery.under(root, depth: depth).machines
    }
}
