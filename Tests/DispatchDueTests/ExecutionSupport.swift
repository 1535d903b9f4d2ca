#if canImport(Glibc)
import Glibc
#endif
import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// Triggers and invocations written with SQL, in the shape the dispatch stage records them
/// (contract §2 step 3): id a fresh UUID, `pending`, idempotency key `sched_{trigger}_{slot}`,
/// `resolved_payload` = the trigger's payload. Triggers get a next_run_at far in the future so
/// the dispatch stage of a cycle leaves them alone.
enum ExecutionFixture {
    static let apiKey = "sk-test-Zq7Xv9Lm2Pw4-secret"

    static func trigger(
        _ connection: borrowing Connection, id: String = "trg1", tenant: String = "t1", enabled: Bool = true,
        payload: String? = nil, template: String? = nil, maxRetries: Int = 1, retryDelaySeconds: Int = 10,
        timeoutSeconds: Int = 780, runAsUser: String? = nil, ref: String = "main", timeZone: String = "UTC"
    ) throws {
        try connection.query(
            """
            INSERT INTO scheduled_triggers
                (tenant_id, id, project_id, agent_id, name, enabled, cron_expression, cron_timezone, payload,
                 message_template, max_retries, retry_delay_seconds, timeout_seconds, run_as_user_id, ref, next_run_at)
            VALUES ($1, $2, 'proj1', 'agent1', 'test trigger', $3, '0 0 1 1 *', $4, $5::jsonb,
                    $6, $7, $8, $9, $10, $11, '2999-01-01T00:00:00Z')
            """,
            [tenant, id, enabled, timeZone, payload, template, maxRetries, retryDelaySeconds, timeoutSeconds, runAsUser, ref])
    }

    /// `count` pending invocations of `trigger`, slots one minute apart from 2026-01-01T00:00:00Z.
    static func invocations(
        _ connection: borrowing Connection, trigger: String = "trg1", tenant: String = "t1", count: Int = 1,
        firstMinute: Int = 0
    ) throws {
        try connection.query(
            """
            INSERT INTO scheduled_trigger_invocations
                (tenant_id, id, project_id, agent_id, scheduled_trigger_id, ref, status, scheduled_for,
                 idempotency_key, attempt_number, next_attempt_at, resolved_payload)
            SELECT t.tenant_id, gen_random_uuid()::text, t.project_id, t.agent_id, t.id, t.ref, 'pending', s.slot,
                   'sched_' || t.id || '_' || to_char(s.slot AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                   1, NULL, t.payload
            FROM scheduled_triggers t,
                 LATERAL (SELECT '2026-01-01T00:00:00Z'::timestamptz + (g * interval '1 minute') AS slot
                          FROM generate_series($3::int, $3::int + $4::int - 1) g) s
            WHERE t.tenant_id = $1 AND t.id = $2
            """,
            [tenant, trigger, firstMinute, count])
    }

    /// One invocation row, all columns as text (NULL as nil).
    static func row(_ connection: borrowing Connection, where condition: String = "true") throws -> Row {
        let rows = try connection.query(
            """
            SELECT status, attempt_number, execution_id, last_http_status, last_error, conversation_ids::text AS conversations,
                   next_attempt_at IS NULL AS no_next_attempt, lease_expires_at IS NULL AS no_lease,
                   extract(epoch FROM next_attempt_at - now()) AS next_attempt_in,
                   extract(epoch FROM lease_expires_at - now()) AS lease_in,
                   started_at IS NOT NULL AS started, completed_at IS NOT NULL AS completed_at_set
            FROM scheduled_trigger_invocations WHERE \(condition) ORDER BY scheduled_for LIMIT 1
            """)
        return rows[0]
    }

    static func counts(_ connection: borrowing Connection) throws -> [String: Int] {
        var result: [String: Int] = [:]
        for row in try connection.query("SELECT status, count(*) AS n FROM scheduled_trigger_invocations GROUP BY status") {
            result[try row.string("status")] = try row.int("n")
        }
        return result
    }

    /// The environment a dispatcher gets: the test runner's, without any endpoint settings
    /// (so the machine's own variables never leak in), plus `extra`.
    static func environment(_ extra: [String: String]) -> [String: String] {
        var environment = ChildProcess.currentEnvironment()
        for name in ["AGENTS_API_URL", "AGENTS_API_KEY", "AGENTS_API_KEY_FILE", "CREDENTIALS_DIRECTORY"] {
            environment[name] = nil
        }
        for (key, value) in extra { environment[key] = value }
        return environment
    }

    /// Runs one cycle against `standIn` (or `url`) with the test key.
    static func runCycle(
        _ database: TestDatabase, url: String, arguments: [String] = [], key: String? = apiKey,
        timeoutSeconds: Double = 120
    ) throws -> ProcessResult {
        var extra = ["DATABASE_URL": database.url, "AGENTS_API_URL": url]
        if let key { extra["AGENTS_API_KEY"] = key }
        return try ChildProcess.run(
            "dispatch-due", ["run", "--log-format", "json"] + arguments,
            environment: environment(extra), timeoutSeconds: timeoutSeconds)
    }

    /// A loopback port nobody listens on (bound, then closed).
    static func closedPort() -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

extension Row {
    func double(_ column: String) -> Double? { self[column].flatMap(Double.init) }
}

extension ExecutionFixture {
    /// The state after a 2xx with `x-workflow-run-id`: running, execution recorded, started
    /// `acceptedAgo` seconds ago, next check (lease) already passed, an earlier error kept.
    static func markAccepted(_ connection: borrowing Connection, executionId: String, acceptedAgo: Int) throws {
        try connection.query(
            """
            UPDATE scheduled_trigger_invocations
            SET status = 'running', execution_id = $1, last_http_status = 202, last_error = 'earlier',
                started_at = now() - make_interval(secs => $2::int),
                lease_expires_at = now() - interval '1 second'
            """,
            [executionId, acceptedAgo])
    }

    /// The JSON log lines of `event`.
    static func events(_ stderr: String, _ event: String) -> [JSONValue] {
        stderr.split(separator: "\n").compactMap { line in
            guard line.contains("\"event\":\"\(event)\"") else { return nil }
            return try? JSONValue.parse(String(line))
        }
    }

    /// `cycle.finished`'s invocation counters: those named as given, every other one 0.
    static func expectCounters(
        _ stderr: String, _ expected: [String: Double], sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let finished = try #require(events(stderr, "cycle.finished").last, sourceLocation: sourceLocation)
        for name in ["posted", "accepted", "completed", "retried", "failed", "cancelled", "released", "reconciled"] {
            #expect(
                finished[name]?.numberValue == expected[name] ?? 0, "\(name)", sourceLocation: sourceLocation)
        }
    }
}
