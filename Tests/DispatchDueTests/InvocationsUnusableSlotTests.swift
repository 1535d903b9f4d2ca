import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// An invocation whose scheduled_for SQL set to a value no instant can hold (±infinity, a BC
/// year, the year 10000): `invocations list` and `cancel` show the stored value as PostgreSQL
/// writes it, as `triggers list/show` show such a run_at, never a made-up 1970-01-01.
@Suite("invocations with an unusable slot", .requiresDatabase)
struct InvocationsUnusableSlotTests {
    struct Slot: Sendable, CustomTestStringConvertible {
        /// What the SQL wrote.
        var stored: String
        /// What the table and the JSON show (PostgreSQL's text of the value in UTC).
        var shown: String
        var testDescription: String { stored }
    }

    static let slots: [Slot] = [
        Slot(stored: "infinity", shown: "infinity"),
        Slot(stored: "-infinity", shown: "-infinity"),
        Slot(stored: "4713-01-01 00:00:00Z BC", shown: "4713-01-01 00:00:00 BC UTC"),
        Slot(stored: "10000-01-01 00:00:00Z", shown: "10000-01-01 00:00:00 UTC"),
    ]

    /// One healthy invocation next to the poison one, so the list is not only the poison.
    func seed(_ db: TestDatabase, _ slot: Slot) throws {
        let connection = try db.connect()
        try connection.insertTrigger(tenant: "acme", id: "t1", cron: "0 0 1 1 *", nextRunAt: "2999-01-01T00:00:00Z")
        try connection.insertInvocation(
            tenant: "acme", id: "poison", trigger: "t1", slot: .at(slot.stored), status: "pending", key: "sched_t1_poison")
        try connection.insertInvocation(
            tenant: "acme", id: "healthy", trigger: "t1", slot: "2024-01-05T00:00:00Z", status: "completed")
    }

    @Test("list shows the stored value in the table and in --json", arguments: slots)
    func list(_ slot: Slot) throws {
        try withTestDatabase { db in
            try seed(db, slot)
            let table = try db.cli(["invocations", "list", "--tenant", "acme"])
            #expect(table.exitCode == 0, "\(table)")
            let row = try #require(table.stdout.split(separator: "\n").first { $0.hasPrefix("poison ") }, "\(table)")
            #expect(row.contains("  \(slot.shown)  "), "\(row)")
            #expect(!table.stdout.contains("1970"), "\(table)")
            // The healthy row is unchanged.
            #expect(table.stdout.contains("2024-01-05T00:00:00Z"), "\(table)")

            let json = try db.cli(["invocations", "list", "--tenant", "acme", "--json"])
            #expect(json.exitCode == 0, "\(json)")
            guard case .array(let elements) = try JSONValue.parse(json.stdout) else {
                Issue.record("not an array: \(json.stdout)")
                return
            }
            let byID = Dictionary(uniqueKeysWithValues: elements.compactMap { e in e["id"]?.stringValue.map { ($0, e) } })
            #expect(byID["poison"]?["scheduled_for"] == .string(slot.shown), "\(json.stdout)")
            #expect(byID["healthy"]?["scheduled_for"] == .string("2024-01-05T00:00:00.000Z"), "\(json.stdout)")
        }
    }

    @Test("cancel names the stored slot, in text and --json", arguments: slots)
    func cancel(_ slot: Slot) throws {
        try withTestDatabase { db in
            try seed(db, slot)
            let text = try db.cli(["invocations", "cancel", "poison", "--tenant", "acme"])
            #expect(text.exitCode == 0, "\(text)")
            #expect(text.stdout.contains("slot \(slot.shown))"), "\(text)")
            #expect(!text.stdout.contains("1970"), "\(text)")
            let json = try db.cli(["invocations", "cancel", "poison", "--tenant", "acme", "--json"])
            #expect(json.exitCode == 0, "\(json)")
            #expect(try JSONValue.parse(json.stdout)["scheduled_for"] == .string(slot.shown), "\(json.stdout)")
        }
    }

    @Test("list shows the other stored timestamps too (next attempt, lease, start, end, creation), never - or 1970", arguments: slots)
    func otherTimestamps(_ slot: Slot) throws {
        try withTestDatabase { db in
            try seed(db, slot)
            let connection = try db.connect()
            try connection.query(
                """
                UPDATE scheduled_trigger_invocations
                SET next_attempt_at = $1::timestamptz, lease_expires_at = $1::timestamptz, started_at = $1::timestamptz,
                    completed_at = $1::timestamptz, created_at = $1::timestamptz, scheduled_for = '2024-01-06T00:00:00Z'
                WHERE id = 'poison'
                """, [slot.stored])
            let table = try db.cli(["invocations", "list", "--tenant", "acme"])
            #expect(table.exitCode == 0, "\(table)")
            let row = try #require(table.stdout.split(separator: "\n").first { $0.hasPrefix("poison ") }, "\(table)")
            // NEXT ATTEMPT: the stored value, not "-".
            #expect(row.contains("  \(slot.shown)  "), "\(row)")

            let json = try db.cli(["invocations", "list", "--tenant", "acme", "--json"])
            #expect(json.exitCode == 0, "\(json)")
            #expect(!json.stdout.contains("1970"), "\(json.stdout)")
            guard case .array(let elements) = try JSONValue.parse(json.stdout) else {
                Issue.record("not an array: \(json.stdout)")
                return
            }
            let poison = try #require(elements.first { $0["id"]?.stringValue == "poison" })
            for key in ["next_attempt_at", "lease_expires_at", "started_at", "completed_at", "created_at"] {
                #expect(poison[key] == .string(slot.shown), "\(key): \(json.stdout)")
            }
            #expect(poison["scheduled_for"] == .string("2024-01-06T00:00:00.000Z"))
        }
    }
}
