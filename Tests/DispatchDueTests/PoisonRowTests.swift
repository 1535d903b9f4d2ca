import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// One row written by SQL with a timestamp no instant of the dispatcher can hold: ±infinity, a
/// BC year, the year 10000 (issue 11, items 2 and 13).
struct PoisonRow: CustomTestStringConvertible, Sendable {
    var name: String
    var cron: String?
    var runAt: String?
    var nextRunAt: String?
    /// The schedule_error the row must get; nil when the row is not at fault.
    var scheduleError: String?
    /// SQL (over `now()`) for the slots it must fire, ascending, as `YYYY-MM-DDTHH:MM:SSZ`.
    var slotsSQL: [String]
    /// Text `triggers show` and `triggers list` print for its schedule, when it is not plain.
    var shown: String?
    var testDescription: String { name }
}

/// The current year's Jan 1 00:00 UTC: the latest slot of `0 0 1 1 *` at or before now.
private let thisNewYear = "date_trunc('year', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"

let poisonRows: [PoisonRow] = [
    PoisonRow(
        name: "run_at infinity, healed", runAt: "infinity",
        scheduleError: "run_at is infinity: not a time this dispatcher can fire", slotsSQL: [], shown: "infinity"),
    PoisonRow(
        name: "run_at -infinity, healed", runAt: "-infinity",
        scheduleError: "run_at is -infinity: not a time this dispatcher can fire", slotsSQL: [], shown: "-infinity"),
    PoisonRow(
        name: "run_at -infinity and next_run_at -infinity, claimed", runAt: "-infinity", nextRunAt: "-infinity",
        scheduleError: "run_at is -infinity: not a time this dispatcher can fire", slotsSQL: [], shown: "-infinity"),
    // 4713 BC is the year -4712 in the astronomical numbering ISO 8601 uses (there is no year 0 BC).
    PoisonRow(
        name: "run_at in 4713 BC, healed", runAt: "4713-01-01 00:00:00Z BC",
        scheduleError: "run_at year -4712 is outside 1–9999", slotsSQL: [], shown: "4713-01-01 00:00:00 BC"),
    PoisonRow(
        name: "run_at in 4713 BC and due then, claimed", runAt: "4713-01-01 00:00:00Z BC",
        nextRunAt: "4713-01-01 00:00:00Z BC",
        scheduleError: "run_at year -4712 is outside 1–9999", slotsSQL: [], shown: "4713-01-01 00:00:00 BC"),
    PoisonRow(
        name: "run_at in the year 10000, healed", runAt: "10000-01-01 00:00:00Z",
        scheduleError: "run_at year 10000 is outside 1–9999", slotsSQL: [], shown: "10000-01-01 00:00:00"),
    PoisonRow(
        name: "run_at in the year 10000 and next_run_at -infinity, claimed", runAt: "10000-01-01 00:00:00Z",
        nextRunAt: "-infinity",
        scheduleError: "run_at year 10000 is outside 1–9999", slotsSQL: [], shown: "10000-01-01 00:00:00"),
    // A healthy cron row whose next_run_at says "long overdue": due, and `latest` fires the most
    // recent slot, then it is scheduled normally again.
    PoisonRow(
        name: "cron with next_run_at -infinity", cron: "0 0 1 1 *", nextRunAt: "-infinity",
        scheduleError: nil, slotsSQL: [thisNewYear], shown: nil),
    PoisonRow(
        name: "cron with next_run_at in 4713 BC", cron: "0 0 1 1 *", nextRunAt: "4713-01-01 00:00:00Z BC",
        scheduleError: nil, slotsSQL: [thisNewYear], shown: nil),
    // Never due: left alone, and nothing fails around it.
    PoisonRow(
        name: "cron with next_run_at infinity", cron: "0 0 1 1 *", nextRunAt: "infinity",
        scheduleError: nil, slotsSQL: [], shown: nil),
    // A one-time row fires run_at; next_run_at -infinity only says it is due.
    PoisonRow(
        name: "one-time with next_run_at -infinity", runAt: "2020-06-01T00:00:00Z", nextRunAt: "-infinity",
        scheduleError: nil, slotsSQL: ["'2020-06-01T00:00:00Z'::timestamptz"], shown: nil),
]

