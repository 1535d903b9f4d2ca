import DispatchDue
import DispatchDueTestSupport
import Postgres
import Testing

/// A database state for `status`, built from SQL over now(), and what it must report.
struct StatusCase: CustomTestStringConvertible, Sendable {
    var name: String
    var setup: @Sendable (borrowing Connection) throws -> Void
    /// --max-lag, and the exit code expected with it.
    var maxLag: Int
    var exitCode: Int32
    var dueTriggers: Int
    var runnableInvocations: Int
    /// The oldest lag is expected in [lag, lag + 120) (the clock moves while the test runs).
    var oldestLag: Int
    var testDescription: String { name }
}

@Suite("status")
struct StatusTests {
    static let cases: [StatusCase] = [
        StatusCase(name: "empty database is healthy", setup: { _ in }, maxLag: 60, exitCode: 0,
                   dueTriggers: 0, runnableInvocations: 0, oldestLag: 0),
        StatusCase(
            name: "a trigger due 10 minutes ago is over a 60 s limit",
            setup: { try Ops.insertTrigger($0, id: "late", cron: "* * * * *", nextRunAtSQL: "now() - interval '10 minutes'") },
            maxLag: 60, exitCode: 1, dueTriggers: 1, runnableInvocations: 0, oldestLag: 600),
        StatusCase(
            name: "the same trigger is within a 1 hour limit",
            setup: { try Ops.insertTrigger($0, id: "late", cron: "* * * * *", nextRunAtSQL: "now() - interval '10 minutes'") },
            maxLag: 3600, exitCode: 0, dueTriggers: 1, runnableInvocations: 0, oldestLag: 600),
        StatusCase(
            name: "a disabled trigger is not due",
            setup: {
                try Ops.insertTrigger(
                    $0, id: "off", cron: "* * * * *", nextRunAtSQL: "now() - interval '10 minutes'", enabled: false)
            },
            maxLag: 60, exitCode: 0, dueTriggers: 0, runnableInvocations: 0, oldestLag: 0),
        StatusCase(
            name: "a trigger due in the future is not due",
            setup: { try Ops.insertTrigger($0, id: "soon", cron: "* * * * *", nextRunAtSQL: "now() + interval '1 minute'") },
            maxLag: 0, exitCode: 0, dueTriggers: 0, runnableInvocations: 0, oldestLag: 0),
        StatusCase(
            name: "a pending invocation created 5 minutes ago lags from created_at",
            setup: { try Ops.insertInvocation($0, id: "i1", createdSQL: "now() - interval '5 minutes'") },
            maxLag: 60, exitCode: 1, dueTriggers: 0, runnableInvocations: 1, oldestLag: 300),
        StatusCase(
            name: "a retry lags from next_attempt_at, not created_at",
            setup: {
                try Ops.insertInvocation(
                    $0, id: "i1", createdSQL: "now() - interval '2 hours'", nextAttemptSQL: "now() - interval '2 minutes'")
            },
            maxLag: 600, exitCode: 0, dueTriggers: 0, runnableInvocations: 1, oldestLag: 120),
        StatusCase(
            name: "a retry waiting for its time is not runnable",
            setup: {
                try Ops.insertInvocation(
                    $0, id: "i1", createdSQL: "now() - interval '2 hours'", nextAttemptSQL: "now() + interval '5 minutes'")
            },
            maxLag: 60, exitCode: 0, dueTriggers: 0, runnableInvocations: 0, oldestLag: 0),
        StatusCase(
            name: "running and finished invocations are not runnable",
            setup: {
                // Running under a live lease (being posted); an expired one would be a crashed
                // dispatcher's, runnable again (StatusAbandonedTests).
                try Ops.insertInvocation(
                    $0, id: "r", status: "running", createdSQL: "now() - interval '1 hour'", leaseSQL: "now() + interval '10 minutes'")
                try Ops.insertInvocation($0, id: "c", status: "completed", createdSQL: "now() - interval '1 hour'")
                try Ops.insertInvocation($0, id: "f", status: "failed", createdSQL: "now() - interval '1 hour'")
            },
            maxLag: 60, exitCode: 0, dueTriggers: 0, runnableInvocations: 0, oldestLag: 0),
        StatusCase(
            name: "the oldest lag is the larger of trigger and invocation",
            setup: {
                try Ops.insertTrigger($0, id: "late", cron: "* * * * *", nextRunAtSQL: "now() - interval '3 minutes'")
                try Ops.insertTrigger($0, id: "later", cron: "* * * * *", nextRunAtSQL: "now() - interval '1 minute'")
                try Ops.insertInvocation($0, id: "i1", createdSQL: "now() - interval '7 minutes'")
            },
            maxLag: 400, exitCode: 1, dueTriggers: 2, runnableInvocations: 1, oldestLag: 420),
    ]

