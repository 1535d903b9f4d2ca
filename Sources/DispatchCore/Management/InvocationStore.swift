import Postgres
import Schedules

/// contract §1: the states of an invocation.
public enum InvocationStatus: String, CaseIterable, Sendable {
    case pending, running, completed, failed, cancelled, skipped
}

/// A `scheduled_trigger_invocations` row as read back (timestamps in whole seconds).
public struct InvocationRecord: Sendable {
    public var tenantID: String
    public var id: String
    public var triggerID: String
    public var projectID: String
    public var agentID: String
    public var ref: String
    public var status: String
    /// The slot; nil when SQL stored one no instant can hold (±infinity, a year outside
    /// 1–9999): `unusableScheduledFor` says what it is then.
    public var scheduledFor: Instant?
    /// scheduled_for as PostgreSQL shows it when it is not a time the dispatcher can fire
    /// (`infinity`, `-infinity`, `4713-01-01 00:00:00 BC UTC`), as `TriggerRecord.unusableRunAt`.
    public var unusableScheduledFor: String?
    public var idempotencyKey: String
    public var attemptNumber: Int
    public var nextAttemptAt: Instant?
    public var leaseExpiresAt: Instant?
    public var executionID: String?
    public var lastError: String?
    public var lastHTTPStatus: Int?
    public var startedAt: Instant?
    public var completedAt: Instant?
    public var createdAt: Instant
    /// jsonb text of conversation_ids.
    public var conversationIDs: String
    /// The other timestamps SQL stored as values no instant can hold (±infinity, a year outside
    /// 1–9999), by column, as PostgreSQL shows them; the instant property is nil (created_at:
    /// the epoch) then. Shown as stored, never as "-" or 1970-01-01.
    public var unusableTimes: [String: String] = [:]

    /// The timestamp columns besides scheduled_for.
    static let timeColumns = ["next_attempt_at", "lease_expires_at", "started_at", "completed_at", "created_at"]

    static let columns = """
        tenant_id, id, scheduled_trigger_id, project_id, agent_id, ref, status,
        \(TimestampSQL.epoch("scheduled_for")) AS scheduled_for,
        \(TimestampSQL.display("scheduled_for")) AS scheduled_for_unusable, idempotency_key, attempt_number,
        \(TimestampSQL.epoch("next_attempt_at")) AS next_attempt_at,
        \(TimestampSQL.epoch("lease_expires_at")) AS lease_expires_at,
        execution_id, last_error, last_http_status,
        \(TimestampSQL.epoch("started_at")) AS started_at,
        \(TimestampSQL.epoch("completed_at")) AS completed_at,
        \(TimestampSQL.epoch("created_at")) AS created_at,
        \(timeColumns.map { "\(TimestampSQL.display($0)) AS \($0)_unusable" }.joined(separator: ",\n")),
        conversation_ids::text AS conversation_ids
        """

    init(_ row: Row) throws {
        func instant(_ column: String) throws -> Instant? {
            try row.optionalInt(column).map { Instant(secondsSinceEpoch: Int64($0)) }
        }
        tenantID = try row.string("tenant_id")
        id = try row.string("id")
        triggerID = try row.string("scheduled_trigger_id")
        projectID = try row.string("project_id")
        agentID = try row.string("agent_id")
        ref = try row.string("ref")
        status = try row.string("status")
        scheduledFor = try instant("scheduled_for")
        unusableScheduledFor = row["scheduled_for_unusable"]
        idempotencyKey = try row.string("idempotency_key")
        attemptNumber = try row.int("attempt_number")
        nextAttemptAt = try instant("next_attempt_at")
        leaseExpiresAt = try instant("lease_expires_at")
        executionID = row["execution_id"]
        lastError = row["last_error"]
        lastHTTPStatus = try row.optionalInt("last_http_status")
        startedAt = try instant("started_at")
        completedAt = try instant("completed_at")
        createdAt = try instant("created_at") ?? Instant(secondsSinceEpoch: 0)
        conversationIDs = row["conversation_ids"] ?? "[]"
        for column in Self.timeColumns {
            if let text = row["\(column)_unusable"] { unusableTimes[column] = text }
        }
    }

    /// A timestamp for people: `2026-03-08T07:00:00Z`, `-` when NULL, or the stored value
    /// (`infinity`) when no instant can hold it.
    public func timeText(_ column: String, _ value: Instant?) -> String {
        unusableTimes[column] ?? ManagementOutput.utc(value)
    }

    /// The slot for people: `2026-03-08T07:00:00Z`, or the stored value (`infinity`).
    public var slotText: String { unusableScheduledFor ?? ManagementOutput.utc(scheduledFor) }
}

/// Filters of `invocations list`; nil matches everything.
public struct InvocationFilter: Sendable {
    public var tenantID: String?
    public var triggerID: String?
    public var status: InvocationStatus?
    /// Only slots at or after this instant.
    public var since: Instant?
    public var limit: Int

