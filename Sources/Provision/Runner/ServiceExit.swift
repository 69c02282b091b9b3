#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Basics
import VBoxXML
import CSystem

/// The end of a run: waiting for VirtualBox's services.
extension Runner {

    func waitForServices() {
        let names: Set<String> = ["VBoxSVC", "VBoxXPCOMIPCD"]
        // As PID 1 the services are our orphans: reap the ones that have exited already (a zombie is not running,
        // so it would not be waited for, and nobody else would ever reap it).
        reapChildren()
        var left = ProcessTable.find(names: names, uid: config.uid)
        guard !left.isEmpty else {
            log(.info, "VirtualBox's services have exited")
            return
        }
        log(.info, "waiting for " + left.map { "\($0.name) (pid \($0.pid))" }.joined(separator: ", ")
            + " to exit (up to \(Self.seconds(config.serviceExitTimeout)) s)")
        let deadline = Clock.now() + config.serviceExitTimeout.inSeconds
        while !left.isEmpty && Clock.now() < deadline {
            Clock.sleep(0.1)
            reapChildren()
            for sig in readSignals() where sig != SIGCHLD {
                log(.info, "received \(Self.name(of: sig)); the guest has stopped already, waiting for VirtualBox's services")
            }
            left = ProcessTable.find(names: names, uid: config.uid)
        }
        if left.isEmpty {
            log(.info, "VirtualBox's services have exited")
        } else {
            log(.warning, left.map { "\($0.name) (pid \($0.pid))" }.joined(separator: ", ")
                + " still running after \(Self.seconds(config.serviceExitTimeout)) s; exiting anyway")
        }
    }

}
