import Postgres

/// What is waiting, measured on the database's clock (contract §5). One statement, every part of
/// it answered from a partial index, so it costs O(backlog), not O(history): cheap enough to
/// run after every cycle for the metrics file and as a health check.
public struct Backlog: Sendable, Equatable {
    /// The database clock when measured, as Unix seconds.
    public var measuredAt: Double
    /// Enabled triggers with `next_run_at <= now()`.
    public var dueTriggers: Int
    /// now − the oldest due `next_run_at`, in seconds; 0 when nothing is due.
    public var oldestDueLagSeconds: Double
    /// Invocations a cycle would post now (contract §2 step 4): `pending` ones whose
    /// `coalesce(next_attempt_at, created_at) <= now()`, plus a crashed dispatcher's (`running`,
    /// no `execution_id`, lease passed).
    public var runnableInvocations: Int
    /// now − the oldest runnable `coalesce(next_attempt_at, created_at)`; 0 when none. A
    /// crashed dispatcher's invocations count, so a fleet that dies mid-post pages someone.
    public var oldestRunnableLagSeconds: Double
    /// Of `runnableInvocations`, those a crashed dispatcher left `running` without an execution.
    public var abandonedInvocations: Int
    /// All `pending` invocations, runnable or waiting for a retry.
    public var pendingInvocations: Int
    /// All `running` invocations.
    public var runningInvocations: Int
    /// `running` invocations whose lease has passed: a crashed dispatcher's work, or
    /// executions due for a status check.
    public var expiredLeases: Int

    public init(
        measuredAt: Double, dueTriggers: Int, oldestDueLagSeconds: Double, runnableInvocations: Int,
        oldestRunnableLagSeconds: Double, pendingInvocations: Int, runningInvocations: Int, expiredLeases: Int,
        abandonedInvocations: Int = 0
    ) {
        self.abandonedInvocations = abandonedInvocations
        self.measuredAt = measuredAt
        self.dueTriggers = dueTriggers
        self.oldestDueLagSeconds = oldestDueLagSeconds
        self.runnableInvocations = runnableInvocations
        self.oldestRunnableLagSeconds = oldestRunnableLagSeconds
        self.pendingInvocations = pendingInvocations
        self.runningInvocations = runningInvocations
        self.expiredLeases = expiredLeases
    }

    /// The larger of the two lags: what `status --max-lag` compares.
    public var oldestLagSeconds: Double { max(oldestDueLagSeconds, oldestRunnableLagSeconds) }

    /// Each scalar subquery repeats its index's predicate so the planner can use it:
    /// `scheduled_triggers_due` (enabled AND next_run_at IS NOT NULL),
    /// `scheduled_trigger_invocations_runnable` (status = 'pending', on the coalesce),
    /// `scheduled_trigger_invocations_leases` (status = 'running', on lease_expires_at; the
    /// abandoned ones are the expired leases without an execution, as the claim finds them).
    /// A lag is never computed from ±infinity (SQL may write `-infinity`; subtracting it fails
    /// the statement): the oldest instant counts as 0001-01-01, a lag over any limit.
    public static let sql = """
        SELECT extract(epoch FROM now()) AS measured_at,
               due.count AS due_triggers,
               \(lag("due.oldest")) AS oldest_due_lag,
               runnable.count + abandoned.count AS runnable_invocations,
               \(lag("least(runnable.oldest, abandoned.oldest)")) AS oldest_runnable_lag,
               abandoned.count AS abandoned_invocations,
               (SELECT count(*) FROM scheduled_trigger_invocations
                 WHERE status = 'pending') AS pending_invocations,
               (SELECT count(*) FROM scheduled_trigger_invocations
                 WHERE status = 'running') AS running_invocations,
               (SELECT count(*) FROM scheduled_trigger_invocations
                 WHERE status = 'running' AND lease_expires_at <= now()) AS expired_leases
          FROM (SELECT count(*) AS count, min(next_run_at) AS oldest
                  FROM scheduled_triggers
                 WHERE enabled AND next_run_at IS NOT NULL AND next_run_at <= now()) AS due,
               (SELECT count(*) AS count, min(coalesce(next_attempt_at, created_at)) AS oldest
                  FROM scheduled_trigger_invocations
                 WHERE status = 'pending' AND coalesce(next_attempt_at, created_at) <= now()
                   AND NOT held_by_overlap) AS runnable,
               (SELECT count(*) AS count, min(coalesce(next_attempt_at, created_at)) AS oldest
                  FROM scheduled_trigger_invocations
                 WHERE status = 'running' AND execution_id IS NULL
                   AND (lease_expires_at < now() OR lease_expires_at IS NULL)) AS abandoned
        """