@Suite("Poison rows", .requiresDatabase)
struct PoisonRowTests {
    static let healthyTenants = ["healthy-1", "healthy-2", "healthy-3"]

    /// Two due triggers per healthy tenant: a one-time one (healed and fired in the same cycle)
    /// and a yearly cron one overdue since 2020 (`latest`: fires this year's slot).
    static func seedHealthy(_ connection: borrowing Connection) throws {
        for tenant in healthyTenants {
            try connection.insertTrigger(tenant: tenant, id: "once", runAt: "2020-01-01T00:00:00Z")
            try connection.insertTrigger(
                tenant: tenant, id: "yearly", cron: "0 0 1 1 *", nextRunAt: "2020-01-01T00:00:00Z")
        }
    }

    /// The poison row, as an operator's SQL writes it (next_run_at set afterwards, so the row
    /// trigger does not clear it).
    static func seedPoison(_ connection: borrowing Connection, _ poison: PoisonRow, id: String = "poison") throws {
        try connection.insertTrigger(tenant: "poison", id: id, cron: poison.cron, runAt: poison.runAt.map(SQLTime.at))
        try connection.query(
            "UPDATE scheduled_triggers SET next_run_at = $2::timestamptz WHERE tenant_id = 'poison' AND id = $1",
            [id, poison.nextRunAt])
    }

    /// Every healthy trigger has its one slot recorded, and every recorded invocation was
    /// posted exactly once with its key.
    static func expectHealthyRecordedAndPostedOnce(_ connection: borrowing Connection, _ standIn: StandIn) throws {
        for tenant in healthyTenants {
            #expect(try slots(connection, trigger: "once", tenant: tenant) == ["2020-01-01T00:00:00Z"])
            let yearly = try slots(connection, trigger: "yearly", tenant: tenant)
            let expected = try connection.value("""
                SELECT to_char(\(thisNewYear) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                """)
            #expect(yearly == [expected ?? "?"], "tenant \(tenant)")
        }
        let keys = standIn.posts().compactMap { $0.header("idempotency-key") }.sorted()
        let recorded = try connection.query(
            "SELECT idempotency_key || '-1' AS k FROM scheduled_trigger_invocations ORDER BY 1"
        ).map { $0["k"] ?? "" }.sorted()
        #expect(keys == recorded)
    }

    @Test("one cycle over a poison row and other tenants' due triggers: they are recorded and posted once, the poison is isolated, exit 0",
          arguments: poisonRows)
    func cycle(_ poison: PoisonRow) throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try Self.seedHealthy(connection)
            try Self.seedPoison(connection, poison)
            let standIn = try StandIn()
            defer { standIn.stop() }

            // status reads the row before any cycle touched it (a due -infinity included).
            let before = try database.cli(["status", "--json"])
            #expect(before.exitCode == 0, "\(before)")

            let result = try database.runCycle(endpoint: standIn.url)
            #expect(result.exitCode == 0, "\(result)")

