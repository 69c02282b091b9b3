import Basics
import VBoxXML
import Yams

/// The Guacamole browser console of a compose project (`vmprov compose --console`).
public struct ConsoleSettings: Sendable, Equatable {
    /// The web login's user name.
    public var user: String
    /// Lowercase hex SHA-256 of the web login's password (Guacamole's `encoding="sha256"`).
    public var passwordSHA256: String
    /// The host port of the web UI, published on 127.0.0.1.
    public var webPort: Int

    /// - Parameters: see the properties.
    public init(user: String, passwordSHA256: String, webPort: Int = 8080) {
        self.user = user
        self.passwordSHA256 = passwordSHA256
        self.webPort = webPort
    }

    /// Pinned images (Guacamole 1.5.5).
    public static let guacdImage = "guacamole/guacd:1.5.5"
    /// See ``guacdImage``.
    public static let webImage = "guacamole/guacamole:1.5.5"
    /// Folder (beside compose.yml) mounted as the web app's `GUACAMOLE_HOME`, read-only.
    public static let folder = "console"
}

/// The text of the files `vmprov compose` writes, built as YAML nodes (never as text templates).
public enum ComposeFiles {
    /// The image the services run, from `.env` (`IMAGE_NAME`).
    static let image = "${IMAGE_NAME:-vmprov:latest}"

    /// Where a guest's folder is mounted from, relative to the compose file's folder when it is inside it
    /// (`./ubuntu`), else absolute.
    public static func source(_ folder: String, composeFolder: String) -> String {
        let base = composeFolder.hasSuffix("/") ? composeFolder : composeFolder + "/"
        if folder.hasPrefix(base) { return "./" + folder.dropFirst(base.count) }
        if folder == composeFolder { return "." }
        return folder
    }

    /// The guest folder's volume: `SOURCE:${VMDIR:-/vms}`, with every `$` of the folder doubled (compose
    /// interpolates `$NAME` in every value, `$$` is a literal `$`), and in the long form (`type: bind`, `source:`,
    /// `target:`) when the folder has a `:`, which the short form would split at.
    static func volume(_ source: String) -> Node {
        typealias Y = YAMLNodes
        let escaped = source.replacingAll("$", with: "$$")
        if !escaped.contains(":") { return Y.strings([escaped + ":${VMDIR:-/vms}"]) }
        return Y.seq([Y.map([("type", Y.str("bind")), ("source", Y.str(escaped)), ("target", Y.str("${VMDIR:-/vms}"))])])
    }

    /// `compose.yml`: one service per guest, and with `console` the Guacamole pair under the `console` profile.
    /// - Parameters:
    ///   - guests: the guests (absolute folders).
    ///   - composeFolder: the absolute folder of the compose file.
    ///   - budget: the stop budget; `stop_grace_period` defaults to its grace (`.env`'s GRACE_PERIOD wins).
    /// - Throws: ``ComposeError/data(path:reason:)`` if Yams cannot emit the document.
    public static func compose(_ guests: [ComposeGuest], composeFolder: String, budget: StopBudget,
                               console: ConsoleSettings?) throws(ComposeError) -> String {
        typealias Y = YAMLNodes
        var services: [(String, Node)] = []
        for g in guests {
            var pairs: [(String, Node)] = [
                ("image", Y.str(image)),
                ("hostname", Y.str(g.serviceName)),
                ("restart", Y.str("unless-stopped")),
                ("devices", Y.strings(["/dev/vboxdrv:/dev/vboxdrv", "/dev/vboxdrvu:/dev/vboxdrvu"])),
                ("volumes", volume(source(g.folder, composeFolder: composeFolder))),
                ("environment", Y.map([
                    ("VMDIR", Y.str("${VMDIR:-/vms}")),
                    ("STOP_ACTION", Y.str("${STOP_ACTION:-acpi}")),
                    ("STOP_TIMEOUT", Y.str("${STOP_TIMEOUT:-\(budget.stopTimeout)}")),
                ])),
            ]
            if !g.published.isEmpty { pairs.append(("ports", Y.strings(g.published.map(\.composeEntry)))) }
            let check = ["CMD", "/usr/local/bin/entrypoint", "healthcheck"] + (console != nil && g.rdpPort != nil ? ["--console"] : [])
            pairs += [
                ("stop_signal", Y.str("SIGTERM")),
                ("stop_grace_period", Y.str("${GRACE_PERIOD:-\(budget.graceSeconds)s}")),
                ("healthcheck", Y.map([
                    ("test", Y.strings(check)),
                    ("interval", Y.str("30s")), ("timeout", Y.str("20s")), ("start_period", Y.str("60s")),
                    ("retries", Y.int(3)),
                ])),
            ]
            services.append((g.serviceName, Y.map(pairs)))
        }
        if let console {
            services.append(("guacd", Y.map([
                ("image", Y.str("${GUACD_IMAGE:-\(ConsoleSettings.guacdImage)}")),
                ("profiles", Y.strings(["console"])),
                ("restart", Y.str("unless-stopped")),
            ])))
            services.append(("guacamole", Y.map([
                ("image", Y.str("${GUACAMOLE_IMAGE:-\(ConsoleSettings.webImage)}")),
                ("profiles", Y.strings(["console"])),
                ("restart", Y.str("unless-stopped")),
                ("depends_on", Y.strings(["guacd"])),
                ("environment", Y.map([
                    ("GUACD_HOSTNAME", Y.str("guacd")),
                    ("GUACAMOLE_HOME", Y.str("/etc/guacamole-home")),
                ])),
                ("volumes", Y.strings(["./\(ConsoleSettings.folder):/etc/guacamole-home:ro"])),
                ("ports", Y.strings(["127.0.0.1:${GUAC_WEB_PORT:-\(console.webPort)}:8080"])),
            ])))
        }
        let doc = Y.map([("name", Y.str("${COMPOSE_PROJECT_NAME:-vmprov}")), ("services", Y.map(services))])
        do {
            return "# Written by vmprov compose: run it again after changing a guest; put your own additions in\n"
                + "# compose.override.yml, which vmprov never rewrites.\n" + (try Y.text([doc]))
        } catch { throw .data(path: composeFolder, reason: "cannot write YAML: \(error)") }
    }

