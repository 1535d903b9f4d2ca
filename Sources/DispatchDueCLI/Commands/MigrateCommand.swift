import ArgumentParser
import DispatchCore
import Postgres

public struct MigrateCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply the schema migrations (safe to run concurrently and repeatedly).",
        discussion: """
            Applies numbered SQL files in order, each in a transaction, under an advisory lock; \
            a concurrent migrate waits and then finds nothing to do. An applied file whose \
            content changed is refused. Without --migrations-dir the migrations built into \
            this binary are used.

            \(ExitStatus.migrateHelpText)
            """)

    @OptionGroup public var database: DatabaseOptions

    @Option(help: ArgumentHelp("Read NNNN_*.sql files from this folder instead of the built-in ones.", valueName: "DIR"))
    public var migrationsDir: String?

    @Flag(help: "Show each migration's state (applied, pending, modified) and change nothing.")
    public var status = false

    @Flag(help: "With --status: print one JSON object {\"migrations\": [{\"name\", \"state\", \"applied_at\"}]} (RFC 3339 UTC, milliseconds).")
    public var json = false

    public func validate() throws {
        if json && !status { throw ValidationError("--json goes with --status") }
    }

    public init() {}

    public func run() throws {
        try reportingFailures {
            let migrator: Migrator
            do {
                migrator = try migrationsDir.map { dir throws(MigrationError) in try Migrator.directory(dir) }
                    ?? Migrator.embedded()
            } catch {
                throw ExitStatus.fail(ExitStatus.usage, "dispatch-due migrate: \(error)")
            }
            let connection = try database.connect()
            do {
                if status && json {
                    let entries = try migrator.status(on: connection)
                    let appliedAt = try Self.appliedTimes(on: connection)
                    let items: [JSONValue] = entries.map { entry in
                        .object([
                            ("name", .string(entry.name)), ("state", .string(entry.state.rawValue)),
                            ("applied_at", entry.state == .pending ? .null : appliedAt[entry.name].map { .string($0) } ?? .null),
                        ])
                    }
                    StandardOutput.writeLine(JSONValue.object([("migrations", .array(items))]).compactText)
                    return
                }
                if status {
                    for entry in try migrator.status(on: connection) {
                        StandardOutput.writeLine(
                            "\(entry.state.rawValue.padding(8))  \(entry.name)" + (entry.appliedAt.map { "  \($0)" } ?? ""))
                    }
                    return
                }
                let applied = try migrator.apply(on: connection)
                if applied.isEmpty {
                    StandardOutput.writeLine("schema is up to date (\(migrator.migrations.count) migrations)")
                } else {
                    for name in applied { StandardOutput.writeLine("applied \(name)") }
                }
            } catch let error as MigrationError {
                throw ExitStatus.fail(ExitStatus.failure, "dispatch-due migrate: \(error)")
            }
        }
    }
}

extension MigrateCommand {
    /// applied_at of each recorded migration as RFC 3339 UTC with milliseconds, whatever the
    /// session's TimeZone (none when the table does not exist yet).
    static func appliedTimes(on connection: borrowing Connection) throws -> [String: String] {
        let exists = try connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL AS present")
        guard try exists.first?.bool("present") == true else { return [:] }
        var result: [String: String] = [:]
        for row in try connection.query(
            "SELECT name, to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS at FROM schema_migrations")
        {
            result[try row.string("name")] = try row.string("at")
        }
        return result
    }
}
