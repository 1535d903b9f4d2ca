import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

@Suite("Poison payloads and templates: one cycle's memory stays bounded", .requiresDatabase)
struct PoisonAnswerMemoryTests {
    static let peakLimitBytes = 64 * 1024 * 1024

    /// Issue 11, item 1: 32 triggers with 5 MB payloads in one claim took 434 MB, and a template
    /// of `{{b}}` × 20,000 over a 100 KB string aborted every cycle. Here both sit beside
    /// healthy triggers of other tenants in a real `dispatch-due run`.
    @Test("32 payloads of 5 MB and giant templates: healthy runs posted once, poisons failed, peak RSS under 64 MB")
    func giantPayloadsAndTemplates() throws {
        try withTestDatabase { database in
            let standIn = try StandIn()
            defer { standIn.stop() }
            let connection = try database.connect()
            try PoisonFixture.seedHealthy(connection)

            // 5 MB strings: {"b": "xxx…"} is 5,242,880 + 9 bytes of jsonb text.
            try connection.query(
                """
                INSERT INTO scheduled_triggers
                    (tenant_id, id, project_id, agent_id, name, cron_expression, payload, next_run_at)
                SELECT 'bulk', 'big-' || g, 'proj1', 'agent1', 'big payload', '0 0 1 1 *',
                       jsonb_build_object('b', repeat('x', 5242880)), '2999-01-01T00:00:00Z'
                FROM generate_series(1, 32) g
                """)
            // 20,000 × "{{b}}" is 100,000 bytes (over the 64 KiB template limit); 13,000 × is
            // 65,000 bytes (under it) but would render 1.3 GB (over the 256 KiB message limit).
            try connection.query(
                """
                INSERT INTO scheduled_triggers
                    (tenant_id, id, project_id, agent_id, name, cron_expression, payload, message_template, next_run_at)
                VALUES ('giant', 'template', 'proj1', 'agent1', 'giant template', '0 0 1 1 *',
                        jsonb_build_object('b', repeat('y', 100000)), repeat('{{b}}', 20000), '2999-01-01T00:00:00Z'),
                       ('giant', 'render', 'proj1', 'agent1', 'giant rendering', '0 0 1 1 *',
                        jsonb_build_object('b', repeat('y', 100000)), repeat('{{b}}', 13000), '2999-01-01T00:00:00Z')
                """)
            try connection.query(
                """
                INSERT INTO scheduled_trigger_invocations
                    (tenant_id, id, project_id, agent_id, scheduled_trigger_id, ref, status, scheduled_for,
                     idempotency_key, resolved_payload)
                SELECT tenant_id, gen_random_uuid()::text, project_id, agent_id, id, ref, 'pending',
                       '2026-01-01T00:00:00Z', 'sched_' || id || '_2026-01-01T00:00:00.000Z', payload
                FROM scheduled_triggers WHERE tenant_id IN ('bulk', 'giant')
                """)

            let result = try database.runCycle(endpoint: standIn.url, apiKey: PoisonFixture.key)
            #expect(result.exitCode == 0, "\(result)")
            let peak = try #require(result.peakResidentBytes)
            #expect(peak < Self.peakLimitBytes, "peak RSS \(peak / 1024) KiB")
            // Also printed, for the record of the figure.
            print("dispatch-due run peak RSS: \(peak / 1024) KiB (\(peak / 1_048_576) MiB)")

            try PoisonFixture.expectHealthy(connection, standIn, "memory")
            #expect(standIn.posts().allSatisfy { PoisonFixture.healthyTenants.contains($0.header("x-inkeep-tenant-id") ?? "") })

            var errors: [String: Int] = [:]
            for row in try connection.query(
                "SELECT status, last_error FROM scheduled_trigger_invocations WHERE tenant_id IN ('bulk', 'giant')")
            {
                errors["\(row["status"] ?? "") \(row["last_error"] ?? "")", default: 0] += 1
            }
            #expect(
                errors == [
                    "failed payload is 5242889 bytes, over the 262144-byte limit": 32,
                    "failed message template is 100000 bytes, over the 65536-byte limit": 1,
                    "failed rendered message exceeds 262144 bytes": 1,
                ], "\(errors)")
        }
    }

    /// The bound holds for runs that are sent, too: payloads just under the limit, each rendered
    /// to a message just under the limit whose JSON body doubles (U+2028 is escaped as \u2028).
    @Test("32 payloads and messages at the 256 KiB limits are all posted once, peak RSS under 64 MB")
    func payloadsAtTheLimit() throws {
        try withTestDatabase { database in
            let standIn = try StandIn()
            defer { standIn.stop() }
            let connection = try database.connect()
            try PoisonFixture.seedHealthy(connection)
            // 87,000 × U+2028 (3 bytes) + 9 bytes of syntax = 261,009 bytes of jsonb text; the
            // message is the 261,000-byte string, its JSON body over 522,000 bytes.
            try connection.query(
                """
                INSERT INTO scheduled_triggers
                    (tenant_id, id, project_id, agent_id, name, cron_expression, payload, message_template, next_run_at)
                SELECT 'bulk', 'full-' || g, 'proj1', 'agent1', 'full payload', '0 0 1 1 *',
                       jsonb_build_object('b', repeat(U&'\\2028', 87000)), '{{b}}', '2999-01-01T00:00:00Z'
                FROM generate_series(1, 32) g
                """)
            try connection.query(
                """
                INSERT INTO scheduled_trigger_invocations
                    (tenant_id, id, project_id, agent_id, scheduled_trigger_id, ref, status, scheduled_for,
                     idempotency_key, resolved_payload)
                SELECT tenant_id, gen_random_uuid()::text, project_id, agent_id, id, ref, 'pending',
                       '2026-01-01T00:00:00Z', 'sched_' || id || '_2026-01-01T00:00:00.000Z', payload
                FROM scheduled_triggers WHERE tenant_id = 'bulk'
                """)
            let sizes = try connection.query(
                "SELECT min(octet_length(resolved_payload::text)) AS low, max(octet_length(resolved_payload::text)) AS high FROM scheduled_trigger_invocations WHERE tenant_id = 'bulk'"
            ).first!
            #expect(try sizes.int("low") == 261_009 && sizes.int("high") == 261_009)

            let result = try database.runCycle(endpoint: standIn.url, apiKey: PoisonFixture.key)
            #expect(result.exitCode == 0, "\(result)")
            let peak = try #require(result.peakResidentBytes)
            #expect(peak < Self.peakLimitBytes, "peak RSS \(peak / 1024) KiB")
            print("dispatch-due run peak RSS (payloads at the limit): \(peak / 1024) KiB (\(peak / 1_048_576) MiB)")

            let posts = standIn.posts()
            try PoisonFixture.expectHealthy(connection, posts, "at the limit")
            let bulkPosts = posts.filter { $0.header("x-inkeep-tenant-id") == "bulk" }
            #expect(Set(bulkPosts.compactMap { $0.header("idempotency-key") }).count == 32)
            #expect(bulkPosts.count == 32)
            #expect(bulkPosts.allSatisfy { $0.body.utf8.count > 522_000 })
            #expect(try connection.invocationCounts() == ["running": 32 + PoisonFixture.healthyCount])
        }
    }
}
