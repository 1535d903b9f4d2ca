#if canImport(Glibc)
import Glibc
#endif
import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

@Suite("execution survives SIGKILL (contract §2 guarantees)", .requiresDatabase, .serialized)
struct ExecutionCrashTests {
    @Test("dispatchers killed mid-flight, then clean cycles: every slot posted, duplicates share their key, nothing stuck")
    func killedMidFlight() throws {
        try withTestDatabase { database in
            // 30 ms per accepted POST, 16 at a time: a full pass over 3000 takes about 6 s, so a
            // kill anywhere in the first 4 s lands with requests in flight.
            let standIn = try StandIn(postAnswer: "slow:30")
            defer { standIn.stop() }
            let connection = try database.connect()
            let total = 3000
            try connection.insertTrigger(id: "trgA", cron: "0 0 1 1 *", nextRunAt: "2999-01-01T00:00:00Z")
            try connection.insertTrigger(id: "trgB", cron: "0 0 1 1 *", nextRunAt: "2999-01-01T00:00:00Z")
            try connection.insertInvocations(trigger: "trgA", count: total / 2)
            try connection.insertInvocations(trigger: "trgB", count: total / 2)
            let environment = ChildProcess.dispatcherEnvironment([
                "DATABASE_URL": database.url, "AGENTS_API_URL": standIn.url, "AGENTS_API_KEY": testAPIKey,
            ])
            let arguments = ["run", "--log-format", "json", "--concurrency", "16"]

            var generator = SystemRandomNumberGenerator()
            var kills: [Double] = []
            for round in 0..<3 {
                // Two dispatchers at once in the first round: they must never post the same attempt.
                let dispatchers = try (0..<(round == 0 ? 2 : 1)).map { _ in
                    try ChildProcess("dispatch-due", arguments, environment: environment)
                }
                let delay = 0.3 + Double(generator.next() % 3000) / 1000
                kills.append(delay)
                usleep(UInt32(delay * 1_000_000))
                for dispatcher in dispatchers {
                    dispatcher.send(SIGKILL)
                    _ = dispatcher.wait()
                }
                // A killed client's last statement may still be running in its server session and
                // commit afterwards (a claim with a fresh lease); wait until those sessions are gone.
                let waitStart = monotonicSeconds()
                while try connection.query(
                    """
                    SELECT count(*) AS n FROM pg_stat_activity
                    WHERE datname = current_database() AND application_name = 'dispatch-due'
                    """
                ).first!.int("n") > 0, monotonicSeconds() - waitStart < 30 {
                    usleep(20_000)
                }
                // Time passes: the killed dispatchers' leases run out.
                try connection.query(
                    """
                    UPDATE scheduled_trigger_invocations SET lease_expires_at = now() - interval '1 second'
                    WHERE status = 'running' AND execution_id IS NULL
                    """)
            }

            // Clean cycles until nothing is left to post (bounded).
            var clean = 0
            while clean < 10 {
                let result = try ChildProcess.run("dispatch-due", arguments, environment: environment)
                #expect(result.exitCode == 0, "\(result)")
                clean += 1
                let left = try connection.query(
                    """
                    SELECT count(*) AS n FROM scheduled_trigger_invocations
                    WHERE status = 'pending' OR (status = 'running' AND execution_id IS NULL)
                    """
                ).first!.int("n")
                if left == 0 { break }
            }

            // Nothing stuck: every invocation was accepted (running with its execution).
            let counts = try connection.invocationCounts()
            #expect(counts == ["running": total], "kills at \(kills) s; \(counts)")
            #expect(
                try connection.query(
                    "SELECT count(*) AS n FROM scheduled_trigger_invocations WHERE execution_id IS NULL OR attempt_number <> 1"
                ).first!.int("n") == 0)

            // Every slot posted at least once; a duplicate carries its original's Idempotency-Key.
            let posts = standIn.posts()
            var keysBySlot: [String: Set<String>] = [:]
            for post in posts {
                guard let key = post.header("idempotency-key"),
                    let stamp = post.json?["forwardedHeaders"]?["x-inkeep-client-timestamp"]?.stringValue
                else {
                    Issue.record("a POST without an Idempotency-Key or timestamp")
                    continue
                }
                let trigger = key.hasPrefix("sched_trgA_") ? "trgA" : "trgB"
                keysBySlot["\(trigger) \(stamp)", default: []].insert(key)
            }
            #expect(keysBySlot.count == total, "kills at \(kills) s")
            let mixed = keysBySlot.filter { $0.value.count > 1 }
            #expect(mixed.isEmpty, "\(mixed.count) slots posted under different keys, e.g. \(mixed.first.map { "\($0)" } ?? "")")
            let expectedKeys = try Set(
                connection.query("SELECT idempotency_key || '-1' AS key FROM scheduled_trigger_invocations").map {
                    try $0.string("key")
                })
            let missing = expectedKeys.subtracting(keysBySlot.values.flatMap { $0 })
            #expect(missing.isEmpty, "\(missing.count) slots never posted, e.g. \(missing.sorted().prefix(3))")
            // Duplicates exist only for requests a kill caught between sending and recording: per
            // killed dispatcher at most the 16 in flight plus fewer than 16 answers not yet written.
            #expect(posts.count - total <= 4 * 32, "\(posts.count - total) duplicates; kills at \(kills) s")
        }
    }
}
