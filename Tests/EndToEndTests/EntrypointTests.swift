import Foundation
import Testing
import TestSupport

@Suite("docker/entrypoint")
struct EntrypointTests {
    @Test func dispatch() throws {
        let dir = TempDir()
        let stub = dir.write("vmprov", "#!/bin/sh\necho \"vmprov $*\"\n")
        chmod(stub.path, 0o755)
        let entry = TestPaths.packageRoot.appendingPathComponent("docker/entrypoint").path
        let env = ["PATH": dir.path + ":/usr/bin:/bin"]
        let sh = which("sh") ?? "/bin/sh"
        #expect(try run(sh, [entry], environment: env).stdout == "vmprov run\n")
        for command in ["run", "list", "state", "healthcheck"] {
            #expect(try run(sh, [entry, command, "--json"], environment: env).stdout == "vmprov \(command) --json\n")
        }
        #expect(try run(sh, [entry, "echo", "a b", "$(touch x)"], environment: env).stdout == "a b $(touch x)\n")
        #expect(!FileManager.default.fileExists(atPath: dir.file("x").path))
        #expect(try run(sh, [entry, "false"], environment: env).status == 1)
    }
}
