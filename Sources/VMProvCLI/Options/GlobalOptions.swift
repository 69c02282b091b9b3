import ArgumentParser

/// The options every command takes (except `run`, whose `--verbose` also logs VBoxManage command lines).
struct GlobalOptions: ParsableArguments {
    @Flag(help: "Report every setting taken from the environment (one line each on stderr).")
    var verbose = false
}
