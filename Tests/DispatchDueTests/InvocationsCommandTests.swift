import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// `dispatch-due invocations …` against a real PostgreSQL, through the real binary.
@Suite("invocations command", .requiresDatabase)
struct InvocationsCommandTests {
    /// One trigger per tenant, both with the id t1, and invocations in every state.
    func seed(_ db: TestDatabase) throws {
        for tenant in ["acme", "globex"] {
            try db.connect().insertTrigger(
                tenant: tenant, id: "t1", cron: "0 0 * * *", nextRunAt: "2030-01-01T00:00:00Z", payload: #"{"k": "v"}"#)
        }
        try db.connect().insertTrigger(
            tenant: "acme", id: "off", cron: "0 0 * * *", enabled: false, payload: #"{"k": "v"}"#)
        try db.connect().insertInvocation(
            tenant: "acme", id: "pending", trigger: "t1", slot: "2024-01-05T00:00:00Z", status: "pending",
            key: "key_pending", attempt: 2)
        try db.connect().insertInvocation(
            tenant: "acme", id: "posting", trigger: "t1", slot: "2024-01-04T00:00:00Z", status: "running",
            key: "key_posting", attempt: 2, leaseExpiresAt: .secondsFromNow(600))
        try db.connect().insertInvocation(
            tenant: "acme", id: "abandoned", trigger: "t1", slot: "2024-01-03T00:00:00Z", status: "running",
            key: "key_abandoned", attempt: 2, leaseExpiresAt: .secondsFromNow(-60))
        try db.connect().insertInvocation(
            tenant: "acme", id: "accepted", trigger: "t1", slot: "2024-01-02T00:00:00Z", status: "running",
            key: "key_accepted", attempt: 2, leaseExpiresAt: .secondsFromNow(-60), executionID: "exec-9")
        try db.connect().insertInvocation(
            tenant: "acme", id: "failed", trigger: "t1", slot: "2024-01-01T00:00:00Z", status: "failed",
            key: "sched_t1_2024-01-01T00:00:00.000Z", attempt: 2, completedAt: .null)
        try db.connect().insertInvocation(
            tenant: "acme", id: "completed", trigger: "t1", slot: "2023-12-31T00:00:00Z", status: "completed",
            key: "key_completed", attempt: 2, completedAt: .null)
        try db.connect().insertInvocation(
            tenant: "acme", id: "cancelled", trigger: "t1", slot: "2023-12-30T00:00:00Z", status: "cancelled",
            key: "key_cancelled", attempt: 2, completedAt: .null)
        try db.connect().insertInvocation(
            tenant: "acme", id: "offdone", trigger: "off", slot: "2023-12-29T00:00:00Z", status: "failed",
            key: "key_offdone", attempt: 2, completedAt: .null)
        try db.connect().insertInvocation(
            tenant: "globex", id: "pending", trigger: "t1", slot: "2024-01-05T00:00:00Z", status: "pending",
            key: "key_pending", attempt: 2)
        try db.connect().insertInvocation(
            tenant: "globex", id: "failed", trigger: "t1", slot: "2024-01-01T00:00:00Z", status: "failed",
            key: "key_failed", attempt: 2, completedAt: .null)
    }

    func ids(_ result: ProcessResult) throws -> [String] {
        guard case .array(let elements) = try JSONValue.parse(result.stdout) else { return ["not an array"] }
        return elements.compactMap { $0["id"]?.stringValue }
    }

    struct ListCase: Sendable, CustomTestStringConvertible {
        var arguments: [String]
        /// Expected ids, newest slot first.
        var ids: [String]
        var testDescription: String { arguments.joined(separator: " ") }
    }

    static let listCases: [ListCase] = [
        ListCase(arguments: ["--tenant", "globex"], ids: ["pending", "failed"]),
        ListCase(arguments: ["--tenant", "acme", "--status", "running"], ids: ["posting", "abandoned", "accepted"]),
        ListCase(arguments: ["--tenant", "acme", "--trigger", "off"], ids: ["offdone"]),
        ListCase(arguments: ["--tenant", "acme", "--since", "2024-01-03T00:00:00Z"], ids: ["pending", "posting", "abandoned"]),
        ListCase(arguments: ["--tenant", "acme", "--since", "2024-01-03T01:00:00+01:00"], ids: ["pending", "posting", "abandoned"]),
        ListCase(arguments: ["--tenant", "acme", "--limit", "2"], ids: ["pending", "posting"]),
        ListCase(arguments: ["--status", "pending"], ids: ["pending", "pending"]),
    ]

    @Test("list: filters by tenant, trigger, status and slot; newest slot first", arguments: listCases)
    func list(_ example: ListCase) throws {
        try withTestDatabase { db in
            try seed(db)
            let result = try db.cli(["invocations", "list", "--json"] + example.arguments)
            #expect(result.exitCode == 0, "\(result)")
            #expect(try ids(result) == example.ids)
        }
    }

    @Test("list: a table for people")
    func listTable() throws {
        try withTestDatabase { db in
            try seed(db)
            let result = try db.cli(["invocations", "list", "--tenant", "acme", "--trigger", "t1"])
            #expect(result.exitCode == 0, "\(result)")
            let lines = result.stdout.split(separator: "\n")
            #expect(lines.count == 8, "header and seven rows\n\(result.stdout)")
            #expect(lines[0].hasPrefix("ID"))
            let accepted = try #require(lines.first { $0.hasPrefix("accepted ") })
            for fragment in ["t1", "2024-01-02T00:00:00Z", "running", "exec-9"] { #expect(accepted.contains(fragment), "\(accepted)") }
        }
    }

    static let badLists: [[String]] = [
        ["--trigger", "t1"],
        ["--status", "done"],
        ["--since", "yesterday"],
        ["--limit", "0"],
    ]

    @Test("list: bad filters are usage errors", arguments: badLists)
    func listRejects(_ arguments: [String]) throws {
        try withTestDatabase { db in
            let result = try db.cli(["invocations", "list"] + arguments)
            #expect(result.exitCode == 64, "\(result)")
        }
    }

    struct CancelCase: Sendable, CustomTestStringConvertible {
        var id: String
        var exitCode: Int32
        var statusAfter: String
        var message: String
        var testDescription: String { id }
    }

    static let cancelCases: [CancelCase] = [
        CancelCase(id: "pending", exitCode: 0, statusAfter: "cancelled", message: "cancelled invocation pending"),
        // Its dispatcher died before the endpoint accepted it: nothing runs for it.
        CancelCase(id: "abandoned", exitCode: 0, statusAfter: "cancelled", message: "cancelled invocation abandoned"),
        CancelCase(id: "cancelled", exitCode: 0, statusAfter: "cancelled", message: "already cancelled"),
        // Being posted right now by a live dispatcher.
        CancelCase(id: "posting", exitCode: 1, statusAfter: "running", message: "lease"),
        // Accepted by the endpoint, which has no cancel call.
        CancelCase(id: "accepted", exitCode: 1, statusAfter: "running", message: "exec-9"),
        CancelCase(id: "completed", exitCode: 1, statusAfter: "completed", message: "is completed"),
        CancelCase(id: "failed", exitCode: 1, statusAfter: "failed", message: "is failed"),
    ]

    @Test("cancel: pending (or abandoned before acceptance) only; the rest is refused unchanged", arguments: cancelCases)
    func cancel(_ example: CancelCase) throws {
        try withTestDatabase { db in
            try seed(db)
            let untouched = try db.value(
                "SELECT string_agg(i::text, E'\\n' ORDER BY i.id) FROM scheduled_trigger_invocations i WHERE NOT (tenant_id = 'acme' AND id = $1)",
                [example.id])
            let before = try db.snapshot()
            let result = try db.cli(["invocations", "cancel", example.id, "--tenant", "acme"])
            #expect(result.exitCode == example.exitCode, "\(result)")
            #expect((result.stdout + result.stderr).contains(example.message), "\(result)")
            #expect(try db.status(tenant: "acme", invocation: example.id) == example.statusAfter)
            if example.exitCode != 0 { #expect(try db.snapshot() == before) }
            if example.statusAfter == "cancelled" && example.id != "cancelled" {
                #expect(try db.value(
                    "SELECT (completed_at IS NOT NULL AND lease_expires_at IS NULL)::text FROM scheduled_trigger_invocations WHERE tenant_id = 'acme' AND id = $1",
                    [example.id]) == "true")
            }
            // No other row moved, in particular not globex's invocation with the same id.
            #expect(try db.value(
                "SELECT string_agg(i::text, E'\\n' ORDER BY i.id) FROM scheduled_trigger_invocations i WHERE NOT (tenant_id = 'acme' AND id = $1)",
                [example.id]) == untouched)
        }
    }

