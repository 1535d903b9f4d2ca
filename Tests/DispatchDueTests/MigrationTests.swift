import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Glibc
import Postgres
import Testing

@Suite("migrate")
struct MigrationTests {
    static func migrate(_ database: TestDatabase, _ extra: [String] = []) throws -> ProcessResult {
        try database.dispatchDue(["migrate"] + extra)
    }

    @Test("applying twice is a no-op the second time", .requiresDatabase)
    func migrateTwice() throws {
        try withTestDatabase(migrated: false) { database in
            let first = try Self.migrate(database)
            #expect(first.exitCode == 0, "\(first)")
            #expect(first.stdout.contains("applied 0001_scheduled_triggers.sql"))
            let second = try Self.migrate(database)
            #expect(second.exitCode == 0, "\(second)")
            #expect(second.stdout.contains("schema is up to date"))
            let connection = try database.connect()
            let count = try connection.query("SELECT count(*) AS n FROM schema_migrations").first!.int("n")
            #expect(count == (try Migrator.embedded().migrations.count))
            let status = try Self.migrate(database, ["--status"])
            #expect(status.stdout.contains("applied   0001_scheduled_triggers.sql"), "\(status)")
        }
    }

    @Test("concurrent migrates: one applies, the others wait and find nothing to do", .requiresDatabase)
    func concurrentMigrates() throws {
        try withTestDatabase(migrated: false) { database in
            let processes = try (0..<4).map { _ in
                try ChildProcess("dispatch-due", ["migrate"], extraEnvironment: ["DATABASE_URL": database.url])
            }
            let results = processes.map { $0.wait() }
            for result in results { #expect(result.exitCode == 0, "\(result)") }
            let appliers = results.filter { $0.stdout.contains("applied 0001") }
            #expect(appliers.count == 1)
            let connection = try database.connect()
            #expect(try connection.query("SELECT count(*) AS n FROM schema_migrations").first!.int("n") == (try Migrator.embedded().migrations.count))
        }
    }

    @Test("an edited, already-applied migration is refused, naming the file", .requiresDatabase)
    func editedMigrationRefused() throws {
        try withTestDatabase(migrated: false) { database in
            let folder = try ChildProcess.makeScratchDirectory()
            try FileSystem.writeAtomically("CREATE TABLE first_table (id int);\n", to: folder + "/0001_first.sql")
            #expect(try Self.migrate(database, ["--migrations-dir", folder]).exitCode == 0)
            try FileSystem.writeAtomically("CREATE TABLE second_table (id int);\n", to: folder + "/0002_second.sql")
            try FileSystem.writeAtomically("CREATE TABLE first_table (id bigint);\n", to: folder + "/0001_first.sql")
            let result = try Self.migrate(database, ["--migrations-dir", folder])
            #expect(result.exitCode == 1)
            #expect(result.stderr.contains("0001_first.sql"), "\(result)")
            #expect(result.stderr.contains("must not be edited"))
            // Refused before anything else ran: 0002 was not applied.
            let connection = try database.connect()
            #expect(try connection.query("SELECT to_regclass('second_table') IS NULL AS absent").first!.bool("absent"))
        }
    }

    @Test("a failing migration is rolled back whole and reported with its SQLSTATE", .requiresDatabase)
    func failingMigrationRollsBack() throws {
        try withTestDatabase(migrated: false) { database in
            let folder = try ChildProcess.makeScratchDirectory()
            try FileSystem.writeAtomically(
                "CREATE TABLE half_done (id int);\nSELECT * FROM no_such_table;\n", to: folder + "/0001_broken.sql")
            let result = try Self.migrate(database, ["--migrations-dir", folder])
            #expect(result.exitCode == 1)
            #expect(result.stderr.contains("0001_broken.sql"))
            #expect(result.stderr.contains("SQLSTATE 42P01"), "\(result)")
            let connection = try database.connect()
            #expect(try connection.query("SELECT to_regclass('half_done') IS NULL AS absent").first!.bool("absent"))
            #expect(try connection.query("SELECT count(*) AS n FROM schema_migrations").first!.int("n") == 0)
        }
    }

    @Test("the migrations built into the binary are the files in migrations/")
    func embeddedMatchesFiles() throws {
        let files = try Migrator.directory(ChildProcess.repositoryDirectory + "/migrations").migrations
        let embedded = try Migrator.embedded().migrations
        #expect(files == embedded, "run `make embed-migrations`")
        #expect(!files.isEmpty)
    }

    @Test("badly named migration files are a usage error", .requiresDatabase, arguments: ["first.sql", "0001first.sql"])
    func badNames(name: String) throws {
        try withTestDatabase(migrated: false) { database in
            let folder = try ChildProcess.makeScratchDirectory()
            try FileSystem.writeAtomically("SELECT 1;\n", to: folder + "/" + name)
            let result = try Self.migrate(database, ["--migrations-dir", folder])
            #expect(result.exitCode == 64)
            #expect(result.stderr.contains(name))
        }
    }
}

@Suite("schema", .requiresDatabase)
struct SchemaTests {
    static let insert = """
        INSERT INTO scheduled_triggers (tenant_id, id, project_id, agent_id, name, cron_expression, run_at,
                                        max_retries, retry_delay_seconds, timeout_seconds, misfire_policy)
        VALUES ('t', $1, 'p', 'a', 'n', $2, $3::timestamptz, $4::int, $5::int, $6::int, $7)
        """

