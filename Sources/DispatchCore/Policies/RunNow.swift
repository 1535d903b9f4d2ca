import Postgres

/// contract §6 run-now: a pending invocation for now, key `manual_{triggerId}_{now as
/// YYYY-MM-DDTHH:MM:SS.sssZ}` on the database clock, scheduled_for now in whole seconds.
/// next_run_at is left alone; jitter and overlap do not apply (not held, not skipped,
/// next_attempt_at NULL: runnable at once). Works for a disabled trigger: the claim cancels
/// only scheduled slots of disabled triggers, not runs a person asked for.
public struct RunNow {
    public init() {}

    /// SQL: true when `key` (an idempotency_key column) is a run-now's: `manual_…`, and its
    /// reruns (`manual_…_rerun_{n}`) too, since a rerun keeps the key it copies. Every statement
    /// that tells a run a person asked for from a scheduled slot (`sched_…`) uses this one
    /// predicate: disable, pause and schedule changes cancel only slots, the claim posts a
    /// disabled trigger's run-now, retention's watermark counts only slots (contract §6).
    static func isRunNowKey(_ key: String) -> String { "(\(key) LIKE 'manual\\_%')" }

    static let insert = """
        INSERT INTO scheduled_trigger_invocations
            (tenant_id, id, project_id, agent_id, scheduled_trigger_id, ref, status,
             scheduled_for, idempotency_key, resolved_payload)
        SELECT t.tenant_id, gen_random_uuid()::text, t.project_id, t.agent_id, t.id, t.ref, 'pending',
               date_trunc('second', now()),
               'manual_' || t.id || '_' || to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
               t.payload
        FROM scheduled_triggers t
        WHERE t.tenant_id = $1 AND t.id = $2
        ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
        RETURNING id
        """

    static let exists = "SELECT 1 AS one FROM scheduled_triggers WHERE tenant_id = $1 AND id = $2"

    /// Records the run; `notFound` when the trigger does not exist for that tenant.
    public func record(tenant: String, trigger: String, on connection: borrowing Connection) throws -> InvocationRecord {
        try connection.transaction {
            guard let row = try connection.query(Self.insert, [tenant, trigger]).first else {
                if try connection.query(Self.exists, [tenant, trigger]).isEmpty {
                    throw ManagementError.notFound("no trigger \(trigger) for tenant \(tenant)")
                }
                // The same millisecond of the database clock twice: the key is taken.
                throw ManagementError.refused("a run of trigger \(trigger) was recorded at this very millisecond; try again")
            }
            return try InvocationStore().fetch(tenant: tenant, id: try row.string("id"), on: connection)
        }
    }
}
