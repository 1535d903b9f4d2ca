import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// A row written by SQL whose tenant, trigger, project or run-as id holds a control character
/// the CLI would refuse. Its values become request headers: CR/LF would start a new header, and
/// any other C0 control or DEL makes the request invalid HTTP (a strict endpoint answers 400,
/// an HTTP/2 peer resets the stream). The run fails alone, before anything is sent.
struct PoisonIdentity: CustomTestStringConvertible, Sendable {
    var name: String
    var tenant: String
    var id: String
    var project: String
    var runAs: String?
    var error: String
    var testDescription: String { name }
}

let poisonIdentities: [PoisonIdentity] = [
    PoisonIdentity(
        name: "tenant id with CR LF", tenant: "poison\r\nX-Injected: 1", id: "t", project: "p", runAs: nil,
        error: "tenant id contains a line break and cannot be sent as a header"),
    PoisonIdentity(
        name: "tenant id with U+0001", tenant: "poison\u{01}", id: "t", project: "p", runAs: nil,
        error: "tenant id contains the control character U+0001 and cannot be sent as a header"),
    PoisonIdentity(
        name: "trigger id with DEL", tenant: "poison", id: "t\u{7F}", project: "p", runAs: nil,
        error: "idempotency key contains the control character U+007F and cannot be sent as a header"),
    PoisonIdentity(
        name: "project id with an escape sequence", tenant: "poison", id: "t", project: "p\u{1B}[31m", runAs: nil,
        error: "project id contains the control character U+001B and cannot be sent as a header"),
    PoisonIdentity(
        name: "run_as_user_id with a tab", tenant: "poison", id: "t", project: "p", runAs: "u\tv",
        error: "run_as_user_id contains the control character U+0009 and cannot be sent as a header"),
]

@Suite("Poison identities", .requiresDatabase)
struct PoisonIdentityTests {
    static let healthyTenants = ["healthy-1", "healthy-2", "healthy-3"]

    @Test("a control character in an id written by SQL fails that run alone; the others are posted once, exit 0",
          arguments: poisonIdentities)
    func cycle(_ poison: PoisonIdentity) throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            for tenant in Self.healthyTenants {
                try connection.insertTrigger(tenant: tenant, id: "once", runAt: "2020-01-01T00:00:00Z")
            }
            try connection.query("""
                INSERT INTO scheduled_triggers
                    (tenant_id, id, project_id, agent_id, name, run_at, run_as_user_id, max_retries)
                VALUES ($1, $2, $3, 'agent-1', 'poison', '2020-01-01T00:00:00Z', $4, 0)
                """, [poison.tenant, poison.id, poison.project, poison.runAs])
            let standIn = try StandIn()
            defer { standIn.stop() }

            let result = try database.runCycle(endpoint: standIn.url)
            #expect(result.exitCode == 0, "\(result)")

            // The healthy runs: each posted exactly once and running.
            let posts = standIn.posts()
            #expect(posts.compactMap { $0.header("x-inkeep-tenant-id") }.sorted() == Self.healthyTenants)
            for tenant in Self.healthyTenants {
                #expect(try connection.value("SELECT status FROM scheduled_trigger_invocations WHERE tenant_id = $1", [tenant])
                    == "running")
            }
            // Nothing with a control character reached the wire.
            for post in posts {
                for header in post.headers {
                    #expect(!header.value.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "\(header)")
                }
            }
            // The poison: failed on its own row with the reason.
            #expect(try connection.value("SELECT status FROM scheduled_trigger_invocations WHERE tenant_id = $1", [poison.tenant])
                == "failed")
            #expect(try connection.value("SELECT last_error FROM scheduled_trigger_invocations WHERE tenant_id = $1", [poison.tenant])
                == poison.error)
        }
    }
}
