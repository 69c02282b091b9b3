#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension VBoxSettings {
    /// Refuses edits of files older than ``SettingsVersion/oldestSupported``: VirtualBox 7.x reads them through
    /// conversions vmprov does not reproduce.
    /// - Throws: `VBoxXMLError.invalid` naming the version and what to do.
    func requireEditable() throws(VBoxXMLError) {
        guard version >= SettingsVersion.oldestSupported else {
            throw .invalid(path: path, message: "settings version \(version.raw) is older than 1.12 (VirtualBox 4.1); "
                + "VirtualBox 7.x converts such files when it saves them, and vmprov does not edit them. Open and save "
                + "the machine once in VirtualBox, then try again.")
        }
    }
}