    /// `compose.override.yml` as created once: an empty `services:` mapping with a comment saying what it is for.
    public static let override = "# Your additions to compose.yml (docker compose reads both). vmprov compose created this file\n"
        + "# once and never changes it.\nservices: {}\n"

    /// `.env`: the shared settings. Values in `existing` are kept (so edits survive a re-run), except
    /// `GRACE_PERIOD`, which is always recomputed from `STOP_TIMEOUT`; keys vmprov does not know stay after its own.
    /// - Returns: the text and the stop budget it holds.
    /// - Throws: ``ComposeError/usage(_:)`` when `.env`'s STOP_TIMEOUT is not a whole number of seconds.
    public static func env(existing: String?, stopTimeout: Int?, console: ConsoleSettings?, path: String)
        throws(ComposeError) -> (text: String, budget: StopBudget) {
        var values: [(String, String)] = []
        var comments: [String: String] = [:]
        for line in (existing ?? "").split(separator: "\n", omittingEmptySubsequences: false) {
            let t = String(line).trimmingSpacesAndNewlines
            guard !t.isEmpty, !t.hasPrefix("#"), let eq = t.firstIndex(of: "=") else { continue }
            values.append((String(t[..<eq]), String(t[t.index(after: eq)...])))
        }
        func value(_ key: String) -> String? { values.last { $0.0 == key }?.1 }
        let stop: Int
        if let stopTimeout { stop = stopTimeout } else if let text = value("STOP_TIMEOUT") {
            guard let n = Int(text), n >= 0, n <= 86_400 else {
                throw .usage("\(path): STOP_TIMEOUT=\(text) is not a whole number of seconds (0-86400); fix it or "
                    + "pass --stop-timeout.")
            }
            stop = n
        } else { stop = 120 }
        let budget = StopBudget(stopTimeout: stop)
        var ours: [(String, String)] = [
            ("COMPOSE_PROJECT_NAME", value("COMPOSE_PROJECT_NAME") ?? "vmprov"),
            ("IMAGE_NAME", value("IMAGE_NAME") ?? "vmprov:latest"),
            ("VMDIR", value("VMDIR") ?? "/vms"),
            ("STOP_ACTION", value("STOP_ACTION") ?? "acpi"),
            ("STOP_TIMEOUT", String(stop)),
            ("GRACE_PERIOD", "\(budget.graceSeconds)s"),
        ]
        comments["STOP_TIMEOUT"] = "# Seconds the guest gets to shut down (ACPI) before vmprov saves its state."
        comments["GRACE_PERIOD"] = "# stop_grace_period, from STOP_TIMEOUT: ACPI call + STOP_TIMEOUT + savestate + poweroff "
            + "calls (30 s each) + 10 s.\n# vmprov compose recomputes it: change STOP_TIMEOUT and run it again."
        if let console {
            ours.append(("GUAC_WEB_PORT", value("GUAC_WEB_PORT") ?? String(console.webPort)))
            comments["GUAC_WEB_PORT"] = "# The browser console (docker compose --profile console up -d), on 127.0.0.1."
        }
        let known = Set(ours.map(\.0))
        var seen = Set<String>()
        let extra = values.reversed().filter { !known.contains($0.0) && seen.insert($0.0).inserted }.reversed()
        var text = "# Shared settings of the compose project (written by vmprov compose; your values are kept).\n"
        for (k, v) in ours {
            if let c = comments[k] { text += c + "\n" }
            text += "\(k)=\(v)\n"
        }
        if !extra.isEmpty {
            text += "# Yours:\n" + extra.map { "\($0.0)=\($0.1)\n" }.joined()
        }
        return (text, budget)
    }
}
