import Postgres
import Schedules

public struct DispatchSettings: Sendable {
    /// Due triggers claimed per transaction.
    public var batchSize: Int
    public init(batchSize: Int = 500) { self.batchSize = batchSize }
}

/// Steps 1–3 of contract §2: heal unscheduled rows, then claim due triggers in batches, record
/// their slots and advance next_run_at in the same transaction.
///
/// Each batch costs a fixed number of statements whatever its size (BEGIN, SELECT … FOR
/// UPDATE SKIP LOCKED, one INSERT of all invocations, one UPDATE of all triggers, COMMIT):
/// per-row values travel as arrays and are expanded with unnest.
public struct DispatchStage {
    let settings: DispatchSettings
    let logger: Logger

    public init(options: DispatchSettings, logger: Logger) {
        self.settings = options
        self.logger = logger
    }

    /// Heal, then record until nothing is due or the deadline passes.
    public func run(on connection: borrowing Connection, deadline: CycleDeadline, report: inout CycleReport) throws {
        var schedules = ScheduleCache()
        do {
            while !deadline.isPassed {
                let healed = try healBatch(on: connection, schedules: &schedules, report: &report)
                if healed < settings.batchSize { break }
            }
            // Triggers still due after being handled this cycle (`all` with more than 100
            // missed slots): left for the next cycle, so excluded from later batches.
            var handledButDue: [(tenant: String, id: String)] = []
            while !deadline.isPassed {
                let claimed = try recordBatch(
                    on: connection, schedules: &schedules, excluding: &handledButDue, report: &report)
                if claimed < settings.batchSize { break }
            }
        } catch let error as PostgresError where error.isUndefinedTable {
            throw DispatchFailure.schemaMissing(detail: error.message)
        } catch let error as PostgresError where error.kind == .cancelled {
            // Blocked past the deadline (or a stop): the batch rolled back whole; what is
            // still due is left for the next cycle.
            logger.warning("dispatch.interrupted", [
                "reason": .string(deadline.stopReason ?? error.message), "error": .string(error.description),
            ])
        }
    }

    // MARK: Heal (contract §2 step 2)

    /// Up to $1 unscheduled triggers, locked, with the columns the schedule rule reads.
    static let claimUnscheduled = """
        SELECT \(TriggerSchedule.scheduleColumns)
        FROM scheduled_triggers t
        WHERE t.enabled AND t.next_run_at IS NULL AND t.schedule_error IS NULL AND NOT t.run_at_recorded
        LIMIT $1
        FOR UPDATE OF t SKIP LOCKED
        """

    /// `claimUnscheduled` without the lock, for `run --dry-run` (a read-only transaction).
    static let previewUnscheduled = """
        SELECT \(TriggerSchedule.scheduleColumns)
        FROM scheduled_triggers t
        WHERE t.enabled AND t.next_run_at IS NULL AND t.schedule_error IS NULL AND NOT t.run_at_recorded
        LIMIT $1
        """

    static let applyHeal = """
        UPDATE scheduled_triggers t
        SET next_run_at = to_timestamp(u.next_run_at),
            schedule_error = u.schedule_error,
            run_at_recorded = u.run_at_recorded
        FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::bool[])
             AS u(tenant_id, id, next_run_at, schedule_error, run_at_recorded)
        WHERE t.tenant_id = u.tenant_id AND t.id = u.id
        """

    /// Gives up to one batch of unscheduled rows their next_run_at (or a schedule_error).
    func healBatch(
        on connection: borrowing Connection, schedules: inout ScheduleCache, report: inout CycleReport
    ) throws -> Int {
        try connection.transaction {
            let rows = try connection.query(Self.claimUnscheduled, [settings.batchSize])
            guard !rows.isEmpty else { return 0 }
            var update = TriggerUpdates()
            for row in rows {
                let state = try TriggerSchedule.state(of: row, cache: &schedules)
                update.append(tenant: try row.string("tenant_id"), id: try row.string("id"), state: state)
                logHeal(row, state)
                if state.scheduleError != nil { report.scheduleErrors += 1 } else { report.healed += 1 }
            }
            try connection.query(Self.applyHeal, update.parameters)
            return rows.count
        }
    }

    private func logHeal(_ row: Row, _ state: ScheduleState) {
        let logger = logger.with(LogIdentity(
            tenant: row["tenant_id"] ?? "", project: row["project_id"] ?? "", agent: row["agent_id"] ?? "",
            trigger: row["id"] ?? ""))
        if let error = state.scheduleError {
            logger.warning("trigger.schedule_error", ["error": .string(error)])
        } else if let next = state.nextRunAt {
            logger.debug("trigger.healed", ["next_run_at": .string(next.iso8601)])
        }
    }

