import DispatchCore
import DispatchDueCLI
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
            setup: { try $0.insertTrigger(
                id: "late", cron: "* * * * *", nextRunAt: .sql("now() - interval '10 minutes'")) },
            maxLag: 60, exitCode: 1, dueTriggers: 1, runnableInvocations: 0, oldestLag: 600),
        StatusCase(
            name: "the same trigger is within a 1 hour limit",
            setup: { try $0.insertTrigger(
                id: "late", cron: "* * * * *", nextRunAt: .sql("now() - interval '10 minutes'")) },
            maxLag: 3600, exitCode: 0, dueTriggers: 1, runnableInvocations: 0, oldestLag: 600),
        StatusCase(
            name: "a disabled trigger is not due",
            setup: {
                try $0.insertTrigger(
                    id: "off", cron: "* * * * *", nextRunAt: .sql("now() - interval '10 minutes'"), enabled: false)
            },
            maxLag: 60, exitCode: 0, dueTriggers: 0, runnableInvocations: 0, oldestLag: 0),
        StatusCase(
            name: "a trigger due in the future is not due",
            setup: { try $0.insertTrigger(
                id: "soon", cron: "* * * * *", nextRunAt: .sql("now() + interval '1 minute'")) },
            maxLag: 0, exitCode: 0, dueTriggers: 0, runnableInvocations: 0, oldestLag: 0),
        StatusCase(
            name: "a pending invocation created 5 minutes ago lags from created_at",
            setup: { try $0.insertInvocation(
                id: "i1", trigger: "t", slot: .sql("now() - interval '5 minutes'"), key: "key-i1",
                createdAt: .sql("now() - interval '5 minutes'"), payload: nil) },
            maxLag: 60, exitCode: 1, dueTriggers: 0, runnableInvocations: 1, oldestLag: 300),
        StatusCase(
            name: "a retry lags from next_attempt_at, not created_at",
            setup: {
                try $0.insertInvocation(
                    id: "i1", trigger: "t", slot: .sql("now() - interval '2 hours'"), key: "key-i1",
                    createdAt: .sql("now() - interval '2 hours'"), nextAttemptAt: .sql("now() - interval '2 minutes'"),
                    payload: nil)
            },
            maxLag: 600, exitCode: 0, dueTriggers: 0, runnableInvocations: 1, oldestLag: 120),
        StatusCase(
            name: "a retry waiting for its time is not runnable",
            setup: {
                try $0.insertInvocation(
                    id: "i1", trigger: "t", slot: .sql("now() - interval '2 hours'"), key: "key-i1",
                    createdAt: .sql("now() - interval '2 hours'"), nextAttemptAt: .sql("now() + interval '5 minutes'"),
                    payload: nil)
            },
            maxLag: 60, exitCode: 0, dueTriggers: 0, runnableInvocations: 0, oldestLag: 0),
        StatusCase(
            name: "running and finished invocations are not runnable",
            setup: {
                // Running under a live lease (being posted); an expired one would be a crashed
                // dispatcher's, runnable again (StatusAbandonedTests).
                try $0.insertInvocation(
                    id: "r", trigger: "t", slot: .sql("now() - interval '1 hour'"), status: "running", key: "key-r",
                    createdAt: .sql("now() - interval '1 hour'"), leaseExpiresAt: .sql("now() + interval '10 minutes'"),
                    payload: nil)
                try $0.insertInvocation(
                    id: "c", trigger: "t", slot: .sql("now() - interval '1 hour'"), status: "completed", key: "key-c",
                    createdAt: .sql("now() - interval '1 hour'"), completedAt: .null, payload: nil)
                try $0.insertInvocation(
                    id: "f", trigger: "t", slot: .sql("now() - interval '1 hour'"), status: "failed", key: "key-f",
                    createdAt: .sql("now() - interval '1 hour'"), completedAt: .null, payload: nil)
            },
            maxLag: 60, exitCode: 0, dueTriggers: 0, runnableInvocations: 0, oldestLag: 0),
        StatusCase(
            name: "the oldest lag is the larger of trigger and invocation",
            setup: {
                try $0.insertTrigger(id: "late", cron: "* * * * *", nextRunAt: .sql("now() - interval '3 minutes'"))
                try $0.insertTrigger(id: "later", cron: "* * * * *", nextRunAt: .sql("now() - interval '1 minute'"))
                try $0.insertInvocation(
                    id: "i1", trigger: "t", slot: .sql("now() - interval '7 minutes'"), key: "key-i1",
                    createdAt: .sql("now() - interval '7 minutes'"), payload: nil)
            },
            maxLag: 400, exitCode: 1, dueTriggers: 2, runnableInvocations: 1, oldestLag: 420),
    ]

    @Test("exit code and backlog", .requiresDatabase, arguments: cases)
    func statusCase(_ testCase: StatusCase) throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try testCase.setup(connection)

            let result = try database.dispatchDue(["status", "--json", "--max-lag", String(testCase.maxLag)])
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
            try connection.insertInvocation(id: "p1", trigger: "t", slot: .now, key: "key-p1", payload: nil)
            try connection.insertInvocation(
                id: "p2", trigger: "t", slot: .now, key: "key-p2", nextAttemptAt: .sql("now() + interval '1 hour'"),
                payload: nil)
            try connection.insertInvocation(
                id: "r1", trigger: "t", slot: .now, status: "running", key: "key-r1",
                leaseExpiresAt: .sql("now() + interval '10 minutes'"), payload: nil)
            try connection.insertInvocation(
                id: "c1", trigger: "t", slot: .now, status: "completed", key: "key-c1", completedAt: .null,
                payload: nil)
            try connection.insertInvocation(
                id: "c2", trigger: "t", slot: .now, status: "completed", key: "key-c2", completedAt: .null,
                payload: nil)
            try connection.insertInvocation(
                id: "c3", trigger: "t", slot: .now, status: "completed", key: "key-c3", completedAt: .null,
                payload: nil)
            try connection.insertInvocation(
                id: "x1", trigger: "t", slot: .now, status: "cancelled", key: "key-x1", completedAt: .null,
                payload: nil)
            try connection.insertTrigger(
                tenant: "acme", id: "nightly", cron: "0 24 * * *",
                scheduleError: "cron field 2 (hour): 24 is out of range 0-23")
            try connection.insertTrigger(
                tenant: "acme", id: "zoned", cron: "0 9 * * *", scheduleError: "unknown time zone Mars/Olympus")
            try connection.insertTrigger(tenant: "acme", id: "fine", cron: "0 9 * * *")

            let json = try database.dispatchDue(["status", "--json"])
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

            let text = try database.dispatchDue(["status"])
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
            let result = try database.dispatchDue(["status"])
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
