import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// Issue 11, item 16: a rerun while another run of the same slot is unfinished would run the
/// slot twice more. It is refused (exit 1, as any refusal by the row's state), naming the
/// unfinished invocation, and nothing is written.
@Suite("invocations rerun while a run of the slot is unfinished", .requiresDatabase)
struct RerunPendingTests {
    static func seed(_ db: TestDatabase) throws {
        try db.connect().insertTrigger(
            tenant: "acme", id: "t1", cron: "0 0 * * *", nextRunAt: "2030-01-01T00:00:00Z", payload: #"{"k": "v"}"#)
        try db.connect().insertInvocation(
            tenant: "acme", id: "failed", trigger: "t1", slot: "2024-01-01T00:00:00Z", status: "failed",
            key: "sched_t1_2024-01-01T00:00:00.000Z", attempt: 2, completedAt: .null)
        try db.connect().insertInvocation(
            tenant: "acme", id: "failed-too", trigger: "t1", slot: "2024-01-01T00:00:00Z", status: "failed",
            key: "sched_t1_2024-01-01T00:00:00.000Z_manual", attempt: 2, completedAt: .null)
    }

    static func slotCount(_ db: TestDatabase) throws -> String? {
        try db.value("SELECT count(*) FROM scheduled_trigger_invocations WHERE scheduled_for = '2024-01-01T00:00:00Z'")
    }

    @Test("rerunning the same failed invocation twice: the second is refused, naming the pending rerun")
    func secondRerunRefused() throws {
        try withTestDatabase { db in
            try Self.seed(db)
            let first = try db.cli(["invocations", "rerun", "failed", "--tenant", "acme", "--json"])
            #expect(first.exitCode == 0, "\(first)")
            let rerunID = try #require(try JSONValue.parse(first.stdout)["id"]?.stringValue)
            let before = try db.snapshot()

            let second = try db.cli(["invocations", "rerun", "failed", "--tenant", "acme"])
            #expect(second.exitCode == 1, "\(second)")
            #expect(second.stderr.contains(rerunID), "\(second.stderr)")
            #expect(second.stderr.contains("sched_t1_2024-01-01T00:00:00.000Z_rerun_1"), "\(second.stderr)")
            #expect(second.stderr.contains("pending"), "\(second.stderr)")
            #expect(try db.snapshot() == before)

            // Another finished run of the same slot is refused the same way.
            let other = try db.cli(["invocations", "rerun", "failed-too", "--tenant", "acme"])
            #expect(other.exitCode == 1, "\(other)")
            #expect(other.stderr.contains(rerunID), "\(other.stderr)")
            #expect(try db.snapshot() == before)

            // Running (a dispatcher posts it now) is unfinished too.
            try db.execute("UPDATE scheduled_trigger_invocations SET status = 'running' WHERE tenant_id = 'acme' AND id = $1", [rerunID])
            let whileRunning = try db.cli(["invocations", "rerun", "failed", "--tenant", "acme"])
            #expect(whileRunning.exitCode == 1, "\(whileRunning)")
            #expect(whileRunning.stderr.contains("running"), "\(whileRunning.stderr)")

            // Once it has finished, a rerun is recorded again and numbers on.
            try db.execute("UPDATE scheduled_trigger_invocations SET status = 'failed' WHERE tenant_id = 'acme' AND id = $1", [rerunID])
            let third = try db.cli(["invocations", "rerun", "failed", "--tenant", "acme", "--json"])
            #expect(third.exitCode == 0, "\(third)")
            #expect(try JSONValue.parse(third.stdout)["idempotency_key"] == .string("sched_t1_2024-01-01T00:00:00.000Z_rerun_2"))
            #expect(try Self.slotCount(db) == "4")
        }
    }

    @Test("a cancelled rerun no longer blocks: cancelling the pending rerun lets the operator rerun again")
    func cancelledRerunDoesNotBlock() throws {
        try withTestDatabase { db in
            try Self.seed(db)
            let first = try db.cli(["invocations", "rerun", "failed", "--tenant", "acme", "--json"])
            let rerunID = try #require(try JSONValue.parse(first.stdout)["id"]?.stringValue)
            #expect(try db.cli(["invocations", "cancel", rerunID, "--tenant", "acme"]).exitCode == 0)
            #expect(try db.cli(["invocations", "rerun", "failed", "--tenant", "acme"]).exitCode == 0)
            #expect(try db.value("SELECT count(*) FROM scheduled_trigger_invocations WHERE status = 'pending'") == "1")
        }
    }

    @Test("concurrent reruns of one slot, from the same or different invocations: exactly one is recorded")
    func concurrentReruns() throws {
        try withTestDatabase { db in
            try Self.seed(db)
            let processes = try ["failed", "failed-too", "failed", "failed-too", "failed", "failed-too"].map { id in
                try ChildProcess("dispatch-due", ["invocations", "rerun", id, "--tenant", "acme"], extraEnvironment: ["DATABASE_URL": db.url])
            }
            let results = processes.map { $0.wait() }
            #expect(results.filter { $0.exitCode == 0 }.count == 1, "\(results)")
            #expect(results.filter { $0.exitCode == 1 }.count == 5, "\(results)")
            #expect(try db.value("SELECT count(*) FROM scheduled_trigger_invocations WHERE status = 'pending'") == "1")
        }
    }
}
