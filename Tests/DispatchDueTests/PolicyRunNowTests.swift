import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

@Suite("policies: triggers run (contract §6 run now)", .requiresDatabase, .serialized)
struct PolicyRunNowTests {
    @Test("run now on a disabled buffer_one trigger with a run in progress: recorded, next_run_at untouched, posted with --post")
    func runNowDisabled() throws {
        try withTestDatabase { database in
            let standIn = try StandIn()
            defer { standIn.stop() }
            let connection = try database.connect()
            try connection.insertTrigger(
                id: "r1", cron: "* * * * *", nextRunAt: "2999-01-01T00:00:00Z", enabled: false, payload: #"{"k": "v"}"#,
                overlap: "buffer_one", jitter: 600, maxRetries: 0, retryDelay: 10)
            try connection.query("UPDATE scheduled_triggers SET next_run_at = '2999-01-01T00:00:00Z'")
            try connection.insertInvocation(
                trigger: "r1", slot: .sql("now() - interval '5 minutes'"), status: "running",
                leaseExpiresAt: .secondsFromNow(600), executionID: "run-x")

            let recorded = try database.cli(["triggers", "run", "t1", "r1", "--json"])
            #expect(recorded.exitCode == 0, "\(recorded)")
            let document = try JSONValue.parse(recorded.stdout.trimmingSuffixNewline)
            let key = document["idempotency_key"]?.stringValue ?? ""
            let id = document["id"]?.stringValue ?? ""
            #expect(document["status"]?.stringValue == "pending")
            // manual_{triggerId}_{now as YYYY-MM-DDTHH:MM:SS.sssZ}, the database clock's now.
            #expect(try connection.value("""
                SELECT idempotency_key = 'manual_r1_' || to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
                       AND scheduled_for = date_trunc('second', created_at) AND next_attempt_at IS NULL AND NOT held_by_overlap
                FROM scheduled_trigger_invocations WHERE id = $1
                """, [id]) == "t")
            #expect(key.hasPrefix("manual_r1_"))
            #expect(try connection.value("SELECT next_run_at = '2999-01-01T00:00:00Z' FROM scheduled_triggers") == "t")

            let posted = try ChildProcess.run(
                "dispatch-due", ["triggers", "run", "t1", "r1", "--post", "--log-format", "json"],
                environment: ChildProcess.dispatcherEnvironment([
                    "DATABASE_URL": database.url, "AGENTS_API_URL": standIn.url, "AGENTS_API_KEY": testAPIKey,
                ]))
            #expect(posted.exitCode == 0, "\(posted)")
            // Both runs a person asked for are posted although the trigger is disabled and one of
            // its runs is in progress: run-now is neither cancelled, held back nor skipped.
            let keys = standIn.posts().compactMap { $0.header("idempotency-key") }
            #expect(keys.count == 2)
            #expect(keys.contains(key + "-1"))
            #expect(keys.allSatisfy { $0.hasPrefix("manual_r1_") })
            #expect(try connection.invocationCounts() == ["running": 3])
        }
    }

    @Test("disabling cancels scheduled slots but not a run a person asked for")
    func disableKeepsManual() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try connection.insertTrigger(
                id: "r2", cron: "* * * * *", nextRunAt: "2999-01-01T00:00:00Z", payload: #"{"k": "v"}"#, maxRetries: 0,
                retryDelay: 10)
            let slot = try connection.insertInvocation(
                trigger: "r2", slot: .sql("now() - interval '1 minute'"), status: "pending")
            #expect(try database.cli(["triggers", "run", "t1", "r2"]).exitCode == 0)
            let disabled = try database.cli(["triggers", "disable", "r2", "--tenant", "t1"])
            #expect(disabled.exitCode == 0, "\(disabled)")
            #expect(try database.status(tenant: "t1", invocation: slot) == "cancelled")
            #expect(try connection.value("SELECT status FROM scheduled_trigger_invocations WHERE idempotency_key LIKE 'manual_%'") == "pending")
        }
    }

    @Test("an unknown trigger is not found (exit 1), another tenant's included")
    func notFound() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try connection.insertTrigger(
                tenant: "other", id: "r3", cron: "* * * * *", nextRunAt: "2999-01-01T00:00:00Z",
                payload: #"{"k": "v"}"#, maxRetries: 0, retryDelay: 10)
            let result = try database.cli(["triggers", "run", "t1", "r3"])
            #expect(result.exitCode == 1, "\(result)")
            #expect(result.stderr.contains("no trigger r3 for tenant t1"))
            #expect(try connection.value("SELECT count(*) FROM scheduled_trigger_invocations") == "0")
        }
    }
}

extension String {
    var trimmingSuffixNewline: String { hasSuffix("\n") ? String(dropLast()) : self }
}
