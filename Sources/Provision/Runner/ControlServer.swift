#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Basics
import VBoxXML
import CSystem

/// A parsed control request waiting for the decision loop, and the id of its connection.
struct PendingRequest: Sendable, Equatable {
    var id: Int
    var request: ControlRequest
}

/// The runner's end of the control channel (``ControlChannel``): polled with the signalfd by `waitForEvents`, one
/// request per connection, answered by the decision loop.
extension Runner {
    /// How long a client has to send its request once connected (the loop waits for it).
    static let requestTimeout: Duration = .seconds(2)

    /// Opens `$VMDIR/.vmprov/control.sock`, replacing a stale socket left by a runner that died. The run goes on
    /// without it (snapshot requests then find no runner) when it cannot: the guest matters more.
    func openControl() {
        let path = ControlChannel.socketPath(vmDir: config.vmDir)
        let folder: OwnedFD
        do {
            folder = try ControlChannel.openFolder(vmDir: config.vmDir, uid: config.uid, create: true)
        } catch {
            log(.warning, "no snapshot requests (vmprov snapshot) for this run: \(error)")
            return
        }
        let probe = vmp_unix_connect(folder.raw, ControlChannel.socketName)
        if probe >= 0 {
            OwnedFD(taking: probe).close()
            log(.warning, "another runner answers at \(path); this one takes no snapshot requests")
            return
        }
        if unlinkat(folder.raw, ControlChannel.socketName, 0) != 0 && errno != ENOENT {
            log(.warning, "no snapshot requests for this run: cannot remove the stale \(path): "
                + String(cString: strerror(errno)))
            return
        }
        let fd = vmp_unix_listen(folder.raw, ControlChannel.socketName)
        guard fd >= 0 else {
            log(.warning, "no snapshot requests for this run: cannot listen at \(path): \(String(cString: strerror(errno)))")
            return
        }
        control = OwnedFD(taking: fd)
        controlFolder = folder
        if config.verbose { log(.info, "snapshot requests (vmprov snapshot) are taken at \(path)") }
    }

    /// Answers every connection still waiting (the guest has stopped), closes the socket and removes it.
    func closeControl() {
        for id in connections.keys.sorted() {
            answer(id, ControlReply(.busy, message: "the guest stopped before the request was carried out"))
        }
        controlRequests.removeAll()
        if let folder = controlFolder { _ = unlinkat(folder.raw, ControlChannel.socketName, 0) }
        control = nil
        controlFolder = nil
    }

    /// Accepts waiting connections (a few per call), checks the peer's uid, reads and parses one request from each.
    /// A bad request is answered (`refused`) and closed at once; a good one waits in `controlRequests`.
    func acceptControl() {
        let path = ControlChannel.socketPath(vmDir: config.vmDir)
        for _ in 0..<8 {
            let fd = vmp_accept(controlFD)
            guard fd >= 0 else { return }
            let connection = OwnedFD(taking: fd)
            var peer: UInt32 = 0
            guard vmp_peer_uid(fd, &peer) == 0, peer == config.uid else {
                log(.warning, "refused a control connection from uid \(peer) (only uid \(config.uid) may ask)")
                continue
            }
            let request: ControlRequest
            do {
                let bytes = try ControlChannel.readAll(fd, limit: ControlRequest.maximumBytes,
                                                       timeout: Self.requestTimeout, path: path, stopAtNewline: true)
                request = try ControlRequest.parse(bytes)
            } catch {
                log(.warning, "refused a snapshot request: \(error)")
                nextRequestID += 1
                connections[nextRequestID] = connection
                answer(nextRequestID, ControlReply(.refused, message: "the runner refused the request: \(error)"))
                continue
            }
            nextRequestID += 1
            connections[nextRequestID] = connection
            controlRequests.append(PendingRequest(id: nextRequestID, request: request))
        }
    }

    /// Sends `reply` on connection `id` (bounded: a client that does not read loses it) and closes it.
    func answer(_ id: Int, _ reply: ControlReply) {
        guard let connection = connections.removeValue(forKey: id) else { return }
        do {
            try ControlChannel.sendAll(connection.raw, reply.encoded, path: ControlChannel.socketPath(vmDir: config.vmDir))
        } catch {
            log(.warning, "could not answer a snapshot request: \(error)")
        }
    }

    /// `vmprov snapshot restore NAME --power-off`, once VBoxHeadless has exited after the poweroff: restores the
    /// snapshot (the machine is powered off now) and answers.
    func restoreAfterExit(_ pending: PendingRequest, vm: VMListEntry) {
        let name = pending.request.name
        let state = try? self.state(vm.uuid)
        guard state == .poweroff || state == .saved || state == .aborted else {
            let now = state?.rawValue ?? "in an unknown state"
            answer(pending.id, ControlReply(.failed, message: "\"\(vm.name)\" is \(now) after the poweroff, not "
                + "powered off; snapshot \"\(name)\" was not restored"))
            return
        }
        log(.info, "restoring snapshot \"\(name)\" of \"\(vm.name)\"")
        let reply = RunLoop.reply(to: pending.request, vmName: vm.name) { () throws(VirtualBoxError) -> ProcessOutput in
            try manage(VirtualBoxTools.snapshot(vm.uuid, .restore, name), timeout: config.snapshotTimeout)
        }
        log(reply.outcome == .done ? .info : .warning, reply.message.split(separator: "\n").first.map(String.init) ?? "")
        answer(pending.id, reply)
    }
}
