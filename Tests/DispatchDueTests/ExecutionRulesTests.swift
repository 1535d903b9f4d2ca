@testable import DispatchCore
import DispatchDueTestSupport
import Postgres
import Testing

/// The answer tables themselves are tested in-process (ExecutionAnswerTableTests); these few
/// cycles against a database and the stand-in prove the wiring: an answer of each kind goes
/// through the one recording statement and the one counter table, and a 401/403 gives the
/// work back and exits 77 after a POST and after a status check alike.
@Suite("Execution rules wired end to end (contract §4, one recording statement)", .requiresDatabase, .serialized)
struct ExecutionRulesTests {
    @Test(
        "a POST's answer: the row, the counters, the log line",
        arguments: [
            // (stand-in answer, status, attempt, http status, execution, event, counters)
            ("accept", "running", 1, 200, "run-1", "invocation.accepted", ["posted": 1, "accepted": 1]),
            ("429:600", "pending", 2, 429, nil, "invocation.retry", ["posted": 1, "retried": 1]),
        ] as [(String, String, Int, Int, String?, String, [String: Double])])
    func postAnswer(
        answer: String, status: String, attempt: Int, httpStatus: Int, executionId: String?, event: String,
        counters: [String: Double]
    ) throws {
        try withTestDatabase { database in
            let standIn = try StandIn(postAnswer: answer)
            defer { standIn.stop() }
            let connection = try database.connect()
            try connection.insertTrigger(
                id: "trg1", cron: "0 0 1 1 *", nextRunAt: "2999-01-01T00:00:00Z", maxRetries: 1, retryDelay: 10)
            try connection.insertInvocation(trigger: "trg1", slot: "2026-01-01T00:00:00Z")
            // An earlier attempt's error, which a POST's answer replaces.
            try connection.query("UPDATE scheduled_trigger_invocations SET last_error = 'earlier'")

            let result = try database.runCycle(endpoint: standIn.url)
            #expect(result.exitCode == 0, "\(result)")
            let row = try ExecutionFixture.row(connection)
            #expect(row["status"] == status)
            #expect(try row.int("attempt_number") == attempt)
            #expect(try row.optionalInt("last_http_status") == httpStatus)
            #expect(row["execution_id"] == executionId)
            if executionId != nil {
                // Accepted: started now, lease = the first status check (default interval 30 s).
                #expect(try row.bool("started"))
                #expect(row["last_error"] == nil)
                let lease = try #require(row.double("lease_in"))
                #expect(lease > 20 && lease <= 30, "lease in \(lease) s")
            } else {
                // Retry-After 600 beats the 10–13 s backoff.
                #expect(try row.bool("no_lease"))
                #expect(row["last_error"]?.hasPrefix("HTTP 429") == true)
                let next = try #require(row.double("next_attempt_in"))
                #expect(next >= 595 && next <= 601, "next attempt in \(next) s")
            }
            let line = try #require(ExecutionFixture.events(result.stderr, event).first)
            #expect(line["invocation"]?.stringValue != nil && line["http_status"]?.numberValue == Double(httpStatus))
            try ExecutionFixture.expectCounters(result.stderr, counters)
        }
    }

    @Test(
        "a status check's answer: the row, the counters, the log line",
        arguments: [
            // (stand-in status, status, attempt, execution, lease, event, counters)
            ("completed", "completed", 1, "run-x", false, "invocation.completed", ["reconciled": 1, "completed": 1]),
            ("failed", "pending", 2, nil, false, "invocation.retry", ["reconciled": 1, "retried": 1]),
            ("running", "running", 1, "run-x", true, "invocation.still_running", ["reconciled": 1]),
        ] as [(String, String, Int, String?, Bool, String, [String: Double])])
    func checkAnswer(
        answer: String, status: String, attempt: Int, executionId: String?, nextCheck: Bool, event: String,
        counters: [String: Double]
    ) throws {
        try withTestDatabase { database in
            let standIn = try StandIn(getStatus: answer)
            defer { standIn.stop() }
            let connection = try database.connect()
            try connection.insertTrigger(
                id: "trg1", cron: "0 0 1 1 *", nextRunAt: "2999-01-01T00:00:00Z", maxRetries: 2, retryDelay: 10,
                timeout: 600)
            try connection.insertInvocation(trigger: "trg1", slot: "2026-01-01T00:00:00Z")
            try ExecutionFixture.markAccepted(connection, executionId: "run-x", acceptedAgo: 60)

            let result = try database.runCycle(["--reconcile-interval", "45", "--verbose"], endpoint: standIn.url)
            #expect(result.exitCode == 0, "\(result)")
            #expect(standIn.posts().isEmpty)
            let row = try ExecutionFixture.row(connection)
            #expect(row["status"] == status)
            #expect(try row.int("attempt_number") == attempt)
            #expect(row["execution_id"] == executionId)
            #expect(row["conversations"] == #"["conv-run-x"]"#)
            // A check never restarts the attempt: started_at stays the POST's, 60 s ago.
            let started = try connection.query(
                "SELECT extract(epoch FROM now() - started_at) AS ago FROM scheduled_trigger_invocations").first
            #expect((started?.double("ago") ?? 0) >= 59)
            // A check adds to the last answer: its 200 replaces the POST's 202, and an answer
            // without an error keeps the earlier one.
            #expect(try row.optionalInt("last_http_status") == 200)
            #expect(row["last_error"] == (attempt == 2 ? "execution failed" : "earlier"))
            if nextCheck {
                let lease = try #require(row.double("lease_in"))
                #expect(lease > 40 && lease <= 45, "lease in \(lease) s")
            } else {
                #expect(try row.bool("no_lease"))
            }
            let line = try #require(ExecutionFixture.events(result.stderr, event).first)
            #expect(line["execution"]?.stringValue == "run-x")
            try ExecutionFixture.expectCounters(result.stderr, counters)
        }
    }

    @Test(
        "401 gives the work back and exits 77, counted as released after a POST and after a check",
        arguments: ["post", "check"])
    func credentialsRejected(kind: String) throws {
        try withTestDatabase { database in
            let standIn = try StandIn(apiKey: "the-right-key")
            defer { standIn.stop() }
            let connection = try database.connect()
            try connection.insertTrigger(id: "trg1", cron: "0 0 1 1 *", nextRunAt: "2999-01-01T00:00:00Z")
            try connection.insertInvocation(trigger: "trg1", slot: "2026-01-01T00:00:00Z")
            if kind == "check" { try ExecutionFixture.markAccepted(connection, executionId: "run-x", acceptedAgo: 60) }

            let result = try database.runCycle(endpoint: standIn.url)
            #expect(result.exitCode == 77, "\(result)")
            #expect(standIn.requests().count == 1)
            let row = try ExecutionFixture.row(connection)
            // Contract §4.2: back to pending; §4.3: stays running with its execution. Either way
            // the lease is cleared and the attempt unchanged.
            #expect(row["status"] == (kind == "post" ? "pending" : "running"))
            #expect(row["execution_id"] == (kind == "post" ? nil : "run-x"))
            #expect(try row.bool("no_lease"))
            #expect(try row.int("attempt_number") == 1)
            #expect(try row.bool("no_next_attempt"))
            #expect(try row.optionalInt("last_http_status") == 401)
            #expect(ExecutionFixture.events(result.stderr, "invocation.credentials_rejected").count == 1)
            try ExecutionFixture.expectCounters(
                result.stderr, kind == "post" ? ["posted": 1, "released": 1] : ["released": 1])
            #expect(!result.stderr.contains(testAPIKey))
        }
    }
}