    struct Row: Sendable, CustomTestStringConvertible {
        var cron: String?
        var runAt: String?
        var retries = 1, delay = 60, timeout = 780
        var policy = "latest"
        var testDescription: String { "cron=\(cron ?? "nil") run_at=\(runAt ?? "nil") \(retries)/\(delay)/\(timeout)/\(policy)" }
    }

    @Test("CHECKs reject what contract §1 forbids (SQLSTATE 23514)", arguments: [
        Row(cron: "* * * * *", runAt: "2026-01-01T00:00:00Z"),  // both schedules
        Row(cron: nil, runAt: nil),  // neither
        Row(cron: "* * * * *", runAt: nil, retries: 11),
        Row(cron: "* * * * *", runAt: nil, retries: -1),
        Row(cron: "* * * * *", runAt: nil, delay: 9),
        Row(cron: "* * * * *", runAt: nil, delay: 3601),
        Row(cron: "* * * * *", runAt: nil, timeout: 29),
        Row(cron: "* * * * *", runAt: nil, timeout: 86401),
        Row(cron: "* * * * *", runAt: nil, policy: "sometimes"),
    ])
    func triggerChecks(row: Row) throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            #expect {
                try connection.query(Self.insert, ["x", row.cron, row.runAt, row.retries, row.delay, row.timeout, row.policy])
            } throws: { error in
                (error as? PostgresError)?.sqlState == "23514"
            }
        }
    }

    @Test("the ranges' edges are accepted")
    func edgesAccepted() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try connection.query(Self.insert, ["low", "* * * * *", nil as String?, 0, 10, 30, "all"])
            try connection.query(Self.insert, ["high", nil as String?, "2026-01-01T00:00:00Z", 10, 3600, 86400, "skip"])
            #expect(try connection.query("SELECT count(*) AS n FROM scheduled_triggers").first!.int("n") == 2)
        }
    }

    @Test("an unknown invocation status is rejected; the idempotency key is unique per tenant only")
    func invocationChecks() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            let insert = """
                INSERT INTO scheduled_trigger_invocations
                    (tenant_id, id, project_id, agent_id, scheduled_trigger_id, ref, status, scheduled_for, idempotency_key)
                VALUES ($1, $2, 'p', 'a', 'trig', 'main', $3, '2026-01-01T00:00:00Z', 'sched_trig_2026-01-01T00:00:00.000Z')
                """
            #expect { try connection.query(insert, ["t1", "i0", "queued"]) } throws: { ($0 as? PostgresError)?.sqlState == "23514" }
            try connection.query(insert, ["t1", "i1", "pending"])
            // Same key, other tenant: allowed (equal trigger ids in two tenants must not collide).
            try connection.query(insert, ["t2", "i2", "pending"])
            // Same key, same tenant: unique violation.
            #expect { try connection.query(insert, ["t1", "i3", "pending"]) } throws: { ($0 as? PostgresError)?.sqlState == "23505" }
        }
    }

    @Test("changing the schedule or enabled clears next_run_at and schedule_error; other edits do not",
          arguments: [
            ("cron_expression = '5 * * * *'", true), ("cron_timezone = 'Europe/Berlin'", true),
            ("enabled = false", true), ("name = 'renamed'", false), ("payload = '{\"a\":1}'", false),
          ])
    func resetTrigger(assignment: String, resets: Bool) throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try connection.query("""
                INSERT INTO scheduled_triggers (tenant_id, id, project_id, agent_id, name, cron_expression, next_run_at, schedule_error)
                VALUES ('t', 'x', 'p', 'a', 'n', '* * * * *', '2030-01-01T00:00:00Z', 'old error')
                """)
            // The assignment is a fixed string from this table, not input.
            try connection.query("UPDATE scheduled_triggers SET \(assignment) WHERE id = 'x'")
            let row = try connection.query("SELECT next_run_at, schedule_error FROM scheduled_triggers WHERE id = 'x'").first!
            #expect((row["next_run_at"] == nil) == resets)
            #expect((row["schedule_error"] == nil) == resets)
        }
    }

    @Test("run_at changes reset a one-time trigger too")
    func resetOnRunAt() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try connection.query("""
                INSERT INTO scheduled_triggers (tenant_id, id, project_id, agent_id, name, run_at, next_run_at, run_at_recorded)
                VALUES ('t', 'x', 'p', 'a', 'n', '2030-01-01T00:00:00Z', '2030-01-01T00:00:00Z', true)
                """)
            try connection.query("UPDATE scheduled_triggers SET run_at = '2031-01-01T00:00:00Z' WHERE id = 'x'")
            let row = try connection.query("SELECT next_run_at, run_at_recorded FROM scheduled_triggers WHERE id = 'x'").first!
            #expect(row["next_run_at"] == nil)
            #expect(row["run_at_recorded"] == "f")
        }
    }
}

