import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// One record-time case of contract §6 overlap: the trigger's unfinished invocations before the
/// cycle, and how many of the cycle's new slots (misfire `all`, several due) stay pending.
struct OverlapCase: Sendable, CustomTestStringConvertible {
    var policy: String
    /// Existing invocations (an hour before the new slots): status, held.
    var existing: [(status: String, held: Bool)]
    /// Worked from §6: allow never skips; skip records the first new slot only when nothing is
    /// unfinished; buffer_one lets one run and one wait (2 − unfinished).
    var pendingNew: Int?  // nil: all pending
    var testDescription: String { "\(policy) after \(existing.map(\.status))" }
}

@Suite("policies: overlap (contract §6)", .requiresDatabase, .serialized)
struct PolicyOverlapTests {
    @Test("skip: a slot due while one runs is recorded skipped, naming the running one; next_run_at advances")
    func skipWhileRunning() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try connection.insertTrigger(
                id: "s1", cron: "* * * * *", nextRunAt: .sql("date_trunc('minute', now())"), payload: #"{"k": "v"}"#,
                overlap: "skip", maxRetries: 0, retryDelay: 10)
            let running = try connection.insertInvocation(
                trigger: "s1", slot: .sql("date_trunc('minute', now()) - interval '10 minutes'"), status: "running",
                leaseExpiresAt: .secondsFromNow(600), executionID: "run-9")

