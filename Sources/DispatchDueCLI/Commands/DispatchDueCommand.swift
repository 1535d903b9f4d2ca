import ArgumentParser
import DispatchCore

/// The `dispatch-due` command line. Each subcommand only parses and reports;
/// the work is done by the types it calls.
public struct DispatchDueCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dispatch-due",
        abstract: "Fire scheduled agent runs: one dispatch cycle against PostgreSQL, then exit.",
        discussion: ExitStatus.rootHelpText,
        version: DispatchDueVersion.versionLine,
        subcommands: [
            RunCommand.self,
            MigrateCommand.self,
            NextCommand.self,
            BackfillCommand.self,
            StatusCommand.self,
            TriggersCommand.self,
            InvocationsCommand.self,
            PruneCommand.self,
        ])
    // No default subcommand: a bare `dispatch-due` prints help (contract §5), so a typo or a
    // forgotten argument never starts a dispatch cycle.

    public init() {}
}
