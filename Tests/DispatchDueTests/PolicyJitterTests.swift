import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// The documented jitter offset (Policies/PolicyInsert.swift), computed here on its own: the
/// first 32 bits of md5(key) as an unsigned integer, mod jitter × 1000, in milliseconds.
/// `md5Hex` is PostgreSQL's md5() of the key; the arithmetic is done here, in Swift.
func expectedJitterMilliseconds(md5Hex: String, jitterSeconds: Int) -> Int64? {
    guard let first32 = UInt32(md5Hex.prefix(8), radix: 16) else { return nil }
    return Int64(first32) % Int64(jitterSeconds * 1000)
}

@Suite("policies: jitter (contract §6)", .requiresDatabase, .serialized)
struct PolicyJitterTests {
    @Test("1,000 triggers due the same minute: offsets follow the key, cover [0, jitter), and repeat on re-computation")
    func herd() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            let jitter = 60
            try connection.query("""
                INSERT INTO scheduled_triggers (tenant_id, id, project_id, agent_id, name, cron_expression, jitter_seconds)
                SELECT 't1', 'herd-' || n, 'proj', 'agent', 'herd', '* * * * *', $1
                FROM generate_series(1, 1000) AS n
                """, [jitter])
            try connection.query("UPDATE scheduled_triggers SET next_run_at = date_trunc('minute', now())")

            func offsets() throws -> [String: Int64] {
                var result: [String: Int64] = [:]
                for row in try connection.query("""
                    SELECT idempotency_key, md5(idempotency_key) AS md5,
                           round(extract(epoch FROM next_attempt_at - scheduled_for) * 1000)::int8 AS offset_ms
                    FROM scheduled_trigger_invocations
                    """)
                {
                    let key = try row.string("idempotency_key")
                    let offset = Int64(try row.int("offset_ms"))
                    #expect(offset == expectedJitterMilliseconds(md5Hex: try row.string("md5"), jitterSeconds: jitter), "\(key)")
                    result[key] = offset
                }
                return result
            }

            let first = try database.runCycle(["--batch-size", "1000"])
            #expect(first.exitCode == 0, "\(first)")
            let firstOffsets = try offsets()
            #expect(firstOffsets.count == 1000)
            #expect(firstOffsets.values.allSatisfy { (0..<Int64(jitter * 1000)).contains($0) })
            // Spread: every second of the minute gets some (1,000 keys into 60 buckets; an empty
            // bucket has probability (59/60)^1000 ≈ 6e-8).
            #expect(Set(firstOffsets.values.map { $0 / 1000 }).count == jitter)
            // The slot itself is untouched.
            #expect(try connection.value("""
                SELECT count(*) FROM scheduled_trigger_invocations
                WHERE scheduled_for <> date_trunc('second', scheduled_for)
                   OR idempotency_key <> 'sched_' || scheduled_trigger_id || '_'
                                         || to_char(scheduled_for AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
                """) == "0")
            #expect(logLines(first.stderr, event: "cycle.finished").first?.contains("\"jitter_seconds_max\":") == true)

            // Re-computing the same slots gives the same offsets.
            // `all`, so the same slot is recorded again even if a minute boundary has passed.
            try connection.query("""
                UPDATE scheduled_triggers t SET next_run_at = i.scheduled_for, misfire_policy = 'all'
                FROM scheduled_trigger_invocations i WHERE i.tenant_id = t.tenant_id AND i.scheduled_trigger_id = t.id
                """)
            try connection.query("DELETE FROM scheduled_trigger_invocations")
            let second = try database.runCycle(["--batch-size", "1000"])
            #expect(second.exitCode == 0, "\(second)")
            let secondOffsets = try offsets()
            let common = Set(firstOffsets.keys).intersection(secondOffsets.keys)
            #expect(common.count == 1000)
            for key in common { #expect(firstOffsets[key] == secondOffsets[key], "\(key)") }
        }
    }

    @Test("jitter 0, one-time triggers and run-now get no offset")
    func noOffset() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try connection.insertTrigger(
                id: "zero", cron: "* * * * *", nextRunAt: .sql("date_trunc('minute', now())"), payload: #"{"k": "v"}"#,
                jitter: 0, maxRetries: 0, retryDelay: 10)
            try connection.query("""
                INSERT INTO scheduled_triggers (tenant_id, id, project_id, agent_id, name, run_at, jitter_seconds)
                VALUES ('t1', 'once', 'proj', 'agent', 'once', date_trunc('second', now()) - interval '1 minute', 600)
                """)
            try connection.insertTrigger(
                id: "manual", cron: "* * * * *", nextRunAt: "2999-01-01T00:00:00Z", payload: #"{"k": "v"}"#,
                jitter: 600, maxRetries: 0, retryDelay: 10)
            #expect(try database.cli(["triggers", "run", "t1", "manual"]).exitCode == 0)
            let result = try database.runCycle()
            #expect(result.exitCode == 0, "\(result)")
            #expect(try connection.value("SELECT count(*) FROM scheduled_trigger_invocations") == "3")
            #expect(try connection.value("SELECT count(*) FROM scheduled_trigger_invocations WHERE next_attempt_at IS NOT NULL") == "0")
        }
    }
}
