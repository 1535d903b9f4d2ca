import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// A pause-on-failure case: the trigger's finished history (oldest first), then one more
/// invocation that the cycle posts and the endpoint fails (HTTP 400, failed at once).
struct PauseCase: Sendable, CustomTestStringConvertible {
    var pauseAfter: Int
    var history: [String]
    /// Worked from §6: the N most recent `completed`/`failed` (cancelled and skipped do not
    /// count), the new failure included, all failed.
    var paused: Bool
    var testDescription: String { "N=\(pauseAfter) after \(history) + failed" }
}

@Suite("policies: pause on failure (contract §6)", .requiresDatabase, .serialized)
struct PolicyPauseTests {
    static let cases: [PauseCase] = [
        PauseCase(pauseAfter: 3, history: ["failed", "failed"], paused: true),
        PauseCase(pauseAfter: 3, history: ["failed", "completed", "failed"], paused: false),
        PauseCase(pauseAfter: 3, history: ["failed", "failed", "cancelled", "skipped"], paused: true),
        PauseCase(pauseAfter: 3, history: ["completed", "failed", "cancelled"], paused: false),
        PauseCase(pauseAfter: 3, history: ["failed"], paused: false),
        PauseCase(pauseAfter: 1, history: ["completed"], paused: true),
    ]

    @Test("pause after N consecutive failures", arguments: cases)
    func pause(_ c: PauseCase) throws {
        try withTestDatabase { database in
            let standIn = try StandIn(postAnswer: "status:400")
            defer { standIn.stop() }
            let connection = try database.connect()
            try connection.insertTrigger(
                id: "p1", cron: "* * * * *", nextRunAt: "2999-01-01T00:00:00Z", payload: #"{"k": "v"}"#,
                pauseAfter: c.pauseAfter, maxRetries: 0, retryDelay: 10)
            for (index, status) in c.history.enumerated() {
                try connection.insertInvocation(
                    trigger: "p1", slot: .sql("date_trunc('minute', now()) - interval '\(20 - index) hours'"),
                    status: status, lastError: status == "failed" ? "older failure \(index)" : nil)
            }
            let failing = try connection.insertInvocation(
                trigger: "p1", slot: .sql("date_trunc('minute', now()) - interval '1 minute'"), status: "pending")
            // Not runnable in this cycle: a scheduled slot waiting for a retry, and a run-now.
            let laterSlot = try connection.insertInvocation(
                trigger: "p1", slot: .sql("date_trunc('minute', now()) - interval '30 seconds'"), status: "pending",
                nextAttemptAt: .sql("now() + interval '1 hour'"))
            let manual = try connection.insertInvocation(
                trigger: "p1", slot: .sql("date_trunc('second', now())"), status: "pending", key: "manual_p1_x",
                nextAttemptAt: .sql("now() + interval '1 hour'"))

            let result = try database.runCycle(endpoint: standIn.url)
            #expect(result.exitCode == 0, "\(result)")
            #expect(try database.status(tenant: "t1", invocation: failing) == "failed")
            let trigger = try connection.query(
                "SELECT enabled, paused_reason, next_run_at IS NULL AS unscheduled FROM scheduled_triggers WHERE id = 'p1'")[0]
            #expect(try trigger.bool("enabled") == !c.paused)
            #expect(logLines(result.stderr, event: "trigger.paused").count == (c.paused ? 1 : 0))
            #expect(logLines(result.stderr, event: "cycle.finished").first?.contains("\"paused\":\(c.paused ? 1 : 0)") == true)
            if c.paused {
                let reason = trigger["paused_reason"] ?? ""
                let plural = c.pauseAfter == 1 ? "failure" : "failures"
                #expect(reason.hasPrefix("paused after \(c.pauseAfter) consecutive \(plural); last error: "), "\(reason)")
                #expect(reason.contains("400"), "\(reason)")
                #expect(try trigger.bool("unscheduled"))
                #expect(try database.status(tenant: "t1", invocation: laterSlot) == "cancelled")
                #expect(try database.status(tenant: "t1", invocation: manual) == "pending")
                let status = try database.cli(["status", "--json"])
                #expect(status.stdout.contains("\"paused_trigger_count\":1"), "\(status)")
                // Enabling clears the reason (the row trigger, whoever enables it).
                #expect(try database.cli(["triggers", "enable", "p1", "--tenant", "t1"]).exitCode == 0)
                #expect(try connection.value("SELECT paused_reason IS NULL AND enabled FROM scheduled_triggers WHERE id = 'p1'") == "t")
            } else {
                #expect(trigger["paused_reason"] == nil)
                #expect(try database.status(tenant: "t1", invocation: laterSlot) == "pending")
            }
        }
    }

    @Test("a failure learned by reconcile pauses too (N = 1)")
    func pauseFromReconcile() throws {
        try withTestDatabase { database in
            let standIn = try StandIn(getStatus: "failed")
            defer { standIn.stop() }
            let connection = try database.connect()
            try connection.insertTrigger(
                id: "p3", cron: "* * * * *", nextRunAt: "2999-01-01T00:00:00Z", payload: #"{"k": "v"}"#, pauseAfter: 1,
                maxRetries: 0, retryDelay: 10)
            // Accepted earlier; its status check is due (lease passed).
            let running = try connection.insertInvocation(
                trigger: "p3", slot: .sql("date_trunc('minute', now()) - interval '5 minutes'"), status: "running",
                leaseExpiresAt: .secondsFromNow(-1), executionID: "run-7")
            let result = try database.runCycle(endpoint: standIn.url)
            #expect(result.exitCode == 0, "\(result)")
            #expect(try database.status(tenant: "t1", invocation: running) == "failed")
            #expect(try connection.value("SELECT NOT enabled AND paused_reason LIKE 'paused after 1 consecutive failure; last error: %' FROM scheduled_triggers") == "t")
            #expect(logLines(result.stderr, event: "trigger.paused").count == 1)
        }
    }

    @Test("enabling by SQL clears paused_reason too")
    func enableBySQL() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try connection.insertTrigger(
                id: "p2", cron: "* * * * *", nextRunAt: "2999-01-01T00:00:00Z", enabled: false, payload: #"{"k": "v"}"#,
                pauseAfter: 2, maxRetries: 0, retryDelay: 10)
            try connection.query("UPDATE scheduled_triggers SET paused_reason = 'paused after 2 consecutive failures; last error: x'")
            try connection.query("UPDATE scheduled_triggers SET description = 'edited'")
            #expect(try connection.value("SELECT paused_reason IS NOT NULL FROM scheduled_triggers") == "t")
            try connection.query("UPDATE scheduled_triggers SET enabled = true")
            #expect(try connection.value("SELECT paused_reason IS NULL FROM scheduled_triggers") == "t")
        }
    }
}
