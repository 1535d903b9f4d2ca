import ArgumentParser

public struct BackfillCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "backfill", abstract: "Record and run every slot in a past window.")

    public init() {}

    public func run() throws {
        throw ExitStatus.fail(ExitStatus.failure, "dispatch-due backfill: not implemented yet")
    }
}
