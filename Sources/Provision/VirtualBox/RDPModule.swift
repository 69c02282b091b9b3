import VBoxXML

/// Which RDP (VRDE) server a machine's settings will get on a given VirtualBox, as `check` reports it.
///
/// Mirrors `Console::i_powerUpThread` → `ConsoleVRDPServer::Launch` with `SystemProperties::getDefaultVRDEExtPack`
/// (`src/VBox/Main/src-server/SystemPropertiesImpl.cpp`): a `RemoteDisplay/@VRDEExtPack` names the pack whose VRDE
/// module is loaded; without it, the default pack's module, and from 7.2.6 on the base package's own `VBoxVRDP`
/// ("Built-in-VBoxVRDP") when no installed pack offers one. The 7.2.6 Oracle pack has no `<VRDEModule>`, so settings
/// that name it explicitly fail to start there with "does not include a VRDE module" (see
/// `vrdeNeedsExtensionPack(virtualBoxVersion:)` for the sources).
public enum RDPModule {
    /// The names the Oracle pack has had (`ExtPack.xml` `<Name>`): before 7.1, then from 7.1 on.
    public static let oracleNames: Set<String> = ["Oracle VM VirtualBox Extension Pack", "Oracle VirtualBox Extension Pack"]

    /// What `check` says about the RDP server of `settings`.
    /// - Parameters:
    ///   - settings: the machine's settings.
    ///   - virtualBox: the VirtualBox that will run it (`VBoxManage --version`), or nil when it is not installed here.
    /// - Returns: findings (an error where the machine cannot start, a warning where it depends on the version) and
    ///   one plain note on where the RDP server comes from; both empty when the RDP server is off.
    public static func assess(_ settings: VBoxSettings, virtualBox: VBoxVersion?) -> (findings: [Finding], note: String?) {
        guard settings.remoteDisplay.enabled, let rd = settings.remoteDisplayElement else { return ([], nil) }
        var findings: [Finding] = []
        let location = settings.location(of: rd)
        let pack = settings.elements[rd].attribute("VRDEExtPack") ?? ""
        if oracleNames.contains(pack) {
            if let v = virtualBox, !vrdeNeedsExtensionPack(virtualBoxVersion: v) {
                findings.append(Finding(severity: .error, location: location, message:
                    "VRDEExtPack=\"\(pack)\": VirtualBox \(v.number) has the RDP server in its base package and the pack has "
                    + "no VRDE module any more, so the machine fails to start (\"does not include a VRDE module\"); "
                    + "remove the VRDEExtPack attribute"))
            } else if virtualBox == nil {
                findings.append(Finding(severity: .warning, location: location, message:
                    "VRDEExtPack=\"\(pack)\" names the Oracle pack: right before VirtualBox 7.2.6, but from 7.2.6 on the "
                    + "pack has no VRDE module and the machine fails to start; remove the attribute for 7.2.6 and later"))
            }
        }
        let note: String
        switch virtualBox {
        case let v? where vrdeNeedsExtensionPack(virtualBoxVersion: v):
            note = "RDP: VirtualBox \(v.number) serves RDP only from the Oracle Extension Pack (its VBoxVRDP module); install "
                + "it (vmprov setup --extpack auto), or upgrade to 7.2.6 or later, where the server is built in."
        case let v?:
            note = "RDP: VirtualBox \(v.number) has the RDP server in its base package (VBoxVRDP, since 7.2.6); no "
                + "Extension Pack is needed for it."
        case nil:
            note = "RDP: VirtualBox before 7.2.6 serves RDP only from the Oracle Extension Pack; 7.2.6 and later have "
                + "the server built in (VBoxManage is not installed here, so the version is unknown)."
        }
        return (findings, note)
    }
}
