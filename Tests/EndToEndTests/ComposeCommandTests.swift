import Foundation
import Testing
import TestSupport

/// Three machines made by `vmprov create` (all with RDP on 3389, the profile's default) in `vms`.
private func threeGuests(sourceLocation: SourceLocation = #_sourceLocation) throws -> TempDir {
    let out = TempDir("compose")
    let isoDir = TempDir()
    let iso = isoDir.write("Win11_24H2_English_x64.iso", bytes: Data(repeating: 7, count: 4096))
    for name in ["alpha", "beta", "gamma"] {
        let r = try vmprov(["create", "--profile", "windows11", "--name", name, "--dir", out.path, "--iso", iso.path, "--quiet"],
                           environment: ["VMPROV_CACHE": TempDir().path, "VMPROV_GUEST_ADDITIONS": "none"])
        #expect(r.status == 0, "\(r.output)", sourceLocation: sourceLocation)
    }
    return out
}

/// `docker compose config --format json` of a project folder; nil (and an issue) when compose refuses it.
private func composeConfig(_ dir: TempDir, _ extra: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) throws
    -> [String: Any]? {
    let compose: (String, [String])
    if let standalone = which("docker-compose") {
        compose = (standalone, [])
    } else {
        compose = (try #require(which("docker"), "neither docker-compose nor docker (scripts/install-deps)"), ["compose"])
    }
    let r = try run(compose.0, compose.1 + extra + ["config", "--format", "json"], currentDirectory: dir.path)
    #expect(r.status == 0, "docker compose config: \(r.stderr)", sourceLocation: sourceLocation)
    guard r.status == 0 else { return nil }
    return try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
}

private func published(_ config: [String: Any]?, _ service: String) -> [String] {
    let s = (config?["services"] as? [String: Any])?[service] as? [String: Any]
    return (s?["ports"] as? [[String: Any]] ?? []).map { "\($0["host_ip"] ?? ""):\($0["published"] ?? ""):\($0["target"] ?? "")" }
}

extension ProcessSensitive {
// --force: the VBoxSVC guard is tested elsewhere, and another run's fake VBoxSVC must not decide these.
@Suite("compose and kube, end to end", .serialized)
struct ComposeCommandTests {
    @Test func composeAllocatesPortsAcrossGuestsAndIsIdempotent() throws {
        let dir = try threeGuests()
        let alpha = dir.file("alpha/alpha.vbox"), beta = dir.file("beta/beta.vbox"), gamma = dir.file("gamma/gamma.vbox")
        let before = [bytes(alpha), bytes(beta), bytes(gamma)]
        // All three want 3389: an error naming the fix, and nothing written.
        let clash = try vmprov(["compose", dir.path])
        #expect(clash.status == 65, "\(clash.output)")
        #expect(clash.stderr.contains("beta (\(beta.path)): RDP port 3389 clashes with alpha's RDP port 3389; fix: "
            + "vmprov enable-rdp \(beta.path) --port 3390"), "\(clash.stderr)")
        #expect(clash.stderr.contains("--port 3391") && clash.stderr.contains("--assign"))
        #expect(!FileManager.default.fileExists(atPath: dir.file("compose.yml").path))
        #expect([bytes(alpha), bytes(beta), bytes(gamma)] == before)

        // --assign moves the later guests through the locked edit; only the port changes.
        let assigned = try vmprov(["compose", dir.path, "--assign", "--force"])
        #expect(assigned.status == 0, "\(assigned.output)")
        #expect(assigned.stdout.contains("beta: RDP port 3389 moved to 3390 in \(beta.path)"))
        #expect(bytes(alpha) == before[0])
        func moved(_ data: Data, _ port: Int) -> Data {
            Data(String(decoding: data, as: UTF8.self).replacingOccurrences(
                of: "<Property name=\"TCP/Ports\" value=\"3389\"/>", with: "<Property name=\"TCP/Ports\" value=\"\(port)\"/>").utf8)
        }
        #expect(bytes(beta) == moved(before[1], 3390) && bytes(beta) != before[1])
        #expect(bytes(gamma) == moved(before[2], 3391))
        #expect(bytes(dir.file("beta/beta.vbox-prev")) == before[1])
        #expect(try vmprov(["check", beta.path]).status == 0)

        let config = try composeConfig(dir)
        #expect(published(config, "alpha") == ["127.0.0.1:3389:3389"])
        #expect(published(config, "beta") == ["127.0.0.1:3390:3390"])
        #expect(published(config, "gamma") == ["127.0.0.1:3391:3391"])
        let alphaService = (config?["services"] as? [String: Any])?["alpha"] as? [String: Any]
        #expect(alphaService?["restart"] as? String == "unless-stopped")
        #expect((alphaService?["devices"] as? [Any])?.count == 2)
        #expect(((alphaService?["volumes"] as? [[String: Any]])?.first?["source"] as? String) == dir.file("alpha").path)

        // Re-running changes nothing; the user's override and .env values are kept, GRACE_PERIOD follows STOP_TIMEOUT.
        let yaml = bytes(dir.file("compose.yml"))
        let override = "services:\n  alpha:\n    environment:\n      MINE: \"1\"\n"
        dir.write("compose.override.yml", override)
        let env = String(decoding: bytes(dir.file(".env")), as: UTF8.self)
        #expect(env.contains("\nSTOP_TIMEOUT=120\n") && env.contains("\nGRACE_PERIOD=220s\n"))
        dir.write(".env", env.replacingOccurrences(of: "STOP_TIMEOUT=120", with: "STOP_TIMEOUT=300") + "EXTRA=kept\n")
        let again = try vmprov(["compose", dir.path])
        #expect(again.status == 0, "\(again.output)")
        #expect(again.stdout.contains("kept: \(dir.file("compose.override.yml").path)"), "\(again.stdout)")
        // Only the defaults that follow STOP_TIMEOUT changed in compose.yml.
        #expect(String(decoding: bytes(dir.file("compose.yml")), as: UTF8.self) == String(decoding: yaml, as: UTF8.self)
            .replacingOccurrences(of: "${STOP_TIMEOUT:-120}", with: "${STOP_TIMEOUT:-300}")
            .replacingOccurrences(of: "${GRACE_PERIOD:-220s}", with: "${GRACE_PERIOD:-400s}"))
        #expect(String(decoding: bytes(dir.file("compose.override.yml")), as: UTF8.self) == override)
        let env2 = String(decoding: bytes(dir.file(".env")), as: UTF8.self)
        #expect(env2.contains("\nSTOP_TIMEOUT=300\n") && env2.contains("\nGRACE_PERIOD=400s\n") && env2.hasSuffix("EXTRA=kept\n"), "\(env2)")
        let settled = bytes(dir.file("compose.yml"))
        let third = try vmprov(["compose", dir.path])
        #expect(third.stdout.contains("unchanged: \(dir.file(".env").path)")
                && third.stdout.contains("unchanged: \(dir.file("compose.yml").path)"), "\(third.stdout)")
        #expect(bytes(dir.file("compose.yml")) == settled)
        let merged = try composeConfig(dir)
        let alpha2 = (merged?["services"] as? [String: Any])?["alpha"] as? [String: Any]
        let environment = alpha2?["environment"] as? [String: Any]
        #expect(environment?["MINE"] as? String == "1" && environment?["STOP_TIMEOUT"] as? String == "300")
        #expect(alpha2?["stop_grace_period"] as? String == "6m40s", "\(String(describing: alpha2?["stop_grace_period"]))")
    }

    /// A machine folder's path is data, not compose syntax: a `$` in it is not interpolated and a `:` does not split
    /// the volume (before, `./al$HOME:pha:${VMDIR}` mounted the wrong folder at the wrong place).
    @Test func folderNamesWithDollarAndColonMountTheRightFolder() throws {
        let out = TempDir("compose")
        let isoDir = TempDir()
        let iso = isoDir.write("Win11_24H2_English_x64.iso", bytes: Data(repeating: 7, count: 4096))
        let r = try vmprov(["create", "--profile", "windows11", "--name", "alpha", "--dir", out.path, "--iso", iso.path, "--quiet"],
                           environment: ["VMPROV_CACHE": TempDir().path, "VMPROV_GUEST_ADDITIONS": "none"])
        #expect(r.status == 0, "\(r.output)")
        try FileManager.default.moveItem(atPath: out.file("alpha").path, toPath: out.file("al$HOME:pha").path)
        let c = try vmprov(["compose", out.path])
        #expect(c.status == 0, "\(c.output)")
        let config = try composeConfig(out)
        let alpha = (config?["services"] as? [String: Any])?["alpha"] as? [String: Any]
        let volume = (alpha?["volumes"] as? [[String: Any]])?.first
        // `config` prints a literal `$` as `$$` (so that its output reads back the same); an interpolated $HOME or a
        // split at the `:` gives another source.
        #expect(volume?["source"] as? String == out.file("al$$HOME:pha").path, "\(String(describing: volume))")
        #expect(volume?["target"] as? String == "/vms", "\(String(describing: volume))")
    }

    @Test func consoleMappingAndKubernetesObjects() throws {
        let dir = try threeGuests()
        #expect(try vmprov(["compose", dir.path, "--assign", "--force"]).status == 0)
        // No password on stdin: usage error, nothing written for the console.
        let none = try vmprov(["compose", dir.path, "--console"], stdin: "")
        #expect(none.status == 64 && none.stderr.contains("--console"), "\(none.output)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("console").path))
        let r = try vmprov(["compose", dir.path, "--console", "--console-user", "admin"], stdin: "s3cret pass\n")
        #expect(r.status == 0, "\(r.output)")
        let mapping = dir.file("console/user-mapping.xml").path
        let attributes = try FileManager.default.attributesOfItem(atPath: mapping)
        #expect((attributes[.posixPermissions] as? Int) == 0o444)
        let xmllint = try #require(which("xmllint"), "xmllint (libxml2-utils, scripts/install-deps)")
        func xpath(_ expression: String) throws -> String {
            let x = try run(xmllint, ["--nonet", "--xpath", expression, mapping])
            #expect(x.status == 0, "\(expression): \(x.stderr)")
            // xmllint ends the value with a newline.
            return x.stdout.hasSuffix("\n") ? String(x.stdout.dropLast()) : x.stdout
        }
        #expect(try xpath("count(/user-mapping/authorize/connection)") == "3")
        #expect(try xpath("string(/user-mapping/authorize/@username)") == "admin")
        #expect(try xpath("string(/user-mapping/authorize/@encoding)") == "sha256")
        #expect(try xpath("string(/user-mapping/authorize/@password)") == (try sha256sum(Data("s3cret pass".utf8))))
        #expect(!String(decoding: bytes(dir.file("console/user-mapping.xml")), as: UTF8.self).contains("s3cret"))
        #expect(try xpath("string(//connection[@name='beta']/param[@name='port'])") == "3390")
        #expect(try xpath("string(//connection[@name='gamma']/param[@name='hostname'])") == "gamma")
        #expect(try xpath("string(//connection[@name='alpha']/protocol)") == "rdp")
        let config = try composeConfig(dir, ["--profile", "console"])
        #expect(published(config, "guacamole") == ["127.0.0.1:8080:8080"])
        #expect(published(config, "guacd").isEmpty)
        let alpha = (config?["services"] as? [String: Any])?["alpha"] as? [String: Any]
        #expect(((alpha?["healthcheck"] as? [String: Any])?["test"] as? [String])?.last == "--console")

        // Kubernetes: one StatefulSet and one Service per guest, valid for a current Kubernetes.
        let k = try vmprov(["kube", dir.path, "--out", dir.file("kube.yaml").path, "--stop-timeout", "90"])
        #expect(k.status == 0, "\(k.output)")
        #expect(k.stdout.contains("terminationGracePeriodSeconds 190 for STOP_TIMEOUT 90"), "\(k.stdout)")
        let validator = try #require(which("kubernetes-validate"), "kubernetes-validate (pip, scripts/install-deps)")
        let v = try run(validator, ["--strict", "--kubernetes-version", "1.37.0", dir.file("kube.yaml").path])
        #expect(v.status == 0, "\(v.output)")
        #expect(v.output.components(separatedBy: "passed for resource statefulset/").count == 4, "\(v.output)")
        #expect(v.output.contains("passed for resource service/vmprov-beta"))
        let text = String(decoding: bytes(dir.file("kube.yaml")), as: UTF8.self)
        #expect(text.contains("terminationGracePeriodSeconds: 190") && text.contains("type: CharDevice")
                && text.contains("privileged: true") && text.contains("containerPort: 3390"))
        let bad = try vmprov(["kube", dir.path, "--storage", "lots"])
        #expect(bad.status == 64)
        let empty = try vmprov(["kube", TempDir().path])
        #expect(empty.status == 66 && empty.stderr.contains("no machine folder"), "\(empty.output)")
    }

    @Test(.enabled(if: which("xrdp") != nil, "needs xrdp (scripts/install-deps)"))
    func healthcheckConsoleProbesRDP() throws {
        let xrdp = try XRDPServer()
        let ok = try vmprov(["healthcheck", "--console", "--rdp-port", String(xrdp.port)], environment: ["PATH": "/usr/bin:/bin"])
        #expect(ok.stdout.contains("rdp 127.0.0.1:\(xrdp.port): RDP server answered"), "\(ok.output)")
        let closed = try vmprov(["healthcheck", "--console", "--rdp-port", String(freePort())])
        #expect(closed.status == 1 && closed.stdout.contains("no RDP server") && closed.stdout.contains("refused"), "\(closed.output)")
        let nginx = try NginxServer()
        let web = try vmprov(["healthcheck", "--console", "--rdp-port", String(nginx.port)])
        #expect(web.status == 1 && web.stdout.contains("not an RDP server: it sent \"HTTP/1.1 400"), "\(web.output)")
    }
}
}
