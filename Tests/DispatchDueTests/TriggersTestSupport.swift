import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// Helpers for the `triggers` and `invocations` command tests: run the real binary against a
/// private database, seed rows with plain SQL, and read rows back.
extension TestDatabase {
    /// Runs `dispatch-due ARGS` with DATABASE_URL pointing at this database.
    func cli(_ arguments: [String]) throws -> ProcessResult {
        try ChildProcess.run("dispatch-due", arguments, extraEnvironment: ["DATABASE_URL": url])
    }

    /// The first column of the first row, as text (nil for SQL NULL or no row).
    func value(_ sql: String, _ parameters: [any PostgresParameter] = []) throws -> String? {
        let connection = try connect()
        return try connection.query(sql, parameters).first?.values.first ?? nil
    }

    func execute(_ sql: String, _ parameters: [any PostgresParameter] = []) throws {
        let connection = try connect()
        try connection.query(sql, parameters)
    }

    /// Every row of both tables as text, sorted: equal snapshots mean nothing changed.
    func snapshot() throws -> String {
        let triggers = try value("SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '') FROM scheduled_triggers t") ?? ""
        let invocations = try value(
            "SELECT coalesce(string_agg(i::text, E'\\n' ORDER BY i::text), '') FROM scheduled_trigger_invocations i") ?? ""
        return triggers + "\n--\n" + invocations
    }

    /// Inserts a trigger row directly (as an operator's SQL would), with a next_run_at given.
    func insertTrigger(
        tenant: String, id: String, cron: String? = "0 0 * * *", zone: String = "UTC", runAt: String? = nil,
        enabled: Bool = true, nextRunAt: String? = nil
    ) throws {
        try execute(
            """
            INSERT INTO scheduled_triggers (tenant_id, id, project_id, agent_id, name, enabled,
                cron_expression, cron_timezone, run_at, payload)
            VALUES ($1, $2, 'proj', 'agent', $7, $3, $4, $5, $6::timestamptz, '{"k": "v"}')
            """, [tenant, id, enabled, cron, zone, runAt, "seeded \(id)"])
        // A separate UPDATE of next_run_at alone: the row trigger leaves it as set.
        try execute(
            "UPDATE scheduled_triggers SET next_run_at = $3::timestamptz WHERE tenant_id = $1 AND id = $2",
            [tenant, id, nextRunAt])
    }

    /// Inserts an invocation of `trigger` for `slot` with the given state.
    func insertInvocation(
        tenant: String, id: String, trigger: String, slot: String, status: String,
        executionID: String? = nil, leaseExpiresInSeconds: Int? = nil, key: String? = nil
    ) throws {
        try execute(
            """
            INSERT INTO scheduled_trigger_invocations (tenant_id, id, project_id, agent_id,
                scheduled_trigger_id, ref, status, scheduled_for, idempotency_key, execution_id,
                lease_expires_at, resolved_payload, attempt_number)
            VALUES ($1, $2, 'proj', 'agent', $3, 'main', $4, $5::timestamptz, $6, $7,
                    now() + make_interval(secs => $8::int), '{"k": "v"}', 2)
            """,
            [tenant, id, trigger, status, slot, key ?? "key_\(id)", executionID, leaseExpiresInSeconds])
    }

    func status(tenant: String, invocation: String) throws -> String? {
        try value("SELECT status FROM scheduled_trigger_invocations WHERE tenant_id = $1 AND id = $2", [tenant, invocation])
    }

    /// next_run_at in UTC as `YYYY-MM-DDTHH:MM:SSZ`, or nil.
    func nextRunAt(tenant: String, trigger: String) throws -> String? {
        try value(
            """
            SELECT to_char(next_run_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
            FROM scheduled_triggers WHERE tenant_id = $1 AND id = $2
            """, [tenant, trigger])
    }

    /// Evaluates `expression` (SQL over the trigger row `t`) as UTC text, for expected values
    /// worked out with PostgreSQL's own calendar and time-zone code, not ours.
    func expected(_ expression: String, tenant: String, trigger: String) throws -> String? {
        try value(
            """
            SELECT to_char((\(expression)) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
            FROM scheduled_triggers t WHERE t.tenant_id = $1 AND t.id = $2
            """, [tenant, trigger])
    }
}

/// The arguments `triggers add` needs besides the schedule.
func baseAdd(tenant: String = "acme", id: String? = "t1") -> [String] {
    ["triggers", "add", "--tenant", tenant, "--project", "proj", "--agent", "agent", "--name", "nightly"]
        + (id.map { ["--id", $0] } ?? [])
}
