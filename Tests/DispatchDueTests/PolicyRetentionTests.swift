import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

@Suite("policies: retention and prune (contract §6 history)", .serialized)
struct PolicyRetentionTests {
    /// Trigger h1: five finished invocations that ended 40 days ago (hourly slots), one pending
    /// and one running created 40 days ago, one finished yesterday. Trigger h2: a single
    /// finished invocation 40 days old. With a 30-day retention, worked by hand: h1's newest
    /// finished (by slot) is yesterday's, so all five old finished ones go; h2's only one is
    /// its newest finished, so it stays. Unfinished ones stay whatever their age.
    static func seed(_ connection: borrowing Connection) throws -> (kept: [String], deleted: [String]) {
        try connection.insertTrigger(
            id: "h1", cron: "0 * * * *", nextRunAt: "2999-01-01T00:00:00Z", payload: #"{"k": "v"}"#, maxRetries: 0,
            retryDelay: 10)
        try connection.insertTrigger(
            id: "h2", cron: "0 * * * *", nextRunAt: "2999-01-01T00:00:00Z", payload: #"{"k": "v"}"#, maxRetries: 0,
            retryDelay: 10)
        var deleted: [String] = []
        for (hour, status) in ["completed", "failed", "cancelled", "skipped", "completed"].enumerated() {
            deleted.append(try connection.insertInvocation(
                trigger: "h1", slot: .sql("'2026-01-01T00:00:00Z'::timestamptz + interval '\(hour) hours'"),
                status: status, createdAt: .sql("now() - interval '40 days'"),
                completedAt: .sql("now() - interval '40 days'")))
        }
        var kept: [String] = []
        kept.append(try connection.insertInvocation(
            trigger: "h1", slot: .sql("'2026-01-01T00:00:00Z'::timestamptz - interval '1 hour'"), status: "pending",
            createdAt: .sql("now() - interval '40 days'"), nextAttemptAt: .sql("now() + interval '1 day'")))
        kept.append(try connection.insertInvocation(
            trigger: "h1", slot: .sql("'2026-01-01T00:00:00Z'::timestamptz - interval '2 hours'"), status: "running",
            createdAt: .sql("now() - interval '40 days'"), leaseExpiresAt: .secondsFromNow(3600), executionID: "run-1"))
        kept.append(try connection.insertInvocation(
            trigger: "h1", slot: .sql("'2026-02-01T00:00:00Z'::timestamptz"), status: "completed",
            completedAt: .sql("now() - interval '1 day'")))
        kept.append(try connection.insertInvocation(
            trigger: "h2", slot: .sql("'2026-01-01T00:00:00Z'::timestamptz"), status: "failed",
            createdAt: .sql("now() - interval '40 days'"), completedAt: .sql("now() - interval '40 days'")))
        return (kept, deleted)
    }

    @Test("prune keeps each trigger's newest finished invocation and never touches unfinished ones", .requiresDatabase)
    func prune() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            let (kept, deleted) = try Self.seed(connection)

            let dry = try database.cli(["prune", "--retention", "30d", "--dry-run"])
            #expect(dry.exitCode == 0, "\(dry)")
            #expect(dry.stdout.contains("would delete 5 finished invocation(s)"), "\(dry)")
            #expect(try connection.value("SELECT count(*) FROM scheduled_trigger_invocations") == "9")

