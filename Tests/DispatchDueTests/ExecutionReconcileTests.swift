import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// One reconcile answer and what contract §4 says happens, worked by hand.
struct ReconcileCase: Sendable, CustomTestStringConvertible {
    var getAnswer: String
    /// Seconds since the attempt was accepted (the trigger's timeout_seconds is 600).
    var acceptedAgo: Int = 60
    var exitCode: Int32 = 0
    var status: String
    var attempt: Int
    var executionId: String?
    var conversations: String
    var lease: Lease
    var errorContains: String? = nil

    enum Lease: Sendable { case cleared, nextCheck }
    var testDescription: String { "\(getAnswer) after \(acceptedAgo) s" }
}

@Suite("reconcile (contract §2 step 5, §4)", .requiresDatabase, .serialized)
struct ExecutionReconcileTests {
    // Trigger: max_retries 2, retry_delay 10, timeout 600; the invocation is on attempt 1,
    // accepted as run-x, its lease (next check time) passed. --reconcile-interval 45.
    // Every row of contract §4.3 is ExecutionAnswerTableTests' (in-process); these two are the
    // database's part: past_timeout, which the claim computes in SQL from started_at and
    // timeout_seconds, and a check that fails the invocation (the one check answer of that kind
    // the wiring suite, ExecutionRulesTests, does not send).
    static let cases: [ReconcileCase] = [
        ReconcileCase(getAnswer: "running", acceptedAgo: 601, status: "pending", attempt: 2, executionId: nil, conversations: #"["conv-run-x"]"#, lease: .cleared, errorContains: "timed out"),
        ReconcileCase(getAnswer: "404", status: "failed", attempt: 1, executionId: "run-x", conversations: "[]", lease: .cleared),
    ]

    @Test("a status check that times out or fails the invocation, end to end", arguments: cases)
    func reconcile(_ expected: ReconcileCase) throws {
        try withTestDatabase { database in
            let standIn = try StandIn(postAnswer: "status:500", getStatus: expected.getAnswer)
            defer { standIn.stop() }
            let connection = try database.connect()
            try connection.insertTrigger(
                id: "trg1", cron: "0 0 1 1 *", nextRunAt: "2999-01-01T00:00:00Z", maxRetries: 2, retryDelay: 10, timeout: 600)
            try connection.insertInvocation(trigger: "trg1", slot: "2026-01-01T00:00:00Z")
            try ExecutionFixture.markAccepted(connection, executionId: "run-x", acceptedAgo: expected.acceptedAgo)

            let result = try database.runCycle(["--reconcile-interval", "45"], endpoint: standIn.url)
            #expect(result.exitCode == expected.exitCode, "\(result)")
            let requests = standIn.requests()
            #expect(requests.count == 1)
            #expect(requests.first?.method == "GET")
            #expect(requests.first?.path == "/run/api/executions/run-x")
            #expect(requests.first?.header("authorization") == "Bearer \(testAPIKey)")
            #expect(requests.first?.header("x-inkeep-tenant-id") == "t1")
            #expect(requests.first?.header("x-inkeep-project-id") == "proj")
            #expect(requests.first?.header("x-inkeep-agent-id") == "agent")

            let row = try ExecutionFixture.row(connection)
            #expect(row["status"] == expected.status)
            #expect(try row.int("attempt_number") == expected.attempt)
            #expect(row["execution_id"] == expected.executionId)
            #expect(row["conversations"] == expected.conversations)
            switch expected.lease {
            case .cleared:
                #expect(try row.bool("no_lease"))
            case .nextCheck:
                let lease = try #require(row.double("lease_in"))
                #expect(lease > 40 && lease <= 45, "lease in \(lease) s")
            }
            if expected.status == "pending" {
                let next = try #require(row.double("next_attempt_in"))
                #expect(next >= 9 && next <= 13, "next attempt in \(next) s")  // 10 × 2^0 × [1, 1.3]
            }
            if let fragment = expected.errorContains {
                #expect(row["last_error"]?.contains(fragment) == true, "\(row["last_error"] ?? "nil")")
            }
        }
    }

    @Test("an execution not yet due for a check is not asked about")
    func leaseNotPassed() throws {
        try withTestDatabase { database in
            let standIn = try StandIn()
            defer { standIn.stop() }
            let connection = try database.connect()
            try connection.insertTrigger(id: "trg1", cron: "0 0 1 1 *", nextRunAt: "2999-01-01T00:00:00Z")
            try connection.insertInvocation(trigger: "trg1", slot: "2026-01-01T00:00:00Z")
            try ExecutionFixture.markAccepted(connection, executionId: "run-x", acceptedAgo: 10)
            try connection.query("UPDATE scheduled_trigger_invocations SET lease_expires_at = now() + interval '20 seconds'")
            let result = try database.runCycle(endpoint: standIn.url)
            #expect(result.exitCode == 0, "\(result)")
            #expect(standIn.requests().isEmpty)
        }
    }

    @Test("the conversationId is appended once per attempt, across checks and retries")
    func conversationsPerAttempt() throws {
        try withTestDatabase { database in
            let standIn = try StandIn(postAnswer: "accept", getStatus: "running")
            defer { standIn.stop() }
            let connection = try database.connect()
            try connection.insertTrigger(id: "trg1", cron: "0 0 1 1 *", nextRunAt: "2999-01-01T00:00:00Z", maxRetries: 2)
            try connection.insertInvocation(trigger: "trg1", slot: "2026-01-01T00:00:00Z")
            try ExecutionFixture.markAccepted(connection, executionId: "run-x", acceptedAgo: 10)
            func expireLease() throws {
                try connection.query("UPDATE scheduled_trigger_invocations SET lease_expires_at = now() - interval '1 second'")
            }
            // Two checks of the same attempt: one entry.
            for _ in 0..<2 {
                #expect(try database.runCycle(endpoint: standIn.url).exitCode == 0)
                try expireLease()
            }
            #expect(try ExecutionFixture.row(connection)["conversations"] == #"["conv-run-x"]"#)
            // The execution fails: retry, re-posted (accepted as run-1), checked: a second entry.
            try standIn.setAnswers(get: "failed,running")
            #expect(try database.runCycle(endpoint: standIn.url).exitCode == 0)
            try connection.query("UPDATE scheduled_trigger_invocations SET next_attempt_at = now() - interval '1 second'")
            #expect(try database.runCycle(endpoint: standIn.url).exitCode == 0)
            let accepted = try ExecutionFixture.row(connection)
            #expect(accepted["execution_id"] == "run-1")
            #expect(try accepted.int("attempt_number") == 2)
            #expect(standIn.posts().last?.header("idempotency-key")?.hasSuffix("-2") == true)
            try expireLease()
            #expect(try database.runCycle(endpoint: standIn.url).exitCode == 0)
            #expect(try ExecutionFixture.row(connection)["conversations"] == #"["conv-run-x", "conv-run-1"]"#)
        }
    }
}
