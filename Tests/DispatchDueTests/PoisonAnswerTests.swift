#if canImport(Glibc)
import Glibc
#endif
@testable import DispatchCore
@testable import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// One dispatch cycle over a poison mixed with healthy triggers of other tenants (issue 11):
/// the healthy ones are recorded and posted exactly once, the poison is isolated on its own
/// row with a clear error, and the cycle exits 0.
enum PoisonFixture {
    /// A key with reserved characters (`/`, `+`) and unreserved punctuation, so that every
    /// encoding of the stand-in writes it differently.
    static let key = "sk-poison/Zq7+Xv9~Lm2.Pw4_end"
    static let healthyTenants = ["acme", "globex", "initech"]
    static let poisonTenant = "evil"
    /// Three tenants × two triggers × two slots.
    static let healthyCount = 12

    static func seedHealthy(_ connection: borrowing Connection) throws {
        let payload = #"{"city": "Zürich"}"#
        for tenant in healthyTenants {
            for trigger in ["daily", "hourly"] {
                try connection.insertTrigger(
                    tenant: tenant, id: trigger, cron: "0 0 1 1 *", nextRunAt: "2999-01-01T00:00:00Z", payload: payload,
                    template: "Weather in {{city}}")
                try connection.insertInvocations(tenant: tenant, trigger: trigger, count: 2, payload: payload)
            }
        }
    }

    static func seedPoison(_ connection: borrowing Connection) throws {
        try connection.insertTrigger(
            tenant: poisonTenant, id: "poisoned", cron: "0 0 1 1 *", nextRunAt: "2999-01-01T00:00:00Z", maxRetries: 1,
            retryDelay: 10)
        try connection.insertInvocation(tenant: poisonTenant, trigger: "poisoned", slot: "2026-01-01T00:00:00Z")
    }

    /// Every healthy invocation posted once and recorded `running` with the stand-in's run id.
    static func expectHealthy(_ connection: borrowing Connection, _ standIn: StandIn, _ context: String) throws {
        try expectHealthy(connection, standIn.posts(), context)
    }

    static func expectHealthy(_ connection: borrowing Connection, _ allPosts: [RecordedRequest], _ context: String) throws {
        let posts = allPosts.filter { healthyTenants.contains($0.header("x-inkeep-tenant-id") ?? "") }
        var perKey: [String: Int] = [:]
        for post in posts {
            perKey["\(post.header("x-inkeep-tenant-id") ?? "")/\(post.header("idempotency-key") ?? "")", default: 0] += 1
        }
        #expect(perKey.count == healthyCount, "\(context): \(perKey)")
        #expect(perKey.values.allSatisfy { $0 == 1 }, "\(context): \(perKey)")
        let row = try connection.query(
            """
            SELECT count(*) FILTER (WHERE status = 'running' AND execution_id LIKE 'run-%' AND last_error IS NULL
                                    AND lease_expires_at IS NOT NULL) AS recorded,
                   count(*) AS total
            FROM scheduled_trigger_invocations WHERE tenant_id = ANY($1::text[])
            """, [PostgresArray(healthyTenants)]
        ).first!
        #expect(try row.int("recorded") == healthyCount, "\(context)")
        #expect(try row.int("total") == healthyCount, "\(context)")
    }

    static func poisonRow(_ connection: borrowing Connection) throws -> Row {
        try ExecutionFixture.row(connection, where: "tenant_id = 'evil'")
    }

    /// Neither the key nor any escaped form of it in the output or the stored rows.
    static func expectNoKey(_ connection: borrowing Connection, _ result: ProcessResult, _ context: String) throws {
        let stored = try connection.query(
            "SELECT string_agg(i::text, ' ') AS everything FROM scheduled_trigger_invocations i"
        ).first!["everything"] ?? ""
        for (name, text) in [("stdout", result.stdout), ("stderr", result.stderr), ("rows", stored)] {
            #expect(!text.contains(key), "\(context): key in \(name)")
            #expect(!text.contains("Zq7"), "\(context): key fragment in \(name)")
            #expect(!Redaction.echoes(text, secret: key), "\(context): escaped key in \(name)")
        }
    }

    static func cycle(_ database: TestDatabase, _ standIn: StandIn) throws -> ProcessResult {
        try database.runCycle(["--request-timeout", "5"], endpoint: standIn.url, apiKey: key)
    }
}

