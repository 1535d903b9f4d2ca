#if canImport(Glibc)
import Glibc
#endif
import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// One row of the contract §4 answer table, worked by hand from the spec.
struct AnswerCase: Sendable, CustomTestStringConvertible {
    var answer: String
    var exitCode: Int32 = 0
    var status: String
    var attempt: Int
    var httpStatus: Int?
    var executionId: String? = nil
    /// next_attempt_at is set, and at least this many seconds from now (NULL when nil).
    var nextAttemptAtLeast: Double? = nil
    var nextAttemptAtMost: Double? = nil
    var errorContains: String? = nil
    var leaseCleared = true
    var testDescription: String { answer }
}

@Suite("execution stage (contract §2 steps 4–6, §4)", .requiresDatabase, .serialized)
struct ExecutionTests {
    // One answer of each action a POST can get (contract §4.2), through the claim, the request
    // and the recording statement; the whole table, row by row, is ExecutionAnswerTableTests'.
    // Trigger: max_retries 1, retry_delay_seconds 10, so a first failed attempt is retried after
    // 10 × 2^0 × [1, 1.3] = 10–13 s, and a 429's Retry-After wins when it is later: 600 s from
    // the database's now().
    static let answers: [AnswerCase] = [
        AnswerCase(answer: "accept", status: "running", attempt: 1, httpStatus: 200, executionId: "run-1", leaseCleared: false),
        AnswerCase(answer: "accept-no-run-id", status: "completed", attempt: 1, httpStatus: 200),
        AnswerCase(answer: "429:600", status: "pending", attempt: 2, httpStatus: 429, nextAttemptAtLeast: 595, nextAttemptAtMost: 601),
        AnswerCase(answer: "status:400", status: "failed", attempt: 1, httpStatus: 400, errorContains: "HTTP 400"),
        AnswerCase(answer: "status:401", exitCode: 77, status: "pending", attempt: 1, httpStatus: 401),
    ]

    @Test("an answer of each kind, end to end", arguments: answers)
    func answer(_ expected: AnswerCase) throws {
        try withTestDatabase { database in
            let standIn = try StandIn(postAnswer: expected.answer)
            defer { standIn.stop() }
            let connection = try database.connect()
            try connection.insertTrigger(
                id: "trg1", cron: "0 0 1 1 *", nextRunAt: "2999-01-01T00:00:00Z", maxRetries: 1, retryDelay: 10)
            try connection.insertInvocation(trigger: "trg1", slot: "2026-01-01T00:00:00Z")

            let result = try database.runCycle(["--request-timeout", "2"], endpoint: standIn.url)
            #expect(result.exitCode == expected.exitCode, "\(result)")
            #expect(standIn.posts().count == 1)

            let row = try ExecutionFixture.row(connection)
            #expect(row["status"] == expected.status)
            #expect(try row.int("attempt_number") == expected.attempt)
            #expect(try row.optionalInt("last_http_status") == expected.httpStatus)
            #expect(row["execution_id"] == expected.executionId)
            #expect(try row.bool("no_lease") == expected.leaseCleared)
            if let least = expected.nextAttemptAtLeast, let most = expected.nextAttemptAtMost {
                let next = try #require(row.double("next_attempt_in"))
                #expect(next >= least && next <= most, "next attempt in \(next) s")
            } else {
                #expect(try row.bool("no_next_attempt"))
            }
            if let fragment = expected.errorContains {
                #expect(row["last_error"]?.contains(fragment) == true, "\(row["last_error"] ?? "nil")")
            }
            if expected.status == "completed" || expected.status == "failed" { #expect(try row.bool("completed_at_set")) }
            if expected.status == "running" || expected.status == "completed" { #expect(try row.bool("started")) }
            #expect(!result.stdout.contains(testAPIKey) && !result.stderr.contains(testAPIKey))
        }
    }

    @Test("a connection refused is retried like a 5xx")
    func connectRefused() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try connection.insertTrigger(id: "trg1", cron: "0 0 1 1 *", nextRunAt: "2999-01-01T00:00:00Z")
            try connection.insertInvocation(trigger: "trg1", slot: "2026-01-01T00:00:00Z")
            let result = try database.runCycle(endpoint: "http://127.0.0.1:\(Loopback.closedPort())")
            #expect(result.exitCode == 0, "\(result)")
            let row = try ExecutionFixture.row(connection)
            #expect(row["status"] == "pending")
            #expect(try row.int("attempt_number") == 2)
            #expect(row["last_http_status"] == nil)
            #expect(row["last_error"]?.isEmpty == false)
        }
    }

