import DispatchCore
import Postgres

/// A point in time for a fixture row: a literal timestamp (`"2026-01-01T00:00:00Z"`, or
/// `.at(text)` for a value held in a variable) or SQL over now() (`.sql("now() - interval '1 day'")`).
public struct SQLTime: Sendable, ExpressibleByStringLiteral {
    /// The SQL expression written into the statement.
    public let expression: String

    public init(stringLiteral value: String) { self = .at(value) }
    init(expression: String) { self.expression = expression }

    /// A timestamptz literal; the text is the test's own, quoted for SQL.
    public static func at(_ timestamp: String) -> SQLTime {
        SQLTime(expression: "'" + timestamp.replacing("'", with: "''") + "'::timestamptz")
    }

    /// An SQL expression (e.g. `now() - interval '10 minutes'`), never a value from outside.
    public static func sql(_ expression: String) -> SQLTime { SQLTime(expression: "(" + expression + ")::timestamptz") }

    public static let now = SQLTime.sql("now()")

    /// now() plus `seconds` (negative: in the past), as a lease or a retry time is set.
    public static func secondsFromNow(_ seconds: Int) -> SQLTime {
        SQLTime(expression: "(now() + make_interval(secs => \(seconds)))")
    }
    /// SQL NULL, where a column would otherwise get a value.
    public static let null = SQLTime(expression: "NULL::timestamptz")
}

/// The statuses of finished invocations (completed_at set).
public let finishedStatuses: Set<String> = ["completed", "failed", "cancelled", "skipped"]

/// The test API key stand-ins and dispatchers share (never printed by a dispatcher).
public let testAPIKey = "sk-test-Zq7Xv9Lm2Pw4-secret"

/// Rows written with SQL, as any other writer (an operator, an API) would write them: only the
/// columns a test names, the rest left to the schema's defaults.
extension Connection {
    /// Inserts one trigger. `nil` leaves a column to its default (next_run_at NULL: the next
    /// cycle heals it). Identity defaults: tenant `t1`, project `proj`, agent `agent`.
    public func insertTrigger(
        tenant: String = "t1", id: String, project: String = "proj", agent: String = "agent",
        name: String = "test trigger", cron: String? = nil, zone: String? = nil, runAt: SQLTime? = nil,
        nextRunAt: SQLTime? = nil, enabled: Bool = true, payload: String? = nil, template: String? = nil,
        misfire: String? = nil, overlap: String? = nil, jitter: Int? = nil, pauseAfter: Int? = nil,
        maxRetries: Int? = nil, retryDelay: Int? = nil, timeout: Int? = nil, runAsUser: String? = nil,
        ref: String? = nil, scheduleError: String? = nil
    ) throws {
        var row = FixtureRow()
        row.bind("tenant_id", tenant)
        row.bind("id", id)
        row.bind("project_id", project)
        row.bind("agent_id", agent)
        row.bind("name", name)
        row.bind("enabled", enabled)
        row.bind("cron_expression", cron)
        row.bind("cron_timezone", zone)
        row.time("run_at", runAt)
        row.time("next_run_at", nextRunAt)
        row.bind("payload", payload, cast: "jsonb")
        row.bind("message_template", template)
        row.bind("misfire_policy", misfire)
        row.bind("overlap_policy", overlap)
        row.bind("jitter_seconds", jitter)
        row.bind("pause_after_failures", pauseAfter)
        row.bind("max_retries", maxRetries)
        row.bind("retry_delay_seconds", retryDelay)
        row.bind("timeout_seconds", timeout)
        row.bind("run_as_user_id", runAsUser)
        row.bind("ref", ref)
        row.bind("schedule_error", scheduleError)
        try row.insert(into: "scheduled_triggers", on: self)
    }

