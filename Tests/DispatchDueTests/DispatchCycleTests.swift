import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Glibc
import Postgres
import Testing

/// `scheduled_for` of a trigger's invocations, ascending, as ISO 8601 UTC.
func slots(_ connection: borrowing Connection, trigger: String, tenant: String = "t1") throws -> [String] {
    try connection.query("""
        SELECT to_char(scheduled_for AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS slot
        FROM scheduled_trigger_invocations WHERE tenant_id = $1 AND scheduled_trigger_id = $2
        ORDER BY scheduled_for
        """, [tenant, trigger]).map { $0["slot"] ?? "" }
}

/// The JSON log lines of one event.
func logLines(_ stderr: String, event: String) -> [String] {
    stderr.split(separator: "\n").map(String.init).filter { $0.contains("\"event\":\"\(event)\"") }
}

@Suite("dispatch cycle", .requiresDatabase)
struct DispatchCycleTests {
    @Test("several dispatchers at once record every slot exactly once")
    func concurrentDispatchers() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            // 3,000 yearly triggers, each due since 2020-01-01. With `latest` each fires exactly one
            // slot: the last Jan 1 00:00 UTC at or before now, and moves to the Jan 1 after it.
            try connection.query("""
                INSERT INTO scheduled_triggers (tenant_id, id, project_id, agent_id, name, cron_expression, next_run_at)
                SELECT 't1', 'trigger-' || n, 'project-1', 'agent-1', 'yearly', '0 0 1 1 *', '2020-01-01T00:00:00Z'
                FROM generate_series(1, 3000) AS n
                """)
            let dispatchers = try (0..<4).map { _ in
                try ChildProcess(
                    "dispatch-due", ["run", "--record-only", "--batch-size", "100", "--log-format", "json"],
                    extraEnvironment: ["DATABASE_URL": database.url])
            }
            let results = dispatchers.map { $0.wait() }
            for result in results { #expect(result.exitCode == 0, "\(result)") }

            let invocations = try connection.value("SELECT count(*) FROM scheduled_trigger_invocations")
            let distinct = try connection.value("SELECT count(DISTINCT (tenant_id, scheduled_trigger_id)) FROM scheduled_trigger_invocations")
            #expect(invocations == "3000")
            #expect(distinct == "3000")
            let wrongSlot = try connection.value("""
                SELECT count(*) FROM scheduled_trigger_invocations
                WHERE scheduled_for <> date_trunc('year', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                """)
            #expect(wrongSlot == "0")
            let notAdvanced = try connection.value("""
                SELECT count(*) FROM scheduled_triggers
                WHERE next_run_at IS DISTINCT FROM (date_trunc('year', now() AT TIME ZONE 'UTC') + interval '1 year') AT TIME ZONE 'UTC'
                """)
            #expect(notAdvanced == "0")
            // The dispatchers' own counts add up to the rows: no slot was counted twice.
            let recordedLines = results.flatMap { logLines($0.stderr, event: "invocation.recorded") }
            #expect(recordedLines.count == 3000)
        }
    }

    @Test("a one-time trigger fires once across cycles, heals and re-enables")
    func oneTimeFiresOnce() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try connection.insertTrigger(id: "once", runAt: "2026-01-15T10:00:00.750Z")
            for _ in 0..<3 { #expect(try database.runCycle().exitCode == 0) }
            // run_at is truncated to whole seconds (contract §1).
            #expect(try slots(connection, trigger: "once") == ["2026-01-15T10:00:00Z"])
            #expect(try connection.value("SELECT next_run_at FROM scheduled_triggers WHERE id = 'once'") == nil)

            // Disabling and re-enabling resets next_run_at (row trigger); the heal must see the
            // slot already recorded and not fire it again.
            try connection.query("UPDATE scheduled_triggers SET enabled = false WHERE id = 'once'")
            try connection.query("UPDATE scheduled_triggers SET enabled = true WHERE id = 'once'")
            for _ in 0..<2 { #expect(try database.runCycle().exitCode == 0) }
            #expect(try slots(connection, trigger: "once") == ["2026-01-15T10:00:00Z"])

            // A new run_at is a new slot: it fires once too.
            try connection.query("UPDATE scheduled_triggers SET run_at = '2026-02-01T08:30:00Z' WHERE id = 'once'")
            for _ in 0..<2 { #expect(try database.runCycle().exitCode == 0) }
            #expect(try slots(connection, trigger: "once") == ["2026-01-15T10:00:00Z", "2026-02-01T08:30:00Z"])
        }
    }

    @Test("rows inserted by plain SQL are healed: cron to the first slot after now, one-time to run_at")
    func healsSQLInsertedRows() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            // 09:00 in Tokyo (UTC+9, no DST) is 00:00 UTC: the next one is the coming UTC midnight.
            try connection.insertTrigger(id: "tokyo", cron: "0 9 * * *", zone: "Asia/Tokyo")
            // A one-time trigger in the future: scheduled at run_at, nothing recorded yet.
            try connection.insertTrigger(id: "later", runAt: "2099-06-01T12:00:00Z")
            #expect(try database.runCycle().exitCode == 0)
            let tokyo = try connection.value("""
                SELECT next_run_at = date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + interval '1 day'
                FROM scheduled_triggers WHERE id = 'tokyo'
                """)
            #expect(tokyo == "t")
            #expect(try connection.value("SELECT next_run_at = '2099-06-01T12:00:00Z' FROM scheduled_triggers WHERE id = 'later'") == "t")
            #expect(try connection.value("SELECT count(*) FROM scheduled_trigger_invocations") == "0")
        }
    }

    @Test("a bad row in the middle of a batch gets schedule_error; the rest of the batch goes on")
    func badRowsDoNotBlockTheBatch() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            let due = "2026-01-01T00:00:00Z"
            try connection.insertTrigger(id: "a-good", cron: "0 0 1 1 *", nextRunAt: SQLTime.at(due))
            try connection.insertTrigger(id: "b-bad-cron", cron: "61 * * * *", nextRunAt: "2026-01-01T00:00:01Z")
            try connection.insertTrigger(
                id: "c-bad-zone", cron: "0 0 1 1 *", zone: "Mars/Olympus_Mons", nextRunAt: "2026-01-01T00:00:02Z")
            try connection.insertTrigger(id: "d-bad-zone-once", zone: "Nowhere/City", runAt: "2026-01-01T00:00:03Z")
            try connection.insertTrigger(id: "e-good", cron: "0 0 1 1 *", nextRunAt: "2026-01-01T00:00:04Z")
            let result = try database.runCycle()
            #expect(result.exitCode == 0, "\(result)")
            #expect(try slots(connection, trigger: "a-good").count == 1)
            #expect(try slots(connection, trigger: "e-good").count == 1)
            for bad in ["b-bad-cron", "c-bad-zone", "d-bad-zone-once"] {
                #expect(try slots(connection, trigger: bad).isEmpty)
                let row = try connection.query(
                    "SELECT next_run_at, schedule_error FROM scheduled_triggers WHERE id = $1", [bad]).first!
                #expect(row["next_run_at"] == nil)
                #expect(row["schedule_error"] != nil)
            }
            let cronError = try connection.value("SELECT schedule_error FROM scheduled_triggers WHERE id = 'b-bad-cron'") ?? ""
            #expect(cronError.contains("minute"), "error should name the field: \(cronError)")
            let zoneError = try connection.value("SELECT schedule_error FROM scheduled_triggers WHERE id = 'c-bad-zone'") ?? ""
            #expect(zoneError.contains("Mars/Olympus_Mons"))

            // Editing the schedule clears the error (row trigger); the next heal schedules it.
            try connection.query("UPDATE scheduled_triggers SET cron_expression = '0 0 1 1 *' WHERE id = 'b-bad-cron'")
            #expect(try connection.value("SELECT schedule_error FROM scheduled_triggers WHERE id = 'b-bad-cron'") == nil)
            #expect(try database.runCycle().exitCode == 0)
            let healed = try connection.value("""
                SELECT next_run_at = (date_trunc('year', now() AT TIME ZONE 'UTC') + interval '1 year') AT TIME ZONE 'UTC'
                FROM scheduled_triggers WHERE id = 'b-bad-cron'
                """)
            #expect(healed == "t")
        }
    }

    @Test("all: a backlog over 100 slots is fired 100 per cycle, in order, without gaps or repeats")
    func allPolicyCatchesUpAcrossCycles() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            // Hourly since 2026-01-01: far more than 100 missed slots.
            try connection.insertTrigger(
                id: "hourly", cron: "0 * * * *", nextRunAt: "2026-01-01T00:00:00Z", misfire: "all")
            #expect(try database.runCycle().exitCode == 0)
            let first = try slots(connection, trigger: "hourly")
            #expect(first.count == 100)
            #expect(first.first == "2026-01-01T00:00:00Z")
            // 100 hourly slots from Jan 1 00:00: the last is 99 h later, Jan 5 03:00.
            #expect(first.last == "2026-01-05T03:00:00Z")
            #expect(try connection.value("SELECT next_run_at = '2026-01-05T04:00:00Z' FROM scheduled_triggers WHERE id = 'hourly'") == "t")
            #expect(try database.runCycle().exitCode == 0)
            let second = try slots(connection, trigger: "hourly")
            #expect(second.count == 200)
            #expect(second[100] == "2026-01-05T04:00:00Z")
            #expect(Set(second).count == second.count)
        }
    }

    @Test("latest and skip with next_run_at hours in the past", arguments: ["latest", "skip"])
    func latestAndSkip(policy: String) throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            // Yearly, due since 2020: the latest missed slot is Jan 1 of this year, months late.
            try connection.insertTrigger(
                id: "yearly", cron: "0 0 1 1 *", nextRunAt: "2020-01-01T00:00:00Z", misfire: policy)
            let result = try database.runCycle()
            #expect(result.exitCode == 0)
            let fired = try slots(connection, trigger: "yearly")
            let thisYear = try connection.value("""
                SELECT to_char(date_trunc('year', now() AT TIME ZONE 'UTC'), 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                """)!
            let missedYears = Int(thisYear.prefix(4))! - 2020 + 1
            if policy == "latest" {
                #expect(fired == [thisYear])
            } else {
                // skip: the latest slot is far more than two minutes late, so nothing fires.
                #expect(fired.isEmpty)
            }
            // Skipped slots are logged with the trigger and counted in the summary.
            let skippedLine = logLines(result.stderr, event: "slots.skipped").first
            #expect(skippedLine?.contains("\"trigger\":\"yearly\"") == true)
            let expectedSkipped = policy == "latest" ? missedYears - 1 : missedYears
            #expect(skippedLine?.contains("\"skipped\":\(expectedSkipped),") == true, "\(result.stderr)")
        }
    }

    @Test("advancing across the New York spring-forward lands on the cron engine's slots")
    func advancesAcrossDST() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            // 02:30 daily in New York, due since Sat 2026-03-07 02:30 EST (07:30Z), policy all.
            // Sun Mar 8: 02:00 EST jumps to 03:00 EDT, so 02:30 does not exist; a fixed-time job
            // fires once at the first instant after the change, 03:00 EDT = 07:00Z.
            // Mon Mar 9: 02:30 EDT = 06:30Z.
            try connection.insertTrigger(
                id: "ny", cron: "30 2 * * *", zone: "America/New_York", nextRunAt: "2026-03-07T07:30:00Z",
                misfire: "all")
            #expect(try database.runCycle().exitCode == 0)
            let fired = try slots(connection, trigger: "ny")
            #expect(Array(fired.prefix(3)) == ["2026-03-07T07:30:00Z", "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"])
        }
    }

    @Test("backfill twice over the same window records each slot once and never moves next_run_at")
    func backfillTwice() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try connection.insertTrigger(id: "hourly", cron: "0 * * * *", nextRunAt: "2099-01-01T00:00:00Z")
            try connection.insertTrigger(id: "other", cron: "0 * * * *", nextRunAt: "2099-01-01T00:00:00Z")
            let arguments = ["backfill", "--from", "2026-11-01T00:00:00Z", "--to", "2026-11-01T05:00:00Z",
                             "--trigger", "hourly", "--log-format", "json", "--dry-run"]
            let dry = try database.dispatchDue(arguments)
            #expect(dry.exitCode == 0, "\(dry)")
            #expect(dry.stdout.contains("t1/hourly: would record 6 of 6 slot(s)"))
            #expect(try connection.value("SELECT count(*) FROM scheduled_trigger_invocations") == "0")

            let real = Array(arguments.dropLast()) + ["--max-runtime", "5"]
            let environment = ["DATABASE_URL": database.url, "AGENTS_API_URL": "http://127.0.0.1:9", "AGENTS_API_KEY": "unused"]
            let first = try ChildProcess.run("dispatch-due", real, extraEnvironment: environment)
            #expect(first.stdout.contains("t1/hourly: recorded 6 of 6 slot(s)"), "\(first)")
            let second = try ChildProcess.run("dispatch-due", real, extraEnvironment: environment)
            #expect(second.stdout.contains("t1/hourly: recorded 0 of 6 slot(s)"), "\(second)")
            // 00:00 through 05:00 inclusive: six hourly slots, each once; the other trigger untouched.
            #expect(try slots(connection, trigger: "hourly") == [
                "2026-11-01T00:00:00Z", "2026-11-01T01:00:00Z", "2026-11-01T02:00:00Z",
                "2026-11-01T03:00:00Z", "2026-11-01T04:00:00Z", "2026-11-01T05:00:00Z",
            ])
            #expect(try slots(connection, trigger: "other").isEmpty)
            #expect(try connection.value("SELECT count(*) FROM scheduled_triggers WHERE next_run_at <> '2099-01-01T00:00:00Z'") == "0")
        }
    }

    @Test("backfill over several triggers and tenants counts each trigger's slots apart")
    func backfillAcrossTenants() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            // The same trigger id in two tenants, and a daily trigger beside them.
            try connection.insertTrigger(
                tenant: "t1", id: "hourly", cron: "0 * * * *", nextRunAt: "2099-01-01T00:00:00Z")
            try connection.insertTrigger(
                tenant: "tenant-b", id: "hourly", cron: "0 * * * *", nextRunAt: "2099-01-01T00:00:00Z")
            try connection.insertTrigger(
                tenant: "t1", id: "daily", cron: "0 0 * * *", nextRunAt: "2099-01-01T00:00:00Z")
            let environment = ["DATABASE_URL": database.url, "AGENTS_API_URL": "http://127.0.0.1:9", "AGENTS_API_KEY": "unused"]
            func backfill(_ extra: [String]) throws -> ProcessResult {
                try ChildProcess.run(
                    "dispatch-due", ["backfill", "--from", "2026-11-01T00:00:00Z", "--max-runtime", "5"] + extra,
                    extraEnvironment: environment)
            }
            // tenant-b first, 00:00 and 01:00 only.
            let partial = try backfill(["--to", "2026-11-01T01:00:00Z", "--tenant", "tenant-b"])
            #expect(partial.stdout.contains("tenant-b/hourly: recorded 2 of 2 slot(s)"), "\(partial)")
            // Then everyone, 00:00 through 05:00: hourly has 6 slots, daily 1 (midnight).
            let dry = try backfill(["--to", "2026-11-01T05:00:00Z", "--dry-run"])
            #expect(dry.stdout.contains("t1/hourly: would record 6 of 6 slot(s)"), "\(dry)")
            #expect(dry.stdout.contains("tenant-b/hourly: would record 4 of 6 slot(s)"))
            #expect(dry.stdout.contains("t1/daily: would record 1 of 1 slot(s)"))
            let full = try backfill(["--to", "2026-11-01T05:00:00Z"])
            #expect(full.stdout.contains("t1/hourly: recorded 6 of 6 slot(s)"), "\(full)")
            #expect(full.stdout.contains("tenant-b/hourly: recorded 4 of 6 slot(s)"))
            #expect(full.stdout.contains("t1/daily: recorded 1 of 1 slot(s)"))
            #expect(try slots(connection, trigger: "hourly", tenant: "tenant-b").count == 6)
            #expect(try connection.value("SELECT count(*) FROM scheduled_trigger_invocations") == "13")
        }
    }

    @Test("backfill refuses bad windows with a usage error", arguments: [
        (["--from", "yesterday"], "not an ISO 8601 instant"),
        (["--from", "2026-01-02T00:00:00Z", "--to", "2026-01-01T00:00:00Z"], "must not be after"),
        (["--from", "2200-01-01T00:00:00Z"], "after the database's now"),
        (["--from", "2026-01-01T00:00:00Z", "--trigger", "nope"], "nope"),
        (["--from", "2000-01-01T00:00:00Z", "--max-slots", "10"], "more than 10 slots"),
    ])
    func backfillRejects(arguments: [String], message: String) throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try connection.insertTrigger(id: "hourly", cron: "0 * * * *", nextRunAt: "2099-01-01T00:00:00Z")
            let result = try database.dispatchDue(["backfill"] + arguments)
            #expect(result.exitCode == 64, "\(result)")
            #expect(result.stderr.contains(message), "\(result.stderr)")
            #expect(try connection.value("SELECT count(*) FROM scheduled_trigger_invocations") == "0")
        }
    }

    @Test("run --dry-run shows what is due and changes nothing")
    func dryRun() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try connection.insertTrigger(id: "due", cron: "0 0 1 1 *", nextRunAt: "2026-01-01T00:00:00Z")
            try connection.insertTrigger(id: "new", cron: "0 0 1 1 *")
            let result = try database.dispatchDue(["run", "--dry-run"])
            #expect(result.exitCode == 0, "\(result)")
            #expect(result.stdout.contains("would record t1/due slot 2026-01-01T00:00:00Z"))
            #expect(result.stdout.contains("would schedule t1/new at"))
            #expect(try connection.value("SELECT count(*) FROM scheduled_trigger_invocations") == "0")
            #expect(try connection.value("SELECT count(*) FROM scheduled_triggers WHERE id = 'new' AND next_run_at IS NULL") == "1")
            #expect(try connection.value("SELECT next_run_at = '2026-01-01T00:00:00Z' FROM scheduled_triggers WHERE id = 'due'") == "t")
        }
    }

    @Test("a database without the schema is exit 1 with a hint to migrate")
    func schemaMissing() throws {
        try withTestDatabase(migrated: false) { database in
            let result = try database.runCycle()
            #expect(result.exitCode == 1)
            #expect(result.stderr.contains("dispatch-due migrate"))
        }
    }
}