    public init(
        tenantID: String? = nil, triggerID: String? = nil, status: InvocationStatus? = nil,
        since: Instant? = nil, limit: Int = 50
    ) {
        self.tenantID = tenantID
        self.triggerID = triggerID
        self.status = status
        self.since = since
        self.limit = limit
    }
}

/// The SQL behind `dispatch-due invocations …`.
///
/// Cancelling: a `pending` invocation (waiting for its first attempt or a retry), or a
/// `running` one that has no execution_id and whose lease has expired (its dispatcher died
/// before the endpoint accepted it, so nothing runs for it). A `running` invocation with a
/// live lease is being posted right now, and one with an execution_id runs at the endpoint,
/// which has no cancel call: both are refused, as are the finished states.
///
/// Rerunning: a finished invocation (`completed`, `failed` or `cancelled`) of an enabled
/// trigger gets a new `pending` invocation for the same slot, with the original's project,
/// agent, ref and resolved_payload, attempt 1, and the key `{key}_rerun_{n}` (n counts the
/// slot's reruns); the original row is not changed.
public struct InvocationStore {
    public init() {}

    static let selectList = """
        SELECT \(InvocationRecord.columns)
        FROM scheduled_trigger_invocations
        WHERE ($1::text IS NULL OR tenant_id = $1)
          AND ($2::text IS NULL OR scheduled_trigger_id = $2)
          AND ($3::text IS NULL OR status = $3)
          AND ($4::timestamptz IS NULL OR scheduled_for >= $4::timestamptz)
        ORDER BY scheduled_for DESC, created_at DESC, id
        LIMIT $5
        """

    public func list(_ filter: InvocationFilter, on connection: borrowing Connection) throws -> [InvocationRecord] {
        try connection.query(
            Self.selectList,
            [filter.tenantID, filter.triggerID, filter.status?.rawValue, filter.since?.iso8601, filter.limit]
        ).map { try InvocationRecord($0) }
    }

    static let selectOne = """
        SELECT \(InvocationRecord.columns)
        FROM scheduled_trigger_invocations
        WHERE tenant_id = $1 AND id = $2
        """

    public func fetch(tenant: String, id: String, on connection: borrowing Connection) throws -> InvocationRecord {
        guard let row = try connection.query(Self.selectOne, [tenant, id]).first else {
            throw Self.notFound(tenant: tenant, id: id)
        }
        return try InvocationRecord(row)
    }

    // MARK: cancel

    static let cancel = """
        UPDATE scheduled_trigger_invocations
        SET status = 'cancelled', completed_at = now(), lease_expires_at = NULL
        WHERE tenant_id = $1 AND id = $2
          AND (status = 'pending'
               OR (status = 'running' AND execution_id IS NULL AND lease_expires_at < now()))
        """

    /// Cancels one invocation; returns it as committed. Already cancelled: unchanged, no error.
    public func cancel(tenant: String, id: String, on connection: borrowing Connection) throws -> (record: InvocationRecord, changed: Bool) {
        try connection.transaction {
            let changed = try connection.query(Self.cancel, [tenant, id]).affected == 1
            let record = try fetch(tenant: tenant, id: id, on: connection)
            if changed || record.status == InvocationStatus.cancelled.rawValue { return (record, changed) }
            throw ManagementError.refused(Self.cancelRefusal(record))
        }
    }

    static func cancelRefusal(_ record: InvocationRecord) -> String {
        let prefix = "invocation \(record.id) is \(record.status)"
        switch record.status {
        case InvocationStatus.running.rawValue:
            if let execution = record.executionID {
                return prefix + " at the endpoint (execution \(execution)), which has no cancel call; "
                    + "its outcome will be recorded when it finishes"
            }
            return prefix + ": a dispatcher is posting it now (its lease has not expired); try again after the lease"
        default:
            return prefix + "; only pending invocations (or running ones abandoned before the endpoint accepted them) can be cancelled"
        }
    }

    // MARK: rerun

    static let selectForRerun = """
        SELECT i.status, i.scheduled_trigger_id, i.idempotency_key,
               \(TimestampSQL.epoch("i.scheduled_for")) AS scheduled_for,
               t.enabled AS trigger_enabled
        FROM scheduled_trigger_invocations i
        LEFT JOIN scheduled_triggers t ON t.tenant_id = i.tenant_id AND t.id = i.scheduled_trigger_id
        WHERE i.tenant_id = $1 AND i.id = $2
        FOR UPDATE OF i
        """

    /// Serialises reruns of one slot (whichever of its invocations they start from), so two
    /// concurrent reruns cannot both find the slot without an unfinished invocation.
    static let lockSlot = """
        SELECT pg_advisory_xact_lock(hashtextextended($1 || chr(31) || $2 || chr(31) || $3, 0))
        """

