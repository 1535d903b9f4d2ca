import ArgumentParser

public struct NextCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "next", abstract: "Print the next slots of a cron expression.")

    public init() {}

    public func run() throws {
        throw ExitStatus.fail(ExitStatus.failure, "dispatch-due next: not implemented yet")
    }
}
