import VBoxXML
import Yams

/// The Kubernetes objects `vmprov kube` writes, built as YAML nodes: per guest a StatefulSet of one replica and a
/// Service for its RDP port.
///
/// The pod opens `/dev/vboxdrv` and `/dev/vboxdrvu` from the node (hostPath, type `CharDevice`). A container
/// may open a device node only if the device cgroup allows it, and Kubernetes has no way to allow one device
/// short of a device plugin, so the container runs **privileged**: it can reach every device of the node. That is
/// what VirtualBox's kernel driver needs; run these pods only on nodes dedicated to them.
public enum KubeFiles {
    /// What the objects are made of.
    public struct Settings: Sendable, Equatable {
        /// The container image (VirtualBox inside must match the node's vboxdrv module).
        public var image: String
        /// The node label that marks nodes whose VirtualBox kernel module matches the image (`key=value`).
        public var nodeLabel: (key: String, value: String)
        /// Size of each machine folder's volume (a Kubernetes quantity such as `64Gi`).
        public var storage: String
        /// The stop budget (``StopBudget``).
        public var budget: StopBudget
        /// `VMDIR` in the container, where the volume is mounted.
        public var vmDir: String

        /// - Parameters: see the properties.
        public init(image: String = "vmprov:latest", nodeLabel: (key: String, value: String) = ("vmprov/vboxdrv", "ready"),
                    storage: String = "64Gi", budget: StopBudget = StopBudget(), vmDir: String = "/vms") {
            self.image = image
            self.nodeLabel = nodeLabel
            self.storage = storage
            self.budget = budget
            self.vmDir = vmDir
        }

        /// Equal when every setting is equal.
        public static func == (a: Settings, b: Settings) -> Bool {
            a.image == b.image && a.nodeLabel == b.nodeLabel && a.storage == b.storage && a.budget == b.budget
                && a.vmDir == b.vmDir
        }
    }

    /// All objects, as one multi-document YAML text.
    /// - Throws: ``ComposeError/data(path:reason:)`` if Yams cannot emit it.
    public static func text(_ guests: [ComposeGuest], _ s: Settings) throws(ComposeError) -> String {
        var docs: [Node] = []
        for g in guests { docs += objects(g, s) }
        do {
            return "# Written by vmprov kube. The containers run privileged (VirtualBox's kernel driver, see the README).\n"
                + (try YAMLNodes.text(docs))
        } catch { throw .data(path: "kube", reason: "cannot write YAML: \(error)") }
    }

