import Postgres
import Schedules

/// contract §6 at record time: the statement that records slots (the dispatch stage and backfill)
/// with the trigger's overlap policy and jitter applied. Bound to `SlotRows.parameters`
/// (tenant, trigger, slot as epoch seconds, key arrays). Like every slot insert, ON CONFLICT on
/// the per-tenant idempotency key makes a slot recorded twice a no-op, whoever recorded it first.
///
/// Overlap, set-based and in slot order: only slots not recorded yet take part; each gets its
/// rank among the batch's new slots of its trigger, and the trigger's unfinished (pending or
/// running) invocations are counted once. `skip` records the first new slot only when nothing
/// is unfinished; `buffer_one` lets one run and one wait (capacity 2 − unfinished); the rest
/// are `skipped`, terminal, with `completed_at = now()` and `last_error` naming the
/// unfinished invocation (an existing one, or the new one ranked just before them). The
/// decisions are race-free because every writer of slots holds the trigger row's lock
/// (`FOR UPDATE`) while it runs this.
///
/// buffer_one slots that are not skipped are recorded `held_by_overlap`: the execution stage
/// releases them one at a time (`OverlapGate`).
///
/// Jitter: a cron slot's `next_attempt_at = scheduled_for + offset`, offset in milliseconds =
/// (the first 32 bits of md5(idempotency_key), as an unsigned integer) mod (jitter_seconds × 1000),
/// so it lies in [0, jitter_seconds) and the same key always gets the same offset. One-time
/// triggers (and run-now, which does not come through here) ignore jitter.
enum PolicyInsert {
    /// `offset_ms` of the jitter rule, as SQL over `key` and `jitter` (seconds) expressions.
    static func jitterMilliseconds(key: String, jitter: String) -> String {
        "(('x' || left(md5(\(key)), 8))::bit(32)::int8 % (\(jitter)::int8 * 1000))"
    }

    /// The overlap decision, shared by the insert and the `run --dry-run` preview so both apply
    /// one rule: `planned` has a row per new slot, `skipped` and `blocker` decided.
    static let planSlots = """
        WITH fresh AS (
            SELECT u.tenant_id, u.trigger_id, u.slot, u.idempotency_key, u.position,
                   gen_random_uuid()::text AS new_id,
                   t.overlap_policy, t.jitter_seconds, t.cron_expression IS NOT NULL AS is_cron,
                   row_number() OVER (PARTITION BY u.tenant_id, u.trigger_id ORDER BY u.slot, u.position) AS rank
            FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[]) WITH ORDINALITY
                 AS u(tenant_id, trigger_id, slot, idempotency_key, position)
            JOIN scheduled_triggers t ON t.tenant_id = u.tenant_id AND t.id = u.trigger_id
            WHERE NOT EXISTS (SELECT 1 FROM scheduled_trigger_invocations i
                              WHERE i.tenant_id = u.tenant_id AND i.idempotency_key = u.idempotency_key)
        ), counted AS (
            -- CASE keeps the subqueries from running for `allow` (the common case).
            SELECT f.*,
                   CASE WHEN f.overlap_policy <> 'allow' THEN (
                       SELECT count(*) FROM scheduled_trigger_invocations i
                       WHERE i.tenant_id = f.tenant_id AND i.scheduled_trigger_id = f.trigger_id
                         AND i.status IN ('pending', 'running')) END AS unfinished,
                   CASE WHEN f.overlap_policy <> 'allow' THEN (
                       SELECT 'invocation ' || i.id || ' (' || i.status || ', slot '
                              || to_char(i.scheduled_for AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ')'
                       FROM scheduled_trigger_invocations i
                       WHERE i.tenant_id = f.tenant_id AND i.scheduled_trigger_id = f.trigger_id
                         AND i.status IN ('pending', 'running')
                       ORDER BY i.scheduled_for DESC, i.created_at DESC
                       LIMIT 1) END AS existing_blocker
            FROM fresh f
        ), decided AS (
            SELECT c.*,
                   CASE c.overlap_policy
                       WHEN 'skip' THEN CASE WHEN c.unfinished = 0 THEN 1 ELSE 0 END
                       WHEN 'buffer_one' THEN greatest(0, 2 - c.unfinished)
                   END AS capacity
            FROM counted c
        ), planned AS (
            SELECT d.*,
                   d.capacity IS NOT NULL AND d.rank > d.capacity AS skipped,
                   -- Only a skipped slot needs its blocker (for last_error), so the lookup runs
                   -- for skipped slots alone: as a join of the batch with itself it cost a
                   -- 500 x 500 nested loop per batch even when every trigger was `allow`.
                   CASE WHEN d.capacity IS NULL OR d.rank <= d.capacity THEN NULL
                        WHEN d.capacity >= 1 THEN (
                            SELECT 'invocation ' || b.new_id || ' (pending, slot '
                                   || to_char(to_timestamp(b.slot) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || ')'
                            FROM decided b
                            WHERE b.tenant_id = d.tenant_id AND b.trigger_id = d.trigger_id AND b.rank = d.capacity)
                        ELSE d.existing_blocker END AS blocker
            FROM decided d
        )
        """

