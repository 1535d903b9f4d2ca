import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// Issue 11, item 18: an invocation a crashed dispatcher left `running` without an execution,
/// lease passed, is runnable (contract §2 step 4), so `status` counts it in the lag (contract §5): a fleet
/// that dies mid-post pages someone.
@Suite("status counts a crashed dispatcher's invocations", .requiresDatabase)
struct StatusAbandonedTests {
    /// Inserts an invocation `minutesOld` minutes old in `status`.
    static func invocation(
        _ connection: borrowing Connection, id: String, status: String, executionID: String? = nil,
        leaseSecondsFromNow: Int?, minutesOld: Int, nextAttemptMinutesAgo: Int? = nil
    ) throws {
        try connection.query("""
            INSERT INTO scheduled_trigger_invocations
                (tenant_id, id, project_id, agent_id, scheduled_trigger_id, ref, status, scheduled_for, idempotency_key,
                 execution_id, lease_expires_at, created_at, next_attempt_at)
            VALUES ('t', $1::text, 'p', 'a', 'trig', 'main', $2, now() - make_interval(mins => $5::int), 'k_' || $1::text,
                    $3, now() + make_interval(secs => $4::int), now() - make_interval(mins => $5::int),
                    now() - make_interval(mins => $6::int))
            """, [id, status, executionID, leaseSecondsFromNow, minutesOld, nextAttemptMinutesAgo])
    }

    @Test("running, no execution, lease passed: runnable, its lag from created_at; status --max-lag fails")
    func abandonedCounts() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try Self.invocation(connection, id: "crashed", status: "running", leaseSecondsFromNow: -600, minutesOld: 60)
            // Not runnable: a live lease (being posted), or an execution (reconcile asks about it).
            try Self.invocation(connection, id: "posting", status: "running", leaseSecondsFromNow: 600, minutesOld: 120)
            try Self.invocation(
                connection, id: "accepted", status: "running", executionID: "exec-1", leaseSecondsFromNow: -600, minutesOld: 180)

            let result = try database.cli(["status", "--json"])
            #expect(result.exitCode == 0, "\(result)")
            let document = try JSONValue.parse(result.stdout)
            #expect(document["runnable_invocations"] == .number("1"))
            #expect(document["abandoned_invocations"] == .number("1"))
            // created_at is an hour before the row was written, so the lag is at least that
            // and below the 2 h of the live-lease row, which must not count.
            let lag = try #require(document["oldest_runnable_lag_seconds"]?.numberValue)
            #expect(lag >= 3600 && lag < 7200, "\(lag)")
            #expect(try database.cli(["status", "--max-lag", "1800"]).exitCode == 1)
            let text = try database.cli(["status"])
            #expect(text.stdout.contains("runnable invocations:  1"), "\(text)")
        }
    }

    @Test("a crashed one with next_attempt_at: its lag counts from next_attempt_at")
    func nextAttemptAt() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try Self.invocation(
                connection, id: "crashed-retry", status: "running", leaseSecondsFromNow: -60, minutesOld: 600,
                nextAttemptMinutesAgo: 30)
            let document = try JSONValue.parse(try database.cli(["status", "--json"]).stdout)
            let lag = try #require(document["oldest_runnable_lag_seconds"]?.numberValue)
            #expect(lag >= 1800 && lag < 3600, "\(lag)")
        }
    }

    @Test("the backlog statement finds crashed invocations through the leases index, never a sequential scan")
    func usesLeasesIndex() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try connection.query("""
                INSERT INTO scheduled_trigger_invocations
                    (tenant_id, id, project_id, agent_id, scheduled_trigger_id, ref, status, scheduled_for, idempotency_key,
                     lease_expires_at)
                SELECT 't', 'i' || n, 'p', 'a', 'trig', 'main',
                       CASE WHEN n % 10 = 0 THEN 'running' ELSE 'completed' END, now(), 'k' || n,
                       CASE WHEN n % 10 = 0 THEN now() - interval '1 minute' END
                  FROM generate_series(1, 2000) AS n
                """)
            try connection.query("ANALYZE")
            try connection.query("SET enable_seqscan = off")
            let plan = try connection.query("EXPLAIN " + Backlog.sql).compactMap { $0.values.first ?? nil }.joined(separator: "\n")
            #expect(!plan.contains("Seq Scan"), "\(plan)")
            #expect(plan.contains("scheduled_trigger_invocations_leases"), "\(plan)")
            let backlog = try Backlog.measure(on: connection)
            #expect(backlog.abandonedInvocations == 200)
            #expect(backlog.runnableInvocations == 200)
        }
    }
}
