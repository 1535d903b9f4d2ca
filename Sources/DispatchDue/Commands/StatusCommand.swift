import ArgumentParser

public struct StatusCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Report backlog, lag and schedule errors.")

    public init() {}

    public func run() throws {
        throw ExitStatus.fail(ExitStatus.failure, "dispatch-due status: not implemented yet")
    }
}