    // MARK: Record (contract §2 step 3)

    /// What the record step reads of a due trigger (`DueTrigger`), with the batch's clock.
    static let dueColumns = """
        t.tenant_id, t.id, t.project_id, t.agent_id, t.cron_expression, t.cron_timezone, t.misfire_policy,
        \(TimestampSQL.epoch("t.run_at")) AS run_at,
        \(TimestampSQL.problem("t.run_at")) AS run_at_problem,
        \(TimestampSQL.epoch("t.next_run_at")) AS due,
        \(TimestampSQL.problem("t.next_run_at")) AS due_problem,
        extract(epoch FROM now())::float8 AS now
        """

    /// Up to $1 due triggers, oldest first, locked; not those in ($2, $3) (handled this cycle).
    static let claimDue = """
        SELECT \(dueColumns)
        FROM scheduled_triggers t
        WHERE t.enabled AND t.next_run_at <= now()
          AND NOT EXISTS (SELECT 1 FROM unnest($2::text[], $3::text[]) AS x(tenant_id, id)
                          WHERE x.tenant_id = t.tenant_id AND x.id = t.id)
        ORDER BY t.next_run_at
        LIMIT $1
        FOR UPDATE OF t SKIP LOCKED
        """

    /// `claimDue` without the lock (nor the exclusions), for `run --dry-run` (a read-only transaction).
    static let previewDue = """
        SELECT \(dueColumns)
        FROM scheduled_triggers t
        WHERE t.enabled AND t.next_run_at <= now()
        ORDER BY t.next_run_at
        LIMIT $1
        """

    /// Then advance: cron to the next slot after the ones fired, one-time to NULL for good.
    static let advanceTriggers = """
        UPDATE scheduled_triggers t
        SET next_run_at = to_timestamp(u.next_run_at),
            schedule_error = u.schedule_error,
            run_at_recorded = t.run_at_recorded OR u.run_at_recorded
        FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::bool[])
             AS u(tenant_id, id, next_run_at, schedule_error, run_at_recorded)
        WHERE t.tenant_id = u.tenant_id AND t.id = u.id
        """

    /// Claims one batch of due triggers, records their slots and advances them; one transaction.
    func recordBatch(
        on connection: borrowing Connection, schedules: inout ScheduleCache,
        excluding handledButDue: inout [(tenant: String, id: String)], report: inout CycleReport
    ) throws -> Int {
        let (claimed, stillDue) = try connection.transaction { () throws -> (Int, [(tenant: String, id: String)]) in
            let rows = try connection.query(
                Self.claimDue,
                [settings.batchSize, PostgresArray(handledButDue.map(\.tenant)), PostgresArray(handledButDue.map(\.id))])
            guard !rows.isEmpty else { return (0, []) }
            let now = try Self.databaseNow(rows[0])
            var slots = SlotRows()
            var update = TriggerUpdates()
            var stillDue: [(tenant: String, id: String)] = []
            for row in rows {
                let trigger = try DueTrigger(row)
                let plan = trigger.plan(now: now.instant, schedules: &schedules)
                for slot in plan.slots {
                    slots.append(tenant: trigger.tenantID, triggerID: trigger.id, slot: slot)
                }
                update.append(
                    tenant: trigger.tenantID, id: trigger.id, plan: plan, runAtRecorded: trigger.isOneTime && !plan.slots.isEmpty)
                if let next = plan.nextRunAt, next <= now.instant { stillDue.append((trigger.tenantID, trigger.id)) }
                logPlan(trigger, plan, report: &report)
            }
            if !slots.isEmpty {
                let inserted = try connection.query(PolicyInsert.insertInvocations, slots.parameters)
                for invocation in inserted {
                    let recorded = try RecordedSlot(invocation)
                    if recorded.account(logger: logger, report: &report) { continue }
                    report.recorded += 1
                    report.maxSlotLagSeconds = max(report.maxSlotLagSeconds, now.seconds - Double(recorded.slot))
                    logger.with(recorded.identity).info("invocation.recorded")
                }
            }
            try connection.query(Self.advanceTriggers, update.parameters)
            return (rows.count, stillDue)
        }
        handledButDue.append(contentsOf: stillDue)
        return claimed
    }

