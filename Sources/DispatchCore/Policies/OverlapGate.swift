import Postgres

/// contract §6 `buffer_one` at claim time: a trigger's invocations run one at a time, oldest first.
///
/// Its slots are recorded `held_by_overlap`, and the execution claim never takes a held row.
/// Before each claim the dispatcher releases (held = false) the oldest held invocation of each
/// such trigger when no other invocation of it is running and none is pending without being
/// held (released and not yet claimed, or waiting for a retry). Why two dispatchers can never
/// run two at once:
/// - a release happens only in a transaction that first locks the trigger row
///   (`FOR UPDATE SKIP LOCKED`, statement 1) and then decides in a *second* statement, whose
///   READ COMMITTED snapshot is taken after the lock was granted, so it sees every release
///   committed before (a single statement could lock the row after its snapshot was taken
///   and miss a release committed in between);
/// - a released invocation stays a blocker until it is finished: pending ⇄ running (claim,
///   retry, release after a stop) are all unfinished and it is never held again;
/// so at any time a trigger has at most one released unfinished invocation, and only
/// released ones are ever claimed, hence running. A running execution stays a blocker until
/// reconcile records its end. Run-now and reruns (a person's request) are recorded unheld:
/// they ignore the policy, as contract §6 says for run-now.
enum OverlapGate {
    /// Cheap test first: normally there is nothing held, and then no transaction is opened.
    static let anyHeld = """
        SELECT EXISTS (SELECT 1 FROM scheduled_trigger_invocations
                       WHERE status = 'pending' AND held_by_overlap
                         AND coalesce(next_attempt_at, created_at) <= now()) AS any
        """

    /// Statement 1: lock the triggers of runnable held invocations that look releasable
    /// (skipping rows another dispatcher or the record step holds: they are looked at again by
    /// the next claim). The look is only a filter, on a snapshot that may be stale: statement 2
    /// decides. Filtering here keeps held invocations that wait behind a running one from
    /// filling the LIMIT and starving releasable ones further down.
    static let lockTriggers = """
        SELECT t.tenant_id, t.id
        FROM scheduled_triggers t
        WHERE (t.tenant_id, t.id) IN (
            SELECT h.tenant_id, h.scheduled_trigger_id
            FROM scheduled_trigger_invocations h
            WHERE h.status = 'pending' AND h.held_by_overlap
              AND coalesce(h.next_attempt_at, h.created_at) <= now()
              AND NOT EXISTS (
                  SELECT 1 FROM scheduled_trigger_invocations b
                  WHERE b.tenant_id = h.tenant_id AND b.scheduled_trigger_id = h.scheduled_trigger_id
                    AND b.status IN ('pending', 'running') AND b.id <> h.id
                    AND (b.status = 'running' OR NOT b.held_by_overlap
                         OR (b.scheduled_for, b.created_at, b.id) < (h.scheduled_for, h.created_at, h.id)))
            ORDER BY coalesce(h.next_attempt_at, h.created_at)
            LIMIT $1)
        ORDER BY t.tenant_id, t.id
        FOR UPDATE OF t SKIP LOCKED
        """

    /// Statement 2 (fresh snapshot): per locked trigger, release its oldest held invocation
    /// unless another one is running or released-and-pending. A trigger that is no longer
    /// buffer_one, or is disabled, has it released regardless once statement 1 picked it (the
    /// claim then posts it, or cancels it as for any disabled trigger).
    static let release = """
        WITH locked AS (
            SELECT l.tenant_id, l.id FROM unnest($1::text[], $2::text[]) AS l(tenant_id, id)
        ), oldest AS (
            SELECT DISTINCT ON (h.tenant_id, h.scheduled_trigger_id)
                   h.tenant_id, h.id, h.scheduled_trigger_id
            FROM scheduled_trigger_invocations h
            JOIN locked l ON h.tenant_id = l.tenant_id AND h.scheduled_trigger_id = l.id
            WHERE h.status = 'pending' AND h.held_by_overlap
            ORDER BY h.tenant_id, h.scheduled_trigger_id, h.scheduled_for, h.created_at, h.id
        ), releasable AS (
            SELECT o.tenant_id, o.id
            FROM oldest o
            JOIN scheduled_triggers t ON t.tenant_id = o.tenant_id AND t.id = o.scheduled_trigger_id
            WHERE t.overlap_policy <> 'buffer_one' OR NOT t.enabled
               OR NOT EXISTS (
                   SELECT 1 FROM scheduled_trigger_invocations b
                   WHERE b.tenant_id = o.tenant_id AND b.scheduled_trigger_id = o.scheduled_trigger_id
                     AND b.status IN ('pending', 'running') AND b.id <> o.id
                     AND (b.status = 'running' OR NOT b.held_by_overlap))
        )
        UPDATE scheduled_trigger_invocations i
        SET held_by_overlap = false
        FROM releasable r
        WHERE i.tenant_id = r.tenant_id AND i.id = r.id
        RETURNING i.tenant_id, i.id
        """

    /// Held invocations whose trigger was deleted: released, so the claim cancels them.
    static let releaseOrphans = """
        UPDATE scheduled_trigger_invocations i
        SET held_by_overlap = false
        WHERE i.status = 'pending' AND i.held_by_overlap
          AND coalesce(i.next_attempt_at, i.created_at) <= now()
          AND NOT EXISTS (SELECT 1 FROM scheduled_triggers t
                          WHERE t.tenant_id = i.tenant_id AND t.id = i.scheduled_trigger_id)
        """

    /// Releases what may run now; returns how many were released. One cheap statement when
    /// nothing is held.
    @discardableResult
    static func release(limit: Int, on connection: borrowing Connection) throws -> Int {
        guard try connection.query(anyHeld).first?.bool("any") == true else { return 0 }
        return try connection.transaction {
            let locked = try connection.query(lockTriggers, [limit])
            var released = 0
            if !locked.isEmpty {
                released = try connection.query(
                    release,
                    [PostgresArray(locked.map { $0["tenant_id"] }), PostgresArray(locked.map { $0["id"] })]).count
            }
            released += try connection.query(releaseOrphans).affected
            return released
        }
    }
}