    @Test("exit code and backlog", .requiresDatabase, arguments: cases)
    func statusCase(_ testCase: StatusCase) throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try testCase.setup(connection)

            let result = try ChildProcess.run(
                "dispatch-due", ["status", "--json", "--max-lag", String(testCase.maxLag)],
                extraEnvironment: ["DATABASE_URL": database.url])
            #expect(result.exitCode == testCase.exitCode, "\(result)")
            let report = try JSONValue.parse(result.stdout.trimmingSuffixNewlines)
            #expect(report["healthy"] == .bool(testCase.exitCode == 0))
            #expect(report["due_triggers"] == .number(String(testCase.dueTriggers)))
            #expect(report["runnable_invocations"] == .number(String(testCase.runnableInvocations)))
            let lag = try #require(report["oldest_lag_seconds"].flatMap(\.numberValue))
            #expect(lag >= Double(testCase.oldestLag) && lag < Double(testCase.oldestLag + 120), "lag \(lag)")
            if testCase.exitCode == 1 {
                #expect(result.stderr.contains("over --max-lag"), "\(result.stderr)")
            }
        }
    }

    @Test("invocations by status and schedule errors, in JSON and text", .requiresDatabase)
    func countsAndErrors() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try Ops.insertInvocation(connection, id: "p1")
            try Ops.insertInvocation(connection, id: "p2", nextAttemptSQL: "now() + interval '1 hour'")
            try Ops.insertInvocation(connection, id: "r1", status: "running", leaseSQL: "now() + interval '10 minutes'")
            try Ops.insertInvocation(connection, id: "c1", status: "completed")
            try Ops.insertInvocation(connection, id: "c2", status: "completed")
            try Ops.insertInvocation(connection, id: "c3", status: "completed")
            try Ops.insertInvocation(connection, id: "x1", status: "cancelled")
            try Ops.insertTrigger(connection, tenant: "acme", id: "nightly", cron: "0 24 * * *",
                                  scheduleError: "cron field 2 (hour): 24 is out of range 0-23")
            try Ops.insertTrigger(connection, tenant: "acme", id: "zoned", cron: "0 9 * * *",
                                  scheduleError: "unknown time zone Mars/Olympus")
            try Ops.insertTrigger(connection, tenant: "acme", id: "fine", cron: "0 9 * * *")

            let json = try ChildProcess.run("dispatch-due", ["status", "--json"], extraEnvironment: ["DATABASE_URL": database.url])
            #expect(json.exitCode == 0, "\(json)")
            let report = try JSONValue.parse(json.stdout.trimmingSuffixNewlines)
            #expect(report["invocations_by_status"] == .object([
                ("pending", .number("2")), ("running", .number("1")), ("completed", .number("3")),
                ("failed", .number("0")), ("cancelled", .number("1")), ("skipped", .number("0")),
            ]))
            #expect(report["runnable_invocations"] == .number("1"))
            #expect(report["max_lag_seconds"] == .null)
            #expect(report["schedule_error_count"] == .number("2"))
            #expect(report["schedule_errors"] == .array([
                .object([("tenant_id", .string("acme")), ("id", .string("nightly")),
                         ("error", .string("cron field 2 (hour): 24 is out of range 0-23"))]),
                .object([("tenant_id", .string("acme")), ("id", .string("zoned")),
                         ("error", .string("unknown time zone Mars/Olympus"))]),
            ]))

            let text = try ChildProcess.run("dispatch-due", ["status"], extraEnvironment: ["DATABASE_URL": database.url])
            #expect(text.exitCode == 0, "\(text)")
            #expect(text.stdout.contains("pending 2, running 1, completed 3, failed 0, cancelled 1"), "\(text.stdout)")
            #expect(text.stdout.contains("acme/nightly: cron field 2 (hour): 24 is out of range 0-23"))
            #expect(text.stdout.contains("acme/zoned: unknown time zone Mars/Olympus"))
            #expect(!text.stdout.contains("acme/fine"))
        }
    }

    @Test("an unreachable database exits 69 without printing the password")
    func unreachable() throws {
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        let result = try ChildProcess.run(
            "dispatch-due", ["status", "--max-lag", "60", "--connect-timeout", "2"],
            extraEnvironment: ["DATABASE_URL": "postgresql://ops:s3cret-Pa55@127.0.0.1:1/dispatch?sslmode=disable"])
        #expect(result.exitCode == 69, "\(result)")
        #expect(!result.stderr.contains("s3cret-Pa55") && !result.stdout.contains("s3cret-Pa55"), "\(result)")
        #expect(result.stderr.contains("127.0.0.1"), "\(result.stderr)")
    }

    @Test("a database without the schema exits 1 and says to migrate", .requiresDatabase)
    func schemaMissing() throws {
        try withTestDatabase(migrated: false) { database in
            let result = try ChildProcess.run("dispatch-due", ["status"], extraEnvironment: ["DATABASE_URL": database.url])
            #expect(result.exitCode == 1, "\(result)")
            #expect(result.stderr.contains("migrate"), "\(result.stderr)")
        }
    }

    @Test("a negative --max-lag is a usage error")
    func usage() throws {
        let result = try ChildProcess.run("dispatch-due", ["status", "--max-lag", "-5"])
        #expect(result.exitCode == 64, "\(result)")
    }

    /// The backlog statement must be answered from the partial indexes: O(backlog), not
    /// O(history). With sequential scans disabled the planner still uses one where no index
    /// fits the predicate, so a query that cannot use its index shows a Seq Scan here.
    @Test("the backlog query uses the due and runnable indexes, never a sequential scan", .requiresDatabase)
    func backlogUsesIndexes() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try connection.query("""
                INSERT INTO scheduled_trigger_invocations
                    (tenant_id, id, project_id, agent_id, scheduled_trigger_id, ref, status, scheduled_for, idempotency_key)
                SELECT 't', 'i' || n, 'p', 'a', 'trig', 'main', CASE WHEN n % 10 = 0 THEN 'pending' ELSE 'completed' END,
                       now(), 'k' || n
                  FROM generate_series(1, 2000) AS n
                """)
            try connection.query("ANALYZE")
            try connection.query("SET enable_seqscan = off")
            let plan = try connection.query("EXPLAIN " + Backlog.sql).compactMap { $0.values.first ?? nil }.joined(separator: "\n")
            #expect(!plan.contains("Seq Scan"), "\(plan)")
            #expect(plan.contains("scheduled_triggers_due"), "\(plan)")
            #expect(plan.contains("scheduled_trigger_invocations_runnable"), "\(plan)")
        }
    }
}

extension JSONValue {
    var numberValue: Double? {
        if case .number(let text) = self { return Double(text) }
        return nil
    }
}

extension String {
    var trimmingSuffixNewlines: String {
        var text = self
        while text.hasSuffix("\n") { text.removeLast() }
        return text
    }
}
