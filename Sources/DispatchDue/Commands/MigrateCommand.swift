import ArgumentParser

public struct MigrateCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "migrate", abstract: "Apply the schema migrations.")
    public init() {}
    public func run() throws {}
}
