#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import VBoxXML
import CSystem

/// VBoxHeadless: spawned in its own session, its output forwarded line by line.
extension Runner {
    // MARK: VBoxHeadless

    func startHeadless(_ vm: VMListEntry) throws(RunnerError) {
        var fds: [Int32] = [-1, -1]
        guard Subprocess.cloexecPipe(&fds) else { throw .signals("cannot make a pipe") }
        let argv = [tools.vboxHeadless] + VirtualBoxTools.startHeadless(vm.uuid)
        verbose(argv)
        guard let exe = Subprocess.locate(tools.vboxHeadless) else {
            throw .virtualBox(.missing(tool: tools.vboxHeadless))
        }
        do {
            headlessPID = try Subprocess.spawn(exe: exe, argv: argv, environment: tools.environment, newSession: true,
                                               stdin: -1, stdout: fds[1], stderr: fds[1])
        } catch {
            close(fds[0]); close(fds[1])
            throw .virtualBox(.missing(tool: error.description))
        }
        close(fds[1])
        outputFD = fds[0]
        _ = fcntl(outputFD, F_SETFL, fcntl(outputFD, F_GETFL) | O_NONBLOCK)
    }

    func waitForEvents(timeout: Duration) {
        var fds = [pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: outputFD, events: Int16(POLLIN), revents: 0)]
        let n = poll(&fds, outputFD >= 0 ? 2 : 1, Int32(clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000))
        if n > 0, outputFD >= 0, fds[1].revents != 0 { readOutput() }
    }

    func readOutput() {
        var buffer = [UInt8](repeating: 0, count: 8192)
        while outputFD >= 0 {
            let n = buffer.withUnsafeMutableBytes { read(outputFD, $0.baseAddress, 8192) }
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
                close(outputFD)
                outputFD = -1
            } else {
                if errno == EINTR { continue }
                if errno != EAGAIN { close(outputFD); outputFD = -1 }
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
