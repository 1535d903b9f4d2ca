import ArgumentParser
import Postgres

/// Options shared by every command that talks to PostgreSQL.
public struct DatabaseOptions: ParsableArguments {
    @Option(
        name: .customLong("database-url"),
        help: ArgumentHelp(
            "libpq conninfo or URI (default: $DATABASE_URL, else libpq's PG* variables).",
            valueName: "URL"))
    public var databaseURL: String?

    @Option(help: "Seconds to wait for the database connection.")
    public var connectTimeout: Int = 5

    public init() {}

    /// The flag wins over the environment; nil lets libpq use its PG* defaults.
    public var resolvedURL: String? {
        databaseURL ?? Environment.get("DATABASE_URL").flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Opens a connection, turning failure into exit code 1 with a masked message.
    public func connect() throws -> Connection {
        do {
            return try Connection(connectionString: resolvedURL, connectTimeoutSeconds: connectTimeout)
        } catch {
            throw ExitStatus.fail(ExitStatus.failure, "dispatch-due: \(error)")
        }
    }
}