    @Test("the full request: URL with ref, identity headers, Idempotency-Key, body valid against the OpenAPI schema")
    func requestShape() throws {
        try withTestDatabase { database in
            let standIn = try StandIn()
            defer { standIn.stop() }
            let connection = try database.connect()
            let weather = #"{"city": "Zürich", "n": 2.50}"#
            let list = #"{"b": 1, "a": [true, null]}"#
            try connection.insertTrigger(
                id: "trg1", cron: "0 0 1 1 *", zone: "Europe/Zurich", nextRunAt: "2999-01-01T00:00:00Z", payload: weather,
                template: "Weather for {{ city }} x{{n}}", runAsUser: "user-7", ref: "feature/a b&c")
            try connection.insertTrigger(id: "trg2", cron: "0 0 1 1 *", nextRunAt: "2999-01-01T00:00:00Z", payload: list)
            // The invocations carry what the dispatch stage resolved: the trigger's payload and ref.
            try connection.insertInvocation(
                trigger: "trg1", ref: "feature/a b&c", slot: "2026-01-01T01:30:00Z", payload: weather)
            try connection.insertInvocation(trigger: "trg2", slot: "2026-01-01T00:05:00Z", payload: list)

            let result = try database.runCycle(endpoint: standIn.url)
            #expect(result.exitCode == 0, "\(result)")
            let posts = standIn.posts()
            try #require(posts.count == 2)
            let first = try #require(posts.first { $0.header("idempotency-key")?.hasPrefix("sched_trg1_") == true })
            let second = try #require(posts.first { $0.header("idempotency-key")?.hasPrefix("sched_trg2_") == true })

            // ?ref= percent-encoded: '/', ' ' and '&' must not leak into the query syntax.
            #expect(first.query == "ref=feature%2Fa%20b%26c")
            #expect(second.query == "ref=main")
            #expect(first.header("authorization") == "Bearer \(testAPIKey)")
            #expect(first.header("x-inkeep-tenant-id") == "t1")
            #expect(first.header("x-inkeep-project-id") == "proj")
            #expect(first.header("x-inkeep-agent-id") == "agent")
            #expect(first.header("x-inkeep-run-as-user-id") == "user-7")
            #expect(second.header("x-inkeep-run-as-user-id") == nil)
            // Slot 90 minutes after 2026-01-01T00:00Z, attempt 1.
            #expect(first.header("idempotency-key") == "sched_trg1_2026-01-01T01:30:00.000Z-1")
            #expect(second.header("idempotency-key") == "sched_trg2_2026-01-01T00:05:00.000Z-1")
            #expect(first.header("content-type") == "application/json")
            #expect(first.header("accept") == "text/event-stream")

            // The body, exactly (key order included), then against the published schema.
            #expect(
                first.body
                    == #"{"messages":[{"role":"user","content":"Weather for Zürich x2.50"}],"forwardedHeaders":{"x-inkeep-client-timezone":"Europe/Zurich","x-inkeep-client-timestamp":"2026-01-01T01:30:00.000Z"}}"#
            )
            // No template: the payload as compact JSON in jsonb key order (shorter keys first).
            #expect(second.json?["messages"] == .array([.object([("role", .string("user")), ("content", .string(#"{"a":[true,null],"b":1}"#))])]))
            let schema = try OpenAPISchema.postExecutionBody()
            for post in posts {
                let body = try #require(post.json)
                #expect(OpenAPISchema.violations(of: body, against: schema).isEmpty, "\(OpenAPISchema.violations(of: body, against: schema))")
            }
        }
    }

    @Test("an invocation whose trigger was disabled or deleted is cancelled, never posted", arguments: ["disable", "delete"])
    func cancellation(change: String) throws {
        try withTestDatabase { database in
            let standIn = try StandIn()
            defer { standIn.stop() }
            let connection = try database.connect()
            try connection.insertTrigger(id: "trg1", cron: "0 0 1 1 *", nextRunAt: "2999-01-01T00:00:00Z")
            try connection.insertTrigger(id: "other", cron: "0 0 1 1 *", nextRunAt: "2999-01-01T00:00:00Z")
            try connection.insertInvocations(trigger: "trg1", count: 3)
            try connection.insertInvocation(trigger: "other", slot: "2026-01-01T00:00:00Z")
            if change == "disable" {
                try connection.query("UPDATE scheduled_triggers SET enabled = false WHERE id = 'trg1'")
            } else {
                try connection.query("DELETE FROM scheduled_triggers WHERE id = 'trg1'")
            }
            let result = try database.runCycle(endpoint: standIn.url)
            #expect(result.exitCode == 0, "\(result)")
            #expect(try connection.invocationCounts() == ["cancelled": 3, "running": 1])
            let posts = standIn.posts()
            #expect(posts.count == 1)
            #expect(posts.allSatisfy { $0.header("idempotency-key")?.hasPrefix("sched_other_") == true })
            let reason = try ExecutionFixture.row(connection, where: "scheduled_trigger_id = 'trg1'")["last_error"]
            #expect(reason?.contains(change == "disable" ? "disabled" : "deleted") == true)
        }
    }

    @Test("401 stops the cycle: exit 3, every claimed invocation back to pending, attempts unchanged")
    func credentialsRejected() throws {
        try withTestDatabase { database in
            let standIn = try StandIn(apiKey: "the-right-key")
            defer { standIn.stop() }
            let connection = try database.connect()
            try connection.insertTrigger(id: "trg1", cron: "0 0 1 1 *", nextRunAt: "2999-01-01T00:00:00Z")
            try connection.insertInvocations(trigger: "trg1", count: 60)
            // Half of them are retries already, with a next_attempt_at in the past that must survive.
            try connection.query(
                """
                UPDATE scheduled_trigger_invocations SET attempt_number = 2, next_attempt_at = '2026-01-01T00:00:00Z'
                WHERE scheduled_for >= '2026-01-01T00:30:00Z'
                """)
            let result = try database.runCycle(["--concurrency", "4"], endpoint: standIn.url)
            #expect(result.exitCode == 77, "\(result)")
            #expect(result.stderr.contains("rejected the credentials"))
            #expect(!result.stderr.contains(testAPIKey) && !result.stdout.contains(testAPIKey))
            // It stopped posting after the first round (at most one round of 4 in flight).
            #expect(standIn.posts().count <= 4)
            let summary = try connection.query(
                """
                SELECT count(*) FILTER (WHERE status = 'pending' AND lease_expires_at IS NULL) AS released,
                       count(*) FILTER (WHERE attempt_number = 1 AND next_attempt_at IS NULL) AS first_attempts,
                       count(*) FILTER (WHERE attempt_number = 2 AND next_attempt_at = '2026-01-01T00:00:00Z') AS retries
                FROM scheduled_trigger_invocations
                """
            ).first!
            #expect(try summary.int("released") == 60)
            #expect(try summary.int("first_attempts") == 30)
            #expect(try summary.int("retries") == 30)
        }
    }

    @Test("the API key never appears in output or stored rows, even when the endpoint echoes it")
    func keyNeverLeaks() throws {
        try withTestDatabase { database in
            let standIn = try StandIn(postAnswer: "400-echo")
            defer { standIn.stop() }
            let connection = try database.connect()
            try connection.insertTrigger(id: "trg1", cron: "0 0 1 1 *", nextRunAt: "2999-01-01T00:00:00Z")
            try connection.insertInvocations(trigger: "trg1", count: 2)
            let result = try database.runCycle(["--log-format", "text", "--verbose"], endpoint: standIn.url)
            #expect(result.exitCode == 0, "\(result)")
            // The stand-in did get the key, and echoed it back …
            #expect(standIn.posts().first?.header("authorization") == "Bearer \(testAPIKey)")
            // … yet nothing we print or store has it.
            let stored = try connection.query("SELECT string_agg(i::text, ' ') AS everything FROM scheduled_trigger_invocations i").first!["everything"] ?? ""
            #expect(stored.contains("Bearer ****"))
            for text in [result.stdout, result.stderr, stored] {
                #expect(!text.contains(testAPIKey))
                #expect(!text.contains("Zq7Xv9Lm2Pw4"))
            }
            // --help with the key in the environment.
            let help = try ChildProcess.run(
                "dispatch-due", ["run", "--help"],
                environment: ChildProcess.dispatcherEnvironment(["AGENTS_API_KEY": testAPIKey]))
            #expect(help.exitCode == 0)
            #expect(!help.stdout.contains(testAPIKey) && !help.stderr.contains(testAPIKey))
            #expect(help.stdout.contains("--agents-api-url") && help.stdout.contains("--api-key-file"))
        }
    }

    @Test("endpoint settings are needed only when there is something to post")
    func lazyConfiguration() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            let environment = ChildProcess.dispatcherEnvironment(["DATABASE_URL": database.url])
            let idle = try ChildProcess.run("dispatch-due", ["run", "--log-format", "json"], environment: environment)
            #expect(idle.exitCode == 0, "\(idle)")

            try connection.insertTrigger(id: "trg1", cron: "0 0 1 1 *", nextRunAt: "2999-01-01T00:00:00Z")
            try connection.insertInvocation(trigger: "trg1", slot: "2026-01-01T00:00:00Z")
            let noURL = try ChildProcess.run(
                "dispatch-due", ["run"], environment: ChildProcess.dispatcherEnvironment(["DATABASE_URL": database.url, "AGENTS_API_KEY": testAPIKey]))
            #expect(noURL.exitCode == 78, "\(noURL)")
            #expect(noURL.stderr.contains("AGENTS_API_URL"))
            #expect(!noURL.stderr.contains(testAPIKey))
            let noKey = try ChildProcess.run(
                "dispatch-due", ["run"], environment: ChildProcess.dispatcherEnvironment(["DATABASE_URL": database.url, "AGENTS_API_URL": "http://127.0.0.1:9"]))
            #expect(noKey.exitCode == 78, "\(noKey)")
            #expect(noKey.stderr.contains("AGENTS_API_KEY"))
            // Nothing was claimed by the refused runs.
            #expect(try connection.invocationCounts() == ["pending": 1])
        }
    }

    @Test(
        "the key comes from --api-key-file, AGENTS_API_KEY_FILE, $CREDENTIALS_DIRECTORY/agents-api-key, AGENTS_API_KEY, in that order",
        arguments: ["flag", "file-variable", "credentials-directory", "variable"])
    func keySources(winner: String) throws {
        try withTestDatabase { database in
            let good = "good-key-\(winner)"
            let standIn = try StandIn(apiKey: good)
            defer { standIn.stop() }
            let connection = try database.connect()
            try connection.insertTrigger(id: "trg1", cron: "0 0 1 1 *", nextRunAt: "2999-01-01T00:00:00Z")
            try connection.insertInvocation(trigger: "trg1", slot: "2026-01-01T00:00:00Z")

            let order = ["flag", "file-variable", "credentials-directory", "variable"]
            let winnerIndex = order.firstIndex(of: winner)!
            let scratch = "/tmp/dd-keys-\(randomHex(8))"
            mkdir(scratch, 0o700)
            mkdir(scratch + "/credentials", 0o700)
            // Sources above the winner are absent, the winner has the good key (with a trailing
            // newline, as editors write it), those below have wrong keys.
            func key(_ source: String) -> String? {
                let index = order.firstIndex(of: source)!
                if index < winnerIndex { return nil }
                return index == winnerIndex ? good : "wrong-key-\(source)"
            }
            var environment = ["DATABASE_URL": database.url, "AGENTS_API_URL": standIn.url]
            var arguments = ["run"]
            if let value = key("flag") {
                try FileSystem.writeAtomically(value + "\n", to: scratch + "/flag-key")
                arguments += ["--api-key-file", scratch + "/flag-key"]
            }
            if let value = key("file-variable") {
                try FileSystem.writeAtomically(value + "\n", to: scratch + "/variable-key")
                environment["AGENTS_API_KEY_FILE"] = scratch + "/variable-key"
            }
            if let value = key("credentials-directory") {
                try FileSystem.writeAtomically(value + "\n", to: scratch + "/credentials/agents-api-key")
                environment["CREDENTIALS_DIRECTORY"] = scratch + "/credentials"
            }
            if let value = key("variable") { environment["AGENTS_API_KEY"] = value }

            let result = try ChildProcess.run("dispatch-due", arguments, environment: ChildProcess.dispatcherEnvironment(environment))
            #expect(result.exitCode == 0, "\(result)")
            #expect(standIn.posts().first?.header("authorization") == "Bearer \(good)")
            #expect(try ExecutionFixture.row(connection)["status"] == "running")
        }
    }

    @Test("SIGTERM: stop claiming, give requests in flight the grace, put unsent work back, exit 143")
    func sigterm() throws {
        try withTestDatabase { database in
            let standIn = try StandIn(postAnswer: "hang")
            defer { standIn.stop() }
            let connection = try database.connect()
            try connection.insertTrigger(id: "trg1", cron: "0 0 1 1 *", nextRunAt: "2999-01-01T00:00:00Z")
            try connection.insertInvocations(trigger: "trg1", count: 40)
            let dispatcher = try ChildProcess(
                "dispatch-due", ["run", "--log-format", "json", "--concurrency", "4", "--request-timeout", "60"],
                environment: ChildProcess.dispatcherEnvironment([
                    "DATABASE_URL": database.url, "AGENTS_API_URL": standIn.url, "AGENTS_API_KEY": testAPIKey,
                ]))
            // Wait until the four requests are in flight, then ask it to stop.
            let start = monotonicSeconds()
            while standIn.posts().count < 4, monotonicSeconds() - start < 30 { usleep(20_000) }
            dispatcher.send(SIGTERM)
            let result = dispatcher.wait(timeoutSeconds: 60)
            #expect(result.exitCode == 143, "\(result)")
            #expect(standIn.posts().count == 4)
            // Four were cut off mid-request and keep their lease; the other 36 are pending again.
            let summary = try connection.query(
                """
                SELECT count(*) FILTER (WHERE status = 'running' AND lease_expires_at > now() AND execution_id IS NULL) AS cut_off,
                       count(*) FILTER (WHERE status = 'pending' AND lease_expires_at IS NULL AND attempt_number = 1) AS released
                FROM scheduled_trigger_invocations
                """
            ).first!
            #expect(try summary.int("cut_off") == 4)
            #expect(try summary.int("released") == 36)
        }
    }
}