    @Test("cancel and rerun: an id of another tenant, or unknown, is not found (exit 1)", arguments: [
        ["cancel", "nope"], ["rerun", "nope"], ["cancel", "completed"], ["rerun", "completed"],
    ])
    func notFound(_ command: [String]) throws {
        try withTestDatabase { db in
            try seed(db)
            let before = try db.snapshot()
            // "completed" exists only for acme.
            let result = try db.cli(["invocations"] + command + ["--tenant", "globex"])
            #expect(result.exitCode == 1, "\(result)")
            #expect(result.stderr.contains("no invocation \(command[1]) for tenant globex"), "\(result.stderr)")
            #expect(try db.snapshot() == before)
        }
    }

    @Test("rerun: a new pending invocation for the same slot with a distinct key; the original is untouched")
    func rerun() throws {
        try withTestDatabase { db in
            try seed(db)
            let original = try db.value("SELECT i::text FROM scheduled_trigger_invocations i WHERE tenant_id = 'acme' AND id = 'failed'")
            let first = try db.cli(["invocations", "rerun", "failed", "--tenant", "acme", "--json"])
            #expect(first.exitCode == 0, "\(first)")
            let document = try JSONValue.parse(first.stdout)
            #expect(document["status"] == .string("pending"))
            #expect(document["scheduled_for"] == .string("2024-01-01T00:00:00.000Z"))
            #expect(document["idempotency_key"] == .string("sched_t1_2024-01-01T00:00:00.000Z_rerun_1"))
            #expect(document["attempt_number"] == .number("1"))
            #expect(document["scheduled_trigger_id"] == .string("t1"))
            let newID = try #require(document["id"]?.stringValue)
            #expect(newID != "failed")
            #expect(
                try db.value(
                    """
                    SELECT concat_ws('|', tenant_id, project_id, agent_id, ref, resolved_payload::text,
                                     coalesce(next_attempt_at::text, '-'), coalesce(execution_id, '-'), conversation_ids::text)
                    FROM scheduled_trigger_invocations WHERE tenant_id = 'acme' AND id = $1
                    """, [newID]) == #"acme|proj|agent|main|{"k": "v"}|-|-|[]"#)
            #expect(try db.value("SELECT i::text FROM scheduled_trigger_invocations i WHERE tenant_id = 'acme' AND id = 'failed'") == original)

            // Once a rerun has finished, a second rerun of the original, and a rerun of the rerun, number on
            // (while one is unfinished a rerun is refused: RerunTests).
            try db.execute("UPDATE scheduled_trigger_invocations SET status = 'completed' WHERE tenant_id = 'acme' AND id = $1", [newID])
            let second = try db.cli(["invocations", "rerun", "failed", "--tenant", "acme", "--json"])
            let secondDocument = try JSONValue.parse(second.stdout)
            #expect(secondDocument["idempotency_key"] == .string("sched_t1_2024-01-01T00:00:00.000Z_rerun_2"))
            try db.execute(
                "UPDATE scheduled_trigger_invocations SET status = 'failed' WHERE tenant_id = 'acme' AND id = $1",
                [try #require(secondDocument["id"]?.stringValue)])
            let third = try db.cli(["invocations", "rerun", newID, "--tenant", "acme", "--json"])
            #expect(third.exitCode == 0, "\(third)")
            #expect(try JSONValue.parse(third.stdout)["idempotency_key"] == .string("sched_t1_2024-01-01T00:00:00.000Z_rerun_3"))
            // globex's invocation with the same id and key is untouched, and got no rerun.
            #expect(try db.value("SELECT count(*) FROM scheduled_trigger_invocations WHERE tenant_id = 'globex'") == "2")
        }
    }

    @Test("rerun: refused (exit 1, nothing written) for unfinished invocations and disabled or deleted triggers",
          arguments: ["pending", "posting", "accepted", "offdone", "deleted"])
    func rerunRefused(_ id: String) throws {
        try withTestDatabase { db in
            try seed(db)
            try db.connect().insertInvocation(
                tenant: "acme", id: "deleted", trigger: "gone", slot: "2023-01-01T00:00:00Z", status: "failed",
                key: "key_deleted", attempt: 2, completedAt: .null)
            let before = try db.snapshot()
            let result = try db.cli(["invocations", "rerun", id, "--tenant", "acme"])
            #expect(result.exitCode == 1, "\(result)")
            let expected = ["offdone": "disabled", "deleted": "deleted"][id] ?? "only finished invocations"
            #expect(result.stderr.contains(expected), "\(result.stderr)")
            #expect(try db.snapshot() == before)
        }
    }
}