    /// Seconds from `oldest` (NULL: nothing waiting, lag 0) to now, never from an infinity.
    static func lag(_ oldest: String) -> String {
        "CASE WHEN \(oldest) IS NULL THEN 0 ELSE extract(epoch FROM now() - greatest(\(oldest), \(TimestampSQL.lowest))) END"
    }

    public static func measure(on connection: borrowing Connection) throws(PostgresError) -> Backlog {
        guard let row = try connection.query(sql).first else {
            throw PostgresError(kind: .statement, message: "backlog query returned no row")
        }
        return Backlog(
            measuredAt: try row.double("measured_at"),
            dueTriggers: try row.int("due_triggers"),
            oldestDueLagSeconds: max(0, try row.double("oldest_due_lag")),
            runnableInvocations: try row.int("runnable_invocations"),
            oldestRunnableLagSeconds: max(0, try row.double("oldest_runnable_lag")),
            pendingInvocations: try row.int("pending_invocations"),
            runningInvocations: try row.int("running_invocations"),
            expiredLeases: try row.int("expired_leases"),
            abandonedInvocations: try row.int("abandoned_invocations"))
    }
}

/// A trigger whose schedule cannot be computed (contract §2 step 3).
public struct ScheduleErrorEntry: Sendable, Equatable {
    public var tenantID: String
    public var triggerID: String
    public var error: String
}

/// The slower questions `status` also answers. These read whole tables (the triggers table,
/// and the invocations history for the terminal statuses), so they belong to a person's or a
/// health check's occasional question, not to every cycle.
public enum BacklogDetails {
    /// Every status, with 0 for those that have no rows, in the state machine's order.
    public static let statuses = ["pending", "running", "completed", "failed", "cancelled", "skipped"]

    public static func invocationsByStatus(on connection: borrowing Connection) throws(PostgresError) -> [(status: String, count: Int)] {
        let rows = try connection.query("""
            SELECT status, count(*) AS count
              FROM scheduled_trigger_invocations
             GROUP BY status
            """)
        var counts: [String: Int] = [:]
        for row in rows { counts[try row.string("status")] = try row.int("count") }
        return statuses.map { ($0, counts[$0] ?? 0) }
    }

    /// Triggers with a `schedule_error`, at most `limit`, and how many there are in all.
    public static func scheduleErrors(
        on connection: borrowing Connection, limit: Int
    ) throws(PostgresError) -> (entries: [ScheduleErrorEntry], total: Int) {
        let rows = try connection.query("""
            SELECT tenant_id, id, schedule_error, count(*) OVER () AS total
              FROM scheduled_triggers
             WHERE schedule_error IS NOT NULL
             ORDER BY tenant_id, id
             LIMIT $1
            """, [limit])
        var entries: [ScheduleErrorEntry] = []
        var total = 0
        for row in rows {
            entries.append(ScheduleErrorEntry(
                tenantID: try row.string("tenant_id"), triggerID: try row.string("id"),
                error: try row.string("schedule_error")))
            total = try row.int("total")
        }
        return (entries, total)
    }

    /// How many triggers have a `schedule_error` (a scan of the triggers table).
    public static func scheduleErrorCount(on connection: borrowing Connection) throws(PostgresError) -> Int {
        try connection.query("SELECT count(*) AS n FROM scheduled_triggers WHERE schedule_error IS NOT NULL")
            .first?.int("n") ?? 0
    }
}

extension Row {
    func double(_ column: String) throws(PostgresError) -> Double {
        guard let text = self[column] else { throw Row.unexpectedNullValue(column) }
        guard let number = Double(text) else {
            throw PostgresError(kind: .statement, message: "column \(column) has unexpected value \(text)")
        }
        return number
    }

    static func unexpectedNullValue(_ column: String) -> PostgresError {
        PostgresError(kind: .statement, message: "column \(column) is NULL where a value was expected")
    }
}