struct PoisonPostCase: Sendable, CustomTestStringConvertible {
    var answer: String
    var status: String
    var attempt = 1
    var httpStatus: Int?
    var executionId: String? = nil
    /// The whole last_error, when it is fully determined.
    var error: String? = nil
    var errorContains: [String] = []
    /// Seconds from now of next_attempt_at (inclusive range), for retries.
    var nextAttempt: ClosedRange<Double>? = nil
    var testDescription: String { answer }
}

@Suite("Poison answers", .requiresDatabase, .serialized)
struct PoisonAnswerTests {
    static let encodings = [
        "raw", "percent", "percent-lower", "percent-all", "percent-all-lower", "json-u", "json-u-upper", "double", "html",
        "mixed",
    ]

    // Expected rows worked from the limits: ids are 1–256 bytes of printable ASCII without the
    // key; a header section over 64 KiB is a transport failure, retried after 10–13 s (retry
    // delay 10, attempt 1); Retry-After is honoured up to 3,600 s and the cap is noted.
    static let postCases: [PoisonPostCase] =
        [
            PoisonPostCase(
                answer: "run-id-long:300", status: "failed", httpStatus: 200,
                error: "endpoint returned an unusable run id: 300 bytes, over 256"),
            PoisonPostCase(
                answer: "run-id-long:60000", status: "failed", httpStatus: 200,
                error: "endpoint returned an unusable run id: 60000 bytes, over 256"),
            // "run" U+0001 "id": 6 bytes.
            PoisonPostCase(
                answer: "run-id-control", status: "failed", httpStatus: 200,
                error: "endpoint returned an unusable run id: 6 bytes, not all printable ASCII"),
            // "run-" U+00EF "d": 4 + 2 + 1 bytes.
            PoisonPostCase(
                answer: "run-id-utf8", status: "failed", httpStatus: 200,
                error: "endpoint returned an unusable run id: 7 bytes, not all printable ASCII"),
            // Issue item 9: a run id in header 251 is still read.
            PoisonPostCase(answer: "run-id-late:251", status: "running", httpStatus: 200, executionId: "run-late"),
            PoisonPostCase(
                answer: "headers-huge", status: "pending", attempt: 2, httpStatus: nil,
                error: "response headers exceed 65536 bytes", nextAttempt: 9...13),
            PoisonPostCase(
                answer: "429-year-9999", status: "pending", attempt: 2, httpStatus: 429,
                errorContains: ["HTTP 429", "capped at 3600 s"], nextAttempt: 3590...3601),
            PoisonPostCase(
                answer: "429:86400", status: "pending", attempt: 2, httpStatus: 429,
                errorContains: ["HTTP 429", "(Retry-After of 86400 s capped at 3600 s)"], nextAttempt: 3590...3601),
        ]
        + encodings.map {
            PoisonPostCase(
                answer: "run-id-echo:\($0)", status: "failed", httpStatus: 200,
                error: "endpoint returned an unusable run id: it echoes the API key")
        }
        + encodings.map {
            PoisonPostCase(
                answer: "echo:\($0)", status: "failed", httpStatus: 400,
                error: #"HTTP 400: {"error":"bad request; you sent key=****"}"#)
        }

    @Test("one poison POST answer among healthy tenants", arguments: postCases)
    func poisonPost(_ expected: PoisonPostCase) throws {
        try withTestDatabase { database in
            let standIn = try StandIn(postAnswer: "accept;evil=\(expected.answer)")
            defer { standIn.stop() }
            let connection = try database.connect()
            try PoisonFixture.seedHealthy(connection)
            try PoisonFixture.seedPoison(connection)

            let result = try PoisonFixture.cycle(database, standIn)
            #expect(result.exitCode == 0, "\(result)")
            try PoisonFixture.expectHealthy(connection, standIn, expected.answer)
            #expect(standIn.posts().filter { $0.header("x-inkeep-tenant-id") == "evil" }.count == 1)

            let row = try PoisonFixture.poisonRow(connection)
            #expect(row["status"] == expected.status)
            #expect(try row.int("attempt_number") == expected.attempt)
            #expect(try row.optionalInt("last_http_status") == expected.httpStatus)
            #expect(row["execution_id"] == expected.executionId)
            if let error = expected.error { #expect(row["last_error"] == error) }
            for fragment in expected.errorContains {
                #expect(row["last_error"]?.contains(fragment) == true, "\(row["last_error"] ?? "nil")")
            }
            if let range = expected.nextAttempt {
                let next = try #require(row.double("next_attempt_in"))
                #expect(range.contains(next), "next attempt in \(next) s")
            }
            try PoisonFixture.expectNoKey(connection, result, expected.answer)
        }
    }

    static let getCases: [(answer: String, reason: String)] =
        [("conversation-long:60000", "60000 bytes, over 256")]
        + ["raw", "percent-lower", "percent-all", "json-u", "mixed", "double"].map {
            ("conversation-echo:\($0)", "it echoes the API key")
        }

    @Test("one poison status answer among healthy tenants", arguments: getCases)
    func poisonStatus(answer: String, reason: String) throws {
        try withTestDatabase { database in
            let standIn = try StandIn(postAnswer: "accept", getStatus: "completed;evil=\(answer)")
            defer { standIn.stop() }
            let connection = try database.connect()
            try PoisonFixture.seedHealthy(connection)
            try PoisonFixture.seedPoison(connection)
            // The poisoned run was accepted by an earlier cycle and is due for its status check.
            try connection.query(
                """
                UPDATE scheduled_trigger_invocations
                SET status = 'running', execution_id = 'run-evil', started_at = now(), lease_expires_at = now() - interval '1 s'
                WHERE tenant_id = 'evil'
                """)

            let result = try PoisonFixture.cycle(database, standIn)
            #expect(result.exitCode == 0, "\(result)")
            try PoisonFixture.expectHealthy(connection, standIn, answer)
            #expect(standIn.posts().filter { $0.header("x-inkeep-tenant-id") == "evil" }.isEmpty)

            // The answer counts (completed); only the conversation id is left out, and logged.
            let row = try PoisonFixture.poisonRow(connection)
            #expect(row["status"] == "completed")
            #expect(row["conversations"] == "[]")
            #expect(row["last_error"] == nil)
            let dropped = result.stderr.split(separator: "\n").filter { $0.contains("invocation.conversation_id_dropped") }
            #expect(dropped.count == 1, "\(result.stderr)")
            #expect(dropped.first?.contains(reason) == true)
            #expect(dropped.first?.contains("\"tenant\":\"evil\"") == true)
            try PoisonFixture.expectNoKey(connection, result, answer)
        }
    }

    @Test("the recording UPDATE: a hostile value in one outcome never fails the batch")
    func hostileBatch() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try PoisonFixture.seedHealthy(connection)
            let runs = try ExecutionStore.claimRuns(limit: 100, leaseSeconds: 60, on: connection).map(\.run)
            try #require(runs.count == PoisonFixture.healthyCount)
            var outcomes = runs.map {
                ExecutionOutcome(invocation: $0, action: .accepted, httpStatus: 200, executionId: "run-ok", delaySeconds: 30)
            }
            // A NUL would cut the bound C string (and the array literal with it), 100,000 × "é" is
            // 200 KB, an infinite delay overflows an interval, a status past int4 fails its cast.
            outcomes[0] = ExecutionOutcome(
                invocation: runs[0], action: .failed, httpStatus: 400, error: "nul \u{0} inside " + String(repeating: "é", count: 100_000))
            outcomes[1] = ExecutionOutcome(invocation: runs[1], action: .retry, httpStatus: 503, error: "retry", delaySeconds: .infinity)
            outcomes[2] = ExecutionOutcome(
                invocation: runs[2], action: .failed, httpStatus: 100_000_000_000, error: #""quoted" {braces}, \ back"#)
            let updated = try ExecutionStore.record(outcomes, on: connection)
            #expect(updated.count == PoisonFixture.healthyCount)

            func row(_ run: ClaimedInvocation) throws -> Row {
                try ExecutionFixture.row(connection, where: "tenant_id = '\(run.tenantId)' AND id = '\(run.id)'")
            }
            let first = try row(runs[0])
            #expect(first["status"] == "failed")
            #expect(first["last_error"]?.hasPrefix("nul \u{FFFD} inside éé") == true)
            #expect((first["last_error"]?.utf8.count ?? 0) <= 2048)
            let second = try row(runs[1])
            #expect(second["status"] == "pending")
            #expect(try second.int("attempt_number") == 2)
            // Clamped to 100 years rather than refused.
            #expect((second.double("next_attempt_in") ?? 0) > 99 * 365 * 86_400)
            let third = try row(runs[2])
            #expect(third["last_error"] == #""quoted" {braces}, \ back"#)
            #expect(third["last_http_status"] == nil)
            let rest = try connection.query(
                "SELECT count(*) AS n FROM scheduled_trigger_invocations WHERE status = 'running' AND execution_id = 'run-ok'")
            #expect(try rest.first!.int("n") == PoisonFixture.healthyCount - 3)
        }
    }
}
