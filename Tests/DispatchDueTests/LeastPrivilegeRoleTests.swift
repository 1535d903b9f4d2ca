import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// deploy/sql/roles.sql against the real PostgreSQL: the migrator owns the schema, and a whole
/// cycle (heal, record, post, record the answer) and `status` work as the dispatcher role,
/// which cannot do anything a cycle does not need. The roles are cluster-wide and the file is
/// idempotent, so every test applies it as it is; the suite is serialised so that two tests
/// never race on the first CREATE ROLE.
@Suite("least-privilege roles (deploy/sql/roles.sql)", .requiresDatabase, .serialized)
struct LeastPrivilegeRoleTests {
    static let migrator = "dispatch_due_migrator"
    static let dispatcher = "dispatch_due_dispatcher"

    static func applyRoles(_ database: TestDatabase) throws {
        let sql = try FileSystem.readText(ChildProcess.repositoryDirectory + "/deploy/sql/roles.sql")
        let connection = try database.connect()
        try connection.executeScript(sql)
    }

    /// The database's conninfo as `role` (the test cluster trusts local connections, so the
    /// role needs no password; a later keyword wins in a conninfo string).
    static func url(_ database: TestDatabase, as role: String) -> String {
        database.url + " user=\(role)"
    }

    static func environment(_ database: TestDatabase, as role: String, endpoint: String? = nil) -> [String: String] {
        var extra = ["DATABASE_URL": url(database, as: role)]
        if let endpoint {
            extra["AGENTS_API_URL"] = endpoint
            extra["AGENTS_API_KEY"] = testAPIKey
        }
        return ChildProcess.dispatcherEnvironment(extra)
    }

    /// One one-time trigger due a minute ago, written by SQL as any writer may (§1).
    static func dueTrigger(_ connection: borrowing Connection) throws {
        try connection.query(
            """
            INSERT INTO scheduled_triggers (tenant_id, id, project_id, agent_id, name, run_at, payload, message_template)
            VALUES ('acme', 'report', 'proj-1', 'agent-1', 'report', date_trunc('second', now()) - interval '1 minute',
                    '{"team":"ops"}', 'Report for {{team}}')
            """)
    }

    /// A cycle as the dispatcher: the due trigger is recorded once and posted once, and the
    /// endpoint's answer (accepted, run id `run-1`) is recorded on the invocation.
    static func cycleAsDispatcher(_ database: TestDatabase) throws {
        let standIn = try StandIn()
        defer { standIn.stop() }
        let admin = try database.connect()
        try dueTrigger(admin)

        let result = try ChildProcess.run(
            "dispatch-due", ["run", "--log-format", "json"],
            environment: environment(database, as: dispatcher, endpoint: standIn.url))
        #expect(result.exitCode == 0, "\(result)")
        #expect(!result.stderr.contains("permission denied"), "\(result)")

        let posts = standIn.posts()
        try #require(posts.count == 1, "\(result)")
        #expect(posts[0].header("idempotency-key")?.hasPrefix("sched_report_") == true)
        #expect(posts[0].header("x-inkeep-tenant-id") == "acme")
        let rows = try admin.query(
            """
            SELECT status, execution_id, attempt_number,
                   (SELECT next_run_at IS NULL FROM scheduled_triggers WHERE tenant_id = 'acme' AND id = 'report') AS fired
            FROM scheduled_trigger_invocations WHERE tenant_id = 'acme' AND scheduled_trigger_id = 'report'
            """)
        try #require(rows.count == 1)
        #expect(rows[0]["status"] == "running")
        #expect(rows[0]["execution_id"] == "run-1")
        #expect(try rows[0].int("attempt_number") == 1)
        // A fired one-time trigger has nothing more to schedule.
        #expect(try rows[0].bool("fired"))

        let status = try ChildProcess.run(
            "dispatch-due", ["status", "--json"], environment: environment(database, as: dispatcher))
        #expect(status.exitCode == 0, "\(status)")
    }

    @Test("a fresh database: roles, migrate as the migrator, roles again, then a cycle as the dispatcher")
    func freshDatabase() throws {
        try withTestDatabase(migrated: false) { database in
            try Self.applyRoles(database)

            let migrate = try ChildProcess.run(
                "dispatch-due", ["migrate"], environment: Self.environment(database, as: Self.migrator))
            #expect(migrate.exitCode == 0, "\(migrate)")
            // Before the second apply the dispatcher has no right on the new tables: roles.sql
            // grants on what exists, and it is applied again after a migrate that adds tables.
            try Self.applyRoles(database)

            let admin = try database.connect()
            let owners = try admin.query(
                """
                SELECT c.relname, pg_get_userbyid(c.relowner) AS owner FROM pg_class c
                WHERE c.relname IN ('scheduled_triggers', 'scheduled_trigger_invocations', 'schema_migrations')
                ORDER BY c.relname
                """)
            #expect(owners.count == 3)
            for row in owners { #expect(row["owner"] == Self.migrator, "\(row["relname"] ?? "?")") }

            try Self.cycleAsDispatcher(database)
        }
    }

    @Test("a database migrated by another owner is handed to the migrator, and a cycle runs as the dispatcher")
    func existingDatabase() throws {
        // Migrated by the test cluster's superuser.
        try withTestDatabase { database in
            try Self.applyRoles(database)
            try Self.applyRoles(database)  // idempotent: a second apply changes nothing and fails on nothing

            // The migrator now owns the ledger: it can read it, take the lock and find nothing to do.
            let migrate = try ChildProcess.run(
                "dispatch-due", ["migrate"], environment: Self.environment(database, as: Self.migrator))
            #expect(migrate.exitCode == 0, "\(migrate)")

            try Self.cycleAsDispatcher(database)
        }
    }

    /// Statements outside a cycle's needs, each refused with insufficient_privilege (42501).
    /// (DELETE on invocations is granted: retention prunes finished ones.)
    static let refused: [String] = [
        "DELETE FROM scheduled_triggers",
        "INSERT INTO scheduled_triggers (tenant_id, id, project_id, agent_id, name, run_at) VALUES ('t', 'x', 'p', 'a', 'n', now())",
        "TRUNCATE scheduled_trigger_invocations",
        "INSERT INTO schema_migrations (name, version, checksum) VALUES ('9999_x.sql', 9999, 'x')",
        "ALTER TABLE scheduled_triggers ADD COLUMN extra text",
        "CREATE TABLE dispatcher_made (id int)",
        "DROP TABLE scheduled_trigger_invocations",
    ]

    @Test("the dispatcher role cannot do what a cycle does not need", arguments: refused)
    func dispatcherRefused(_ statement: String) throws {
        try withTestDatabase { database in
            try Self.applyRoles(database)
            let connection = try Connection(
                connectionString: Self.url(database, as: Self.dispatcher), applicationName: "dispatch-due-tests")
            #expect {
                try connection.query(statement)
            } throws: { error in
                (error as? PostgresError)?.sqlState == "42501"
            }
        }
    }
}
