import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// contract §5.4: the memory a command uses does not grow with what a tenant wrote. `payload`
/// and `message_template` are bounded on add/update (docs/limits.md: 256 KiB, 64 KiB) but SQL
/// may write megabytes: `triggers list` and `show` never fetch a value over its limit and say
/// how large it is instead, and `triggers update` keeps it as stored.
@Suite("trigger payload and template limits", .requiresDatabase)
struct TriggersValueLimitTests {
    static let written = 5_000_000
    static let triggers = 10

    /// `triggers` triggers with a 5 MB payload and a 5 MB template written by SQL, and healthy ones.
    func seed(_ db: TestDatabase) throws {
        let connection = try db.connect()
        for index in 0..<Self.triggers {
            try connection.insertTrigger(tenant: "acme", id: "big-\(index)", cron: "0 0 1 1 *")
            try connection.insertTrigger(tenant: "acme", id: "ok-\(index)", cron: "0 0 1 1 *", payload: #"{"k": "v"}"#)
        }
        try connection.query("""
            UPDATE scheduled_triggers
            SET payload = jsonb_build_object('k', repeat('p', \(Self.written))),
                message_template = repeat('m', \(Self.written))
            WHERE id LIKE 'big-%'
            """)
        try connection.query("UPDATE scheduled_triggers SET message_template = 'hello' WHERE id LIKE 'ok-%'")
    }

    /// The stored sizes, as PostgreSQL measures them.
    func sizes(_ db: TestDatabase, _ id: String) throws -> (payload: String, template: String, digest: String) {
        (
            try db.value("SELECT octet_length(payload::text) FROM scheduled_triggers WHERE id = '\(id)'") ?? "?",
            try db.value("SELECT octet_length(message_template) FROM scheduled_triggers WHERE id = '\(id)'") ?? "?",
            try db.value("SELECT md5(payload::text) || md5(message_template) FROM scheduled_triggers WHERE id = '\(id)'") ?? "?"
        )
    }

    @Test("list --json and show --json give the sizes of values over the limit, never the values")
    func json() throws {
        try withTestDatabase { db in
            try seed(db)
            let stored = try sizes(db, "big-0")
            let list = try db.cli(["triggers", "list", "--tenant", "acme", "--json"])
            #expect(list.exitCode == 0, "\(list.stderr)")
            // 10 × 10 MB would be 100 MB read and printed; bounded, the process stays small.
            #expect((list.peakResidentBytes ?? 0) < 64 << 20, "peak RSS \(list.peakResidentBytes ?? -1)")
            #expect(list.stdout.utf8.count < 1 << 20, "output \(list.stdout.utf8.count) bytes")
            guard case .array(let elements) = try JSONValue.parse(list.stdout) else {
                Issue.record("not an array")
                return
            }
            #expect(elements.count == 2 * Self.triggers)
            for element in elements {
                let id = element["id"]?.stringValue ?? "?"
                if id.hasPrefix("ok-") {
                    #expect(element["payload"]?["k"] == .string("v"), "\(id)")
                    #expect(element["message_template"] == .string("hello"), "\(id)")
                    #expect(element["payload_over_limit_bytes"] == .null, "\(id)")
                    #expect(element["message_template_over_limit_bytes"] == .null, "\(id)")
                } else {
                    #expect(element["payload"] == .null, "\(id)")
                    #expect(element["message_template"] == .null, "\(id)")
                    #expect(element["payload_over_limit_bytes"] == .number(stored.payload), "\(id)")
                    #expect(element["message_template_over_limit_bytes"] == .number(stored.template), "\(id)")
                }
            }

            let show = try db.cli(["triggers", "show", "big-0", "--tenant", "acme", "--json"])
            #expect(show.exitCode == 0, "\(show.stderr)")
            #expect((show.peakResidentBytes ?? 0) < 64 << 20, "peak RSS \(show.peakResidentBytes ?? -1)")
            let document = try JSONValue.parse(show.stdout)
            #expect(document["payload_over_limit_bytes"] == .number(stored.payload))
            #expect(document["message_template_over_limit_bytes"] == .number(stored.template))
        }
    }

    @Test("show (text) prints that the values are over the limit, with their sizes")
    func text() throws {
        try withTestDatabase { db in
            try seed(db)
            let stored = try sizes(db, "big-0")
            let show = try db.cli(["triggers", "show", "big-0", "--tenant", "acme"])
            #expect(show.exitCode == 0, "\(show.stderr)")
            #expect(show.stdout.utf8.count < 64 << 10, "output \(show.stdout.utf8.count) bytes")
            #expect((show.peakResidentBytes ?? 0) < 64 << 20, "peak RSS \(show.peakResidentBytes ?? -1)")
            #expect(show.stdout.contains("\(stored.payload) bytes, over the 262144-byte limit (not shown)"), "\(show.stdout)")
            #expect(show.stdout.contains("\(stored.template) bytes, over the 65536-byte limit (not shown)"), "\(show.stdout)")
            let small = try db.cli(["triggers", "show", "ok-0", "--tenant", "acme"])
            #expect(small.stdout.contains("hello\n"), "\(small.stdout)")
            #expect(!small.stdout.contains("over the"))
        }
    }

    @Test("update of another field keeps the stored payload and template byte-identical")
    func updateKeeps() throws {
        try withTestDatabase { db in
            try seed(db)
            let before = try sizes(db, "big-0")
            let update = try db.cli(["triggers", "update", "big-0", "--tenant", "acme", "--name", "renamed"])
            #expect(update.exitCode == 0, "\(update.stderr)")
            #expect((update.peakResidentBytes ?? 0) < 64 << 20, "peak RSS \(update.peakResidentBytes ?? -1)")
            #expect(try db.value("SELECT name FROM scheduled_triggers WHERE id = 'big-0'") == "renamed")
            let after = try sizes(db, "big-0")
            #expect(after.payload == before.payload)
            #expect(after.template == before.template)
            #expect(after.digest == before.digest)
        }
    }
}
