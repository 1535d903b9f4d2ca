import Postgres
import Schedules

/// What backfill did (or would do) for one trigger.
public struct BackfillResult: Sendable, Equatable {
    public var tenantID: String
    public var triggerID: String
    /// Slots of the trigger in the window.
    public var slots: Int
    /// Slots recorded now (the rest were already recorded).
    public var recorded: Int
    /// Slots left out because retention pruned their invocations (at or before pruned_through).
    public var pruned: Int = 0
    /// Of `recorded`, slots recorded `skipped` by the overlap policy.
    public var skippedByOverlap: Int = 0
}

public struct BackfillRequest: Sendable {
    public var from: Instant
    /// Capped at the database's now.
    public var to: Instant?
    public var tenantID: String?
    public var triggerIDs: [String]
    public var dryRun: Bool
    /// Refuse a window that would record more slots than this (a typo in --from is costly).
    public var maxSlots: Int

    public init(from: Instant, to: Instant?, tenantID: String?, triggerIDs: [String], dryRun: Bool, maxSlots: Int) {
        self.from = from
        self.to = to
        self.tenantID = tenantID
        self.triggerIDs = triggerIDs
        self.dryRun = dryRun
        self.maxSlots = maxSlots
    }
}

public struct BackfillError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}

/// `dispatch-due backfill` (contract §3): records every slot in [from, to] of the selected enabled
/// cron triggers without schedule_error. Existing slots are left alone (ON CONFLICT on the
/// idempotency key) and next_run_at is never touched, so it can never move backwards.
public struct Backfill {
    let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    static let triggerColumns = """
        tenant_id, id, project_id, agent_id, cron_expression, cron_timezone,
        floor(extract(epoch FROM pruned_through))::int8 AS pruned_through
        """

    /// The enabled cron triggers without schedule_error of tenant $1 (any when NULL) with ids $2
    /// (any when empty), locked (a real run) like the record step locks due triggers, so the
    /// overlap policy's decisions never race with a concurrent cycle's.
    static let lockTriggers = """
        SELECT \(triggerColumns) FROM scheduled_triggers
        WHERE enabled AND cron_expression IS NOT NULL AND schedule_error IS NULL
          AND ($1::text IS NULL OR tenant_id = $1) AND (cardinality($2::text[]) = 0 OR id = ANY($2::text[]))
        ORDER BY tenant_id, id
        FOR UPDATE
        """

    /// `lockTriggers` without the lock, for `--dry-run`.
    static let selectTriggers = """
        SELECT \(triggerColumns) FROM scheduled_triggers
        WHERE enabled AND cron_expression IS NOT NULL AND schedule_error IS NULL
          AND ($1::text IS NULL OR tenant_id = $1) AND (cardinality($2::text[]) = 0 OR id = ANY($2::text[]))
        ORDER BY tenant_id, id
        """

    /// Slots of the window already recorded, per trigger (dry run: what would not be recorded).
    static let alreadyRecorded = """
        SELECT i.tenant_id, i.scheduled_trigger_id, count(*) AS n
        FROM unnest($1::text[], $2::text[]) AS k(tenant_id, idempotency_key)
        JOIN scheduled_trigger_invocations i
          ON i.tenant_id = k.tenant_id AND i.idempotency_key = k.idempotency_key
        GROUP BY i.tenant_id, i.scheduled_trigger_id
        """

    /// Rows bound per statement: a statement per chunk of slots, not per trigger.
    static let chunkSize = 10_000

