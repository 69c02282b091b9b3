#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Basics
import VBoxXML
import CSystem

/// VBoxHeadless: spawned in its own session, its output forwarded line by line.
extension Runner {
    // MARK: VBoxHeadless

    func startHeadless(_ vm: VMListEntry) throws(RunnerError) {
        // Owned ends: both are closed when VBoxHeadless cannot be found or started.
        let pipe: (read: OwnedFD, write: OwnedFD)
        do { pipe = try OwnedFD.pipe() } catch { throw .signals("cannot make a pipe") }
        let argv = [tools.vboxHeadless] + VirtualBoxTools.startHeadless(vm.uuid)
        verbose(argv)
        guard let exe = ProcessRunner.locate(tools.vboxHeadless) else {
            throw .virtualBox(.missing(tool: tools.vboxHeadless))
        }
        do {
            headlessPID = try ProcessRunner.spawn(exe: exe, argv: argv, environment: tools.environment, newSession: true,
                                                  stdin: -1, stdout: pipe.write.raw, stderr: pipe.write.raw)
        } catch {
            throw .virtualBox(.missing(tool: error.description))
        }
        _ = pipe.write.close()
        output = pipe.read
        _ = fcntl(outputFD, F_SETFL, fcntl(outputFD, F_GETFL) | O_NONBLOCK)
    }

    func waitForEvents(timeout: Duration) {
        // A closed descriptor (-1) is skipped by poll(2).
        var fds = [pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: outputFD, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: controlFD, events: Int16(POLLIN), revents: 0)]
        let n = poll(&fds, 3, Int32(clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000))
        if n > 0, outputFD >= 0, fds[1].revents != 0 { readOutput() }
        if n > 0, controlFD >= 0, fds[2].revents != 0 { acceptControl() }
    }

    func readOutput() {
        var buffer = [UInt8](repeating: 0, count: 8192)
        while outputFD >= 0 {
            let n = Syscall.retrying { FileIO.read(outputFD, into: &buffer) }
            if n > 0 {
                for b in buffer[0..<n] {
                    if b == 0x0A {
                        emit(String(decoding: partialLine, as: UTF8.self))
                        partialLine.removeAll(keepingCapacity: true)
                    } else {
                        partialLine.append(b)
                    }
                }
            } else if n == 0 {
                output = nil  // closes it
            } else {
                if errno != EAGAIN { output = nil }
                return
            }
        }
    }

    func emit(_ line: String) {
        forward(line)
        recentOutput.append(line)
        if recentOutput.count > 40 { recentOutput.removeFirst() }
    }

    func drainOutput() {
        if outputFD >= 0 {
            _ = fcntl(outputFD, F_SETFL, fcntl(outputFD, F_GETFL) & ~O_NONBLOCK)
            readOutput()
        }
        if !partialLine.isEmpty {
            emit(String(decoding: partialLine, as: UTF8.self))
            partialLine.removeAll()
        }
    }

}
