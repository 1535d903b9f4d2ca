import Postgres
import Schedules

/// What a trigger write did, for the command to report.
public struct TriggerWriteResult: Sendable {
    /// The row as committed.
    public var record: TriggerRecord
    /// The database clock the write used (`now()` of its transaction, whole seconds).
    public var now: Instant
    /// Pending invocations of the trigger set to `cancelled` by this write.
    public var cancelled: Int
    /// False when the command found nothing to change (e.g. enabling an enabled trigger).
    public var changed: Bool
}

/// Filters of `triggers list`; nil matches everything.
public struct TriggerFilter: Sendable {
    public var tenantID: String?
    public var projectID: String?
    public var agentID: String?
    public var limit: Int

    public init(tenantID: String? = nil, projectID: String? = nil, agentID: String? = nil, limit: Int = 1000) {
        self.tenantID = tenantID
        self.projectID = projectID
        self.agentID = agentID
        self.limit = limit
    }
}

/// The SQL behind `dispatch-due triggers …`. Every write is one transaction that keeps the
/// invariants of contract §1–§3: an enabled trigger leaves with its next_run_at computed from the
/// database clock (or a schedule_error), and a trigger that stops firing (disabled, deleted,
/// rescheduled) leaves no pending invocation that would still be posted.
public struct TriggerStore {
    public init() {}

    // MARK: Reads

    static let selectOne = """
        SELECT \(TriggerRecord.columns)
        FROM scheduled_triggers t
        \(TriggerRecord.latestInvocationJoin)
        WHERE t.tenant_id = $1 AND t.id = $2
        """

    /// The whole row (description included): an update writes it back.
    static let selectOneForUpdate = """
        SELECT \(TriggerRecord.columnsWhole)
        FROM scheduled_triggers t
        \(TriggerRecord.latestInvocationJoin)
        WHERE t.tenant_id = $1 AND t.id = $2
        FOR UPDATE OF t
        """

    static let selectList = """
        SELECT \(TriggerRecord.columns)
        FROM scheduled_triggers t
        \(TriggerRecord.latestInvocationJoin)
        WHERE ($1::text IS NULL OR t.tenant_id = $1)
          AND ($2::text IS NULL OR t.project_id = $2)
          AND ($3::text IS NULL OR t.agent_id = $3)
        ORDER BY t.tenant_id, t.name, t.id
        LIMIT $4
        """

    /// The database clock at the start of the current transaction, in whole seconds.
    static let selectNow = "SELECT floor(extract(epoch FROM now()))::int8 AS now"

    public func list(_ filter: TriggerFilter, on connection: borrowing Connection) throws -> [TriggerRecord] {
        try connection.query(Self.selectList, [filter.tenantID, filter.projectID, filter.agentID, filter.limit])
            .map { try TriggerRecord($0) }
    }

    /// The trigger, or `notFound` (also when only another tenant has that id).
    public func fetch(tenant: String, id: String, on connection: borrowing Connection) throws -> TriggerRecord {
        guard let row = try connection.query(Self.selectOne, [tenant, id]).first else {
            throw Self.notFound(tenant: tenant, id: id)
        }
        return try TriggerRecord(row)
    }

    /// The database clock, for previews outside a write.
    public func databaseNow(on connection: borrowing Connection) throws -> Instant {
        try Self.now(on: connection)
    }

    // MARK: add

    static let insert = """
        INSERT INTO scheduled_triggers (
            tenant_id, id, project_id, agent_id, name, description, enabled,
            cron_expression, cron_timezone, run_at, payload, message_template,
            max_retries, retry_delay_seconds, timeout_seconds, misfire_policy,
            run_as_user_id, created_by, ref)
        VALUES ($1, coalesce($2, gen_random_uuid()::text), $3, $4, $5, $6, $7,
                $8, $9, $10::timestamptz, $11::jsonb, $12,
                $13, $14, $15, $16,
                $17, $18, $19)
        ON CONFLICT (tenant_id, id) DO NOTHING
        RETURNING id
        """

