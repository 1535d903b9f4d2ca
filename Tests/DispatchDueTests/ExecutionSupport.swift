import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// What the execution suites read back after a cycle: an invocation row, the log events and
/// the counters of `cycle.finished`, and the state of an accepted attempt. The rows themselves
/// are written with the shared fixture (`insertTrigger`, `insertInvocations`).
enum ExecutionFixture {
    /// One invocation row, all columns as text (NULL as nil).
    static func row(_ connection: borrowing Connection, where condition: String = "true") throws -> Row {
        let rows = try connection.query(
            """
            SELECT status, attempt_number, execution_id, last_http_status, last_error, conversation_ids::text AS conversations,
                   next_attempt_at IS NULL AS no_next_attempt, lease_expires_at IS NULL AS no_lease,
                   extract(epoch FROM next_attempt_at - now()) AS next_attempt_in,
                   extract(epoch FROM lease_expires_at - now()) AS lease_in,
                   started_at IS NOT NULL AS started, completed_at IS NOT NULL AS completed_at_set
            FROM scheduled_trigger_invocations WHERE \(condition) ORDER BY scheduled_for LIMIT 1
            """)
        return rows[0]
    }
}

extension Row {
    func double(_ column: String) -> Double? { self[column].flatMap(Double.init) }
}

extension ExecutionFixture {
    /// The state after a 2xx with `x-workflow-run-id`: running, execution recorded, started
    /// `acceptedAgo` seconds ago, next check (lease) already passed, an earlier error kept.
    static func markAccepted(_ connection: borrowing Connection, executionId: String, acceptedAgo: Int) throws {
        try connection.query(
            """
            UPDATE scheduled_trigger_invocations
            SET status = 'running', execution_id = $1, last_http_status = 202, last_error = 'earlier',
                started_at = now() - make_interval(secs => $2::int),
                lease_expires_at = now() - interval '1 second'
            """,
            [executionId, acceptedAgo])
    }

    /// The JSON log lines of `event`.
    static func events(_ stderr: String, _ event: String) -> [JSONValue] {
        stderr.split(separator: "\n").compactMap { line in
            guard line.contains("\"event\":\"\(event)\"") else { return nil }
            return try? JSONValue.parse(String(line))
        }
    }

    /// `cycle.finished`'s invocation counters: those named as given, every other one 0.
    static func expectCounters(
        _ stderr: String, _ expected: [String: Double], sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let finished = try #require(events(stderr, "cycle.finished").last, sourceLocation: sourceLocation)
        for name in ["posted", "accepted", "completed", "retried", "failed", "cancelled", "released", "reconciled"] {
            #expect(
                finished[name]?.numberValue == expected[name] ?? 0, "\(name)", sourceLocation: sourceLocation)
        }
    }
}
