#if canImport(Glibc)
import Glibc
#endif
import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// The adaptive concurrency of the execution stage end to end (issue 14): the real binary
/// against a stand-in that sheds load above K requests in flight. Counts, never times.
@Suite("Execution adaptive concurrency", .requiresDatabase)
struct ExecutionAdaptiveTests {
    /// The number `cycle.finished` logged under `field`.
    static func finished(_ stderr: String, _ field: String) throws -> Double? {
        let line = try #require(logLines(stderr, event: "cycle.finished").last)
        return try JSONValue.parse(line)[field]?.numberValue
    }

    /// N due runs, an endpoint answering after 20 ms that answers 429 (Retry-After: 1) to a
    /// request arriving while K others are in flight, and the default ceiling (256, far above K).
    ///
    /// Expected, by reasoning rather than measurement:
    /// - The stand-in counts a request from when it reads it until its answer starts; the
    ///   dispatcher counts it until the answer is in, and starts another only then. So the
    ///   stand-in never sees more in flight than the dispatcher's limit, and sheds only when
    ///   that limit is above K.
    /// - Slow start doubles the limit from 8 (8, 16, 32 for K = 24): the round that first
    ///   passes K sheds at most what it passed by (< K), and the first 429 halves once (the other
    ///   429s of that window are stale). After that the limit grows by one per round and is
    ///   halved at K + 1 (one shed each time, at most K + 2 if one more round starts before the
    ///   429 is back), so the limit ends in [⌊(K + 1)/2⌋, K + 2] — the tolerance below.
    /// - Sheds: < K in slow start plus one per sawtooth of K/2 rounds (hundreds of POSTs), so
    ///   for N = 1,000 and K = 24 well under the 5% of POSTs issue 14 allows.
    /// - Every run is posted in the cycle: each is accepted, or answered 429 and put back for a
    ///   retry (attempt 2, after its backoff); the retries, made due, are accepted by the next cycle.
    @Test("a cycle against an endpoint shedding above K in flight settles near K, with at most 5% of POSTs answered 429, and every run is posted")
    func settlesNearTheEndpointLimit() throws {
        let runs = 1000
        let limit = 24
        try withTestDatabase { database in
            let connection = try database.connect()
            try connection.insertTrigger(id: "trg1", cron: "0 0 1 1 *", nextRunAt: "2999-01-01T00:00:00Z", maxRetries: 3)
            try connection.insertInvocations(trigger: "trg1", count: runs)
            let standIn = try StandIn(latencyMilliseconds: 20, maxInFlight: limit, retryAfterSeconds: 1)
            defer { standIn.stop() }

            let result = try database.runCycle(endpoint: standIn.url)
            #expect(result.exitCode == 0, "\(result)")
            let posts = standIn.posts()
            let shed = posts.filter(\.shed).count
            let accepted = posts.count - shed
            // Every run was posted (its first attempt), and each POST was answered once: accepted
            // (running) or 429 (back to pending as attempt 2); nothing failed, nothing was put back unsent.
            #expect(Set(posts.compactMap { $0.header("idempotency-key") }).count == runs)
            #expect(posts.count == runs)
            #expect(try connection.invocationCounts() == ["running": accepted, "pending": shed].filter { $0.value > 0 })
            #expect(try connection.value("SELECT count(*) FROM scheduled_trigger_invocations WHERE status = 'pending' AND attempt_number = 2") == String(shed))
            #expect(try Self.finished(result.stderr, "posted") == Double(runs))
            #expect(try Self.finished(result.stderr, "accepted") == Double(accepted))
            #expect(try Self.finished(result.stderr, "retried") == Double(shed))
            #expect(try Self.finished(result.stderr, "released") == 0)

            // At most 5% of POSTs answered 429, and at least one: the limit was found, not assumed.
            #expect(shed >= 1)
            #expect(shed * 100 <= posts.count * 5, "\(shed) of \(posts.count) POSTs answered 429")
            let settled = try #require(try Self.finished(result.stderr, "concurrency"))
            #expect(settled >= Double((limit + 1) / 2) && settled <= Double(limit + 2), "settled on \(settled), K = \(limit)")

            // The retries, made due now, are accepted by the next cycle: every run is running.
            try connection.query("UPDATE scheduled_trigger_invocations SET next_attempt_at = now() WHERE status = 'pending'")
            let again = try database.runCycle(endpoint: standIn.url)
            #expect(again.exitCode == 0, "\(again)")
            let second = standIn.posts().dropFirst(posts.count)
            let counts = try connection.invocationCounts()
            #expect(counts["running"] == runs - (counts["pending"] ?? 0))
            #expect((counts["pending"] ?? 0) == second.filter(\.shed).count)
            #expect(counts["pending"] == nil, "\(counts)")
        }
    }
}

/// Leftover of the hardening (issue 14, item 4a): a claim statement cancelled at a stop is a
/// stop of the pipeline, not an error thrown out of it.
@Suite("Execution interrupted statements", .requiresDatabase)
struct ExecutionInterruptedStatementTests {
    @Test("a claim blocked by a lock and cancelled at SIGTERM: the stage stops as on any stop (exit 143, nothing claimed, nothing posted)")
    func claimCancelledAtStop() throws {
        try withTestDatabase { database in
            let standIn = try StandIn()
            defer { standIn.stop() }
            let connection = try database.connect()
            try connection.insertTrigger(id: "trg1", cron: "0 0 1 1 *", nextRunAt: "2999-01-01T00:00:00Z")
            try connection.insertInvocations(trigger: "trg1", count: 10)
            // Reads go on (the cycle's checks), every write to the invocations waits: the claim,
            // an UPDATE, is the first statement of the cycle that writes them. (pg_locks, not
            // pg_stat_activity: the dispatcher may log in as another role, whose query text is hidden.)
            let blocker = try database.connect()
            try blocker.query("BEGIN")
            try blocker.query("LOCK TABLE scheduled_trigger_invocations IN SHARE ROW EXCLUSIVE MODE")
            let dispatcher = try ChildProcess(
                "dispatch-due", ["run", "--log-format", "json"],
                environment: ChildProcess.dispatcherEnvironment([
                    "DATABASE_URL": database.url, "AGENTS_API_URL": standIn.url, "AGENTS_API_KEY": testAPIKey,
                ]))
            let start = monotonicSeconds()
            var waiting = "0"
            while waiting == "0", monotonicSeconds() - start < 30 {
                usleep(50_000)
                waiting = try blocker.value("""
                    SELECT count(*) FROM pg_locks
                    WHERE NOT granted AND relation = 'scheduled_trigger_invocations'::regclass
                    """) ?? "0"
            }
            #expect(waiting == "1", "the claim never waited on the lock")
            dispatcher.send(SIGTERM)
            let result = dispatcher.wait(timeoutSeconds: 60)
            try blocker.query("ROLLBACK")
            #expect(result.exitCode == 143, "\(result)")
            #expect(logLines(result.stderr, event: "execution.claim_interrupted").count == 1)
            // The cancellation stayed inside the stage: the cycle was not cut short as an error.
            #expect(logLines(result.stderr, event: "cycle.interrupted").isEmpty)
            #expect(logLines(result.stderr, event: "cycle.finished").count == 1)
            #expect(standIn.posts().isEmpty)
            #expect(try connection.invocationCounts() == ["pending": 10])
            #expect(try connection.value("""
                SELECT count(*) FROM scheduled_trigger_invocations WHERE attempt_number = 1 AND lease_expires_at IS NULL
                """) == "10")
        }
    }
}