    static let insertInvocations = """
        \(planSlots)
        INSERT INTO scheduled_trigger_invocations
            (tenant_id, id, project_id, agent_id, scheduled_trigger_id, ref, status,
             scheduled_for, idempotency_key, resolved_payload, next_attempt_at, completed_at, last_error,
             held_by_overlap)
        SELECT t.tenant_id, p.new_id, t.project_id, t.agent_id, t.id, t.ref,
               CASE WHEN p.skipped THEN 'skipped' ELSE 'pending' END,
               to_timestamp(p.slot), p.idempotency_key, t.payload,
               CASE WHEN NOT p.skipped AND p.is_cron AND p.jitter_seconds > 0
                    THEN to_timestamp(p.slot)
                         + make_interval(secs => \(jitterMilliseconds(key: "p.idempotency_key", jitter: "p.jitter_seconds")) / 1000.0)
               END,
               CASE WHEN p.skipped THEN now() END,
               CASE WHEN p.skipped
                    THEN 'skipped by overlap_policy ' || p.overlap_policy || ': '
                         || coalesce(p.blocker, 'an invocation of this trigger') || ' is unfinished'
               END,
               NOT p.skipped AND p.overlap_policy = 'buffer_one'
        FROM planned p
        JOIN scheduled_triggers t ON t.tenant_id = p.tenant_id AND t.id = p.trigger_id
        ORDER BY p.position
        ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
        RETURNING tenant_id, id, project_id, agent_id, scheduled_trigger_id, status, last_error,
                  floor(extract(epoch FROM scheduled_for))::int8 AS slot,
                  coalesce(extract(epoch FROM next_attempt_at - scheduled_for), 0)::float8 AS jitter_seconds
        """

    /// `run --dry-run`: per trigger, how many of the given slots the overlap policy would record
    /// `skipped` (only triggers with some). Writes nothing.
    static let previewSkips = """
        \(planSlots)
        SELECT tenant_id, trigger_id, overlap_policy, count(*) FILTER (WHERE skipped) AS skipped
        FROM planned
        GROUP BY tenant_id, trigger_id, overlap_policy
        HAVING count(*) FILTER (WHERE skipped) > 0
        ORDER BY tenant_id, trigger_id
        """
}

/// What recording slots with the policies did, for logs and the cycle report.
struct RecordedSlot {
    /// tenant, project, agent, trigger, invocation and slot, for the log lines.
    var identity: LogIdentity
    var slot: Int64
    var skipped: Bool
    var reason: String?
    var jitterSeconds: Double

    init(_ row: Row) throws {
        slot = Int64(try row.int("slot"))
        identity = LogIdentity(
            tenant: try row.string("tenant_id"), project: try row.string("project_id"), agent: try row.string("agent_id"),
            trigger: try row.string("scheduled_trigger_id"), invocation: try row.string("id"),
            slot: Instant(secondsSinceEpoch: slot).iso8601Milliseconds)
        skipped = try row.string("status") == "skipped"
        reason = row["last_error"]
        jitterSeconds = Double(row["jitter_seconds"] ?? "0") ?? 0
    }

    /// Logs and counts what the dispatch stage's `invocation.recorded` line does not cover:
    /// a slot skipped by the overlap policy (returns true: not a recorded run), or a jitter delay.
    func account(logger: Logger, report: inout CycleReport) -> Bool {
        if skipped {
            report.skippedByOverlap += 1
            logger.with(identity).warning("invocation.skipped_overlap", ["reason": .string(reason ?? "")])
            return true
        }
        if jitterSeconds > 0 {
            report.jitterDelaySecondsTotal += jitterSeconds
            report.maxJitterDelaySeconds = max(report.maxJitterDelaySeconds, jitterSeconds)
            logger.with(identity).debug("invocation.jittered", ["delay_seconds": .double(jitterSeconds)])
        }
        return false
    }
}
