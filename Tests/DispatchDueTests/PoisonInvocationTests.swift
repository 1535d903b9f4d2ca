import DispatchDue
import DispatchDueTestSupport
import Postgres
import Testing

/// An invocation row written by SQL whose scheduled_for is no instant a request can carry
/// (±infinity, a BC year). The claim returned its slot as NULL (to_char of infinity), the whole
/// claim threw after its UPDATE had leased the batch: every cycle exited 1 and nothing was
/// posted for any tenant, cycle after cycle. Now that run fails alone with the reason.
@Suite("Poison invocations")
struct PoisonInvocationTests {
    static let healthyTenants = ["healthy-1", "healthy-2", "healthy-3"]

    @Test("an invocation whose scheduled_for is not a sendable time fails alone; the others are posted once, exit 0",
          arguments: [
              ("infinity", "scheduled_for infinity is not a time this dispatcher can send (years 1-9999)"),
              ("-infinity", "scheduled_for -infinity is not a time this dispatcher can send (years 1-9999)"),
              ("4713-01-01 00:00:00Z BC",
               "scheduled_for 4713-01-01 00:00:00+00 BC is not a time this dispatcher can send (years 1-9999)"),
          ])
    func cycle(scheduledFor: String, error: String) throws {
        let database = try TestDatabase.create()
        defer { database.drop() }
        let connection = try database.connect()
        for tenant in Self.healthyTenants {
            try insertTrigger(connection, tenant: tenant, id: "once", runAt: "2020-01-01T00:00:00Z")
        }
        try insertTrigger(connection, tenant: "poison", id: "yearly", cron: "0 0 1 1 *", nextRunAt: "2999-01-01T00:00:00Z")
        try connection.query("""
            INSERT INTO scheduled_trigger_invocations
                (tenant_id, id, project_id, agent_id, scheduled_trigger_id, ref, status, scheduled_for, idempotency_key)
            VALUES ('poison', 'inv', 'project-1', 'agent-1', 'yearly', 'main', 'pending', $1::timestamptz, 'sched_poison')
            """, [scheduledFor])
        let standIn = try StandIn()
        defer { standIn.stop() }

        let result = try ExecutionFixture.runCycle(database, url: standIn.url)
        #expect(result.exitCode == 0, "\(result)")
        let posted = standIn.posts().compactMap { $0.header("x-inkeep-tenant-id") }
        #expect(posted.sorted() == Self.healthyTenants)
        for tenant in Self.healthyTenants {
            #expect(try scalar(connection, "SELECT status FROM scheduled_trigger_invocations WHERE tenant_id = $1", [tenant])
                == "running")
        }
        #expect(try scalar(connection, "SELECT status FROM scheduled_trigger_invocations WHERE tenant_id = 'poison'") == "failed")
        #expect(try scalar(connection, "SELECT last_error FROM scheduled_trigger_invocations WHERE tenant_id = 'poison'") == error)
        // The next cycle posts nothing again.
        #expect(try ExecutionFixture.runCycle(database, url: standIn.url).exitCode == 0)
        #expect(standIn.posts().count == Self.healthyTenants.count)
    }
}