    /// Inserts one invocation of `trigger` for `slot` and returns its id (`inv-` and random hex
    /// unless given). The key defaults to the dispatch stage's `sched_{trigger}_{slot}`;
    /// completed_at to now() for a finished status; created_at to now().
    @discardableResult
    public func insertInvocation(
        tenant: String = "t1", id: String? = nil, trigger: String, project: String = "proj",
        agent: String = "agent", ref: String = "main", slot: SQLTime, status: String = "pending",
        key: String? = nil, attempt: Int = 1, createdAt: SQLTime? = nil, nextAttemptAt: SQLTime? = nil,
        completedAt: SQLTime? = nil, leaseExpiresAt: SQLTime? = nil, held: Bool = false,
        executionID: String? = nil, lastError: String? = nil, payload: String? = #"{"k": "v"}"#
    ) throws -> String {
        let id = id ?? "inv-" + randomHex(8)
        var row = FixtureRow()
        row.bind("tenant_id", tenant)
        row.bind("id", id)
        row.bind("project_id", project)
        row.bind("agent_id", agent)
        row.bind("scheduled_trigger_id", trigger)
        row.bind("ref", ref)
        row.bind("status", status)
        row.time("scheduled_for", slot)
        if let key {
            row.bind("idempotency_key", key)
        } else {
            row.append(
                "idempotency_key",
                "'sched_' || \(row.parameter(trigger, cast: "text")) || '_' || to_char(\(slot.expression) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
        }
        row.bind("attempt_number", attempt)
        row.time("created_at", createdAt)
        row.time("next_attempt_at", nextAttemptAt)
        row.time("completed_at", completedAt ?? (finishedStatuses.contains(status) ? .now : nil))
        row.time("lease_expires_at", leaseExpiresAt)
        row.bind("held_by_overlap", held)
        row.bind("execution_id", executionID)
        row.bind("last_error", lastError)
        row.bind("resolved_payload", payload, cast: "jsonb")
        try row.insert(into: "scheduled_trigger_invocations", on: self)
        return id
    }

    /// `count` invocations of `trigger` (see `insertInvocation`), slots one minute apart from
    /// 2026-01-01T00:00:00Z plus `firstMinute`; returns their ids in slot order.
    @discardableResult
    public func insertInvocations(
        tenant: String = "t1", trigger: String, count: Int, firstMinute: Int = 0, status: String = "pending",
        payload: String? = #"{"k": "v"}"#
    ) throws -> [String] {
        try (firstMinute..<firstMinute + count).map { minute in
            try insertInvocation(
                tenant: tenant, trigger: trigger,
                slot: .sql("'2026-01-01T00:00:00Z'::timestamptz + make_interval(mins => \(minute))"), status: status,
                payload: payload)
        }
    }

    /// How many invocations there are of each status.
    public func invocationCounts() throws -> [String: Int] {
        var result: [String: Int] = [:]
        for row in try query("SELECT status, count(*) AS n FROM scheduled_trigger_invocations GROUP BY status") {
            result[try row.string("status")] = try row.int("n")
        }
        return result
    }

    /// The first column of the first row as text (nil for SQL NULL or no row).
    public func value(_ sql: String, _ parameters: [any PostgresParameter] = []) throws -> String? {
        try query(sql, parameters).first?.values.first ?? nil
    }
}

/// Columns and their SQL, with the bound values in order: one INSERT of the named columns.
struct FixtureRow {
    private(set) var columns: [String] = []
    private(set) var expressions: [String] = []
    private(set) var parameters: [any PostgresParameter] = []

    /// Binds `value` and returns its placeholder.
    mutating func parameter(_ value: any PostgresParameter, cast: String? = nil) -> String {
        parameters.append(value)
        return "$\(parameters.count)" + (cast.map { "::" + $0 } ?? "")
    }

    mutating func append(_ column: String, _ expression: String) {
        columns.append(column)
        expressions.append(expression)
    }

    /// The column with a bound value; a nil value leaves the column out (its default).
    mutating func bind(_ column: String, _ value: (any PostgresParameter)?, cast: String? = nil) {
        guard let value else { return }
        append(column, parameter(value, cast: cast))
    }

    mutating func time(_ column: String, _ value: SQLTime?) {
        guard let value else { return }
        append(column, value.expression)
    }

    func insert(into table: String, on connection: borrowing Connection) throws {
        try connection.query(
            "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES (\(expressions.joined(separator: ", ")))",
            parameters)
    }
}

extension TestDatabase {
    /// Runs `dispatch-due ARGUMENTS` against this database: DATABASE_URL set, the machine's
    /// endpoint settings (AGENTS_API_*, CREDENTIALS_DIRECTORY) removed, then `endpoint`,
    /// `apiKey` and `environment` added.
    public func dispatchDue(
        _ arguments: [String], endpoint: String? = nil, apiKey: String? = nil,
        environment: [String: String] = [:], standardInput: String? = nil, timeoutSeconds: Double = 120
    ) throws -> ProcessResult {
        var variables = ChildProcess.dispatcherEnvironment()
        variables["DATABASE_URL"] = url
        if let endpoint { variables["AGENTS_API_URL"] = endpoint }
        if let apiKey { variables["AGENTS_API_KEY"] = apiKey }
        for (name, value) in environment { variables[name] = value }
        return try ChildProcess.run(
            "dispatch-due", arguments, environment: variables, standardInput: standardInput,
            timeoutSeconds: timeoutSeconds)
    }

    /// One cycle with JSON logs: record-only without an `endpoint`; with one, a full cycle
    /// posting with `apiKey` (the test key unless given; nil for none).
    public func runCycle(
        _ arguments: [String] = [], endpoint: String? = nil, apiKey: String? = testAPIKey,
        environment: [String: String] = [:], timeoutSeconds: Double = 120
    ) throws -> ProcessResult {
        let mode = endpoint == nil ? ["--record-only"] : []
        return try dispatchDue(
            ["run"] + mode + ["--log-format", "json"] + arguments, endpoint: endpoint,
            apiKey: endpoint == nil ? nil : apiKey, environment: environment, timeoutSeconds: timeoutSeconds)
    }
}

extension ChildProcess {
    /// The test runner's environment without any endpoint settings (so the machine's own
    /// variables never leak into a dispatcher), plus `extra`.
    public static func dispatcherEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
        var environment = currentEnvironment()
        for name in ["AGENTS_API_URL", "AGENTS_API_KEY", "AGENTS_API_KEY_FILE", "CREDENTIALS_DIRECTORY"] {
            environment[name] = nil
        }
        for (key, value) in extra { environment[key] = value }
        return environment
    }
}