    /// The slot's invocations, read after `lockSlot` so a rerun committed meanwhile is seen.
    static let selectSlotKeys = """
        SELECT id, idempotency_key, status FROM scheduled_trigger_invocations
        WHERE tenant_id = $1 AND scheduled_trigger_id = $2 AND scheduled_for = $3::timestamptz
        ORDER BY created_at, id
        """

    static let insertRerun = """
        INSERT INTO scheduled_trigger_invocations (
            tenant_id, id, project_id, agent_id, scheduled_trigger_id, ref, status,
            scheduled_for, idempotency_key, attempt_number, resolved_payload)
        SELECT tenant_id, gen_random_uuid()::text, project_id, agent_id, scheduled_trigger_id, ref, 'pending',
               scheduled_for, $3, 1, resolved_payload
        FROM scheduled_trigger_invocations
        WHERE tenant_id = $1 AND id = $2
        ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
        RETURNING id
        """

    /// Records a new pending invocation for the original's slot; returns the new row.
    public func rerun(tenant: String, id: String, on connection: borrowing Connection) throws -> InvocationRecord {
        try connection.transaction {
            // Locking the original serialises concurrent reruns of it (it is not modified).
            guard let original = try connection.query(Self.selectForRerun, [tenant, id]).first else {
                throw Self.notFound(tenant: tenant, id: id)
            }
            let status = try original.string("status")
            let trigger = try original.string("scheduled_trigger_id")
            guard [InvocationStatus.completed, .failed, .cancelled, .skipped].map(\.rawValue).contains(status) else {
                throw ManagementError.refused(
                    "invocation \(id) is \(status): only finished invocations (completed, failed, cancelled, skipped) can be rerun")
            }
            switch original["trigger_enabled"] {
            case nil:
                throw ManagementError.refused(
                    "trigger \(trigger) of invocation \(id) was deleted; a rerun would be cancelled, not posted")
            case "f":
                throw ManagementError.refused(
                    "trigger \(trigger) of invocation \(id) is disabled; a rerun would be cancelled, not posted "
                        + "(enable it first: dispatch-due triggers enable \(trigger) --tenant \(tenant))")
            default: break
            }
            let base = Self.rerunBase(try original.string("idempotency_key"))
            guard let seconds = try original.optionalInt("scheduled_for") else {
                throw ManagementError.refused(
                    "invocation \(id) has a slot outside the years 1–9999 (written by SQL); it cannot be rerun")
            }
            let slot = Instant(secondsSinceEpoch: Int64(seconds))
            try connection.query(Self.lockSlot, [tenant, trigger, slot.iso8601])
            let slotRows = try connection.query(Self.selectSlotKeys, [tenant, trigger, slot.iso8601])
            // A rerun while another run of the slot is unfinished would run the slot twice more.
            if let unfinished = slotRows.first(where: { ["pending", "running"].contains($0["status"] ?? "") }) {
                let other = unfinished["id"] ?? "?"
                let state = unfinished["status"] ?? "?"
                throw ManagementError.refused("""
                    invocation \(other) (\(unfinished["idempotency_key"] ?? "?")) of the same slot \(slot.iso8601) is \
                    still \(state); a rerun now would run the slot twice. Wait until it finishes\
                    \(state == "pending" ? ", or cancel it first: dispatch-due invocations cancel \(other) --tenant \(tenant)" : "")
                    """)
            }
            let keys = slotRows.compactMap { $0["idempotency_key"] }
            var number = Self.nextRerunNumber(base: base, existing: keys)
            // A key taken by some other slot's row (unlikely: keys embed the slot) moves n on.
            for _ in 0..<100 {
                let key = "\(base)_rerun_\(number)"
                if let row = try connection.query(Self.insertRerun, [tenant, id, key]).first {
                    return try fetch(tenant: tenant, id: try row.string("id"), on: connection)
                }
                number += 1
            }
            throw ManagementError.refused("could not find a free idempotency key for a rerun of \(id)")
        }
    }

    /// The key a rerun numbers from: the original's, without a `_rerun_{n}` suffix of its own,
    /// so rerunning a rerun gives `{key}_rerun_2`, not `{key}_rerun_1_rerun_1`.
    static func rerunBase(_ key: String) -> String {
        guard let range = key.ranges(of: "_rerun_").last else { return key }
        let suffix = key[range.upperBound...]
        guard !suffix.isEmpty, suffix.allSatisfy({ $0.isASCII && $0.isNumber }) else { return key }
        return String(key[..<range.lowerBound])
    }

    /// 1 + the highest n among `{base}_rerun_{n}` in `existing`.
    static func nextRerunNumber(base: String, existing: [String]) -> Int {
        let prefix = base + "_rerun_"
        let numbers = existing.compactMap { key -> Int? in
            guard key.hasPrefix(prefix) else { return nil }
            return Int(key.dropFirst(prefix.count))
        }
        return (numbers.max() ?? 0) + 1
    }

    static func notFound(tenant: String, id: String) -> ManagementError {
        .notFound("no invocation \(id) for tenant \(tenant)")
    }
}
