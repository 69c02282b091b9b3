import ArgumentParser

/// A command that runs with a `CommandContext`: `VMProv.runMain` builds the context once (global options and the
/// environment), reports the overrides under `--verbose`, and calls `run(_:)`.
protocol ContextCommand: ParsableCommand {
    /// `--verbose` for the context report.
    var verbose: Bool { get }

    /// Runs the command with the context.
    /// - Throws: any `HasExitCode` error (its code is the exit code), or argument-parser's `ExitCode`.
    func run(_ context: CommandContext) throws

    /// Shows the settings taken from the environment (`CommandContext.overrides`), called only under `--verbose`.
    func report(_ overrides: [String])
}

extension ContextCommand {
    /// The context for this command from the process environment, the overrides reported under `--verbose`.
    func makeContext() -> CommandContext {
        let context = CommandContext(environment: .process(), verbose: verbose)
        if context.verbose { report(context.overrides) }
        return context
    }

    /// Writes each line to stderr as `vmprov: LINE`.
    func report(_ overrides: [String]) {
        for line in overrides { Output.note("vmprov: \(line)") }
    }

    /// argument-parser's entry point (`VMProv.main()`): runs `run(_:)` with a fresh context.
    func run() throws {
        try run(makeContext())
    }
}

/// A command that takes the global options (`GlobalOptions`), which give it `--verbose`.
protocol GlobalOptionsCommand: ContextCommand {
    /// The global options.
    var global: GlobalOptions { get }
}

extension GlobalOptionsCommand {
    /// `--verbose` from the global options.
    var verbose: Bool { global.verbose }
}