    /// Inserts a validated trigger and schedules it from the database clock. A taken id is `refused`.
    public func add(_ definition: TriggerDefinition, on connection: borrowing Connection) throws -> TriggerWriteResult {
        try definition.validateFields()
        _ = try definition.validateSchedule()
        return try connection.transaction {
            let now = try Self.now(on: connection)
            let inserted = try Self.mapDataErrors {
                try connection.query(Self.insert, Self.columnParameters(definition, leading: [definition.tenantID, definition.id]))
            }
            guard let id = inserted.first?["id"] else {
                throw ManagementError.refused(
                    "trigger \(definition.id ?? "?") already exists for tenant \(definition.tenantID); "
                        + "use `dispatch-due triggers update` to change it")
            }
            try Self.mapDataErrors { try PolicyColumns.write(definition, tenant: definition.tenantID, id: id, on: connection) }
            if definition.enabled { try Self.schedule(tenant: definition.tenantID, id: id, on: connection) }
            let record = try fetch(tenant: definition.tenantID, id: id, on: connection)
            return TriggerWriteResult(record: record, now: now, cancelled: 0, changed: true)
        }
    }

    // MARK: update

    static let update = """
        UPDATE scheduled_triggers
        SET project_id = $3, agent_id = $4, name = $5, description = $6,
            cron_expression = $8, cron_timezone = $9,
            run_at = CASE WHEN $20::bool THEN run_at ELSE $10::timestamptz END,
            payload = CASE WHEN $21::bool THEN payload ELSE $11::jsonb END,
            message_template = CASE WHEN $22::bool THEN message_template ELSE $12 END,
            max_retries = $13, retry_delay_seconds = $14, timeout_seconds = $15, misfire_policy = $16,
            run_as_user_id = $17, created_by = $18, ref = $19,
            enabled = $7, updated_at = now()
        WHERE tenant_id = $1 AND id = $2
        """

    /// Applies `changes`. When the schedule changes, the row trigger clears next_run_at; this
    /// sets it again (enabled triggers) and cancels the pending invocations whose slot is not
    /// in the new schedule, all in one transaction.
    public func update(
        tenant: String, id: String, _ changes: TriggerChanges, on connection: borrowing Connection
    ) throws -> TriggerWriteResult {
        try connection.transaction {
            let now = try Self.now(on: connection)
            let current = try lockedRecord(tenant: tenant, id: id, on: connection)
            let updated = try changes.applied(to: current.definition)
            try updated.validateFields()
            let scheduleChanged = updated.scheduleDiffers(from: current.definition)
            // An unchanged schedule is not re-validated: a row with a schedule_error written by
            // SQL can still get its other fields edited (and keeps its error until the schedule is fixed).
            let schedule = scheduleChanged ? try updated.validateSchedule() : nil
            // A run_at no instant can hold (±infinity, a year outside 1–9999, written by SQL) reads
            // back as nil: an edit that leaves the schedule alone keeps the stored value as it is.
            let keepStoredRunAt = current.unusableRunAt != nil && updated.runAt == nil && updated.cronExpression == nil
            // A payload or template over its limit (written by SQL) was not read: an edit that
            // does not set or clear it keeps the stored value as it is.
            let keepStoredPayload = current.payloadOverLimitBytes != nil && changes.payload == nil && !changes.clearPayload
            let keepStoredTemplate = current.messageTemplateOverLimitBytes != nil && changes.messageTemplate == nil
            try Self.mapDataErrors {
                try connection.query(Self.update, Self.columnParameters(updated, leading: [tenant, id])
                        + [keepStoredRunAt, keepStoredPayload, keepStoredTemplate])
                try PolicyColumns.write(updated, tenant: tenant, id: id, on: connection)
            }
            var cancelled = 0
            if let schedule {
                if updated.enabled { try Self.schedule(tenant: tenant, id: id, on: connection) }
                cancelled = try Self.cancelPending(tenant: tenant, trigger: id, outside: schedule, on: connection)
            }
            let record = try fetch(tenant: tenant, id: id, on: connection)
            return TriggerWriteResult(record: record, now: now, cancelled: cancelled, changed: true)
        }
    }

