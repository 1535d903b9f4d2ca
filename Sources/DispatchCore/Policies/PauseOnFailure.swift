import Postgres

/// contract §6 pause on failure: when an invocation ends `failed` and the trigger's N most recent
/// finished invocations (by scheduled_for; `completed` or `failed` only) all failed, the
/// transaction that records the failure disables the trigger with a `paused_reason` and
/// cancels its pending scheduled (`sched_…`) invocations, as a disable does.
enum PauseOnFailure {
    /// Statement 1: lock the triggers that may pause, in a fixed order (no deadlock between
    /// dispatchers recording failures of the same triggers). The count below then runs in a
    /// snapshot that includes every failure committed before the lock was granted.
    static let lockCandidates = """
        SELECT t.tenant_id, t.id
        FROM scheduled_triggers t
        JOIN (SELECT DISTINCT f.tenant_id, f.id FROM unnest($1::text[], $2::text[]) AS f(tenant_id, id)) f
          ON t.tenant_id = f.tenant_id AND t.id = f.id
        WHERE t.enabled AND t.pause_after_failures IS NOT NULL
        ORDER BY t.tenant_id, t.id
        FOR UPDATE OF t
        """

    /// Statement 2: pause those whose last N finished invocations all failed.
    static let pause = """
        WITH locked AS (
            SELECT l.tenant_id, l.id FROM unnest($1::text[], $2::text[]) AS l(tenant_id, id)
        ), judged AS (
            SELECT t.tenant_id, t.id, t.pause_after_failures AS n, r.failures, r.last_error
            FROM locked l
            JOIN scheduled_triggers t ON t.tenant_id = l.tenant_id AND t.id = l.id
            CROSS JOIN LATERAL (
                SELECT count(*) FILTER (WHERE x.status = 'failed') AS failures,
                       (array_agg(x.last_error ORDER BY x.scheduled_for DESC, x.created_at DESC))[1] AS last_error
                FROM (SELECT i.status, i.last_error, i.scheduled_for, i.created_at
                      FROM scheduled_trigger_invocations i
                      WHERE i.tenant_id = t.tenant_id AND i.scheduled_trigger_id = t.id
                        AND i.status IN ('completed', 'failed')
                      ORDER BY i.scheduled_for DESC, i.created_at DESC
                      LIMIT t.pause_after_failures) x
            ) r
            WHERE t.enabled AND r.failures = t.pause_after_failures
        )
        UPDATE scheduled_triggers t
        SET enabled = false,
            paused_reason = 'paused after ' || j.n || ' consecutive failure' || CASE WHEN j.n = 1 THEN '' ELSE 's' END
                            || '; last error: ' || coalesce(left(j.last_error, 1000), '-'),
            updated_at = now()
        FROM judged j
        WHERE t.tenant_id = j.tenant_id AND t.id = j.id
        RETURNING t.tenant_id, t.id, t.project_id, t.agent_id, t.paused_reason, j.n
        """

    /// Statement 3: the paused triggers' pending scheduled slots, cancelled as a disable does
    /// (run-now invocations a person asked for stay).
    static let cancelScheduled = """
        UPDATE scheduled_trigger_invocations i
        SET status = 'cancelled', completed_at = now(), lease_expires_at = NULL,
            last_error = 'cancelled: trigger paused after consecutive failures'
        FROM unnest($1::text[], $2::text[]) AS p(tenant_id, id)
        WHERE i.tenant_id = p.tenant_id AND i.scheduled_trigger_id = p.id
          AND i.status = 'pending' AND NOT \(RunNow.isRunNowKey("i.idempotency_key"))
        RETURNING i.tenant_id, i.scheduled_trigger_id
        """

    /// Runs `body` (the statement that records outcomes; it returns the record keys it
    /// updated) and, when some of `failed` were recorded, the pause in the same transaction.
    /// Without failures `body` runs alone, as before.
    static func recording(
        failed: [(tenant: String, id: String, trigger: String)], logger: Logger, report: inout CycleReport,
        on connection: borrowing Connection, _ body: () throws -> Set<String>
    ) throws -> Set<String> {
        guard !failed.isEmpty else { return try body() }
        return try connection.transaction {
            let updated = try body()
            let ended = failed.filter { updated.contains(ExecutionStore.recordKey(tenant: $0.tenant, id: $0.id)) }
            if !ended.isEmpty {
                try apply(failedTriggers: ended.map { ($0.tenant, $0.trigger) }, logger: logger, report: &report, on: connection)
            }
            return updated
        }
    }

    /// The pause itself, inside the caller's transaction.
    static func apply(
        failedTriggers: [(tenant: String, trigger: String)], logger: Logger, report: inout CycleReport,
        on connection: borrowing Connection
    ) throws {
        let locked = try connection.query(
            lockCandidates,
            [PostgresArray(failedTriggers.map { $0.tenant }), PostgresArray(failedTriggers.map { $0.trigger })])
        guard !locked.isEmpty else { return }
        let paused = try connection.query(
            pause, [PostgresArray(locked.map { $0["tenant_id"] }), PostgresArray(locked.map { $0["id"] })])
        guard !paused.isEmpty else { return }
        let cancelled = try connection.query(
            cancelScheduled, [PostgresArray(paused.map { $0["tenant_id"] }), PostgresArray(paused.map { $0["id"] })])
        var cancelledPerTrigger: [String: Int] = [:]
        for row in cancelled {
            cancelledPerTrigger[(row["tenant_id"] ?? "") + "\u{1F}" + (row["scheduled_trigger_id"] ?? ""), default: 0] += 1
        }
        for row in paused {
            let tenant = row["tenant_id"] ?? "", id = row["id"] ?? ""
            let count = cancelledPerTrigger[tenant + "\u{1F}" + id] ?? 0
            report.paused += 1
            report.cancelled += count
            let identity = LogIdentity(tenant: tenant, project: row["project_id"] ?? "", agent: row["agent_id"] ?? "", trigger: id)
            logger.with(identity).warning("trigger.paused", [
                "failures": .int(Int(row["n"] ?? "0") ?? 0), "reason": .string(row["paused_reason"] ?? ""),
                "cancelled_invocations": .int(count),
            ])
        }
    }
}