    public func run(on connection: borrowing Connection, _ request: BackfillRequest) throws -> [BackfillResult] {
        try connection.transaction {
            let triggers = try connection.query(
                request.dryRun ? Self.selectTriggers : Self.lockTriggers, [request.tenantID, PostgresArray(request.triggerIDs)])
            let now = try TriggerStore.now(on: connection)
            if request.from > now {
                throw BackfillError(message: "--from \(request.from.iso8601) is after the database's now (\(now.iso8601))")
            }
            if !request.triggerIDs.isEmpty {
                let found = Set(triggers.map { $0["id"] ?? "" })
                let missing = request.triggerIDs.filter { !found.contains($0) }
                if !missing.isEmpty {
                    throw BackfillError(message: """
                        no enabled cron trigger without schedule_error has id \(missing.joined(separator: ", "))\
                        \(request.tenantID.map { " in tenant \($0)" } ?? "")
                        """)
                }
            }
            var plans: [(tenant: String, id: String, project: String, agent: String, slots: [Instant], pruned: Int)] = []
            var total = 0
            var schedules = ScheduleCache()
            let through = min(request.to ?? now, now)
            for row in triggers {
                let expression = try row.string("cron_expression"), zone = try row.string("cron_timezone")
                let resolved = try? TriggerSchedule.resolve(cronExpression: expression, timeZone: zone, runAt: nil, cache: &schedules)
                guard case .cron(let schedule)? = resolved?.timing else { continue }
                let remaining = request.maxSlots - total + 1
                var slots = schedule.slots(after: request.from.adding(seconds: -1), through: through, limit: remaining)
                // contract §6: a pruned slot never fires again.
                let prunedThrough = try row.optionalInt("pruned_through").map { Instant(secondsSinceEpoch: Int64($0)) }
                let before = slots.count
                if let prunedThrough { slots.removeAll { $0 <= prunedThrough } }
                total += slots.count
                if total > request.maxSlots {
                    throw BackfillError(message: """
                        the window holds more than \(request.maxSlots) slots; narrow --from/--to or the triggers, \
                        or raise --max-slots
                        """)
                }
                plans.append((
                    try row.string("tenant_id"), try row.string("id"), try row.string("project_id"),
                    try row.string("agent_id"), slots, before - slots.count))
            }
            // Whatever the number of triggers, one statement per chunk of slots.
            var rows = SlotRows()
            for plan in plans {
                for slot in plan.slots { rows.append(tenant: plan.tenant, triggerID: plan.id, slot: slot) }
            }
            var counts: [String: Int] = [:]
            var skipped: [String: Int] = [:]
            for chunk in rows.chunks(of: Self.chunkSize) {
                let answered = request.dryRun
                    ? try connection.query(Self.alreadyRecorded, [chunk.tenantArray, chunk.keyArray])
                    : try connection.query(PolicyInsert.insertInvocations, chunk.parameters)
                for row in answered {
                    let key = (row["tenant_id"] ?? "") + "\u{1F}" + (row["scheduled_trigger_id"] ?? "")
                    counts[key, default: 0] += request.dryRun ? try row.int("n") : 1
                    if !request.dryRun, row["status"] == "skipped" {
                        skipped[key, default: 0] += 1
                        var ignored = CycleReport()
                        _ = try RecordedSlot(row).account(logger: logger, report: &ignored)
                    }
                }
            }
            var results: [BackfillResult] = []
            for plan in plans {
                let counted = counts[plan.tenant + "\u{1F}" + plan.id] ?? 0
                // Dry run counts what exists already; a real run counts what it inserted.
                let recorded = request.dryRun ? plan.slots.count - counted : counted
                results.append(BackfillResult(
                    tenantID: plan.tenant, triggerID: plan.id, slots: plan.slots.count, recorded: recorded,
                    pruned: plan.pruned, skippedByOverlap: skipped[plan.tenant + "\u{1F}" + plan.id] ?? 0))
                let identity = LogIdentity(tenant: plan.tenant, project: plan.project, agent: plan.agent, trigger: plan.id)
                logger.with(identity).info(request.dryRun ? "backfill.planned" : "backfill.recorded", [
                    "slots": .int(plan.slots.count), "recorded": .int(recorded), "pruned_slots_left_out": .int(plan.pruned),
                    "from": .string(request.from.iso8601), "to": .string(through.iso8601),
                ])
            }
            return results
        }
    }
}
