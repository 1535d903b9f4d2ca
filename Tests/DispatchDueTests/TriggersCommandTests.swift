import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// `dispatch-due triggers …` against a real PostgreSQL, through the real binary.
///
/// Expected next_run_at values are worked out by hand and written as SQL over the row's
/// created_at / updated_at (which are the `now()` of the transaction that wrote the row, i.e.
/// the database clock the command used), evaluated with PostgreSQL's own time-zone code.
@Suite("triggers command", .requiresDatabase)
struct TriggersCommandTests {
    struct CronCase: Sendable, CustomTestStringConvertible {
        var cron: String
        var zone: String
        /// SQL for the next slot after `t.created_at`, as timestamptz.
        var expected: String
        /// Text the five printed slots must contain.
        var printed: [String]
        var testDescription: String { "\(cron) in \(zone)" }
    }

    static let cronCases: [CronCase] = [
        // Yearly at local midnight: the start of next year in the zone.
        CronCase(
            cron: "0 0 1 1 *", zone: "UTC",
            expected: "(date_trunc('year', t.created_at AT TIME ZONE 'UTC') + interval '1 year') AT TIME ZONE 'UTC'",
            printed: ["-01-01T00:00:00Z  ", "-01-01 00:00:00 +00:00"]),
        // Tokyo is UTC+9 all year: Jan 1 00:00 there is Dec 31 15:00 UTC.
        CronCase(
            cron: "0 0 1 1 *", zone: "Asia/Tokyo",
            expected: "(date_trunc('year', t.created_at AT TIME ZONE 'Asia/Tokyo') + interval '1 year') AT TIME ZONE 'Asia/Tokyo'",
            printed: ["-12-31T15:00:00Z  ", "-01-01 00:00:00 +09:00"]),
        // New York on Jan 1 is on standard time, UTC-5.
        CronCase(
            cron: "@yearly", zone: "America/New_York",
            expected: "(date_trunc('year', t.created_at AT TIME ZONE 'America/New_York') + interval '1 year') AT TIME ZONE 'America/New_York'",
            printed: ["-01-01T05:00:00Z  ", "-01-01 00:00:00 -05:00"]),
        // Kolkata is UTC+5:30, so minute 30 there is minute 0 in UTC: the next full UTC hour.
        CronCase(
            cron: "30 * * * *", zone: "Asia/Kolkata",
            expected: "(date_trunc('hour', t.created_at AT TIME ZONE 'UTC') + interval '1 hour') AT TIME ZONE 'UTC'",
            printed: [":00:00Z  ", ":30:00 +05:30"]),
        CronCase(
            cron: "@monthly", zone: "UTC",
            expected: "(date_trunc('month', t.created_at AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC'",
            printed: ["-01T00:00:00Z  "]),
    ]

