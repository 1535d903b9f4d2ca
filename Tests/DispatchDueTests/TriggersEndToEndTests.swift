import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// The management commands and a real dispatch cycle together: what `triggers add` and
/// `invocations rerun` record is posted by the next cycle; nothing of a trigger that
/// `triggers disable` / `triggers delete` stopped is.
@Suite("triggers end to end", .requiresDatabase)
struct TriggersEndToEndTests {
    @Test("after add and rerun the cycle posts them; after disable and delete it posts nothing of those triggers")
    func cycleAfterCommands() throws {
        try withTestDatabase { db in
            let standIn = try StandIn()
            defer { standIn.stop() }

            // Three one-time triggers whose slot has passed: each would fire at the next cycle.
            for id in ["keep", "stop", "gone"] {
                let added = try db.cli(baseAdd(id: id) + ["--at", "2020-01-01T00:00:00Z"])
                #expect(added.exitCode == 0, "\(added)")
            }
            // Runs already recorded (queued) for the two that are about to be stopped.
            for id in ["stop", "gone"] {
                try db.connect().insertInvocation(
                    tenant: "acme", id: "queued-\(id)", trigger: id, slot: "2019-12-31T00:00:00Z", status: "pending",
                    key: "sched_\(id)_2019-12-31T00:00:00.000Z" ?? "key_" + "queued-\(id)", attempt: 2)
            }
            // A failed run of the kept trigger, to rerun.
            try db.connect().insertInvocation(
                tenant: "acme", id: "failed-keep", trigger: "keep", slot: "2019-12-31T00:00:00Z", status: "failed",
                key: "sched_keep_2019-12-31T00:00:00.000Z", attempt: 2, completedAt: .null)

            #expect(try db.cli(["triggers", "disable", "stop", "--tenant", "acme"]).exitCode == 0)
            #expect(try db.cli(["triggers", "delete", "gone", "--tenant", "acme"]).exitCode == 0)
            #expect(try db.cli(["invocations", "rerun", "failed-keep", "--tenant", "acme"]).exitCode == 0)

            let cycle = try db.runCycle(endpoint: standIn.url)
            #expect(cycle.exitCode == 0, "\(cycle)")
            // Idempotency-Key is {idempotency_key}-{attempt} (contract §4).
            let keys = standIn.posts().compactMap { $0.header("idempotency-key") }.sorted()
            #expect(keys == ["sched_keep_2019-12-31T00:00:00.000Z_rerun_1-1", "sched_keep_2020-01-01T00:00:00.000Z-1"])
            #expect(try db.status(tenant: "acme", invocation: "queued-stop") == "cancelled")
            #expect(try db.status(tenant: "acme", invocation: "queued-gone") == "cancelled")
            #expect(try db.status(tenant: "acme", invocation: "failed-keep") == "failed")
            #expect(try db.value("SELECT count(*) FROM scheduled_trigger_invocations WHERE scheduled_trigger_id <> 'keep' AND status <> 'cancelled'") == "0")
        }
    }
}
