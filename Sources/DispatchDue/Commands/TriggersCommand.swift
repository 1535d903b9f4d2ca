import ArgumentParser

public struct TriggersCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "triggers", abstract: "Manage scheduled triggers.")

    public init() {}

    public func run() throws {
        throw ExitStatus.fail(ExitStatus.failure, "dispatch-due triggers: not implemented yet")
    }
}