    @Test("add: a cron trigger gets the first slot after the database clock", arguments: cronCases)
    func addCron(_ example: CronCase) throws {
        try withTestDatabase { db in
            let result = try db.cli(baseAdd() + ["--cron", example.cron, "--tz", example.zone])
            #expect(result.exitCode == 0, "\(result)")
            let next = try db.nextRunAt(tenant: "acme", trigger: "t1")
            #expect(next != nil)
            #expect(next == (try db.expected(example.expected, tenant: "acme", trigger: "t1")))
            #expect(try db.value("SELECT schedule_error FROM scheduled_triggers") == nil)
            #expect(try db.value("SELECT cron_timezone FROM scheduled_triggers") == example.zone)
            #expect(result.stdout.contains("t1"))
            #expect(result.stdout.contains(next!), "the first printed slot is next_run_at\n\(result.stdout)")
            let slotLines = result.stdout.split(separator: "\n").filter { $0.hasPrefix("  ") }
            #expect(slotLines.count == 5, "\(result.stdout)")
            for line in slotLines {
                for fragment in example.printed { #expect(line.contains(fragment), "\(line)") }
            }
        }
    }

    @Test("add: a one-time trigger runs at --at, truncated to whole seconds")
    func addOnce() throws {
        try withTestDatabase { db in
            let result = try db.cli(baseAdd() + ["--at", "2030-05-06T07:08:09.750+02:00", "--tz", "Europe/Berlin"])
            #expect(result.exitCode == 0, "\(result)")
            #expect(try db.nextRunAt(tenant: "acme", trigger: "t1") == "2030-05-06T05:08:09Z")
            #expect(try db.value("SELECT run_at = '2030-05-06T05:08:09Z' FROM scheduled_triggers") == "t")
            #expect(try db.value("SELECT cron_expression FROM scheduled_triggers") == nil)
            // Berlin is on summer time (UTC+2) in May.
            #expect(result.stdout.contains("2030-05-06 07:08:09 +02:00"), "\(result.stdout)")
        }
    }

    @Test("add: defaults, a generated UUID, options stored as given, --disabled leaves it unscheduled")
    func addFields() throws {
        try withTestDatabase { db in
            let plain = try db.cli(baseAdd(id: nil) + ["--cron", "@daily"])
            #expect(plain.exitCode == 0, "\(plain)")
            let id = try #require(try db.value("SELECT id FROM scheduled_triggers"))
            #expect(id.count == 36 && id.split(separator: "-").count == 5, "a UUID: \(id)")
            #expect(plain.stdout.contains(id))
            #expect(
                try db.value(
                    """
                    SELECT concat_ws(',', enabled::text, max_retries, retry_delay_seconds, timeout_seconds, misfire_policy, ref,
                                     coalesce(payload::text, 'NULL'), coalesce(message_template, 'NULL'))
                    FROM scheduled_triggers
                    """) == "true,1,60,780,latest,main,NULL,NULL")

            let full = try db.cli(
                baseAdd(id: "full") + [
                    "--cron", "0 9 * * 1-5", "--tz", "Europe/Berlin", "--description", "weekday digest",
                    "--message", "Summarise {{topic}}", "--payload", #"{"topic": "news", "n": 1.50}"#,
                    "--max-retries", "10", "--retry-delay", "3600", "--timeout", "30", "--misfire-policy", "all",
                    "--ref", "release", "--run-as", "user-7", "--created-by", "ops", "--disabled",
                ])
            #expect(full.exitCode == 0, "\(full)")
            #expect(
                try db.value(
                    """
                    SELECT concat_ws('|', enabled::text, description, message_template,
                                     (payload = '{"topic": "news", "n": 1.50}'::jsonb)::text,
                                     payload->>'n', max_retries, retry_delay_seconds, timeout_seconds, misfire_policy, ref,
                                     run_as_user_id, created_by, coalesce(next_run_at::text, 'NULL'))
                    FROM scheduled_triggers WHERE id = 'full'
                    """) == "false|weekday digest|Summarise {{topic}}|true|1.50|10|3600|30|all|release|user-7|ops|NULL")
            #expect(full.stdout.contains("disabled"), "\(full.stdout)")
        }
    }

    @Test("add: --payload-file is read and stored")
    func addPayloadFile() throws {
        try withTestDatabase { db in
            let path = "/tmp/dd-payload-\(randomHex(8)).json"
            try FileSystem.writeAtomically(#"{"a": [1, {"b": null}]}"#, to: path)
            let result = try db.cli(baseAdd() + ["--cron", "@hourly", "--payload-file", path])
            #expect(result.exitCode == 0, "\(result)")
            #expect(try db.value(#"SELECT payload = '{"a": [1, {"b": null}]}'::jsonb FROM scheduled_triggers"#) == "t")
        }
    }

    struct BadInput: Sendable, CustomTestStringConvertible {
        var arguments: [String]
        /// A fragment the error message must contain.
        var message: String
        var testDescription: String { arguments.joined(separator: " ") }
    }

    static let badAdds: [BadInput] = [
        BadInput(arguments: ["--cron", "61 * * * *"], message: "minute"),
        BadInput(arguments: ["--cron", "0 24 * * *"], message: "hour"),
        BadInput(arguments: ["--cron", "0 0 31 2 *"], message: "never"),
        BadInput(arguments: ["--cron", "0 0 * *"], message: "5 fields"),
        BadInput(arguments: ["--cron", "0 0 * * *", "--tz", "Mars/Olympus"], message: "Mars/Olympus"),
        BadInput(arguments: ["--at", "2030-01-01T00:00:00Z", "--tz", "Nowhere/Land"], message: "Nowhere/Land"),
        BadInput(arguments: ["--cron", "@daily", "--payload", #"{"a":"#], message: "--payload"),
        BadInput(arguments: ["--cron", "@daily", "--payload", #"{"a": "\u0000"}"#], message: "\\u0000"),
        BadInput(arguments: ["--cron", "@daily", "--max-retries", "11"], message: "--max-retries 11"),
        BadInput(arguments: ["--cron", "@daily", "--max-retries", "-1"], message: "--max-retries"),
        BadInput(arguments: ["--cron", "@daily", "--retry-delay", "9"], message: "--retry-delay 9"),
        BadInput(arguments: ["--cron", "@daily", "--retry-delay", "3601"], message: "--retry-delay 3601"),
        BadInput(arguments: ["--cron", "@daily", "--timeout", "29"], message: "--timeout 29"),
        BadInput(arguments: ["--cron", "@daily", "--timeout", "86401"], message: "--timeout 86401"),
        BadInput(arguments: ["--cron", "@daily", "--max-retries", "two"], message: "--max-retries"),
        BadInput(arguments: ["--cron", "@daily", "--at", "2030-01-01T00:00:00Z"], message: "not both"),
        BadInput(arguments: [], message: "--cron"),
        BadInput(arguments: ["--at", "2030-01-01T00:00:00"], message: "zone"),
        BadInput(arguments: ["--at", "next tuesday"], message: "--at"),
        BadInput(arguments: ["--cron", "@daily", "--misfire-policy", "never"], message: "misfire-policy"),
        BadInput(arguments: ["--cron", "@daily", "--name", String(repeating: "é", count: 257)], message: "257 characters"),
        BadInput(arguments: ["--cron", "@daily", "--name", ""], message: "--name"),
        BadInput(arguments: ["--cron", "@daily", "--id", String(repeating: "x", count: 257)], message: "--id"),
        BadInput(arguments: ["--cron", "@daily", "--tz", String(repeating: "A", count: 65)], message: "--tz"),
        BadInput(arguments: ["--cron", "@daily", "--ref", ""], message: "--ref"),
        BadInput(arguments: ["--cron", "@daily", "--payload", "{}", "--payload-file", "/dev/null"], message: "not both"),
        BadInput(arguments: ["--cron", "@daily", "--payload-file", "/nonexistent/payload.json"], message: "/nonexistent/payload.json"),
    ]

    @Test("add: bad input exits 64, says what is wrong, and writes nothing", arguments: badAdds)
    func addRejects(_ example: BadInput) throws {
        try withTestDatabase { db in
            // baseAdd's --name comes first; a later --name overrides it.
            let result = try db.cli(baseAdd(id: nil) + example.arguments)
            #expect(result.exitCode == 64, "\(result)")
            #expect(result.stderr.contains(example.message), "\(result.stderr)")
            #expect(try db.value("SELECT count(*) FROM scheduled_triggers") == "0")
        }
    }

    @Test("add: a missing --project is a usage error")
    func addMissingProject() throws {
        try withTestDatabase { db in
            let result = try db.cli(["triggers", "add", "--tenant", "acme", "--agent", "a", "--name", "n", "--cron", "@daily"])
            #expect(result.exitCode == 64, "\(result)")
            #expect(result.stderr.contains("--project"))
            #expect(try db.value("SELECT count(*) FROM scheduled_triggers") == "0")
        }
    }

    @Test("add: a taken id is refused (exit 1) and the row is unchanged; another tenant may use it")
    func addDuplicate() throws {
        try withTestDatabase { db in
            #expect(try db.cli(baseAdd() + ["--cron", "@daily"]).exitCode == 0)
            let before = try db.snapshot()
            let again = try db.cli(baseAdd() + ["--cron", "@hourly", "--name", "other"])
            #expect(again.exitCode == 1, "\(again)")
            #expect(again.stderr.contains("already exists"), "\(again.stderr)")
            #expect(try db.snapshot() == before)
            let otherTenant = try db.cli(baseAdd(tenant: "globex") + ["--cron", "@hourly"])
            #expect(otherTenant.exitCode == 0, "\(otherTenant)")
            #expect(try db.value("SELECT count(*) FROM scheduled_triggers WHERE id = 't1'") == "2")
        }
    }

    // MARK: update

    struct RescheduleCase: Sendable, CustomTestStringConvertible {
        var name: String
        var cron: String
        var zone: String
        var update: [String]
        /// Pending invocations' slots before the update.
        var pending: [String]
        /// Which of them stay pending (the rest are cancelled).
        var kept: [String]
        /// SQL for the new next_run_at after `t.updated_at`; nil: next_run_at stays NULL.
        var expected: String?
        var testDescription: String { name }
    }

    static let reschedules: [RescheduleCase] = [
        // Daily → monthly: Mar 1 is a 1st (kept), Mar 2 is not (cancelled).
        RescheduleCase(
            name: "daily to monthly", cron: "0 0 * * *", zone: "UTC", update: ["--cron", "0 0 1 * *"],
            pending: ["2020-03-01T00:00:00Z", "2020-03-02T00:00:00Z"], kept: ["2020-03-01T00:00:00Z"],
            expected: "(date_trunc('month', t.updated_at AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC'"),
        // UTC → Tokyo: monthly midnight moves to 15:00 UTC on the previous day.
        RescheduleCase(
            name: "zone change", cron: "0 0 1 * *", zone: "UTC", update: ["--tz", "Asia/Tokyo"],
            pending: ["2020-03-01T00:00:00Z", "2020-02-29T15:00:00Z"], kept: ["2020-02-29T15:00:00Z"],
            expected: "(date_trunc('month', t.updated_at AT TIME ZONE 'Asia/Tokyo') + interval '1 month') AT TIME ZONE 'Asia/Tokyo'"),
        // Cron → one-time: only the run_at slot belongs.
        RescheduleCase(
            name: "cron to one-time", cron: "0 0 * * *", zone: "UTC", update: ["--at", "2040-01-02T03:04:05Z"],
            pending: ["2020-03-01T00:00:00Z", "2040-01-01T00:00:00Z"], kept: [],
            expected: "timestamptz '2040-01-02T03:04:05Z'"),
        // …and when that slot already has an invocation, it is not recorded again: the pending
        // one fires it, and next_run_at stays NULL (contract §2 step 2).
        RescheduleCase(
            name: "cron to an already recorded one-time slot", cron: "0 0 * * *", zone: "UTC",
            update: ["--at", "2040-01-02T03:04:05Z"],
            pending: ["2020-03-01T00:00:00Z", "2040-01-02T03:04:05Z"], kept: ["2040-01-02T03:04:05Z"],
            expected: nil),
        // One-time → cron: the old run_at is not an hourly slot.
        RescheduleCase(
            name: "one-time to cron", cron: "", zone: "UTC", update: ["--cron", "@hourly"],
            pending: ["2020-03-01T00:00:30Z", "2020-03-01T05:00:00Z"], kept: ["2020-03-01T05:00:00Z"],
            expected: "(date_trunc('hour', t.updated_at AT TIME ZONE 'UTC') + interval '1 hour') AT TIME ZONE 'UTC'"),
    ]

    @Test("update: a new schedule recomputes next_run_at and cancels pending slots outside it", arguments: reschedules)
    func updateSchedule(_ example: RescheduleCase) throws {
        try withTestDatabase { db in
            let schedule = example.cron.isEmpty ? ["--at", "2020-03-01T00:00:30Z"] : ["--cron", example.cron, "--tz", example.zone]
            #expect(try db.cli(baseAdd() + schedule).exitCode == 0)
            for (index, slot) in example.pending.enumerated() {
                try db.connect().insertInvocation(
                    tenant: "acme", id: "p\(index)", trigger: "t1", slot: SQLTime.at(slot), status: "pending",
                    key: "key_" + "p\(index)", attempt: 2)
            }
            try db.connect().insertInvocation(
                tenant: "acme", id: "done", trigger: "t1", slot: "2020-01-05T00:00:07Z", status: "completed",
                key: "key_done", attempt: 2, completedAt: .null)
            try db.connect().insertInvocation(
                tenant: "acme", id: "busy", trigger: "t1", slot: "2020-01-06T00:00:07Z", status: "running",
                key: "key_busy", attempt: 2, leaseExpiresAt: .secondsFromNow(60), executionID: "exec-1")

            let result = try db.cli(["triggers", "update", "t1", "--tenant", "acme"] + example.update)
            #expect(result.exitCode == 0, "\(result)")
            let next = try db.nextRunAt(tenant: "acme", trigger: "t1")
            if let expected = example.expected {
                #expect(next != nil)
                #expect(next == (try db.expected(expected, tenant: "acme", trigger: "t1")))
            } else {
                #expect(next == nil)
                #expect(try db.value("SELECT run_at_recorded FROM scheduled_triggers") == "t")
            }
            for (index, slot) in example.pending.enumerated() {
                let expected = example.kept.contains(slot) ? "pending" : "cancelled"
                #expect(try db.status(tenant: "acme", invocation: "p\(index)") == expected, "slot \(slot)")
            }
            #expect(try db.status(tenant: "acme", invocation: "done") == "completed")
            #expect(try db.status(tenant: "acme", invocation: "busy") == "running")
        }
    }

    @Test("update: other fields leave next_run_at and pending invocations alone")
    func updateFieldsOnly() throws {
        try withTestDatabase { db in
            try db.connect().insertTrigger(
                tenant: "acme", id: "t1", cron: "0 0 * * *", nextRunAt: "2020-01-01T00:00:00Z", payload: #"{"k": "v"}"#)
            try db.connect().insertInvocation(
                tenant: "acme", id: "p", trigger: "t1", slot: "2020-01-01T00:00:00Z", status: "pending", key: "key_p",
                attempt: 2)
            let result = try db.cli([
                "triggers", "update", "t1", "--tenant", "acme", "--name", "renamed", "--payload", #"{"x": 2}"#,
                "--max-retries", "0", "--description", "now described",
            ])
            #expect(result.exitCode == 0, "\(result)")
            #expect(try db.nextRunAt(tenant: "acme", trigger: "t1") == "2020-01-01T00:00:00Z")
            #expect(try db.status(tenant: "acme", invocation: "p") == "pending")
            #expect(
                try db.value("SELECT concat_ws('|', name, payload::text, max_retries, description) FROM scheduled_triggers")
                    == #"renamed|{"x": 2}|0|now described"#)
            // An empty value clears an optional text field; --clear-payload clears the payload.
            let cleared = try db.cli(["triggers", "update", "t1", "--tenant", "acme", "--description", "", "--clear-payload"])
            #expect(cleared.exitCode == 0, "\(cleared)")
            #expect(try db.value("SELECT description IS NULL AND payload IS NULL FROM scheduled_triggers") == "t")
        }
    }

    @Test("update: a disabled trigger stays unscheduled after a new schedule")
    func updateDisabled() throws {
        try withTestDatabase { db in
            #expect(try db.cli(baseAdd() + ["--cron", "@daily", "--disabled"]).exitCode == 0)
            let result = try db.cli(["triggers", "update", "t1", "--tenant", "acme", "--cron", "@hourly"])
            #expect(result.exitCode == 0, "\(result)")
            #expect(try db.nextRunAt(tenant: "acme", trigger: "t1") == nil)
            #expect(try db.value("SELECT enabled FROM scheduled_triggers") == "f")
        }
    }

    static let badUpdates: [BadInput] = [
        BadInput(arguments: ["--cron", "0 0 * * 8"], message: "day"),
        BadInput(arguments: ["--tz", "Europe/Atlantis"], message: "Europe/Atlantis"),
        BadInput(arguments: ["--payload", "[1,"], message: "--payload"),
        BadInput(arguments: ["--timeout", "10"], message: "--timeout 10"),
        BadInput(arguments: ["--cron", "@daily", "--at", "2030-01-01T00:00:00Z"], message: "not both"),
        BadInput(arguments: ["--payload", "{}", "--clear-payload"], message: "not both"),
        BadInput(arguments: ["--name", ""], message: "--name"),
        BadInput(arguments: [], message: "nothing to change"),
    ]

    @Test("update: bad input exits 64 and changes nothing", arguments: badUpdates)
    func updateRejects(_ example: BadInput) throws {
        try withTestDatabase { db in
            try db.connect().insertTrigger(
                tenant: "acme", id: "t1", cron: "0 0 * * *", nextRunAt: "2030-01-01T00:00:00Z", payload: #"{"k": "v"}"#)
            try db.connect().insertInvocation(
                tenant: "acme", id: "p", trigger: "t1", slot: "2020-01-01T00:00:00Z", status: "pending", key: "key_p",
                attempt: 2)
            let before = try db.snapshot()
            let result = try db.cli(["triggers", "update", "t1", "--tenant", "acme"] + example.arguments)
            #expect(result.exitCode == 64, "\(result)")
            #expect(result.stderr.contains(example.message), "\(result.stderr)")
            #expect(try db.snapshot() == before)
        }
    }

    // MARK: enable, disable, delete

    @Test("enable: schedules from now, without the slots missed while disabled")
    func enableFromNow() throws {
        try withTestDatabase { db in
            // Disabled long ago with a stale next_run_at: enabling must not fire 2020's slot.
            try db.connect().insertTrigger(
                tenant: "acme", id: "t1", cron: "*/5 * * * *", nextRunAt: "2020-01-01T00:00:00Z", enabled: false,
                payload: #"{"k": "v"}"#)
            let result = try db.cli(["triggers", "enable", "t1", "--tenant", "acme"])
            #expect(result.exitCode == 0, "\(result)")
            // The first multiple of five minutes strictly after the clock of the enabling transaction.
            let expected = """
                (date_trunc('hour', t.updated_at AT TIME ZONE 'UTC')
                 + (floor(extract(minute FROM t.updated_at AT TIME ZONE 'UTC') / 5) + 1)::int * interval '5 minutes')
                AT TIME ZONE 'UTC'
                """
            let next = try db.nextRunAt(tenant: "acme", trigger: "t1")
            #expect(next != nil)
            #expect(next == (try db.expected(expected, tenant: "acme", trigger: "t1")))
            #expect(try db.value("SELECT enabled FROM scheduled_triggers") == "t")
        }
    }

    @Test("enable: an enabled trigger is left as it is")
    func enableEnabled() throws {
        try withTestDatabase { db in
            try db.connect().insertTrigger(
                tenant: "acme", id: "t1", cron: "0 0 * * *", nextRunAt: "2020-01-01T00:00:00Z", payload: #"{"k": "v"}"#)
            let before = try db.snapshot()
            let result = try db.cli(["triggers", "enable", "t1", "--tenant", "acme"])
            #expect(result.exitCode == 0, "\(result)")
            #expect(result.stdout.contains("already enabled"))
            #expect(try db.snapshot() == before)
        }
    }

    @Test("enable: a one-time trigger fires once however late, unless its slot was recorded")
    func enableOneTime() throws {
        try withTestDatabase { db in
            try db.connect().insertTrigger(
                tenant: "acme", id: "late", cron: nil, runAt: "2020-06-01T12:00:00Z", enabled: false,
                payload: #"{"k": "v"}"#)
            try db.connect().insertTrigger(
                tenant: "acme", id: "done", cron: nil, runAt: "2020-06-01T12:00:00Z", enabled: false,
                payload: #"{"k": "v"}"#)
            try db.connect().insertInvocation(
                tenant: "acme", id: "i", trigger: "done", slot: "2020-06-01T12:00:00Z", status: "cancelled",
                key: "key_i", attempt: 2, completedAt: .null)
            #expect(try db.cli(["triggers", "enable", "late", "--tenant", "acme"]).exitCode == 0)
            #expect(try db.nextRunAt(tenant: "acme", trigger: "late") == "2020-06-01T12:00:00Z")
            #expect(try db.cli(["triggers", "enable", "done", "--tenant", "acme"]).exitCode == 0)
            #expect(try db.nextRunAt(tenant: "acme", trigger: "done") == nil)
            #expect(try db.value("SELECT run_at_recorded FROM scheduled_triggers WHERE id = 'done'") == "t")
            #expect(try db.value("SELECT enabled FROM scheduled_triggers WHERE id = 'done'") == "t")
        }
    }

    @Test("enable: a stored schedule that cannot be computed is enabled with a schedule_error")
    func enableBrokenSchedule() throws {
        try withTestDatabase { db in
            try db.connect().insertTrigger(
                tenant: "acme", id: "t1", cron: "0 0 * * *", zone: "Bad/Zone", enabled: false, payload: #"{"k": "v"}"#)
            let result = try db.cli(["triggers", "enable", "t1", "--tenant", "acme"])
            #expect(result.exitCode == 0, "\(result)")
            #expect(result.stderr.contains("Bad/Zone"), "\(result.stderr)")
            #expect(try db.nextRunAt(tenant: "acme", trigger: "t1") == nil)
            #expect(try db.value("SELECT schedule_error FROM scheduled_triggers")?.contains("Bad/Zone") == true)
        }
    }

    /// Seeds the same trigger id in two tenants, each with pending, running and finished invocations.
    func seedTwoTenants(_ db: TestDatabase) throws {
        for tenant in ["acme", "globex"] {
            try db.connect().insertTrigger(
                tenant: tenant, id: "t1", cron: "0 0 * * *", nextRunAt: "2030-01-01T00:00:00Z", payload: #"{"k": "v"}"#)
            try db.connect().insertInvocation(
                tenant: tenant, id: "p1", trigger: "t1", slot: "2020-01-01T00:00:00Z", status: "pending", key: "key_p1",
                attempt: 2)
            try db.connect().insertInvocation(
                tenant: tenant, id: "p2", trigger: "t1", slot: "2020-01-02T00:00:00Z", status: "pending", key: "key_p2",
                attempt: 2)
            try db.connect().insertInvocation(
                tenant: tenant, id: "r", trigger: "t1", slot: "2020-01-03T00:00:00Z", status: "running", key: "key_r",
                attempt: 2, leaseExpiresAt: .secondsFromNow(60), executionID: "exec")
            try db.connect().insertInvocation(
                tenant: tenant, id: "c", trigger: "t1", slot: "2019-12-31T00:00:00Z", status: "completed", key: "key_c",
                attempt: 2, completedAt: .null)
        }
    }

    func invocationStatuses(_ db: TestDatabase, tenant: String) throws -> String? {
        try db.value(
            "SELECT string_agg(id || '=' || status, ',' ORDER BY id) FROM scheduled_trigger_invocations WHERE tenant_id = $1",
            [tenant])
    }

    @Test("disable: cancels the trigger's pending invocations, only that tenant's")
    func disable() throws {
        try withTestDatabase { db in
            try seedTwoTenants(db)
            let otherBefore = try invocationStatuses(db, tenant: "globex")
            let result = try db.cli(["triggers", "disable", "t1", "--tenant", "acme"])
            #expect(result.exitCode == 0, "\(result)")
            #expect(try invocationStatuses(db, tenant: "acme") == "c=completed,p1=cancelled,p2=cancelled,r=running")
            #expect(try db.value("SELECT enabled::text || coalesce(next_run_at::text, '-') FROM scheduled_triggers WHERE tenant_id = 'acme'") == "false-")
            #expect(try invocationStatuses(db, tenant: "globex") == otherBefore)
            #expect(try db.value("SELECT enabled FROM scheduled_triggers WHERE tenant_id = 'globex'") == "t")
            #expect(try db.nextRunAt(tenant: "globex", trigger: "t1") == "2030-01-01T00:00:00Z")
        }
    }

    @Test("delete: removes the trigger, cancels its pending invocations, keeps the history")
    func delete() throws {
        try withTestDatabase { db in
            try seedTwoTenants(db)
            let otherBefore = try invocationStatuses(db, tenant: "globex")
            let result = try db.cli(["triggers", "delete", "t1", "--tenant", "acme"])
            #expect(result.exitCode == 0, "\(result)")
            #expect(try db.value("SELECT count(*) FROM scheduled_triggers WHERE tenant_id = 'acme'") == "0")
            #expect(try invocationStatuses(db, tenant: "acme") == "c=completed,p1=cancelled,p2=cancelled,r=running")
            #expect(try db.value("SELECT count(*) FROM scheduled_triggers WHERE tenant_id = 'globex'") == "1")
            #expect(try invocationStatuses(db, tenant: "globex") == otherBefore)
        }
    }

    static let idCommands: [[String]] = [
        ["show", "t1"], ["update", "t1", "--name", "x"], ["enable", "t1"], ["disable", "t1"], ["delete", "t1"],
        ["show", "nope"], ["update", "nope", "--name", "x"], ["enable", "nope"], ["disable", "nope"], ["delete", "nope"],
    ]

    @Test("a trigger of another tenant, or an unknown id, is not found (exit 1) and nothing changes", arguments: idCommands)
    func otherTenant(_ command: [String]) throws {
        try withTestDatabase { db in
            try db.connect().insertTrigger(
                tenant: "acme", id: "t1", cron: "0 0 * * *", nextRunAt: nil, enabled: false, payload: #"{"k": "v"}"#)
            try db.connect().insertInvocation(
                tenant: "acme", id: "p1", trigger: "t1", slot: "2020-01-01T00:00:00Z", status: "pending", key: "key_p1",
                attempt: 2)
            let before = try db.snapshot()
            let result = try db.cli(["triggers"] + command + ["--tenant", "globex"])
            #expect(result.exitCode == 1, "\(result)")
            #expect(result.stderr.contains("no trigger \(command[1]) for tenant globex"), "\(result.stderr)")
            #expect(try db.snapshot() == before)
        }
    }

    @Test("an id command without --tenant is a usage error", arguments: [["show", "t1"], ["disable", "t1"], ["delete", "t1"]])
    func tenantRequired(_ command: [String]) throws {
        try withTestDatabase { db in
            try db.connect().insertTrigger(tenant: "acme", id: "t1", cron: "0 0 * * *", payload: #"{"k": "v"}"#)
            let before = try db.snapshot()
            let result = try db.cli(["triggers"] + command)
            #expect(result.exitCode == 64, "\(result)")
            #expect(result.stderr.contains("--tenant"))
            #expect(try db.snapshot() == before)
        }
    }

    // MARK: list and show

    @Test("list: filters by tenant, project and agent; shows next run, last status and schedule error")
    func list() throws {
        try withTestDatabase { db in
            try db.connect().insertTrigger(
                tenant: "acme", id: "t1", cron: "0 0 1 1 *", zone: "Asia/Tokyo", nextRunAt: "2030-12-31T15:00:00Z",
                payload: #"{"k": "v"}"#)
            try db.connect().insertTrigger(
                tenant: "acme", id: "t2", cron: "bogus", nextRunAt: nil, payload: #"{"k": "v"}"#)
            try db.execute("UPDATE scheduled_triggers SET schedule_error = 'cron expression needs 5 fields', agent_id = 'other' WHERE id = 't2'")
            try db.connect().insertTrigger(
                tenant: "globex", id: "t3", cron: "0 0 * * *", nextRunAt: "2030-01-01T00:00:00Z",
                payload: #"{"k": "v"}"#)
            try db.connect().insertInvocation(
                tenant: "acme", id: "old", trigger: "t1", slot: "2028-12-31T15:00:00Z", status: "completed",
                key: "key_old", attempt: 2, completedAt: .null)
            try db.connect().insertInvocation(
                tenant: "acme", id: "new", trigger: "t1", slot: "2029-12-31T15:00:00Z", status: "failed",
                key: "key_new", attempt: 2, completedAt: .null)

            let table = try db.cli(["triggers", "list", "--tenant", "acme"])
            #expect(table.exitCode == 0, "\(table)")
            let lines = table.stdout.split(separator: "\n")
            #expect(lines.count == 3, "\(table.stdout)")
            let t1 = try #require(lines.first { $0.hasPrefix("t1 ") })
            // The local wall time of 15:00 UTC in Tokyo (UTC+9) is 00:00 the next day.
            for fragment in ["0 0 1 1 *", "Asia/Tokyo", "2030-12-31T15:00:00Z", "2031-01-01 00:00:00 +09:00", "failed"] {
                #expect(t1.contains(fragment), "\(t1)")
            }
            #expect(lines.contains { $0.hasPrefix("t2 ") && $0.contains("cron expression needs 5 fields") })
            #expect(!table.stdout.contains("t3"))

            let json = try db.cli(["triggers", "list", "--json"])
            #expect(json.exitCode == 0, "\(json)")
            guard case .array(let all) = try JSONValue.parse(json.stdout) else {
                Issue.record("not a JSON array: \(json.stdout)")
                return
            }
            #expect(all.compactMap { $0["id"]?.stringValue }.sorted() == ["t1", "t2", "t3"])
            let first = try #require(all.first { $0["id"]?.stringValue == "t1" })
            #expect(first["next_run_at"] == .string("2030-12-31T15:00:00.000Z"))
            #expect(first["last_invocation_status"] == .string("failed"))
            #expect(first["payload"] == .object([("k", .string("v"))]))

            let byAgent = try db.cli(["triggers", "list", "--tenant", "acme", "--agent", "other", "--json"])
            guard case .array(let filtered) = try JSONValue.parse(byAgent.stdout) else {
                Issue.record("not a JSON array: \(byAgent.stdout)")
                return
            }
            #expect(filtered.compactMap { $0["id"]?.stringValue } == ["t2"])
            let byProject = try db.cli(["triggers", "list", "--project", "elsewhere", "--json"])
            #expect(byProject.stdout.hasPrefix("[]"), "\(byProject)")
        }
    }

    @Test("show: the trigger in full, --json with the upcoming slots")
    func show() throws {
        try withTestDatabase { db in
            try db.connect().insertTrigger(
                tenant: "acme", id: "t1", cron: "0 12 * * *", zone: "UTC", nextRunAt: "2030-01-01T12:00:00Z",
                payload: #"{"k": "v"}"#)
            let text = try db.cli(["triggers", "show", "t1", "--tenant", "acme"])
            #expect(text.exitCode == 0, "\(text)")
            #expect(text.stdout.contains("2030-01-01T12:00:00Z"))
            let json = try db.cli(["triggers", "show", "t1", "--tenant", "acme", "--json"])
            #expect(json.exitCode == 0, "\(json)")
            let document = try JSONValue.parse(json.stdout)
            #expect(document["tenant_id"] == .string("acme"))
            #expect(document["cron_expression"] == .string("0 12 * * *"))
            // Daily at noon from next_run_at on.
            #expect(
                document["upcoming"] == .array([
                    "2030-01-01T12:00:00.000Z", "2030-01-02T12:00:00.000Z", "2030-01-03T12:00:00.000Z",
                    "2030-01-04T12:00:00.000Z", "2030-01-05T12:00:00.000Z",
                ].map(JSONValue.string)))
        }
    }
}
