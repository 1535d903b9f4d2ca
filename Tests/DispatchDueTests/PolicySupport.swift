import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// Helpers of the contract §6 policy tests: triggers and invocations written with SQL, as any
/// other writer would.
enum PolicyFixture {
    /// A cron trigger with the given policies; `nextRunAt` is SQL (e.g. `date_trunc('minute', now())`).
    static func trigger(
        _ connection: borrowing Connection, tenant: String = "t1", id: String, cron: String = "* * * * *",
        overlap: String = "allow", jitter: Int = 0, pauseAfter: Int? = nil, misfire: String = "latest",
        nextRunAt: String = "'2999-01-01T00:00:00Z'::timestamptz", enabled: Bool = true, retryDelay: Int = 10,
        maxRetries: Int = 0
    ) throws {
        try connection.query(
            """
            INSERT INTO scheduled_triggers
                (tenant_id, id, project_id, agent_id, name, enabled, cron_expression, misfire_policy,
                 overlap_policy, jitter_seconds, pause_after_failures, max_retries, retry_delay_seconds, payload)
            VALUES ($1, $2, 'proj', 'agent', 'policy trigger', $3, $4, $5, $6, $7, $8, $9, $10, '{"k": "v"}')
            """, [tenant, id, enabled, cron, misfire, overlap, jitter, pauseAfter, maxRetries, retryDelay])
        // A separate UPDATE of next_run_at alone: the row trigger leaves it as set.
        try connection.query(
            "UPDATE scheduled_triggers SET next_run_at = \(nextRunAt) WHERE tenant_id = $1 AND id = $2", [tenant, id])
    }

    /// One invocation; `slot` and the times are SQL expressions. Returns its id.
    @discardableResult
    static func invocation(
        _ connection: borrowing Connection, tenant: String = "t1", trigger: String, slot: String, status: String,
        key: String? = nil, nextAttemptAt: String = "NULL", completedAt: String? = nil, createdAt: String = "now()",
        held: Bool = false, executionID: String? = nil, lastError: String? = nil, leaseSeconds: Int? = nil
    ) throws -> String {
        let id = "inv-" + randomHex(8)
        let finished = ["completed", "failed", "cancelled", "skipped"].contains(status)
        try connection.query(
            """
            INSERT INTO scheduled_trigger_invocations
                (tenant_id, id, project_id, agent_id, scheduled_trigger_id, ref, status, scheduled_for,
                 idempotency_key, next_attempt_at, completed_at, created_at, held_by_overlap, execution_id,
                 last_error, lease_expires_at, resolved_payload, attempt_number)
            SELECT $1, $2, 'proj', 'agent', $3::text, 'main', $4, s.slot,
                   coalesce($5, 'sched_' || $3::text || '_' || to_char(s.slot AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
                   \(nextAttemptAt), \(completedAt ?? (finished ? "now()" : "NULL")), \(createdAt), $6, $7, $8,
                   now() + make_interval(secs => $9::int), '{"k": "v"}', 1
            FROM (SELECT (\(slot))::timestamptz AS slot) s
            """, [tenant, id, trigger, status, key, held, executionID, lastError, leaseSeconds])
        return id
    }

    /// (status, last_error, held) of a trigger's invocations, by slot.
    static func rows(_ connection: borrowing Connection, tenant: String = "t1", trigger: String) throws
        -> [(id: String, status: String, error: String?, held: Bool, completedAtSet: Bool)]
    {
        try connection.query(
            """
            SELECT id, status, last_error, held_by_overlap, completed_at IS NOT NULL AS done
            FROM scheduled_trigger_invocations WHERE tenant_id = $1 AND scheduled_trigger_id = $2
            ORDER BY scheduled_for, created_at
            """, [tenant, trigger]
        ).map { (try $0.string("id"), try $0.string("status"), $0["last_error"], try $0.bool("held_by_overlap"), try $0.bool("done")) }
    }
}

/// Runs `count` dispatchers at once (each one cycle) and returns their results.
func runConcurrently(_ count: Int, _ arguments: [String], environment: [String: String]) throws -> [ProcessResult] {
    let processes = try (0..<count).map { _ in
        try ChildProcess("dispatch-due", arguments, environment: environment)
    }
    return processes.map { $0.wait(timeoutSeconds: 120) }
}