/// Just enough of JSON Schema to check a body against the OpenAPI file's request schema:
/// type, required, properties, items, enum, anyOf/oneOf, additionalProperties.
enum OpenAPISchema {
    static func postExecutionBody() throws -> JSONValue {
        // The endpoint's published contract, kept in the repository (docs/agents-api/).
        let path = ChildProcess.repositoryDirectory + "/docs/agents-api/executions.openapi.json"
        let document = try JSONValue.parse(try FileSystem.readText(path))
        guard
            let schema = document["paths"]?["/run/api/executions"]?["post"]?["requestBody"]?["content"]?[
                "application/json"]?["schema"]
        else { throw FileSystemError(path: path, reason: "no request schema for POST /run/api/executions") }
        return schema
    }

    static func violations(of value: JSONValue, against schema: JSONValue, at path: String = "$") -> [String] {
        var problems: [String] = []
        if case .array(let options)? = schema["anyOf"] ?? schema["oneOf"] {
            let matching = options.filter { violations(of: value, against: $0, at: path).isEmpty }.count
            if matching == 0 { problems.append("\(path): matches none of the alternatives") }
        }
        if case .array(let allowed)? = schema["enum"], !allowed.contains(value) {
            problems.append("\(path): \(value.compactText) is not one of \(JSONValue.array(allowed).compactText)")
        }
        switch (schema["type"]?.stringValue, value) {
        case (nil, _), ("string", .string), ("boolean", .bool), ("number", .number), ("null", .null):
            break
        case ("object", .object(let members)):
            if case .array(let required)? = schema["required"] {
                for name in required.compactMap(\.stringValue) where !members.contains(where: { $0.key == name }) {
                    problems.append("\(path): missing required \(name)")
                }
            }
            for member in members {
                if let property = schema["properties"]?[member.key] {
                    problems += violations(of: member.value, against: property, at: "\(path).\(member.key)")
                } else if let additional = schema["additionalProperties"] {
                    if additional == .bool(false) {
                        problems.append("\(path): unexpected \(member.key)")
                    } else if case .object = additional {
                        problems += violations(of: member.value, against: additional, at: "\(path).\(member.key)")
                    }
                } else {
                    problems.append("\(path): \(member.key) is not in the schema")
                }
            }
        case ("array", .array(let elements)):
            if let items = schema["items"] {
                for (index, element) in elements.enumerated() {
                    problems += violations(of: element, against: items, at: "\(path)[\(index)]")
                }
            }
        case (let type?, _):
            problems.append("\(path): expected \(type), got \(value.compactText)")
        }
        return problems
    }
}