    private func logPlan(_ trigger: DueTrigger, _ plan: SlotPlan, report: inout CycleReport) {
        let logger = logger.with(trigger.identity)
        if let problem = trigger.dueProblem, trigger.cronExpression != nil {
            logger.warning("trigger.next_run_at_unreadable", [
                "next_run_at": .string(problem),
                "fired_slot": .string(plan.slots.last?.iso8601 ?? ""),
                "next": .string(plan.nextRunAt?.iso8601 ?? ""),
            ])
        }
        if let error = plan.scheduleError {
            report.scheduleErrors += 1
            logger.warning("trigger.schedule_error", ["error": .string(error)])
        }
        if plan.skipped > 0 {
            report.skippedSlots += plan.skipped
            logger.warning("slots.skipped", [
                "policy": .string(trigger.policy.rawValue), "skipped": .int(plan.skipped),
                "skipped_is_lower_bound": .bool(plan.skippedIsLowerBound),
                "first_skipped_slot": .string(trigger.due?.iso8601 ?? trigger.dueProblem ?? ""),
                "fired_slot": .string(plan.slots.last?.iso8601 ?? ""),
            ])
        }
    }

    /// The database clock of a claimed batch: `now()` is the transaction's start.
    static func databaseNow(_ row: Row) throws -> (instant: Instant, seconds: Double) {
        guard let text = row["now"], let seconds = Double(text) else {
            throw PostgresError(kind: .statement, message: "now() missing from the claim query")
        }
        let whole = seconds.rounded(.down)
        return (Instant(secondsSinceEpoch: Int64(whole)), seconds)
    }

    // MARK: Dry run

    /// What a cycle would heal and record now, without locking or writing anything.
    public func preview(on connection: borrowing Connection, output: (String) -> Void) throws {
        var schedules = ScheduleCache()
        try connection.transaction {
            try connection.query("SET TRANSACTION READ ONLY")
            let unscheduled = try connection.query(Self.previewUnscheduled, [10_000])
            for row in unscheduled {
                let state = try TriggerSchedule.state(of: row, cache: &schedules)
                let name = "\(row["tenant_id"] ?? "")/\(row["id"] ?? "")"
                if let error = state.scheduleError {
                    output("would mark \(name) with schedule_error: \(error)")
                } else if let next = state.nextRunAt {
                    output("would schedule \(name) at \(next.iso8601)")
                }
            }
            let due = try connection.query(Self.previewDue, [10_000])
            var total = 0
            var slots = SlotRows()
            for row in due {
                let trigger = try DueTrigger(row)
                let plan = trigger.plan(now: try Self.databaseNow(row).instant, schedules: &schedules)
                let name = "\(trigger.tenantID)/\(trigger.id)"
                for slot in plan.slots {
                    output("would record \(name) slot \(slot.iso8601)")
                    slots.append(tenant: trigger.tenantID, triggerID: trigger.id, slot: slot)
                }
                total += plan.slots.count
                if plan.skipped > 0 { output("would skip \(plan.skipped) missed slot(s) of \(name) (\(trigger.policy.rawValue))") }
                if let error = plan.scheduleError { output("would mark \(name) with schedule_error: \(error)") }
            }
            // contract §6 overlap, decided by the statement the record step runs. One statement, as
            // the record step binds a whole batch: a trigger's slots split over two would rank wrong.
            var overlapSkips = 0
            if !slots.isEmpty {
                for row in try connection.query(PolicyInsert.previewSkips, slots.parameters) {
                    let skipped = try row.int("skipped")
                    overlapSkips += skipped
                    output("""
                        would record \(skipped) slot(s) of \(row["tenant_id"] ?? "")/\(row["trigger_id"] ?? "") as skipped \
                        (overlap_policy \(row["overlap_policy"] ?? ""): an invocation is unfinished)
                        """)
                }
            }
            let overlapNote = overlapSkips > 0 ? " (\(overlapSkips) of them as skipped by the overlap policy)" : ""
            output("\(due.count) due trigger(s), \(total) slot(s) would be recorded\(overlapNote); nothing was changed")
        }
    }
}

/// A claimed due trigger.
struct DueTrigger {
    var tenantID: String
    var id: String
    var projectID: String
    var agentID: String
    var cronExpression: String?
    var zone: String
    var policy: MisfirePolicy
    var runAt: Instant?
    /// Why the stored run_at cannot be used (`infinity`, a year outside 1–9999), if so.
    var runAtProblem: String?
    /// The stored next_run_at; nil when it cannot be read (`-infinity`, a year before 1).
    var due: Instant?
    var dueProblem: String?

