import ArgumentParser
import VBoxXML

struct Snapshots: GlobalOptionsCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the snapshot tree of a machine from its .vbox (read-only).",
        discussion: """
        Each snapshot with its date, whether it was taken while running, and the disks it holds (differencing \
        images marked); the current state is shown under the current snapshot.

        Example:
          vmprov snapshots vms/ubuntu --json
        """)

    @OptionGroup var read: ReadOptions

    @OptionGroup var global: GlobalOptions

    func run(_ context: CommandContext) throws {
        let settings = try TargetResolver.load(read.target, context)
        let tree = settings.snapshotTree
        if read.json { return try JSONOut.print(tree) }
        guard let root = tree.root else {
            Output.out("No snapshots in \(settings.path).")
            return
        }
        Output.out("\(tree.count) snapshot\(tree.count == 1 ? "" : "s") in \(settings.path):")
        print(root, indent: "", last: true, tree: tree)
    }

    private func disks(_ list: [SnapshotDisk]) -> String {
        guard !list.isEmpty else { return "no disks" }
        return list.map { ($0.location ?? "{\($0.uuid)}") + ($0.differencing ? " (differencing)" : "") }
            .joined(separator: ", ")
    }

    private func print(_ node: SnapshotInfo, indent: String, last: Bool, tree: SnapshotTree) {
        let branch = last ? "`- " : "|- "
        Output.out(indent + branch + "\(node.name)  \(node.timeStamp)\(node.online ? "  (online)" : "")  "
            + "{\(node.uuid)}  " + disks(node.disks))
        let childIndent = indent + (last ? "   " : "|  ")
        let items = node.children.count + (node.current ? 1 : 0)
        for (n, child) in node.children.enumerated() {
            print(child, indent: childIndent, last: n == items - 1, tree: tree)
        }
        if node.current {
            Output.out(childIndent + "`- * current state" + (tree.currentStateModified ? " (modified)" : "") + "  "
                + disks(tree.currentStateDisks))
        }
    }
}