    // MARK: enable, disable, delete

    static let setEnabled = """
        UPDATE scheduled_triggers SET enabled = $3, updated_at = now()
        WHERE tenant_id = $1 AND id = $2
        """

    /// Enables a trigger from now on: its next_run_at is the first slot after the database
    /// clock (one-time: run_at, unless that slot was already recorded), so the slots missed
    /// while it was disabled are not fired. Enabling an enabled trigger changes nothing.
    public func enable(tenant: String, id: String, on connection: borrowing Connection) throws -> TriggerWriteResult {
        try connection.transaction {
            let now = try Self.now(on: connection)
            let current = try lockedRecord(tenant: tenant, id: id, on: connection)
            guard !current.definition.enabled else {
                return TriggerWriteResult(record: current, now: now, cancelled: 0, changed: false)
            }
            // The row trigger clears next_run_at, schedule_error and run_at_recorded. A schedule
            // written by SQL that cannot be computed is enabled with the reason recorded where
            // `status` and `triggers list` show it, as the heal would.
            try connection.query(Self.setEnabled, [tenant, id, true])
            try Self.schedule(tenant: tenant, id: id, on: connection)
            let record = try fetch(tenant: tenant, id: id, on: connection)
            return TriggerWriteResult(record: record, now: now, cancelled: 0, changed: true)
        }
    }

    /// Disables a trigger and cancels its pending invocations in the same transaction, so
    /// nothing of it is posted afterwards. Disabling a disabled trigger still cancels
    /// any pending invocation it has (e.g. recorded by a concurrent cycle before it was disabled).
    public func disable(tenant: String, id: String, on connection: borrowing Connection) throws -> TriggerWriteResult {
        try connection.transaction {
            let now = try Self.now(on: connection)
            let current = try lockedRecord(tenant: tenant, id: id, on: connection)
            if current.definition.enabled {
                // The row trigger clears next_run_at.
                try connection.query(Self.setEnabled, [tenant, id, false])
            }
            let cancelled = try connection.query(Self.cancelScheduledPending, [tenant, id]).affected
            let record = try fetch(tenant: tenant, id: id, on: connection)
            return TriggerWriteResult(
                record: record, now: now, cancelled: cancelled, changed: current.definition.enabled || cancelled > 0)
        }
    }

    static let delete = """
        DELETE FROM scheduled_triggers WHERE tenant_id = $1 AND id = $2
        """

    /// Deletes a trigger and cancels its pending invocations; the invocation history stays.
    public func delete(tenant: String, id: String, on connection: borrowing Connection) throws -> TriggerWriteResult {
        try connection.transaction {
            let now = try Self.now(on: connection)
            let record = try lockedRecord(tenant: tenant, id: id, on: connection)
            try connection.query(Self.delete, [tenant, id])
            let cancelled = try connection.query(Self.cancelAllPending, [tenant, id]).affected
            return TriggerWriteResult(record: record, now: now, cancelled: cancelled, changed: true)
        }
    }

    // MARK: Scheduling and cancelling

    static let setSchedule = """
        UPDATE scheduled_triggers
        SET next_run_at = $3::timestamptz, schedule_error = $4, run_at_recorded = $5
        WHERE tenant_id = $1 AND id = $2
        """

    /// Schedules the trigger as it is stored, exactly as the heal would (contract §2 step 2), from
    /// the transaction's clock: the same columns, the same rule (`TriggerSchedule.state(of:cache:)`),
    /// so the CLI and a cycle schedule, and word errors, alike. Does not touch
    /// cron_expression/cron_timezone/run_at/enabled, so the row trigger keeps the result.
    static func schedule(tenant: String, id: String, on connection: borrowing Connection) throws {
        guard let row = try connection.query(TriggerSchedule.selectScheduleColumns, [tenant, id]).first else {
            throw Self.notFound(tenant: tenant, id: id)
        }
        var cache = ScheduleCache()
        let state = try TriggerSchedule.state(of: row, cache: &cache)
        try connection.query(
            Self.setSchedule, [tenant, id, state.nextRunAt?.iso8601, state.scheduleError, state.runAtRecorded])
    }

