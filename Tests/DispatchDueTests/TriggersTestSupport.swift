import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// Helpers for the `triggers` and `invocations` command tests: run the real binary against a
/// private database, seed rows with plain SQL, and read rows back.
extension TestDatabase {
    /// Runs `dispatch-due ARGS` with DATABASE_URL pointing at this database.
    func cli(_ arguments: [String]) throws -> ProcessResult { try dispatchDue(arguments) }

    /// The first column of the first row, as text (nil for SQL NULL or no row).
    func value(_ sql: String, _ parameters: [any PostgresParameter] = []) throws -> String? {
        try connect().value(sql, parameters)
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
