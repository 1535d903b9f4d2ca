import Postgres
import Schedules

/// A `scheduled_triggers` row as read back, with the status of its latest invocation.
public struct TriggerRecord: Sendable {
    public var definition: TriggerDefinition
    public var id: String
    public var nextRunAt: Instant?
    public var scheduleError: String?
    public var createdAt: Instant
    public var updatedAt: Instant
    public var lastStatus: String?
    public var lastScheduledFor: Instant?
    /// run_at as PostgreSQL shows it when it is not a time the dispatcher can fire
    /// (`infinity`, `-infinity`, `4713-01-01 00:00:00 BC UTC`); `definition.runAt` is nil then.
    public var unusableRunAt: String?
    /// next_run_at likewise (`nextRunAt` is nil then).
    public var unusableNextRunAt: String?
    /// contract §6: why the dispatcher paused it; nil otherwise.
    public var pausedReason: String?
    /// The stored description's length in characters when `definition.description` holds only
    /// its first `descriptionShownCharacters` (a read for display); nil when it is whole.
    public var descriptionCutFrom: Int?
    /// The stored payload's size in bytes (`jsonb` text) when it is over
    /// `ExecutionLimits.payloadBytes` and was not read (`definition.payload` is nil then);
    /// nil when it was read whole (or is NULL).
    public var payloadOverLimitBytes: Int?
    /// The stored message template's size in bytes when it is over
    /// `ExecutionLimits.templateBytes` and was not read (`definition.messageTemplate` is nil).
    public var messageTemplateOverLimitBytes: Int?

    /// The most of a description a read for display fetches (contract §5.4: the memory of
    /// `triggers list` and `show` does not grow with what a tenant wrote; the column is
    /// unbounded text).
    public static let descriptionShownCharacters = 4_096

    /// The select list every trigger read uses; timestamps come back as whole epoch seconds,
    /// or NULL plus PostgreSQL's text when SQL stored one no instant can hold (±infinity, a
    /// year outside 1–9999): reading such a row must never fail (`list` of every tenant,
    /// `show`, `update`, `delete` of that very row). (`t` is scheduled_triggers; `last` is its
    /// latest invocation.) `columns` is for display and fetches at most
    /// `descriptionShownCharacters` of the description; `columnsWhole` fetches all of it, for
    /// an edit that writes the row back.
    static let columns = columnList(description: """
        left(t.description, \(descriptionShownCharacters)) AS description,
        CASE WHEN char_length(t.description) > \(descriptionShownCharacters)
             THEN char_length(t.description) END AS description_cut_from
        """)

    static let columnsWhole = columnList(description: "t.description, NULL::int8 AS description_cut_from")

    /// payload and message_template are never read over their limits (SQL may write megabytes;
    /// contract §5.4): only their size is, for every read, an update's included (it keeps the
    /// stored value when it does not change it).
    static let boundedPayload = """
        CASE WHEN octet_length(t.payload::text) <= \(ExecutionLimits.payloadBytes) THEN t.payload::text END AS payload,
        CASE WHEN octet_length(t.payload::text) > \(ExecutionLimits.payloadBytes)
             THEN octet_length(t.payload::text) END AS payload_over_limit_bytes,
        CASE WHEN octet_length(t.message_template) <= \(ExecutionLimits.templateBytes)
             THEN t.message_template END AS message_template,
        CASE WHEN octet_length(t.message_template) > \(ExecutionLimits.templateBytes)
             THEN octet_length(t.message_template) END AS message_template_over_limit_bytes
        """

    private static func columnList(description: String) -> String {
        """
        t.tenant_id, t.id, t.project_id, t.agent_id, t.name, \(description), t.enabled,
        t.cron_expression, t.cron_timezone, \(TimestampSQL.epoch("t.run_at")) AS run_at,
        \(TimestampSQL.display("t.run_at")) AS run_at_unusable,
        \(TimestampSQL.problem("t.run_at")) AS run_at_problem,
        \(boundedPayload), t.max_retries, t.retry_delay_seconds,
        t.timeout_seconds, t.misfire_policy, t.run_as_user_id, t.created_by, t.ref,
        \(TimestampSQL.epoch("t.next_run_at")) AS next_run_at,
        \(TimestampSQL.display("t.next_run_at")) AS next_run_at_unusable, t.schedule_error,
        \(TimestampSQL.epoch("t.created_at")) AS created_at,
        \(TimestampSQL.epoch("t.updated_at")) AS updated_at,
        t.overlap_policy, t.jitter_seconds, t.pause_after_failures, t.paused_reason,
        last.status AS last_status,
        \(TimestampSQL.epoch("last.scheduled_for")) AS last_scheduled_for
        """
    }

