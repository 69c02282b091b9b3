import ArgumentParser
import Provision
import VBoxXML

/// `vmprov kube`: Kubernetes objects for every guest under a folder.
struct Kube: GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a StatefulSet (one replica) and an RDP Service per machine folder under DIR.",
        discussion: """
        Each pod opens /dev/vboxdrv from its node (hostPath CharDevice) and runs privileged, which is what \
        VirtualBox's kernel driver needs; the machine folder lives on a PersistentVolumeClaim (copy it in once); \
        terminationGracePeriodSeconds covers STOP_TIMEOUT and the escalation after it; readiness and liveness run \
        `vmprov healthcheck` (with --console when RDP is on). Pods go only to nodes labelled --node-label, whose \
        VirtualBox kernel module must match the image's VirtualBox (see the README). Port clashes do not matter \
        here (each pod has its own address).

        Example:
          vmprov kube vms --out vms/kube.yaml --image registry.example/vmprov:7.2.4
        """)

    @Argument(help: ArgumentHelp("The folder holding the machine folders (default: .).", valueName: "dir"))
    var dir: String = "."

    @Option(help: ArgumentHelp("The file to write (default: standard output).", valueName: "file"))
    var out: String?

    @Option(help: ArgumentHelp("The container image.", valueName: "image"))
    var image = "vmprov:latest"

    @Option(help: ArgumentHelp("The node label KEY=VALUE of nodes whose vboxdrv matches the image.", valueName: "label"))
    var nodeLabel = "vmprov/vboxdrv=ready"

    @Option(help: ArgumentHelp("Size of each machine folder's volume (a Kubernetes quantity).", valueName: "size"))
    var storage = "64Gi"

    @Option(help: ArgumentHelp("STOP_TIMEOUT seconds.", valueName: "seconds"))
    var stopTimeout = 120

    func validate() throws {
        guard (0...86_400).contains(stopTimeout) else { throw ValidationError("--stop-timeout \(stopTimeout): give 0 to 86400 seconds.") }
        let parts = nodeLabel.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty else {
            throw ValidationError("--node-label \(nodeLabel): give KEY=VALUE, for example vmprov/vboxdrv=7.2.4.")
        }
        guard Kube.isQuantity(storage) else {
            throw ValidationError("--storage \(storage): give a Kubernetes quantity such as 64Gi or 500Mi.")
        }
    }

    /// A Kubernetes quantity as `--storage` takes it: digits, an optional fraction, an optional binary or decimal suffix.
    static func isQuantity(_ text: String) -> Bool {
        let suffixes = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "k", "M", "G", "T", "P", "E", ""]
        guard let suffix = suffixes.first(where: { text.hasSuffix($0) }) else { return false }
        let number = text.dropLast(suffix.count).split(separator: ".", omittingEmptySubsequences: false)
        return (1...2).contains(number.count)
            && number.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }
    }

    @OptionGroup var global: GlobalOptions

    func run(_ context: CommandContext) throws {
        let project = try ComposeProject.load(Compose.absolute(dir))
        for n in project.notes { Output.warn(n) }
        let parts = nodeLabel.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let settings = KubeFiles.Settings(image: image, nodeLabel: (parts[0], parts[1]), storage: storage,
                                          budget: StopBudget(stopTimeout: stopTimeout))
        let text = try KubeFiles.text(project.guests, settings)
        guard let out else { return Output.write(1, text) }
        let outcome = try GeneratedFile.write(Array(text.utf8), to: Compose.absolute(out))
        Output.out("\(outcome.rawValue): \(Compose.absolute(out)) (\(project.guests.count) guest(s), "
            + "terminationGracePeriodSeconds \(settings.budget.graceSeconds) for STOP_TIMEOUT \(stopTimeout))")
    }
}