    static let cancelAllPending = """
        UPDATE scheduled_trigger_invocations
        SET status = 'cancelled', completed_at = now(), lease_expires_at = NULL
        WHERE tenant_id = $1 AND scheduled_trigger_id = $2 AND status = 'pending'
        """

    /// contract §6: disabling cancels scheduled slots (`sched_…`), not a run a person asked for (`manual_…`).
    static let cancelScheduledPending = """
        UPDATE scheduled_trigger_invocations
        SET status = 'cancelled', completed_at = now(), lease_expires_at = NULL
        WHERE tenant_id = $1 AND scheduled_trigger_id = $2 AND status = 'pending'
          AND NOT \(RunNow.isRunNowKey("idempotency_key"))
        """

    static let selectPendingSlots = """
        SELECT id, \(TimestampSQL.epoch("scheduled_for")) AS slot
        FROM scheduled_trigger_invocations
        WHERE tenant_id = $1 AND scheduled_trigger_id = $2 AND status = 'pending'
          AND NOT \(RunNow.isRunNowKey("idempotency_key"))  -- a run-now is not a slot of any schedule
        FOR UPDATE
        """

    static let cancelListed = """
        UPDATE scheduled_trigger_invocations
        SET status = 'cancelled', completed_at = now(), lease_expires_at = NULL
        WHERE tenant_id = $1 AND id = ANY($2::text[]) AND status = 'pending'
        """

    /// Cancels the trigger's pending invocations whose slot `schedule` does not fire at.
    static func cancelPending(
        tenant: String, trigger: String, outside schedule: TriggerSchedule, on connection: borrowing Connection
    ) throws -> Int {
        let pending = try connection.query(Self.selectPendingSlots, [tenant, trigger])
        var stale: [String] = []
        for row in pending {
            // A slot no instant can hold (written by SQL) is in no schedule.
            guard let seconds = try row.optionalInt("slot") else {
                stale.append(try row.string("id"))
                continue
            }
            if !schedule.contains(Instant(secondsSinceEpoch: Int64(seconds))) { stale.append(try row.string("id")) }
        }
        guard !stale.isEmpty else { return 0 }
        return try connection.query(Self.cancelListed, [tenant, PostgresArray(stale)]).affected
    }

    // MARK: Helpers

    func lockedRecord(tenant: String, id: String, on connection: borrowing Connection) throws -> TriggerRecord {
        guard let row = try connection.query(Self.selectOneForUpdate, [tenant, id]).first else {
            throw Self.notFound(tenant: tenant, id: id)
        }
        return try TriggerRecord(row)
    }

    /// The database clock at the start of the transaction, in whole seconds (`selectNow`).
    static func now(on connection: borrowing Connection) throws -> Instant {
        Instant(secondsSinceEpoch: Int64(try connection.query(selectNow).first!.int("now")))
    }

    static func notFound(tenant: String, id: String) -> ManagementError {
        .notFound("no trigger \(id) for tenant \(tenant)")
    }

    /// $3…$19 of `insert` and `update`, after `leading` ($1, $2).
    static func columnParameters(_ d: TriggerDefinition, leading: [(any PostgresParameter)]) -> [any PostgresParameter] {
        leading + [
            d.projectID, d.agentID, d.name, d.description, d.enabled,
            d.cronExpression, d.timeZone, d.runAt?.iso8601, d.payload, d.messageTemplate,
            d.maxRetries, d.retryDelaySeconds, d.timeoutSeconds, d.misfirePolicy.rawValue,
            d.runAsUserID, d.createdBy, d.ref,
        ]
    }

    /// A value the database refuses (a CHECK, a type's range, jsonb's rules) is a usage error,
    /// not an internal one: the validation above should have caught it, and nothing was written.
    @discardableResult
    static func mapDataErrors<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as PostgresError where error.sqlState?.errorClass == PostgresError.SQLState.dataExceptionClass
            || error.sqlState == .checkViolation
        {
            throw ManagementError.invalid("the database refused the value: \(error.message)")
        }
    }
}
