import DispatchDue
import DispatchDueTestSupport
import Postgres
import Testing

/// A 403 for one tenant only (the key may not act for that tenant or project: an answer an
/// authorising API gives per request) is read as "credentials wrong for every run" (contract
/// §4's answer table): the cycle stops posting and exits 77, the invocation goes back to
/// `pending` unchanged, and as the oldest runnable one it is claimed first in every later
/// cycle. So one tenant's answer stops nearly everyone's runs, cycle after cycle: only the
/// requests already in flight get through. The rule of issue 11 wants it isolated on its row.
/// Recorded as a known issue: the fix changes the contract (e.g. stop the cycle on a 401, or on
/// 401/403 from two different tenants; a lone 403 fails its own invocation), which is the
/// coordinator's call.
@Suite("Poison answers: a 403 for one tenant")
struct PoisonAnswerForbiddenTests {
    static let healthyTenants = (1...12).map { "healthy-\($0)" }

    @Test("a 403 for one tenant among healthy tenants: they are all posted once, exit 0")
    func forbiddenForOneTenant() throws {
        let database = try TestDatabase.create()
        defer { database.drop() }
        let connection = try database.connect()
        for tenant in Self.healthyTenants {
            try insertTrigger(connection, tenant: tenant, id: "once", runAt: "2020-01-01T00:00:00Z")
        }
        // Older than the others: the first claimed.
        try insertTrigger(connection, tenant: "forbidden", id: "once", runAt: "2019-01-01T00:00:00Z")
        let standIn = try StandIn(postAnswer: "accept;forbidden=403")
        defer { standIn.stop() }

        let first = try ExecutionFixture.runCycle(database, url: standIn.url, arguments: ["--concurrency", "1", "--batch-size", "4"])
        let second = try ExecutionFixture.runCycle(database, url: standIn.url, arguments: ["--concurrency", "1", "--batch-size", "4"])
        let forbiddenStatus = try scalar(connection, "SELECT status FROM scheduled_trigger_invocations WHERE tenant_id = 'forbidden'")
        withKnownIssue("contract §4: a 401/403 for any one request stops the cycle for every tenant (exit 77)") {
            #expect(first.exitCode == 0, "\(first)")
            #expect(second.exitCode == 0, "\(second)")
            let posted = standIn.posts().compactMap { $0.header("x-inkeep-tenant-id") }.filter { $0 != "forbidden" }
            #expect(posted.sorted() == Self.healthyTenants.sorted())
            #expect(forbiddenStatus == "failed")
        }
    }
}