    /// The StatefulSet and, when the guest has RDP on, its Service.
    public static func objects(_ g: ComposeGuest, _ s: Settings) -> [Node] {
        typealias Y = YAMLNodes
        let name = "vmprov-" + g.serviceName
        let trimmed = String(name.prefix(52)).hasSuffix("-") ? String(name.prefix(51)) : String(name.prefix(52))
        let labels = Y.map([("app.kubernetes.io/name", Y.str("vmprov")), ("app.kubernetes.io/instance", Y.str(g.serviceName))])
        // Readiness also asks the RDP server (a guest without one is not served); liveness only the machine's state,
        // so a missing RDP server never restarts a running guest.
        func probe(console: Bool) -> Node {
            Y.map([("exec", Y.map([("command", Y.strings(["/usr/local/bin/entrypoint", "healthcheck"]
                                                            + (console && g.rdpPort != nil ? ["--console"] : [])))]))])
        }
        func withTiming(_ probe: Node, _ initial: Int, _ failures: Int) -> Node {
            guard case .mapping(var m) = probe else { return probe }
            for (k, v) in [("initialDelaySeconds", initial), ("periodSeconds", 30), ("timeoutSeconds", 20),
                           ("failureThreshold", failures)] {
                m[Node(k)] = Y.int(v)
            }
            return .mapping(m)
        }
        let ports: [Node] = g.published.enumerated().compactMap { k, p in
            guard p.first == p.last else { return nil }  // Kubernetes has no port ranges; the Service names single ports.
            let portName = k == 0 && g.rdpPort == p.first ? "rdp" : "p\(p.first)-\(p.proto.rawValue)"
            return Y.map([("name", Y.str(portName)), ("containerPort", Y.int(p.first)),
                          ("protocol", Y.str(p.proto == .udp ? "UDP" : "TCP"))])
        }
        var container: [(String, Node)] = [
            ("name", Y.str("vbox")),
            ("image", Y.str(s.image)),
            ("env", Y.seq([
                Y.map([("name", Y.str("VMDIR")), ("value", Y.str(s.vmDir))]),
                Y.map([("name", Y.str("STOP_ACTION")), ("value", Y.str("acpi"))]),
                Y.map([("name", Y.str("STOP_TIMEOUT")), ("value", Y.str(String(s.budget.stopTimeout)))]),
            ])),
        ]
        if !ports.isEmpty { container.append(("ports", Y.seq(ports))) }
        container += [
            ("securityContext", Y.map([("privileged", Y.bool(true))])),
            ("volumeMounts", Y.seq([
                Y.map([("name", Y.str("vboxdrv")), ("mountPath", Y.str("/dev/vboxdrv"))]),
                Y.map([("name", Y.str("vboxdrvu")), ("mountPath", Y.str("/dev/vboxdrvu"))]),
                Y.map([("name", Y.str("machine")), ("mountPath", Y.str(s.vmDir))]),
            ])),
            ("readinessProbe", withTiming(probe(console: true), 30, 1)),
            ("livenessProbe", withTiming(probe(console: false), 120, 3)),
        ]
        let pod = Y.map([
            ("terminationGracePeriodSeconds", Y.int(s.budget.graceSeconds)),
            ("nodeSelector", Y.map([(s.nodeLabel.key, Y.str(s.nodeLabel.value))])),
            ("containers", Y.seq([Y.map(container)])),
            ("volumes", Y.seq([
                Y.map([("name", Y.str("vboxdrv")), ("hostPath", Y.map([("path", Y.str("/dev/vboxdrv")), ("type", Y.str("CharDevice"))]))]),
                Y.map([("name", Y.str("vboxdrvu")), ("hostPath", Y.map([("path", Y.str("/dev/vboxdrvu")), ("type", Y.str("CharDevice"))]))]),
            ])),
        ])
        let set = Y.map([
            ("apiVersion", Y.str("apps/v1")),
            ("kind", Y.str("StatefulSet")),
            ("metadata", Y.map([("name", Y.str(trimmed)), ("labels", labels)])),
            ("spec", Y.map([
                ("serviceName", Y.str(trimmed)),
                ("replicas", Y.int(1)),
                ("selector", Y.map([("matchLabels", labels)])),
                ("template", Y.map([("metadata", Y.map([("labels", labels)])), ("spec", pod)])),
                ("volumeClaimTemplates", Y.seq([Y.map([
                    ("metadata", Y.map([("name", Y.str("machine"))])),
                    ("spec", Y.map([
                        ("accessModes", Y.strings(["ReadWriteOnce"])),
                        ("resources", Y.map([("requests", Y.map([("storage", Y.str(s.storage))]))])),
                    ])),
                ])])),
            ])),
        ])
        guard let rdp = g.rdpPort else { return [set] }
        let service = Y.map([
            ("apiVersion", Y.str("v1")),
            ("kind", Y.str("Service")),
            ("metadata", Y.map([("name", Y.str(trimmed)), ("labels", labels)])),
            ("spec", Y.map([
                ("selector", labels),
                ("ports", Y.seq([Y.map([("name", Y.str("rdp")), ("port", Y.int(rdp)), ("targetPort", Y.int(rdp)),
                                        ("protocol", Y.str("TCP"))])])),
            ])),
        ])
        return [set, service]
    }
}
