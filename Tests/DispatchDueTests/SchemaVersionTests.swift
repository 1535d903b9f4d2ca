import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// Issue 11, item 17: a database migrated by a newer release (a migration this binary does not
/// know) or not yet migrated to this one is refused by `run` and `backfill` before any work is
/// claimed (exit 1, naming both versions); `migrate` names what it does not know.
@Suite("schema versions", .requiresDatabase)
struct SchemaVersionTests {
    static let future = "9999_from_a_newer_release.sql"

    /// Gives a migrated database a due trigger and records a newer release's migration.
    static func recordNewerRelease(_ database: TestDatabase) throws {
        let connection = try database.connect()
        try connection.insertTrigger(id: "due", cron: "0 0 1 1 *", nextRunAt: "2020-01-01T00:00:00Z")
        try connection.query(
            "INSERT INTO schema_migrations (name, version, checksum) VALUES ($1, 9999, 'unknown-checksum')", [future])
    }

    static var binaryVersion: Int { (try? Migrator.embedded().migrations.map(\.version).max()) ?? 0 }

    @Test("run and backfill refuse a newer schema, naming both versions; nothing is recorded")
    func runRefusesNewer() throws {
        try withTestDatabase { database in
            try Self.recordNewerRelease(database)
            let run = try database.runCycle()
            #expect(run.exitCode == 1, "\(run)")
            #expect(run.stderr.contains(Self.future), "\(run.stderr)")
            #expect(run.stderr.contains("version 9999"), "\(run.stderr)")
            #expect(run.stderr.contains("this binary's \(Self.binaryVersion)"), "\(run.stderr)")
            let dryRun = try database.runCycle(["--dry-run"])
            #expect(dryRun.exitCode == 1, "\(dryRun)")
            let backfill = try database.cli(["backfill", "--from", "2020-01-01T00:00:00Z", "--dry-run"])
            #expect(backfill.exitCode == 1, "\(backfill)")
            #expect(backfill.stderr.contains(Self.future), "\(backfill.stderr)")
            let connection = try database.connect()
            #expect(try connection.value("SELECT count(*) FROM scheduled_trigger_invocations") == "0")
            #expect(try connection.value("SELECT next_run_at = '2020-01-01T00:00:00Z' FROM scheduled_triggers") == "t")
        }
    }

    @Test("migrate names the migration it does not know and exits 1; --status lists it as unknown")
    func migrateNamesUnknown() throws {
        try withTestDatabase { database in
            try Self.recordNewerRelease(database)
            let migrate = try MigrationTests.migrate(database)
            #expect(migrate.exitCode == 1, "\(migrate)")
            #expect(migrate.stderr.contains(Self.future), "\(migrate.stderr)")
            #expect(!migrate.stdout.contains("up to date"), "\(migrate)")
            let status = try MigrationTests.migrate(database, ["--status"])
            #expect(status.exitCode == 0, "\(status)")
            #expect(status.stdout.contains("unknown   \(Self.future)"), "\(status)")
            #expect(status.stdout.contains("applied   0001_scheduled_triggers.sql"), "\(status)")
        }
    }

    @Test("status still reports on a newer schema, with a warning naming it")
    func statusWarns() throws {
        try withTestDatabase { database in
            try Self.recordNewerRelease(database)
            let status = try database.cli(["status"])
            #expect(status.exitCode == 0, "\(status)")
            #expect(status.stdout.contains("WARNING"), "\(status)")
            #expect(status.stdout.contains(Self.future), "\(status)")
            let json = try database.cli(["status", "--json"])
            #expect(try JSONValue.parse(json.stdout)["schema_problem"]?.stringValue?.contains(Self.future) == true, "\(json)")
        }
    }

    @Test("run refuses a schema that lacks one of this binary's migrations, saying to migrate")
    func runRefusesOlder() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            let newest = try #require(try Migrator.embedded().migrations.last?.name)
            try connection.query("DELETE FROM schema_migrations WHERE name = $1", [newest])
            let remaining = try connection.value("SELECT count(*) FROM schema_migrations")
            let run = try database.runCycle()
            #expect(run.exitCode == 1, "\(run)")
            #expect(run.stderr.contains("dispatch-due migrate"), "\(run.stderr)")
            // With others still recorded the message names the missing one; with none, the schema is missing.
            if remaining != "0" { #expect(run.stderr.contains(newest), "\(run.stderr)") }
            // migrate brings it back: the tables exist, so it only records what it applies.
            try connection.query("DROP TABLE scheduled_trigger_invocations, scheduled_triggers CASCADE")
            try connection.query("DROP FUNCTION scheduled_triggers_reset_schedule()")
            try connection.query("DELETE FROM schema_migrations")  // every migration applies again, in order
            #expect(try MigrationTests.migrate(database).exitCode == 0)
            #expect(try database.runCycle().exitCode == 0)
        }
    }

    /// Commands without the schema-version check (prune, status, the management commands) meet an
    /// old schema as a missing column: they must say to migrate, not print a bare SQL error.
    @Test(
        "on a schema older than this binary (0001 only) a command that reads it says to migrate and exits 1",
        arguments: [["prune"], ["status"], ["triggers", "list"]])
    func oldSchemaSaysMigrate(_ arguments: [String]) throws {
        try withTestDatabase(migrated: false) { database in
            let folder = try ChildProcess.makeScratchDirectory()
            defer { Ops.removeTree(folder) }
            let first = "0001_scheduled_triggers.sql"
            try FileSystem.writeAtomically(
                try FileSystem.readText(ChildProcess.repositoryDirectory + "/migrations/" + first), to: folder + "/" + first)
            #expect(try MigrationTests.migrate(database, ["--migrations-dir", folder]).exitCode == 0)
            let result = try database.cli(arguments)
            #expect(result.exitCode == 1, "\(result)")
            #expect(result.stderr.contains("older than this binary"), "\(result.stderr)")
            #expect(result.stderr.contains("run `dispatch-due migrate`"), "\(result.stderr)")
        }
    }

    @Test("a current schema passes the check (one statement) and sets the server-side timeouts")
    func currentSchema() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            let versions = try SchemaCheck.embedded().versions(on: connection, serverTimeoutSeconds: 90)
            #expect(versions.isCurrent)
            #expect(versions.database == Self.binaryVersion && versions.binary == Self.binaryVersion)
            #expect(try connection.value("SHOW statement_timeout") == "90s")
            #expect(try connection.value("SHOW lock_timeout") == "90s")
        }
    }
}
