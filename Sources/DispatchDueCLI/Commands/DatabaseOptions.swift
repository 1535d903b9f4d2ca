import ArgumentParser
import DispatchCore
import Postgres

/// Options shared by every command that talks to PostgreSQL.
public struct DatabaseOptions: ParsableArguments {
    @Option(
        name: .customLong("database-url"),
        help: ArgumentHelp(
            "libpq conninfo or URI (default: $DATABASE_URL, else libpq's PG* variables). Prefer DATABASE_URL "
                + "or PGPASSFILE for the password: it is masked in this process's command line after parsing, "
                + "but visible to `ps` until then.",
            valueName: "URL"))
    public var databaseURL: String?

    @Option(name: .customLong("connect-timeout"), parsing: .unconditional, help: ArgumentHelp("Seconds to wait for the database connection, 1-300 (default 5; env DISPATCH_DUE_CONNECT_TIMEOUT).", valueName: "S"))
    var connectTimeoutFlag: Int?
    public var connectTimeout: Int {
        (try? Tunable.number("--connect-timeout", connectTimeoutFlag, default: 5, 1...300, unit: "seconds")) ?? 5
    }

    public init() {}

    public func validate() throws {
        _ = try Tunable.number("--connect-timeout", connectTimeoutFlag, default: 5, 1...300, unit: "seconds")
    }

    /// The flag wins over the environment; nil lets libpq use its PG* defaults.
    public var resolvedURL: String? {
        databaseURL ?? Environment.get("DATABASE_URL").flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Opens a connection. A refused or unreachable database is `databaseUnavailable`
    /// (exit 69), a malformed URL `configuration` (exit 78); messages mask the password.
    public func connect() throws(DispatchFailure) -> Connection {
        do {
            return try Connection(connectionString: resolvedURL, connectTimeoutSeconds: connectTimeout)
        } catch {
            if error.kind == .badConnectionString { throw .configuration(detail: error.description) }
            throw .databaseUnavailable(error)
        }
    }
}
