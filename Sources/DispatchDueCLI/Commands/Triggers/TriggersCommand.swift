import ArgumentParser
import DispatchCore

/// `dispatch-due triggers …`: create, inspect, pause and change scheduled triggers.
/// Parsing and reporting only; the SQL and the rules are in `Management/`.
public struct TriggersCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "triggers",
        abstract: "Manage scheduled triggers.",
        discussion: ExitStatus.managementHelpText,
        subcommands: [Add.self, List.self, Show.self, Update.self, Enable.self, Disable.self, Delete.self, Run.self])

    public init() {}
}

/// The trigger a subcommand acts on (`ID --tenant TENANT`), checked before connecting. Shared
/// by show, update, enable, disable and delete.
public struct TriggerTarget: ParsableArguments {
    @Argument(help: "Trigger id.") public var id: String
    @Option(help: "Tenant that owns the trigger.") public var tenant: String

    public init() {}

    public func validate() throws {
        try CLIIdentifier.validated("--tenant", tenant)
        try CLIIdentifier.validated("the trigger id", id)
    }
}