            try Self.expectHealthyRecordedAndPostedOnce(connection, standIn)
            #expect(try connection.value("SELECT schedule_error FROM scheduled_triggers WHERE tenant_id = 'poison'") == poison.scheduleError)
            var expectedSlots: [String] = []
            for expression in poison.slotsSQL {
                expectedSlots.append(try connection.value("""
                    SELECT to_char((\(expression)) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                    """) ?? "?")
            }
            #expect(try slots(connection, trigger: "poison", tenant: "poison") == expectedSlots)
            if poison.scheduleError != nil {
                #expect(try connection.value("SELECT next_run_at FROM scheduled_triggers WHERE tenant_id = 'poison'") == nil)
                #expect(logLines(result.stderr, event: "trigger.schedule_error").contains { $0.contains("\"tenant\":\"poison\"") })
            }
            if poison.cron != nil && !poison.slotsSQL.isEmpty {
                // Scheduled normally again: the slot after the one fired.
                #expect(try connection.value("""
                    SELECT next_run_at = \(thisNewYear) + interval '1 year' FROM scheduled_triggers WHERE tenant_id = 'poison'
                    """) == "t")
            }
            if poison.nextRunAt == "infinity" {
                #expect(try connection.value("SELECT next_run_at::text FROM scheduled_triggers WHERE tenant_id = 'poison'") == "infinity")
            }
            // A second cycle changes nothing more and posts nothing again.
            let again = try database.runCycle(endpoint: standIn.url)
            #expect(again.exitCode == 0, "\(again)")
            try Self.expectHealthyRecordedAndPostedOnce(connection, standIn)
        }
    }

    @Test("the management commands read, edit and delete a poison row (exit 0) and show its value", arguments: poisonRows)
    func management(_ poison: PoisonRow) throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try Self.seedHealthy(connection)
            try Self.seedPoison(connection, poison)
            #expect(try database.runCycle().exitCode == 0)
            let storedRunAt = try connection.value("SELECT run_at::text FROM scheduled_triggers WHERE tenant_id = 'poison'")

            for arguments in [["triggers", "list"], ["triggers", "list", "--json"], ["triggers", "list", "--tenant", "poison"]] {
                let list = try database.cli(arguments)
                #expect(list.exitCode == 0, "\(arguments): \(list)")
                #expect(list.stdout.contains("poison"), "\(list)")
                if let shown = poison.shown, !arguments.contains("--json") { #expect(list.stdout.contains(shown), "\(list)") }
            }
            let show = try database.cli(["triggers", "show", "poison", "--tenant", "poison"])
            #expect(show.exitCode == 0, "\(show)")
            if let shown = poison.shown { #expect(show.stdout.contains(shown), "\(show)") }
            if let error = poison.scheduleError { #expect(show.stdout.contains(error), "\(show)") }
            #expect(try database.cli(["triggers", "show", "poison", "--tenant", "poison", "--json"]).exitCode == 0)
            #expect(try database.cli(["invocations", "list", "--tenant", "poison"]).exitCode == 0)

            let status = try database.cli(["status"])
            #expect(status.exitCode == 0, "\(status)")
            if let error = poison.scheduleError { #expect(status.stdout.contains(error), "\(status)") }
            #expect(try database.cli(["status", "--json"]).exitCode == 0)

            // An edit that leaves the schedule alone keeps the stored value as it is.
            let update = try database.cli(["triggers", "update", "poison", "--tenant", "poison", "--name", "renamed"])
            #expect(update.exitCode == 0, "\(update)")
            #expect(try connection.value("SELECT name FROM scheduled_triggers WHERE tenant_id = 'poison'") == "renamed")
            #expect(try connection.value("SELECT run_at::text FROM scheduled_triggers WHERE tenant_id = 'poison'") == storedRunAt)

            #expect(try database.cli(["triggers", "disable", "poison", "--tenant", "poison"]).exitCode == 0)
            let enable = try database.cli(["triggers", "enable", "poison", "--tenant", "poison"])
            #expect(enable.exitCode == 0, "\(enable)")
            if let error = poison.scheduleError {
                // Enabling words the error as the heal would.
                #expect(try connection.value("SELECT schedule_error FROM scheduled_triggers WHERE tenant_id = 'poison'") == error)
            }

            let delete = try database.cli(["triggers", "delete", "poison", "--tenant", "poison"])
            #expect(delete.exitCode == 0, "\(delete)")
            #expect(try connection.value("SELECT count(*) FROM scheduled_triggers WHERE tenant_id = 'poison'") == "0")
        }
    }

    @Test("every poison row at once, in one batch with the healthy triggers: one cycle, exit 0, each poison isolated")
    func allAtOnce() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try Self.seedHealthy(connection)
            for (index, poison) in poisonRows.enumerated() { try Self.seedPoison(connection, poison, id: "poison-\(index)") }
            let standIn = try StandIn()
            defer { standIn.stop() }
            let result = try database.runCycle(endpoint: standIn.url)
            #expect(result.exitCode == 0, "\(result)")
            try Self.expectHealthyRecordedAndPostedOnce(connection, standIn)
            for (index, poison) in poisonRows.enumerated() {
                #expect(
                    try connection.value("SELECT schedule_error FROM scheduled_triggers WHERE tenant_id = 'poison' AND id = $1", ["poison-\(index)"])
                        == poison.scheduleError, "\(poison.name)")
                #expect(try slots(connection, trigger: "poison-\(index)", tenant: "poison").count == poison.slotsSQL.count, "\(poison.name)")
            }
            #expect(try database.cli(["status"]).exitCode == 0)
        }
    }

    /// An invocation whose scheduled_for SQL set to what no slot can be, and the last_error it
    /// must get (contract: years 1–9999; 4713 BC is -4712 in astronomical numbering).
    static let poisonSlots: [(scheduledFor: String, error: String)] = [
        ("infinity", "scheduled_for is infinity: not a time this dispatcher can fire; not sent"),
        ("-infinity", "scheduled_for is -infinity: not a time this dispatcher can fire; not sent"),
        ("4713-01-01 00:00:00Z BC", "scheduled_for year -4712 is outside 1–9999; not sent"),
        ("10000-01-01 00:00:00Z", "scheduled_for year 10000 is outside 1–9999; not sent"),
    ]

    @Test("a pending invocation with an unusable scheduled_for among other tenants' due runs: it fails alone with a clear last_error, the rest are posted once, exit 0",
          arguments: poisonSlots.map(\.scheduledFor))
    func invocationSlot(_ scheduledFor: String) throws {
        let expected = try #require(Self.poisonSlots.first { $0.scheduledFor == scheduledFor }).error
        try withTestDatabase { database in
            let connection = try database.connect()
            try Self.seedHealthy(connection)
            // A healthy trigger of its own tenant (never due itself), and the invocation an
            // operator's SQL wrote for it, runnable now.
            try connection.insertTrigger(
                tenant: "poison", id: "p", cron: "0 0 1 1 *", nextRunAt: "2999-01-01T00:00:00Z")
            try connection.query(
                """
                INSERT INTO scheduled_trigger_invocations
                    (tenant_id, id, project_id, agent_id, scheduled_trigger_id, ref, status, scheduled_for,
                     idempotency_key, attempt_number)
                VALUES ('poison', 'poison-1', 'project-1', 'agent-1', 'p', 'main', 'pending', $1::timestamptz,
                        'sched_p_poison', 1)
                """, [scheduledFor])
            let standIn = try StandIn()
            defer { standIn.stop() }

            let result = try database.runCycle(endpoint: standIn.url)
            #expect(result.exitCode == 0, "\(result)")
            let row = try #require(try connection.query(
                "SELECT status, last_error, lease_expires_at IS NULL AS no_lease FROM scheduled_trigger_invocations WHERE id = 'poison-1'"
            ).first)
            #expect(row["status"] == "failed")
            #expect(row["last_error"] == expected)
            #expect(row["no_lease"] == "t")
            #expect(logLines(result.stderr, event: "invocation.failed").contains { $0.contains("\"tenant\":\"poison\"") })
            // Nothing was sent for it; every healthy run was posted exactly once with its key.
            let posts = standIn.posts()
            #expect(!posts.contains { $0.header("x-inkeep-tenant-id") == "poison" })
            let keys = posts.compactMap { $0.header("idempotency-key") }.sorted()
            let recorded = try connection.query(
                "SELECT idempotency_key || '-1' AS k FROM scheduled_trigger_invocations WHERE tenant_id <> 'poison' ORDER BY 1"
            ).map { $0["k"] ?? "" }.sorted()
            #expect(keys == recorded)
            #expect(recorded.count == 2 * Self.healthyTenants.count)
            #expect(try connection.value("""
                SELECT count(*) FROM scheduled_trigger_invocations WHERE tenant_id <> 'poison' AND status = 'running'
                """) == String(2 * Self.healthyTenants.count))
        }
    }

    @Test("status with a due -infinity: exit 0, and a lag over any --max-lag")
    func statusWithMinusInfinity() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try connection.insertTrigger(tenant: "poison", id: "p", cron: "0 0 1 1 *")
            try connection.query("UPDATE scheduled_triggers SET next_run_at = '-infinity' WHERE id = 'p'")
            let plain = try database.cli(["status", "--json"])
            #expect(plain.exitCode == 0, "\(plain)")
            let document = try JSONValue.parse(plain.stdout)
            #expect(document["due_triggers"] == .number("1"))
            // Counted from 0001-01-01: more than 2,000 years.
            #expect((document["oldest_due_lag_seconds"]?.numberValue ?? 0) > 2_000 * 365 * 86_400)
            #expect(try database.cli(["status", "--max-lag", "3600"]).exitCode == 1)
        }
    }
}