@Suite("database connection")
struct ConnectionTests {
    @Test("a statement error carries its SQLSTATE", .requiresDatabase)
    func sqlState() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            #expect { try connection.query("SELECT 1/0") } throws: { error in
                guard let error = error as? PostgresError else { return false }
                return error.sqlState == "22012" && error.kind == .statement && "\(error)".contains("division by zero")
            }
            // The connection is still usable after a failed statement.
            #expect(try connection.query("SELECT 2 AS two").first!.int("two") == 2)
        }
    }

    @Test("transactions roll back on error", .requiresDatabase)
    func rollback() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try connection.query("CREATE TABLE t (v int)")
            #expect(throws: PostgresError.self) {
                try connection.transaction {
                    try connection.query("INSERT INTO t VALUES (1)")
                    try connection.query("INSERT INTO t VALUES ('not a number')")
                }
            }
            #expect(try connection.query("SELECT count(*) AS n FROM t").first!.int("n") == 0)
        }
    }

    @Test("an unreachable or silent database: a clear error, exit 69, password masked, within the timeout")
    func badDatabaseURL() throws {
        let (listener, silentPort) = Loopback.boundSocket(listening: true)
        defer { close(listener) }
        let urls = [
            // Nothing listens on port 1 of loopback: refused at once.
            "postgresql://dispatcher:hunter2-secret@127.0.0.1:1/scheduler",
            // Accepts but never answers: connect_timeout (2 s here) ends it.
            "postgresql://dispatcher:hunter2-secret@127.0.0.1:\(silentPort)/scheduler?connect_timeout=2",
            // conninfo form.
            "host=127.0.0.1 port=1 user=dispatcher password=hunter2-secret dbname=scheduler",
        ]
        for url in urls {
            let started = monotonicSeconds()
            let result = try ChildProcess.run(
                "dispatch-due", ["run", "--record-only"], extraEnvironment: ["DATABASE_URL": url], timeoutSeconds: 30)
            let elapsed = monotonicSeconds() - started
            #expect(result.exitCode == 69, "\(result)")
            #expect(result.stderr.contains("database connection failed"), "\(result.stderr)")
            #expect(result.stderr.contains("127.0.0.1"))
            #expect(!result.stderr.contains("hunter2"), "password leaked: \(result.stderr)")
            #expect(!result.stdout.contains("hunter2"))
            // Generous bound: the point is "seconds, not the default two minutes of TCP".
            #expect(elapsed < 15, "took \(elapsed) s")
        }
    }

    @Test("JSON logs stay JSON on failure, and the metrics file records a failed cycle")
    func failureInJSONMode() throws {
        let folder = try ChildProcess.makeScratchDirectory()
        let metrics = folder + "/dispatch_due.prom"
        let result = try ChildProcess.run(
            "dispatch-due", ["run", "--log-format", "json", "--metrics-file", metrics],
            extraEnvironment: ["DATABASE_URL": "postgresql://dispatcher:hunter2-secret@127.0.0.1:1/scheduler"])
        #expect(result.exitCode == 69)
        let lines = result.stderr.split(separator: "\n").map(String.init)
        #expect(!lines.isEmpty)
        for line in lines {
            let parsed = try? JSONValue.parse(line)
            #expect(parsed != nil, "not a JSON object: \(line)")
        }
        let failure = lines.compactMap { try? JSONValue.parse($0) }.first { $0["event"]?.stringValue == "command.failed" }
        #expect(failure?["message"]?.stringValue?.contains("database connection failed") == true)
        #expect(failure?["exit_code"] == .number("69"))
        #expect(!result.stderr.contains("hunter2"))
        let text = try FileSystem.readText(metrics)
        #expect(text.contains("dispatch_due_last_cycle_success 0"), "\(text)")
        #expect(!text.contains("dispatch_due_due_triggers"), "no backlog without a database")
    }

    @Test("an unparsable DATABASE_URL is reported without its password", arguments: [
        "postgresql://dispatcher:hunter2-secret@host:notaport/db",
        "host=x password=hunter2-secret bogus_option=1",
    ])
    func unparsable(url: String) throws {
        let result = try ChildProcess.run("dispatch-due", ["run", "--record-only"], extraEnvironment: ["DATABASE_URL": url])
        #expect(result.exitCode == 78)
        #expect(!result.stderr.contains("hunter2"), "\(result.stderr)")
        #expect(result.stderr.contains("database"))
    }

    @Test("masking passwords in connection strings", arguments: [
        ("postgresql://u:pw@h/db", "postgresql://u:****@h/db"),
        ("host=h password=pw dbname=d", "host=h password=**** dbname=d"),
        ("postgresql://u@h/db?password=pw", "postgresql://u@h/db?password=****"),
        ("host=h dbname=d", "host=h dbname=d"),
    ])
    func masking(input: String, expected: String) {
        #expect(ConnectionString.masked(input) == expected)
    }
}
