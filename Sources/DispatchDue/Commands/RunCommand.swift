import ArgumentParser

public struct RunCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run one dispatch cycle (the default).")

    public init() {}

    public func run() throws {
        throw ExitStatus.fail(ExitStatus.failure, "dispatch-due run: not implemented yet")
    }
}