            let result = try database.cli(["prune", "--retention", "30d", "--log-format", "json"])
            #expect(result.exitCode == 0, "\(result)")
            #expect(result.stdout.contains("deleted 5 finished invocation(s)"), "\(result)")
            let left = Set(try connection.query("SELECT id FROM scheduled_trigger_invocations").map { $0["id"] ?? "" })
            #expect(left == Set(kept))
            #expect(Set(deleted).isDisjoint(with: left))
            // The watermark: the latest pruned scheduled slot (04:00, the fifth hour).
            #expect(try connection.value("""
                SELECT to_char(pruned_through AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') FROM scheduled_triggers WHERE id = 'h1'
                """) == "2026-01-01T04:00:00Z")
            #expect(try connection.value("SELECT pruned_through IS NULL FROM scheduled_triggers WHERE id = 'h2'") == "t")
            #expect(logLines(result.stderr, event: "invocations.pruned").count == 1)
        }
    }

    @Test("run prunes by default (30 days), keeps everything with --retention 0, and says so in the summary", .requiresDatabase)
    func runRetention() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            _ = try Self.seed(connection)
            let keepAll = try database.runCycle(["--retention", "0"])
            #expect(keepAll.exitCode == 0, "\(keepAll)")
            #expect(try connection.value("SELECT count(*) FROM scheduled_trigger_invocations") == "9")
            #expect(try connection.value("SELECT count(*) FROM scheduled_trigger_invocations WHERE status = 'pending'") == "1")
            let metrics = try ChildProcess.makeScratchDirectory() + "/dispatch_due.prom"
            let defaults = try database.runCycle(["--metrics-file", metrics])
            #expect(defaults.exitCode == 0, "\(defaults)")
            let text = try FileSystem.readText(metrics)
            #expect(text.contains("\ndispatch_due_last_cycle_pruned_invocations 5\n"), "\(text)")
            #expect(text.contains("\ndispatch_due_last_cycle_skipped_overlap 0\n"), "\(text)")
            #expect(text.contains("\ndispatch_due_last_cycle_paused_triggers 0\n"), "\(text)")
            #expect(text.contains("\ndispatch_due_last_cycle_jitter_delay_seconds{stat=\"max\"} 0\n"), "\(text)")
            #expect(try connection.value("SELECT count(*) FROM scheduled_trigger_invocations") == "4")
            #expect(logLines(defaults.stderr, event: "cycle.finished").first?.contains("\"pruned\":5") == true, "\(defaults)")
            let shorter = try database.runCycle(["--retention", "12h"])
            #expect(shorter.exitCode == 0)
            // Yesterday's is h1's newest finished one: kept whatever the retention.
            #expect(try connection.value("SELECT count(*) FROM scheduled_trigger_invocations") == "4")
        }
    }

    @Test("a retention that cannot delete is logged as retention.failed; the cycle's own work stands and it exits 0", .requiresDatabase)
    func retentionRefused() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            _ = try Self.seed(connection)
            // Any DELETE on invocations fails, as it would for a role without the grant.
            try connection.query("""
                CREATE FUNCTION refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'deletes refused by the test'; END; $$
                """)
            try connection.query("""
                CREATE TRIGGER refuse_delete BEFORE DELETE ON scheduled_trigger_invocations
                    FOR EACH ROW EXECUTE FUNCTION refuse_delete()
                """)
            // A healthy one-time trigger due now, to show the cycle still records it.
            try connection.query("""
                INSERT INTO scheduled_triggers (tenant_id, id, project_id, agent_id, name, run_at)
                VALUES ('t2', 'due', 'p', 'a', 'due now', now() - interval '1 minute')
                """)
            let result = try database.runCycle(["--record-only"])
            #expect(result.exitCode == 0, "\(result)")
            let failures = logLines(result.stderr, event: "retention.failed")
            #expect(failures.count == 1, "\(result.stderr)")
            #expect(failures.first?.contains("deletes refused by the test") == true)
            #expect(try connection.value("SELECT count(*) FROM scheduled_trigger_invocations WHERE tenant_id = 't2'") == "1")
            #expect(try connection.value("SELECT count(*) FROM scheduled_trigger_invocations") == "10")
        }
    }

    @Test("--retention values", arguments: [
        ("0", Int64(0)), ("30d", 2_592_000), ("12h", 43_200), ("90m", 5_400), ("3600s", 3_600), ("0d", 0),
    ])
    func durations(_ text: String, _ seconds: Int64) {
        #expect(RetentionDuration.parse(text) == seconds)
    }

    @Test("bad --retention values are usage errors", arguments: ["", "d", "-1d", "1w", "1.5h", "30 d", "99999999999999d", "30", "45", "00"])
    func badDurations(_ text: String) throws {
        #expect(RetentionDuration.parse(text) == nil)
        let result = try ChildProcess.run("dispatch-due", ["prune", "--retention", text], extraEnvironment: ["DATABASE_URL": "dbname=none"])
        #expect(result.exitCode == 64, "\(result)")
    }

    @Test("backfill after a prune leaves the pruned slots out and says so", .requiresDatabase)
    func backfillAfterPrune() throws {
        try withTestDatabase { database in
            let standIn = try StandIn(postAnswer: "accept-no-run-id")
            defer { standIn.stop() }
            let connection = try database.connect()
            _ = try Self.seed(connection)
            #expect(try database.cli(["prune", "--retention", "30d"]).exitCode == 0)
            // Window 00:00–06:00: 7 hourly slots; 00:00–04:00 were pruned (left out), 05:00 and 06:00
            // were never recorded: recorded now.
            let result = try ChildProcess.run(
                "dispatch-due",
                ["backfill", "--from", "2026-01-01T00:00:00Z", "--to", "2026-01-01T06:00:00Z", "--tenant", "t1", "--trigger", "h1",
                 "--log-format", "json"],
                environment: ChildProcess.dispatcherEnvironment([
                    "DATABASE_URL": database.url, "AGENTS_API_URL": standIn.url, "AGENTS_API_KEY": testAPIKey,
                ]))
            #expect(result.exitCode == 0, "\(result)")
            #expect(result.stdout.contains("t1/h1: recorded 2 of 2 slot(s); left out 5 slot(s) already pruned by retention"), "\(result)")
            #expect(try slotsOf(connection, "h1", from: "2026-01-01T00:00:00Z", to: "2026-01-01T06:00:00Z")
                == ["2026-01-01T05:00:00Z", "2026-01-01T06:00:00Z"])
        }
    }

    @Test("backfill applies the overlap policy in slot order", .requiresDatabase)
    func backfillWithSkip() throws {
        try withTestDatabase { database in
            let standIn = try StandIn(postAnswer: "accept-no-run-id")
            defer { standIn.stop() }
            let connection = try database.connect()
            try connection.insertTrigger(
                id: "k1", cron: "0 * * * *", nextRunAt: "2999-01-01T00:00:00Z", payload: #"{"k": "v"}"#,
                overlap: "skip", maxRetries: 0, retryDelay: 10)
            // Four hourly slots, nothing unfinished: `skip` records the first, the other three come
            // due while it is unfinished (pending), so they are skipped.
            let result = try ChildProcess.run(
                "dispatch-due",
                ["backfill", "--from", "2026-01-01T00:00:00Z", "--to", "2026-01-01T03:00:00Z", "--log-format", "json"],
                environment: ChildProcess.dispatcherEnvironment([
                    "DATABASE_URL": database.url, "AGENTS_API_URL": standIn.url, "AGENTS_API_KEY": testAPIKey,
                ]))
            #expect(result.exitCode == 0, "\(result)")
            #expect(result.stdout.contains("t1/k1: recorded 4 of 4 slot(s); 3 of them skipped by the overlap policy"), "\(result)")
            #expect(try PolicyFixture.rows(connection, trigger: "k1").map(\.status) == ["completed", "skipped", "skipped", "skipped"])
            #expect(standIn.posts().count == 1)
        }
    }

    @Test("a one-time trigger whose slot was pruned does not fire again when re-enabled", .requiresDatabase)
    func oneTimeAfterPrune() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try connection.query("""
                INSERT INTO scheduled_triggers (tenant_id, id, project_id, agent_id, name, run_at)
                VALUES ('t1', 'once', 'proj', 'agent', 'once', '2026-01-01T00:00:00Z')
                """)
            try connection.insertInvocation(
                trigger: "once", slot: .sql("'2026-01-01T00:00:00Z'"), status: "completed",
                createdAt: .sql("now() - interval '40 days'"), completedAt: .sql("now() - interval '40 days'"))
            // A later run-now, so the slot's row is not the newest finished one and may go.
            try connection.insertInvocation(
                trigger: "once", slot: .sql("'2026-01-02T00:00:00Z'"), status: "completed", key: "manual_once_x",
                createdAt: .sql("now() - interval '40 days'"), completedAt: .sql("now() - interval '40 days'"))
            #expect(try database.cli(["prune"]).stdout.contains("deleted 1 "))
            #expect(try database.cli(["triggers", "disable", "once", "--tenant", "t1"]).exitCode == 0)
            #expect(try database.cli(["triggers", "enable", "once", "--tenant", "t1"]).exitCode == 0)
            #expect(try connection.value("SELECT next_run_at IS NULL FROM scheduled_triggers") == "t")
            // And the heal, for a writer that enables it with SQL.
            try connection.query("UPDATE scheduled_triggers SET enabled = false")
            try connection.query("UPDATE scheduled_triggers SET enabled = true")
            let cycle = try database.runCycle()
            #expect(cycle.exitCode == 0, "\(cycle)")
            #expect(try connection.value("SELECT count(*) FROM scheduled_trigger_invocations") == "1")
            #expect(try connection.value("SELECT next_run_at IS NULL FROM scheduled_triggers") == "t")
        }
    }
}

func slotsOf(_ connection: borrowing Connection, _ trigger: String, from: String, to: String) throws -> [String] {
    try connection.query("""
        SELECT to_char(scheduled_for AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS slot
        FROM scheduled_trigger_invocations
        WHERE scheduled_trigger_id = $1 AND scheduled_for BETWEEN $2::timestamptz AND $3::timestamptz
        ORDER BY scheduled_for
        """, [trigger, from, to]).map { $0["slot"] ?? "" }
}
