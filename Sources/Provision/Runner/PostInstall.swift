#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Basics
import VBoxXML

/// The end of an unattended install (`create --unattended`): the answer files powered the guest off and the
/// `.vbox` still records `vmprov/PendingInstall`. The runner then takes the install media away and boots the disk.
///
/// Crash safety: the first step marks the record `;phase=finishing` (the commit point); every later step is
/// idempotent, and the record is cleared last. A run that finds `phase=finishing` resumes the steps before it
/// starts the guest; a crash before the commit point leaves every medium attached, so the guest boots the installer
/// again (and powers off again when it is done).
extension Runner {
    /// The phase suffix written before the first medium is touched.
    static let finishingPhase = ";phase=finishing"

    /// The pending install of `vm` and whether it is finishing already; nil when there is none (or it is not vmprov's).
    func pendingInstall(_ vm: VMListEntry) -> (PendingInstall, finishing: Bool)? {
        guard let out = try? manage(VirtualBoxTools.getExtraData(vm.uuid, PendingInstall.key)) else { return nil }
        guard let raw = out.stdoutText.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("Value: ") })
            .map({ String($0.dropFirst(7)) }) else { return nil }
        let finishing = raw.hasSuffix(Self.finishingPhase)
        let value = finishing ? String(raw.dropLast(Self.finishingPhase.count)) : raw
        guard let pending = PendingInstall(value: value) else {
            log(.warning, "\"\(vm.name)\": \(PendingInstall.key)=\(raw) is not a record vmprov wrote; left alone")
            return nil
        }
        return (pending, finishing)
    }

    /// Detaches the seed and the VISO, deletes the seed (it holds password hashes) and the private folder, makes
    /// the disk the first boot device and clears the record, logging each step. Returns true when the guest should
    /// be started again.
    /// - Throws: `RunnerError.virtualBox` when a VBoxManage step fails (the record stays: the next run resumes).
    func finishInstall(_ vm: VMListEntry, _ pending: PendingInstall, finishing: Bool) throws(RunnerError) -> Bool {
        log(.info, "\"\(vm.name)\" powered off after its unattended \(pending.family.rawValue) install: removing the "
            + "install media and booting the disk")
        do throws(VirtualBoxError) {
            if !finishing {
                _ = try manage(VirtualBoxTools.setExtraData(vm.uuid, PendingInstall.key, pending.value + Self.finishingPhase))
            }
            let info = MachineInfo(parsing: try manage(VirtualBoxTools.showVMInfo(vm.uuid)).stdoutText)
            guard let cfg = info["CfgFile"] else {
                throw VirtualBoxError.unparsable(what: "VBoxManage showvminfo (no CfgFile)", output: "")
            }
            let folder = FileIO.directory(of: cfg)
            let storage: [AttachmentInfo]
            do { storage = try VBoxSettings.load(path: cfg).summary.storage } catch {
                throw VirtualBoxError.unparsable(what: cfg, output: error.description)
            }
            for name in [pending.seed, pending.viso].compactMap({ $0 }) {
                for slot in storage where slot.type == "DVD" && slot.medium.map({ FileIO.basename($0) == name }) == true {
                    log(.info, "detaching \(name) from \(slot.controller) port \(slot.port) device \(slot.device)")
                    _ = try manage(["storageattach", vm.uuid, "--storagectl", slot.controller, "--port", String(slot.port),
                                    "--device", String(slot.device), "--type", "dvddrive", "--medium", "none"])
                }
                // Unregistered too where VirtualBox still lists it; an entry left (a resumed run closed it already,
                // or VirtualBox refuses) is harmless: an unattached registry entry loads without its file.
                if access(folder + "/" + name, F_OK) == 0 {
                    do throws(VirtualBoxError) {
                        _ = try manage(["closemedium", "dvd", folder + "/" + name])
                        log(.info, "closed the medium \(name)")
                    } catch {
                        log(.info, "\(name) stays in the media registry (unattached): \(error)")
                    }
                }
            }
            log(.info, "making the disk the first boot device")
            _ = try manage(["modifyvm", vm.uuid, "--boot1", "disk", "--boot2", "dvd"])
            for name in [pending.seed, pending.viso].compactMap({ $0 }) where unlink(folder + "/" + name) == 0 {
                log(.info, "deleted \(name)" + (name == pending.seed ? " (it held the password hash)" : ""))
            }
            if let priv = pending.privateFolder, access(folder + "/" + priv, F_OK) == 0 {
                FileIO.removeTree(folder + "/" + priv)
                log(.info, "deleted \(priv)/ (edited boot menus and answer files)")
            }
            _ = try manage(["setextradata", vm.uuid, PendingInstall.key])
            log(.info, "cleared \(PendingInstall.key); starting \"\(vm.name)\" from its disk")
        } catch {
            log(.error, "finishing the install of \"\(vm.name)\" stopped: \(error); \(PendingInstall.key) stays, the "
                + "next run resumes")
            throw .virtualBox(error)
        }
        return true
    }
}
