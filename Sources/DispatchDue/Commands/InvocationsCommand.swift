import ArgumentParser

public struct InvocationsCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "invocations", abstract: "Inspect, cancel and rerun invocations.")

    public init() {}

    public func run() throws {
        throw ExitStatus.fail(ExitStatus.failure, "dispatch-due invocations: not implemented yet")
    }
}
