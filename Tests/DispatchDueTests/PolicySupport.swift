import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// Helpers of the contract §6 policy tests: triggers and invocations written with SQL, as any
/// other writer would.
enum PolicyFixture {
    /// (status, last_error, held) of a trigger's invocations, by slot.
    static func rows(_ connection: borrowing Connection, tenant: String = "t1", trigger: String) throws
        -> [(id: String, status: String, error: String?, held: Bool, completedAtSet: Bool)]
    {
        try connection.query(
            """
            SELECT id, status, last_error, held_by_overlap, completed_at IS NOT NULL AS done
            FROM scheduled_trigger_invocations WHERE tenant_id = $1 AND scheduled_trigger_id = $2
            ORDER BY scheduled_for, created_at
            """, [tenant, trigger]
        ).map { (try $0.string("id"), try $0.string("status"), $0["last_error"], try $0.bool("held_by_overlap"), try $0.bool("done")) }
    }
}

/// Runs `count` dispatchers at once (each one cycle) and returns their results.
func runConcurrently(_ count: Int, _ arguments: [String], environment: [String: String]) throws -> [ProcessResult] {
    let processes = try (0..<count).map { _ in
        try ChildProcess("dispatch-due", arguments, environment: environment)
    }
    return processes.map { $0.wait(timeoutSeconds: 120) }
}