    init(_ row: Row) throws {
        tenantID = try row.string("tenant_id")
        id = try row.string("id")
        projectID = try row.string("project_id")
        agentID = try row.string("agent_id")
        cronExpression = row["cron_expression"]
        zone = try row.string("cron_timezone")
        policy = MisfirePolicy(rawValue: try row.string("misfire_policy")) ?? .latest
        runAt = try row.optionalInt("run_at").map { Instant(secondsSinceEpoch: Int64($0)) }
        runAtProblem = row["run_at_problem"]
        due = try row.optionalInt("due").map { Instant(secondsSinceEpoch: Int64($0)) }
        dueProblem = row["due_problem"]
    }

    var isOneTime: Bool { cronExpression == nil }

    var identity: LogIdentity { LogIdentity(tenant: tenantID, project: projectID, agent: agentID, trigger: id) }

    func plan(now: Instant, schedules: inout ScheduleCache) -> SlotPlan {
        let plan = unchecked(now: now, schedules: &schedules)
        // No idempotency key or forwarded timestamp is ever made for a year outside 1–9999.
        for slot in plan.slots {
            if let error = SlotPlanner.yearError(slot, what: "slot \(slot.iso8601)") { return .failed(error) }
        }
        return plan
    }

    private func unchecked(now: Instant, schedules: inout ScheduleCache) -> SlotPlan {
        let schedule: TriggerSchedule
        do throws(ScheduleError) {
            // A one-time slot is run_at; next_run_at only said it is due (even as -infinity).
            schedule = try TriggerSchedule.resolve(
                cronExpression: cronExpression, timeZone: zone, runAt: runAt ?? due, runAtProblem: runAtProblem,
                cache: &schedules)
        } catch {
            return .failed(error.message)
        }
        switch schedule.timing {
        case .once(let runAt, _):
            return SlotPlanner.planOneTime(runAt: runAt)
        case .cron(let cron):
            guard let due else { return SlotPlanner.planCronFromUnreadableDue(schedule: cron, now: now, policy: policy) }
            return SlotPlanner.planCron(schedule: cron, due: due, now: now, policy: policy)
        }
    }
}

/// Column arrays for `advanceTriggers` / `applyHeal`.
struct TriggerUpdates {
    var tenants: [String?] = [], ids: [String?] = [], nextRunAts: [String?] = []
    var errors: [String?] = [], runAtRecorded: [String?] = []

    mutating func append(tenant: String, id: String, state: ScheduleState) {
        append(
            tenant: tenant, id: id,
            plan: SlotPlan(slots: [], nextRunAt: state.nextRunAt, scheduleError: state.scheduleError),
            runAtRecorded: state.runAtRecorded)
    }

    mutating func append(tenant: String, id: String, plan: SlotPlan, runAtRecorded recorded: Bool) {
        tenants.append(tenant)
        ids.append(id)
        nextRunAts.append(plan.scheduleError == nil ? plan.nextRunAt.map { String($0.secondsSinceEpoch) } : nil)
        errors.append(plan.scheduleError)
        runAtRecorded.append(recorded ? "t" : "f")
    }

    var parameters: [any PostgresParameter] {
        [PostgresArray(tenants), PostgresArray(ids), PostgresArray(nextRunAts), PostgresArray(errors), PostgresArray(runAtRecorded)]
    }
}

/// Column arrays for `PolicyInsert.insertInvocations`.
struct SlotRows {
    var tenants: [String?] = [], triggerIDs: [String?] = [], slots: [String?] = [], keys: [String?] = []

    var isEmpty: Bool { slots.isEmpty }

    mutating func append(tenant: String, triggerID: String, slot: Instant) {
        tenants.append(tenant)
        triggerIDs.append(triggerID)
        slots.append(String(slot.secondsSinceEpoch))
        keys.append(idempotencyKey(triggerID: triggerID, slot: slot))
    }

    var parameters: [any PostgresParameter] {
        [PostgresArray(tenants), PostgresArray(triggerIDs), PostgresArray(slots), PostgresArray(keys)]
    }

    var tenantArray: PostgresArray { PostgresArray(tenants) }
    var keyArray: PostgresArray { PostgresArray(keys) }

    /// The rows in pieces of at most `size`, so one statement never binds an unbounded array.
    func chunks(of size: Int) -> [SlotRows] {
        stride(from: 0, to: slots.count, by: size).map { start in
            let end = min(start + size, slots.count)
            return SlotRows(
                tenants: Array(tenants[start..<end]), triggerIDs: Array(triggerIDs[start..<end]),
                slots: Array(slots[start..<end]), keys: Array(keys[start..<end]))
        }
    }
}
