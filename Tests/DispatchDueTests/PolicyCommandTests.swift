import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

@Suite("policies: triggers add/update/show/list and the schema (contract §6, §1)", .requiresDatabase, .serialized)
struct PolicyCommandTests {
    @Test("add, update and show the policy columns")
    func addUpdateShow() throws {
        try withTestDatabase { database in
            let added = try database.cli(baseAdd(id: "p1") + [
                "--cron", "0 9 * * 1-5", "--overlap", "buffer_one", "--jitter", "600", "--pause-after-failures", "5", "--json",
            ])
            #expect(added.exitCode == 0, "\(added)")
            let document = try JSONValue.parse(added.stdout.trimmingSuffixNewline)
            #expect(document["overlap_policy"]?.stringValue == "buffer_one")
            #expect(document["jitter_seconds"] == .number("600"))
            #expect(document["pause_after_failures"] == .number("5"))
            #expect(document["paused_reason"] == .null)

            let updated = try database.cli(["triggers", "update", "p1", "--tenant", "acme", "--overlap", "skip", "--pause-after-failures", "0"])
            #expect(updated.exitCode == 0, "\(updated)")
            #expect(try database.value("SELECT overlap_policy || ' ' || jitter_seconds || ' ' || coalesce(pause_after_failures::text, 'never') FROM scheduled_triggers")
                == "skip 600 never")

            try database.execute("UPDATE scheduled_triggers SET enabled = false, paused_reason = 'paused after 5 consecutive failures; last error: HTTP 500'")
            let shown = try database.cli(["triggers", "show", "p1", "--tenant", "acme"])
            #expect(shown.stdout.contains("overlap policy:     skip"), "\(shown)")
            #expect(shown.stdout.contains("jitter:             600 s"), "\(shown)")
            #expect(shown.stdout.contains("pause after:        never"), "\(shown)")
            #expect(shown.stdout.contains("paused:             paused after 5 consecutive failures; last error: HTTP 500"), "\(shown)")
            let listed = try database.cli(["triggers", "list", "--tenant", "acme"])
            #expect(listed.stdout.contains("OVERLAP"), "\(listed)")
            #expect(listed.stdout.contains("paused after 5"), "\(listed)")
        }
    }

    @Test("out-of-range policy values are usage errors; nothing is written", arguments: [
        ["--jitter", "3601"], ["--jitter", "-1"], ["--pause-after-failures", "101"], ["--pause-after-failures", "-2"],
        ["--overlap", "replace"],
    ])
    func refused(_ flags: [String]) throws {
        try withTestDatabase { database in
            let result = try database.cli(baseAdd(id: "bad") + ["--cron", "* * * * *"] + flags)
            #expect(result.exitCode == 64, "\(result)")
            #expect(try database.value("SELECT count(*) FROM scheduled_triggers") == "0")
        }
    }

    @Test("existing rows keep today's behaviour; the CHECKs hold for SQL writers too")
    func schema() throws {
        try withTestDatabase { database in
            try database.connect().insertTrigger(
                tenant: "t1", id: "old", cron: "0 0 * * *", nextRunAt: "2999-01-01T00:00:00Z", payload: #"{"k": "v"}"#)
            #expect(try database.value("""
                SELECT overlap_policy || ' ' || jitter_seconds || ' ' || coalesce(pause_after_failures::text, 'null')
                       || ' ' || coalesce(paused_reason, 'null') FROM scheduled_triggers
                """) == "allow 0 null null")
            for assignment in ["overlap_policy = 'replace'", "jitter_seconds = 3601", "pause_after_failures = 0"] {
                #expect(throws: PostgresError.self) { try database.execute("UPDATE scheduled_triggers SET \(assignment)") }
            }
            try database.connect().insertInvocation(
                tenant: "t1", id: "i1", trigger: "old", slot: "2026-01-01T00:00:00Z", status: "skipped", key: "key_i1",
                attempt: 2, completedAt: .null)
            #expect(throws: PostgresError.self) {
                try database.connect().insertInvocation(
                    tenant: "t1", id: "i2", trigger: "old", slot: "2026-01-01T00:01:00Z", status: "paused",
                    key: "key_i2", attempt: 2, completedAt: .null)
            }
        }
    }

    @Test("status counts skipped invocations and lists paused triggers")
    func status() throws {
        try withTestDatabase { database in
            try database.connect().insertTrigger(
                tenant: "t1", id: "p", cron: "0 0 * * *", nextRunAt: nil, enabled: false, payload: #"{"k": "v"}"#)
            try database.execute("UPDATE scheduled_triggers SET paused_reason = 'paused after 2 consecutive failures; last error: boom'")
            try database.connect().insertInvocation(
                tenant: "t1", id: "i1", trigger: "p", slot: "2026-01-01T00:00:00Z", status: "skipped", key: "key_i1",
                attempt: 2, completedAt: .null)
            let json = try database.cli(["status", "--json"])
            #expect(json.exitCode == 0, "\(json)")
            let document = try JSONValue.parse(json.stdout.trimmingSuffixNewline)
            #expect(document["invocations_by_status"]?["skipped"] == .number("1"))
            #expect(document["paused_trigger_count"] == .number("1"))
            let text = try database.cli(["status"])
            #expect(text.stdout.contains("skipped 1"), "\(text)")
            #expect(text.stdout.contains("t1/p: paused after 2 consecutive failures; last error: boom"), "\(text)")
        }
    }
}
