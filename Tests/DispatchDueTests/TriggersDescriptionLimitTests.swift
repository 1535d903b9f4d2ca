import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// contract §5.4: the memory a command uses does not grow with what a tenant wrote. A trigger's
/// `description` is unbounded text (SQL may write megabytes); `triggers list` and `show` fetch
/// at most `TriggerRecord.descriptionShownCharacters` of it and say when it was cut, while
/// `triggers update` keeps the stored text whole.
@Suite("trigger description limit", .requiresDatabase)
struct TriggersDescriptionLimitTests {
    static let shown = 4_096
    static let written = 5_000_000
    static let triggers = 20

    /// `triggers` healthy triggers with a 5 MB description each, written by SQL, and one short.
    func seed(_ db: TestDatabase) throws {
        let connection = try db.connect()
        for index in 0..<Self.triggers {
            try connection.insertTrigger(tenant: "acme", id: "big-\(index)", cron: "0 0 1 1 *")
        }
        try connection.query("UPDATE scheduled_triggers SET description = repeat('d', \(Self.written))")
        try connection.insertTrigger(tenant: "acme", id: "small", cron: "0 0 1 1 *")
        try connection.query("UPDATE scheduled_triggers SET description = 'short' WHERE id = 'small'")
    }

    @Test("list --json and show --json carry the first characters and say the description was cut; a short one is whole")
    func json() throws {
        try withTestDatabase { db in
            try seed(db)
            let list = try db.cli(["triggers", "list", "--tenant", "acme", "--json"])
            #expect(list.exitCode == 0, "\(list.stderr)")
            // 20 × 5 MB would be 100 MB read and printed; bounded, the process stays small.
            #expect((list.peakResidentBytes ?? 0) < 64 << 20, "peak RSS \(list.peakResidentBytes ?? -1)")
            #expect(list.stdout.utf8.count < 1 << 20, "output \(list.stdout.utf8.count) bytes")
            guard case .array(let elements) = try JSONValue.parse(list.stdout) else {
                Issue.record("not an array")
                return
            }
            #expect(elements.count == Self.triggers + 1)
            for element in elements {
                let id = element["id"]?.stringValue ?? "?"
                if id == "small" {
                    #expect(element["description"] == .string("short"))
                    #expect(element["description_cut_from"] == .null)
                } else {
                    #expect(element["description"] == .string(String(repeating: "d", count: Self.shown)), "\(id)")
                    #expect(element["description_cut_from"] == .number(String(Self.written)), "\(id)")
                }
            }

            let show = try db.cli(["triggers", "show", "big-0", "--tenant", "acme", "--json"])
            #expect(show.exitCode == 0, "\(show.stderr)")
            let document = try JSONValue.parse(show.stdout)
            #expect(document["description"] == .string(String(repeating: "d", count: Self.shown)))
            #expect(document["description_cut_from"] == .number(String(Self.written)))
        }
    }

    @Test("show (text) prints the first characters and how long the description is")
    func text() throws {
        try withTestDatabase { db in
            try seed(db)
            let show = try db.cli(["triggers", "show", "big-0", "--tenant", "acme"])
            #expect(show.exitCode == 0, "\(show.stderr)")
            #expect(show.stdout.utf8.count < 64 << 10, "output \(show.stdout.utf8.count) bytes")
            #expect(show.stdout.contains(String(repeating: "d", count: Self.shown) + "… (cut: the first 4096 of 5000000 characters shown)"))
            let small = try db.cli(["triggers", "show", "small", "--tenant", "acme"])
            #expect(small.stdout.contains("short\n"), "\(small.stdout)")
            #expect(!small.stdout.contains("cut:"))
        }
    }

    @Test("update of another field keeps the stored description whole")
    func updateKeepsDescription() throws {
        try withTestDatabase { db in
            try seed(db)
            let update = try db.cli(["triggers", "update", "big-0", "--tenant", "acme", "--name", "renamed"])
            #expect(update.exitCode == 0, "\(update.stderr)")
            #expect(try db.value("SELECT name FROM scheduled_triggers WHERE id = 'big-0'") == "renamed")
            #expect(try db.value("SELECT char_length(description) FROM scheduled_triggers WHERE id = 'big-0'") == String(Self.written))
        }
    }
}