            let result = try database.runCycle()
            #expect(result.exitCode == 0, "\(result)")
            let rows = try PolicyFixture.rows(connection, trigger: "s1")
            #expect(rows.count == 2)
            #expect(rows[0].status == "running")
            #expect(rows[1].status == "skipped")
            #expect(rows[1].completedAtSet)
            #expect(rows[1].error?.contains("invocation \(running) (running") == true, "\(rows[1])")
            #expect(try connection.value("SELECT next_run_at > now() FROM scheduled_triggers WHERE id = 's1'") == "t")
            #expect(logLines(result.stderr, event: "invocation.skipped_overlap").count == 1)
            #expect(logLines(result.stderr, event: "cycle.finished").first?.contains("\"skipped_overlap\":1") == true)
        }
    }

    @Test("skip: a pending invocation waiting for its retry is unfinished too")
    func skipWhilePendingInBackoff() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try connection.insertTrigger(
                id: "s2", cron: "* * * * *", nextRunAt: .sql("date_trunc('minute', now())"), payload: #"{"k": "v"}"#,
                overlap: "skip", maxRetries: 0, retryDelay: 10)
            let waiting = try connection.insertInvocation(
                trigger: "s2", slot: .sql("date_trunc('minute', now()) - interval '5 minutes'"), status: "pending",
                nextAttemptAt: .sql("now() + interval '1 hour'"))

            let result = try database.runCycle()
            #expect(result.exitCode == 0, "\(result)")
            let rows = try PolicyFixture.rows(connection, trigger: "s2")
            #expect(rows.map(\.status) == ["pending", "skipped"])
            #expect(rows[1].error?.contains("invocation \(waiting) (pending") == true, "\(rows[1])")
            // The backoff row is left as it was.
            #expect(try connection.value("SELECT next_attempt_at > now() FROM scheduled_trigger_invocations WHERE id = $1", [waiting]) == "t")
        }
    }

    static let recordCases: [OverlapCase] = [
        OverlapCase(policy: "allow", existing: [("running", false)], pendingNew: nil),
        OverlapCase(policy: "skip", existing: [], pendingNew: 1),
        OverlapCase(policy: "skip", existing: [("completed", false), ("failed", false)], pendingNew: 1),
        OverlapCase(policy: "skip", existing: [("running", false)], pendingNew: 0),
        OverlapCase(policy: "buffer_one", existing: [], pendingNew: 2),
        OverlapCase(policy: "buffer_one", existing: [("cancelled", false), ("skipped", false)], pendingNew: 2),
        OverlapCase(policy: "buffer_one", existing: [("running", false)], pendingNew: 1),
        OverlapCase(policy: "buffer_one", existing: [("running", false), ("pending", true)], pendingNew: 0),
    ]

    @Test("misfire all: the policy applies in slot order", arguments: recordCases)
    func misfireAllInSlotOrder(_ c: OverlapCase) throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            // Due since four minutes ago: `all` records every missed minute (at least 4 slots).
            try connection.insertTrigger(
                id: "m1", cron: "* * * * *", nextRunAt: .sql("date_trunc('minute', now()) - interval '3 minutes'"),
                payload: #"{"k": "v"}"#, misfire: "all", overlap: c.policy, maxRetries: 0, retryDelay: 10)
            var existingIDs: [String] = []
            for (index, row) in c.existing.enumerated() {
                existingIDs.append(try connection.insertInvocation(
                    trigger: "m1",
                    slot: .sql("date_trunc('minute', now()) - interval '1 hour' + interval '\(index) minutes'"),
                    status: row.status,
                    leaseExpiresAt: (row.status == "running" ? 600 : nil).map(SQLTime.secondsFromNow), held: row.held,
                    executionID: row.status == "running" ? "run-\(index)" : nil))
            }
            let result = try database.runCycle()
            #expect(result.exitCode == 0, "\(result)")
            let new = Array(try PolicyFixture.rows(connection, trigger: "m1").dropFirst(c.existing.count))
            #expect(new.count >= 4)
            let pending = c.pendingNew ?? new.count
            #expect(new.prefix(pending).allSatisfy { $0.status == "pending" && !$0.completedAtSet }, "\(new)")
            #expect(new.prefix(pending).allSatisfy { $0.held == (c.policy == "buffer_one") }, "\(new)")
            #expect(new.dropFirst(pending).allSatisfy { $0.status == "skipped" && $0.completedAtSet }, "\(new)")
            // Each skipped slot names an unfinished invocation: the last new one let through, else
            // the latest unfinished one that was there before.
            let unfinishedBefore = zip(existingIDs, c.existing).filter { ["pending", "running"].contains($0.1.status) }.map(\.0)
            let blocker = pending > 0 ? new[pending - 1].id : unfinishedBefore.last
            for row in new.dropFirst(pending) {
                #expect(row.error?.contains("overlap_policy \(c.policy)") == true, "\(row)")
                #expect(blocker.map { row.error?.contains("invocation \($0) ") == true } == true, "\(row) \(String(describing: blocker))")
            }
            #expect(logLines(result.stderr, event: "invocation.skipped_overlap").count == new.count - pending)
        }
    }

    /// Claim-time buffer_one: what must stay held while another invocation of the trigger is
    /// unfinished, worked from §6 ("not claimed while another … is running or an older one is pending").
    struct HoldCase: Sendable, CustomTestStringConvertible {
        var name: String
        var other: (status: String, nextAttempt: String, minutesBefore: Int)?
        var posted: Bool
        var testDescription: String { name }
    }

    static let holdCases: [HoldCase] = [
        HoldCase(name: "nothing else unfinished: posted", other: nil, posted: true),
        HoldCase(name: "another one running: held", other: ("running", "NULL", 5), posted: false),
        HoldCase(name: "an older one pending in backoff: held", other: ("pending", "now() + interval '1 hour'", 5), posted: false),
        HoldCase(name: "the other one finished: posted", other: ("completed", "NULL", 5), posted: true),
    ]

    @Test("buffer_one at claim time", arguments: holdCases)
    func bufferOneClaim(_ c: HoldCase) throws {
        try withTestDatabase { database in
            let standIn = try StandIn()
            defer { standIn.stop() }
            let connection = try database.connect()
            try connection.insertTrigger(
                id: "b1", cron: "* * * * *", nextRunAt: "2999-01-01T00:00:00Z", payload: #"{"k": "v"}"#,
                overlap: "buffer_one", maxRetries: 0, retryDelay: 10)
            if let other = c.other {
                try connection.insertInvocation(
                    trigger: "b1",
                    slot: .sql("date_trunc('minute', now()) - interval '\(other.minutesBefore) minutes'"),
                    status: other.status, nextAttemptAt: .sql(other.nextAttempt),
                    leaseExpiresAt: (other.status == "running" ? 600 : nil).map(SQLTime.secondsFromNow),
                    executionID: other.status == "running" ? "run-x" : nil)
            }
            let held = try connection.insertInvocation(
                trigger: "b1", slot: .sql("date_trunc('minute', now())"), status: "pending", held: true)

            let result = try database.runCycle(endpoint: standIn.url)
            #expect(result.exitCode == 0, "\(result)")
            let heldKey = try connection.value("SELECT idempotency_key FROM scheduled_trigger_invocations WHERE id = $1", [held])!
            #expect(standIn.posts().map { $0.header("idempotency-key") } == (c.posted ? [heldKey + "-1"] : []))
            #expect(try database.status(tenant: "t1", invocation: held) == (c.posted ? "running" : "pending"))
            if !c.posted {
                // `status` does not count a held invocation as runnable (it waits its turn, not lagging).
                let status = try database.cli(["status", "--json"])
                #expect(status.stdout.contains("\"runnable_invocations\":0"), "\(status)")
            }
        }
    }

    @Test("buffer_one: invocations waiting behind running ones do not starve a releasable one")
    func bufferOneNoStarvation() throws {
        try withTestDatabase { database in
            let standIn = try StandIn()
            defer { standIn.stop() }
            let connection = try database.connect()
            // 40 triggers each with a run in progress and an older-than-everything waiting slot;
            // one more whose only (and newest) slot may run. A claim takes 2 × concurrency = 8.
            for t in 0..<40 {
                try connection.insertTrigger(
                    id: "w\(t)", cron: "* * * * *", nextRunAt: "2999-01-01T00:00:00Z", payload: #"{"k": "v"}"#,
                    overlap: "buffer_one", maxRetries: 0, retryDelay: 10)
                try connection.insertInvocation(
                    trigger: "w\(t)", slot: .sql("now() - interval '2 hours'"), status: "running",
                    leaseExpiresAt: .secondsFromNow(600), executionID: "run-\(t)")
                try connection.insertInvocation(
                    trigger: "w\(t)", slot: .sql("now() - interval '1 hour'"), status: "pending", held: true)
            }
            try connection.insertTrigger(
                id: "free", cron: "* * * * *", nextRunAt: "2999-01-01T00:00:00Z", payload: #"{"k": "v"}"#,
                overlap: "buffer_one", maxRetries: 0, retryDelay: 10)
            let free = try connection.insertInvocation(
                trigger: "free", slot: .sql("now() - interval '1 minute'"), status: "pending", held: true)

            let result = try database.runCycle(["--concurrency", "4"], endpoint: standIn.url)
            #expect(result.exitCode == 0, "\(result)")
            #expect(try database.status(tenant: "t1", invocation: free) == "running")
            #expect(standIn.posts().count == 1)
            #expect(try connection.value("SELECT count(*) FROM scheduled_trigger_invocations WHERE held_by_overlap") == "40")
        }
    }

    @Test("buffer_one with concurrent dispatchers: never two running at once, each posted once, oldest first",
          arguments: [2, 4])
    func bufferOneConcurrent(_ dispatchers: Int) throws {
        try withTestDatabase { database in
            let standIn = try StandIn(postAnswer: "accept", getStatus: "completed")
            defer { standIn.stop() }
            let connection = try database.connect()
            // The detector, independent of the dispatcher's own rule: a second `running` row of a
            // trigger (even uncommitted) makes the dispatcher's statement fail, and it exits non-zero.
            try connection.query("""
                CREATE UNIQUE INDEX test_one_running_per_trigger
                    ON scheduled_trigger_invocations (tenant_id, scheduled_trigger_id) WHERE status = 'running'
                """)
            let triggers = 20, perTrigger = 3
            for t in 0..<triggers {
                try connection.insertTrigger(
                    id: "c\(t)", cron: "* * * * *", nextRunAt: "2999-01-01T00:00:00Z", payload: #"{"k": "v"}"#,
                    overlap: "buffer_one", maxRetries: 0, retryDelay: 10)
                for k in 0..<perTrigger {
                    try connection.insertInvocation(
                        trigger: "c\(t)", slot: .sql("date_trunc('minute', now()) - interval '\(10 - k) minutes'"),
                        status: "pending", held: true)
                }
            }
            let environment = ChildProcess.dispatcherEnvironment([
                "DATABASE_URL": database.url, "AGENTS_API_URL": standIn.url, "AGENTS_API_KEY": testAPIKey,
            ])
            var rounds = 0
            while rounds < 40, try connection.value("SELECT count(*) FROM scheduled_trigger_invocations WHERE status <> 'completed'") != "0" {
                // A running execution is asked about once its lease (the reconcile interval, 1 s at
                // the least) has passed: let it pass between rounds.
                if rounds > 0 { usleep(1_100_000) }
                rounds += 1
                let results = try runConcurrently(
                    dispatchers, ["run", "--log-format", "json", "--reconcile-interval", "1", "--concurrency", "4"],
                    environment: environment)
                for result in results { #expect(result.exitCode == 0, "\(result)") }
            }
            #expect(try connection.invocationCounts() == ["completed": triggers * perTrigger])
            let posts = standIn.posts()
            #expect(posts.count == triggers * perTrigger)
            let keys = posts.compactMap { $0.header("idempotency-key") }
            #expect(Set(keys).count == keys.count)
            // Oldest first per trigger: the keys embed the slot, so their arrival order sorts.
            for t in 0..<triggers {
                let own = keys.filter { $0.hasPrefix("sched_c\(t)_") }
                #expect(own.count == perTrigger)
                #expect(own == own.sorted(), "\(own)")
            }
        }
    }

    @Test("run --dry-run says which slots the overlap policy would record skipped, and writes nothing")
    func dryRunShowsOverlapSkips() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            // Each trigger has one running invocation. `all` with four or more missed minutes:
            // buffer_one lets one more wait (2 − 1), the rest would be skipped; skip (misfire latest,
            // one slot) would skip its only slot; allow never skips.
            for (id, overlap, misfire) in [("bp", "buffer_one", "all"), ("sk", "skip", "latest"), ("al", "allow", "latest")] {
                try connection.insertTrigger(
                    id: id, cron: "* * * * *", nextRunAt: .sql("date_trunc('minute', now()) - interval '3 minutes'"),
                    payload: #"{"k": "v"}"#, misfire: misfire, overlap: overlap, maxRetries: 0, retryDelay: 10)
                try connection.insertInvocation(
                    trigger: id, slot: .sql("date_trunc('minute', now()) - interval '1 hour'"), status: "running",
                    leaseExpiresAt: .secondsFromNow(600), executionID: "run-\(id)")
            }
            let result = try database.dispatchDue(["run", "--dry-run"])
            #expect(result.exitCode == 0, "\(result)")
            let lines = result.stdout.split(separator: "\n").map(String.init)
            let bufferedSlots = lines.filter { $0.hasPrefix("would record t1/bp slot ") }.count
            #expect(bufferedSlots >= 4, "\(result.stdout)")
            #expect(lines.contains("would record \(bufferedSlots - 1) slot(s) of t1/bp as skipped (overlap_policy buffer_one: an invocation is unfinished)"), "\(result.stdout)")
            #expect(lines.contains("would record 1 slot(s) of t1/sk as skipped (overlap_policy skip: an invocation is unfinished)"), "\(result.stdout)")
            #expect(!result.stdout.contains("t1/al as skipped"), "\(result.stdout)")
            #expect(lines.last?.contains("(\(bufferedSlots) of them as skipped by the overlap policy)") == true, "\(result.stdout)")
            #expect(try connection.value("SELECT count(*) FROM scheduled_trigger_invocations") == "3")
        }
    }
}
