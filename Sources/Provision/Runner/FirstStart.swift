#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Basics
import VBoxXML
import CSystem

/// Steps carried out before a machine's first start.
extension Runner {
    /// Carries out a secure-boot request that `vmprov create` recorded, once.
    func secureBootIfRequested(_ vm: VMListEntry) {
        let text = (try? manage(VirtualBoxTools.getExtraData(vm.uuid, SecureBootRequest.key)).stdoutText) ?? ""
        let value = text.split(whereSeparator: \.isNewline).first { $0.hasPrefix("Value: ") }.map { String($0.dropFirst(7)) }
        guard value == SecureBootRequest.requested else { return }
        log(.info, "\"\(vm.name)\" asks for secure boot: initialising its UEFI variable store")
        for step in VirtualBoxTools.secureBootSteps(vm.uuid) {
            do {
                try manage(step)
            } catch {
                log(.warning, "secure boot setup failed at \(step.dropFirst(2).joined(separator: " ")): \(error); "
                    + "the machine starts without it")
                return
            }
        }
        _ = try? manage(VirtualBoxTools.setExtraData(vm.uuid, SecureBootRequest.key, SecureBootRequest.done))
        log(.info, "secure boot is enabled for \"\(vm.name)\" (Microsoft and Oracle keys enrolled)")
    }
}

/// The ExtraData key `vmprov create` writes for machines that want secure boot.
public enum SecureBootRequest {
    /// The ExtraData key.
    public static let key = "vmprov/SecureBoot"
    /// Its value on a machine that still needs secure boot enabled.
    public static let requested = "requested"
    /// Its value once `modifynvram … secureboot --enable` succeeded.
    public static let done = "enabled"
}