    /// The latest invocation per trigger, through the (tenant_id, scheduled_trigger_id,
    /// scheduled_for) index: one index probe per trigger listed.
    static let latestInvocationJoin = """
        LEFT JOIN LATERAL (
            SELECT i.status, i.scheduled_for
            FROM scheduled_trigger_invocations i
            WHERE i.tenant_id = t.tenant_id AND i.scheduled_trigger_id = t.id
            ORDER BY i.scheduled_for DESC, i.created_at DESC
            LIMIT 1
        ) last ON true
        """

    init(_ row: Row) throws {
        func instant(_ column: String) throws -> Instant? {
            try row.optionalInt(column).map { Instant(secondsSinceEpoch: Int64($0)) }
        }
        let policyText = try row.string("misfire_policy")
        definition = TriggerDefinition(
            tenantID: try row.string("tenant_id"),
            id: try row.string("id"),
            projectID: try row.string("project_id"),
            agentID: try row.string("agent_id"),
            name: try row.string("name"),
            description: row["description"],
            enabled: try row.bool("enabled"),
            cronExpression: row["cron_expression"],
            timeZone: try row.string("cron_timezone"),
            runAt: try instant("run_at"),
            payload: row["payload"],
            messageTemplate: row["message_template"],
            maxRetries: try row.int("max_retries"),
            retryDelaySeconds: try row.int("retry_delay_seconds"),
            timeoutSeconds: try row.int("timeout_seconds"),
            misfirePolicy: MisfirePolicy(rawValue: policyText) ?? .latest,
            runAsUserID: row["run_as_user_id"],
            createdBy: row["created_by"],
            ref: try row.string("ref"),
            overlapPolicy: OverlapPolicy(rawValue: try row.string("overlap_policy")) ?? .allow,
            jitterSeconds: try row.int("jitter_seconds"),
            pauseAfterFailures: try row.optionalInt("pause_after_failures"))
        id = try row.string("id")
        nextRunAt = try instant("next_run_at")
        scheduleError = row["schedule_error"]
        createdAt = try instant("created_at") ?? Instant(secondsSinceEpoch: 0)
        updatedAt = try instant("updated_at") ?? Instant(secondsSinceEpoch: 0)
        lastStatus = row["last_status"]
        lastScheduledFor = try instant("last_scheduled_for")
        unusableRunAt = row["run_at_unusable"]
        unusableNextRunAt = row["next_run_at_unusable"]
        runAtProblem = row["run_at_problem"].map { TimestampSQL.message(column: "run_at", problem: $0) }
        pausedReason = row["paused_reason"]
        descriptionCutFrom = try row.optionalInt("description_cut_from")
        payloadOverLimitBytes = try row.optionalInt("payload_over_limit_bytes")
        messageTemplateOverLimitBytes = try row.optionalInt("message_template_over_limit_bytes")
    }

    /// The schedule error a stored run_at that cannot be fired gets (as the heal words it).
    public var runAtProblem: String?

    /// "0 9 * * 1-5" or "once at 2026-03-08T07:00:00Z".
    public var scheduleText: String {
        if let cron = definition.cronExpression { return cron }
        if let runAt = definition.runAt { return "once at \(runAt.iso8601)" }
        if let unusableRunAt { return "once at \(unusableRunAt) (not a time it can fire)" }
        return "-"
    }

    /// The stored schedule, or nil when it cannot be computed (invalid cron or zone written by SQL).
    public var schedule: TriggerSchedule? { try? definition.resolveSchedule() }

    /// The zone's rules, or nil when the stored name is unknown.
    public var zone: TimeZoneRules? { try? TimeZoneRules.named(definition.timeZone) }
}
