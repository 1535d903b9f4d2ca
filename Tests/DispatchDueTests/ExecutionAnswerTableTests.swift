@testable import DispatchCore
import Testing

/// The pure rules of the execution stage, in-process and without a database: the answer tables
/// of contract §4.2 (POST) and §4.3 (status check), what each outcome counts and logs, the
/// backoff and `max_retries`. Every expected value below is worked out by hand from the contract.
enum RuleFixture {
    static let key = "sk-test-Zq7Xv9Lm2Pw4-secret"
    /// Claimed at 2026-01-01T00:00:00Z by the database clock: 56 years after 1970 with 14 leap
    /// days, (56 × 365 + 14) × 86,400.
    static let claimedAt = 1_767_225_600.0
    /// What the endpoint's error answers carry in these tables, and how `last_error` quotes it.
    static let body = #"{"error":"x"}"#

    /// Attempt 1 of a trigger with max_retries 1 and retry_delay_seconds 10.
    static func run(
        attempt: Int = 1, maxRetries: Int = 1, payload: String? = nil, payloadBytes: Int? = nil,
        template: String? = nil, templateBytes: Int? = nil
    ) -> ClaimedInvocation {
        invocation(
            attempt: attempt, maxRetries: maxRetries, lease: "2026-01-01 00:02:10+00",
            request: .post(
                ClaimedInvocation.Post(
                    ref: "main", idempotencyKey: "sched_trg1_2026-01-01T00:00:00.000Z", payload: payload,
                    payloadBytes: payloadBytes, template: template, templateBytes: templateBytes, timeZone: "UTC",
                    claimedAt: claimedAt)))
    }

    /// A status check of run-1 on attempt 1 (max_retries 1, retry_delay_seconds 10, timeout 600 s).
    static func check(attempt: Int = 1, pastTimeout: Bool = false) -> ClaimedInvocation {
        invocation(
            attempt: attempt, maxRetries: 1, lease: "2026-01-01 00:00:30+00",
            request: .check(ClaimedInvocation.Check(executionId: "run-1", timeoutSeconds: 600, pastTimeout: pastTimeout)))
    }

    static func invocation(attempt: Int, maxRetries: Int, lease: String, request: ClaimedInvocation.Request)
        -> ClaimedInvocation
    {
        ClaimedInvocation(
            tenantId: "t1", id: "inv-1", projectId: "p1", agentId: "a1", triggerId: "trg1",
            slot: "2026-01-01T00:00:00.000Z", attempt: attempt, lease: lease, runAsUserId: nil,
            maxRetries: maxRetries, retryDelaySeconds: 10, request: request)
    }

    /// Backoff without randomness (10 s × 2^(attempt−1) × 1); request timeout and reconcile
    /// interval 30 s.
    static let rules = OutcomeRules(
        settings: ExecutionSettings(concurrency: 4, requestTimeoutSeconds: 30, reconcileIntervalSeconds: 30),
        secret: key, jitter: { 1 })

    static func response(_ status: Int, _ headers: [(String, String)] = [], body: String = body) -> HTTPResult {
        .response(HTTPResponse(status: status, headers: headers.map { ($0.0, $0.1) }, body: Array(body.utf8)))
    }

    static func failure(_ message: String, code: Int = 7, timedOut: Bool = false) -> HTTPResult {
        .transportFailure(HTTPTransportFailure(code: code, message: message, timedOut: timedOut))
    }

    /// The `cycle.finished` counters recording `outcome` adds one to, by name.
    static func counted(_ outcome: ExecutionOutcome) -> Set<String> {
        var report = CycleReport()
        for counter in outcome.counters { report[keyPath: counter] += 1 }
        let counts = [
            ("posted", report.posted), ("accepted", report.accepted), ("completed", report.completed),
            ("retried", report.retried), ("failed", report.failed), ("cancelled", report.cancelled),
            ("released", report.released), ("reconciled", report.reconciled),
        ]
        return Set(counts.filter { $0.1 > 0 }.map(\.0))
    }
}

/// One row of an answer table and what the invocation becomes.
struct AnswerRow: Sendable, CustomTestStringConvertible {
    var name: String
    var answer: HTTPResult
    var pastTimeout = false
    var action: ExecutionAction
    var status: String
    var httpStatus: Int?
    /// retry: the backoff; accepted and wait: the next status check.
    var delay: Double? = nil
    /// `last_error`, exactly (nil: none).
    var error: String? = nil
    var executionId: String? = nil
    var counted: Set<String>
    var testDescription: String { name }
}

@Suite("Execution answer tables (contract §4.2, §4.3), in-process")
struct ExecutionAnswerTableTests {
    typealias F = RuleFixture
    /// `last_error` of an error answer: `HTTP {status}: {body}`.
    static func http(_ status: Int) -> String { "HTTP \(status): " + RuleFixture.body }

    // Contract §4.2. Attempt 1 of 1 retry: a retry waits 10 × 2^0 × 1 = 10 s, a 429's
    // Retry-After wins when later (at most 3,600 s after the claim's database time).
    static let post: [AnswerRow] = [
        AnswerRow(
            name: "200 with x-workflow-run-id: running, next check after the reconcile interval",
            answer: F.response(200, [("x-workflow-run-id", "run-1")]), action: .accepted, status: "running",
            httpStatus: 200, delay: 30, executionId: "run-1", counted: ["accepted"]),
        AnswerRow(
            name: "202 with x-workflow-run-id", answer: F.response(202, [("x-workflow-run-id", "run-9")]),
            action: .accepted, status: "running", httpStatus: 202, delay: 30, executionId: "run-9", counted: ["accepted"]),
        AnswerRow(
            name: "200 without x-workflow-run-id: completed", answer: F.response(200), action: .completed,
            status: "completed", httpStatus: 200, counted: ["completed"]),
        AnswerRow(
            name: "204 with an empty x-workflow-run-id: completed", answer: F.response(204, [("x-workflow-run-id", "")]),
            action: .completed, status: "completed", httpStatus: 204, counted: ["completed"]),
        AnswerRow(
            name: "401: back to pending, released", answer: F.response(401), action: .rejected, status: "pending",
            httpStatus: 401, error: "credentials rejected: " + http(401), counted: ["released"]),
        AnswerRow(
            name: "403: back to pending, released", answer: F.response(403), action: .rejected, status: "pending",
            httpStatus: 403, error: "credentials rejected: " + http(403), counted: ["released"]),
        AnswerRow(
            name: "408: retry", answer: F.response(408), action: .retry, status: "pending", httpStatus: 408, delay: 10,
            error: http(408), counted: ["retried"]),
        AnswerRow(
            name: "429 without Retry-After: the backoff", answer: F.response(429), action: .retry, status: "pending",
            httpStatus: 429, delay: 10, error: http(429), counted: ["retried"]),
        AnswerRow(
            name: "429, Retry-After 120 s: later than the backoff", answer: F.response(429, [("retry-after", "120")]),
            action: .retry, status: "pending", httpStatus: 429, delay: 120, error: http(429), counted: ["retried"]),
        AnswerRow(
            name: "429, Retry-After 2 s: the backoff is later", answer: F.response(429, [("retry-after", "2")]),
            action: .retry, status: "pending", httpStatus: 429, delay: 10, error: http(429), counted: ["retried"]),
        // 2026-01-01T00:15:00Z is 900 s after the claim.
        AnswerRow(
            name: "429, Retry-After as a date 900 s after the claim",
            answer: F.response(429, [("retry-after", "Thu, 01 Jan 2026 00:15:00 GMT")]), action: .retry,
            status: "pending", httpStatus: 429, delay: 900, error: http(429), counted: ["retried"]),
        AnswerRow(
            name: "429, Retry-After 86,400 s: capped at an hour, and said so",
            answer: F.response(429, [("retry-after", "86400")]), action: .retry, status: "pending", httpStatus: 429,
            delay: 3600, error: http(429) + " (Retry-After of 86400 s capped at 3600 s)", counted: ["retried"]),
        AnswerRow(
            name: "429, unreadable Retry-After: the backoff", answer: F.response(429, [("retry-after", "soon")]),
            action: .retry, status: "pending", httpStatus: 429, delay: 10, error: http(429), counted: ["retried"]),
        AnswerRow(
            name: "500: retry", answer: F.response(500), action: .retry, status: "pending", httpStatus: 500, delay: 10,
            error: http(500), counted: ["retried"]),
        AnswerRow(
            name: "503 with Retry-After 600: the backoff (Retry-After is read on a 429 only)",
            answer: F.response(503, [("retry-after", "600")]), action: .retry, status: "pending", httpStatus: 503,
            delay: 10, error: http(503), counted: ["retried"]),
        AnswerRow(
            name: "599: retry", answer: F.response(599), action: .retry, status: "pending", httpStatus: 599, delay: 10,
            error: http(599), counted: ["retried"]),
        AnswerRow(
            name: "connection refused: retry, no status", answer: F.failure("Connection refused"), action: .retry,
            status: "pending", httpStatus: nil, delay: 10, error: "Connection refused", counted: ["retried"]),
        AnswerRow(
            name: "TLS failure: retry", answer: F.failure("SSL certificate problem: unable to get local issuer", code: 60),
            action: .retry, status: "pending", httpStatus: nil, delay: 10,
            error: "SSL certificate problem: unable to get local issuer", counted: ["retried"]),
        AnswerRow(
            name: "timeout: retry, the request timeout named",
            answer: F.failure("Operation timed out", code: 28, timedOut: true), action: .retry, status: "pending",
            httpStatus: nil, delay: 10, error: "timed out after 30 s: Operation timed out", counted: ["retried"]),
        AnswerRow(
            name: "302: failed, never followed", answer: F.response(302, [("location", "https://elsewhere.test/x")]),
            action: .failed, status: "failed", httpStatus: 302,
            error: "redirect to https://elsewhere.test/x not followed: " + http(302), counted: ["failed"]),
        AnswerRow(
            name: "301 without a Location: failed", answer: F.response(301), action: .failed, status: "failed",
            httpStatus: 301, error: "redirect not followed: " + http(301), counted: ["failed"]),
        AnswerRow(
            name: "400: failed at once", answer: F.response(400), action: .failed, status: "failed", httpStatus: 400,
            error: http(400), counted: ["failed"]),
        AnswerRow(
            name: "404: failed at once", answer: F.response(404), action: .failed, status: "failed", httpStatus: 404,
            error: http(404), counted: ["failed"]),
        AnswerRow(
            name: "422: failed at once", answer: F.response(422), action: .failed, status: "failed", httpStatus: 422,
            error: http(422), counted: ["failed"]),
    ]

    @Test("a POST's answer", arguments: post)
    func postAnswer(_ row: AnswerRow) {
        Self.expect(F.rules.outcome(for: F.run(), row.answer), row)
    }

    // Contract §4.3. The execution was accepted on attempt 1 (1 retry allowed, timeout 600 s).
    // Every check that got an answer about the execution counts as reconciled.
    static let check: [AnswerRow] = [
        AnswerRow(
            name: "completed", answer: F.response(200, body: #"{"status":"completed"}"#), action: .completed,
            status: "completed", httpStatus: 200, counted: ["reconciled", "completed"]),
        AnswerRow(
            name: "failed: a retry", answer: F.response(200, body: #"{"status":"failed"}"#), action: .retry,
            status: "pending", httpStatus: 200, delay: 10, error: "execution failed", counted: ["reconciled", "retried"]),
        AnswerRow(
            name: "running within the timeout: asked again after the reconcile interval",
            answer: F.response(200, body: #"{"status":"running"}"#), action: .wait, status: "running", httpStatus: 200,
            delay: 30, counted: ["reconciled"]),
        AnswerRow(
            name: "suspended within the timeout", answer: F.response(200, body: #"{"status":"suspended"}"#),
            action: .wait, status: "running", httpStatus: 200, delay: 30, counted: ["reconciled"]),
        AnswerRow(
            name: "running past the timeout: a retry, timed out",
            answer: F.response(200, body: #"{"status":"running"}"#), pastTimeout: true, action: .retry,
            status: "pending", httpStatus: 200, delay: 10, error: "timed out: still running 600 s after it was accepted",
            counted: ["reconciled", "retried"]),
        AnswerRow(
            name: "suspended past the timeout", answer: F.response(200, body: #"{"status":"suspended"}"#),
            pastTimeout: true, action: .retry, status: "pending", httpStatus: 200, delay: 10,
            error: "timed out: still running 600 s after it was accepted", counted: ["reconciled", "retried"]),
        AnswerRow(
            name: "404: failed", answer: F.response(404), action: .failed, status: "failed", httpStatus: 404,
            error: "execution not found: " + http(404), counted: ["reconciled", "failed"]),
        AnswerRow(
            name: "500: stays running", answer: F.response(500), action: .wait, status: "running", httpStatus: 500,
            delay: 30, error: http(500), counted: ["reconciled"]),
        AnswerRow(
            name: "503 past the timeout: a retry, timed out", answer: F.response(503), pastTimeout: true,
            action: .retry, status: "pending", httpStatus: 503, delay: 10,
            error: "timed out: still running 600 s after it was accepted", counted: ["reconciled", "retried"]),
        AnswerRow(
            name: "network error: stays running", answer: F.failure("Connection refused"), action: .wait,
            status: "running", httpStatus: nil, delay: 30, error: "Connection refused", counted: ["reconciled"]),
        AnswerRow(
            name: "request timeout: stays running", answer: F.failure("Operation timed out", code: 28, timedOut: true),
            action: .wait, status: "running", httpStatus: nil, delay: 30,
            error: "timed out after 30 s: Operation timed out", counted: ["reconciled"]),
        AnswerRow(
            name: "network error past the timeout: a retry", answer: F.failure("Connection refused"), pastTimeout: true,
            action: .retry, status: "pending", httpStatus: nil, delay: 10,
            error: "timed out: still running 600 s after it was accepted", counted: ["reconciled", "retried"]),
        AnswerRow(
            name: "unreadable body: stays running", answer: F.response(200, body: "not json"), action: .wait,
            status: "running", httpStatus: 200, delay: 30, error: "unreadable execution status: HTTP 200: not json",
            counted: ["reconciled"]),
        AnswerRow(
            name: "an unknown status: unreadable, stays running", answer: F.response(200, body: #"{"status":"paused"}"#),
            action: .wait, status: "running", httpStatus: 200, delay: 30,
            error: #"unreadable execution status: HTTP 200: {"status":"paused"}"#, counted: ["reconciled"]),
        // Contract §4.3: the invocation stays running with its lease cleared, and the cycle
        // stops. Counted as released, as after a POST: the endpoint said nothing about it.
        AnswerRow(
            name: "401: stays running, released", answer: F.response(401), action: .rejected, status: "running",
            httpStatus: 401, error: "credentials rejected: " + http(401), counted: ["released"]),
        AnswerRow(
            name: "403 past the timeout: still only released", answer: F.response(403), pastTimeout: true,
            action: .rejected, status: "running", httpStatus: 403, error: "credentials rejected: " + http(403),
            counted: ["released"]),
    ]

    @Test("a status check's answer", arguments: check)
    func checkAnswer(_ row: AnswerRow) {
        Self.expect(F.rules.outcome(for: F.check(pastTimeout: row.pastTimeout), row.answer), row)
    }

    static func expect(_ outcome: ExecutionOutcome, _ row: AnswerRow) {
        #expect(outcome.action == row.action)
        #expect(outcome.status == row.status)
        #expect(outcome.httpStatus == row.httpStatus)
        #expect(outcome.delaySeconds == row.delay)
        #expect(outcome.error == row.error)
        #expect(outcome.executionId == row.executionId)
        #expect(F.counted(outcome) == row.counted)
    }

    @Test(
        "retries used up: failed, with the number of attempts",
        arguments: [
            // (kind, answer, error)
            (ExecutionKind.post, F.response(500), "HTTP 500: " + F.body + " (after 2 attempts)"),
            (.post, F.failure("Connection refused"), "Connection refused (after 2 attempts)"),
            (.post, F.response(429, [("retry-after", "120")]), "HTTP 429: " + F.body + " (after 2 attempts)"),
            (.check, F.response(200, body: #"{"status":"failed"}"#), "execution failed (after 2 attempts)"),
        ])
    func exhausted(kind: ExecutionKind, answer: HTTPResult, error: String) {
        // Attempt 2 with max_retries 1: the one retry is spent.
        let invocation = kind == .post ? F.run(attempt: 2, maxRetries: 1) : F.check(attempt: 2)
        let outcome = F.rules.outcome(for: invocation, answer)
        #expect(outcome.action == .failed)
        #expect(outcome.status == "failed")
        #expect(outcome.delaySeconds == nil)
        #expect(outcome.error == error)
    }

    @Test(
        "backoff: retry_delay × 2^(attempt−1) × [1, 1.3], nil once max_retries are spent",
        arguments: [
            // (attempt, max_retries, retry_delay, lowest, highest); nil: failed.
            (1, 3, 100, 100.0, 130.0),
            (2, 3, 100, 200.0, 260.0),
            (3, 3, 100, 400.0, 520.0),
            (4, 3, 100, nil, nil),
            (1, 0, 100, nil, nil),
            (1, 1, 0, 0.0, 0.0),
            (11, 10, 60, nil, nil),
            (10, 10, 60, 30_720.0, 39_936.0),
        ] as [(Int, Int, Int, Double?, Double?)])
    func backoff(attempt: Int, maxRetries: Int, retryDelay: Int, lowest: Double?, highest: Double?) {
        for jitter in [1.0, 1.15, 1.3] {
            var rules = F.rules
            rules.jitter = { jitter }
            let delay = rules.backoff(attempt: attempt, maxRetries: maxRetries, retryDelaySeconds: retryDelay)
            if let lowest, let highest {
                let value = delay ?? -1
                #expect(value >= lowest && value <= highest, "jitter \(jitter): \(value)")
            } else {
                #expect(delay == nil)
            }
        }
        // The default jitter stays within the bounds too.
        let unfixed = OutcomeRules(settings: F.rules.settings, secret: F.key)
        for _ in 0..<50 {
            let delay = unfixed.backoff(attempt: attempt, maxRetries: maxRetries, retryDelaySeconds: retryDelay)
            if let lowest, let highest, let delay { #expect(delay >= lowest && delay <= highest) }
        }
    }
}

/// One action of one kind, and what recording it does to the row's status, the counters and
/// the log: the table both requests share.
struct EffectRow: Sendable, CustomTestStringConvertible {
    var kind: ExecutionKind
    var action: ExecutionAction
    var status: String
    var counted: Set<String>
    var level: LogLevel
    var event: String
    var testDescription: String { "\(kind.rawValue) \(action.rawValue)" }
}

@Suite("Execution outcomes: one table from action to status, counter and log event")
struct ExecutionEffectTests {
    static let rows: [EffectRow] = [
        EffectRow(kind: .post, action: .accepted, status: "running", counted: ["accepted"], level: .info, event: "invocation.accepted"),
        EffectRow(kind: .post, action: .completed, status: "completed", counted: ["completed"], level: .info, event: "invocation.completed"),
        EffectRow(kind: .post, action: .retry, status: "pending", counted: ["retried"], level: .warning, event: "invocation.retry"),
        EffectRow(kind: .post, action: .failed, status: "failed", counted: ["failed"], level: .warning, event: "invocation.failed"),
        EffectRow(kind: .post, action: .rejected, status: "pending", counted: ["released"], level: .error, event: "invocation.credentials_rejected"),
        EffectRow(kind: .post, action: .release, status: "pending", counted: ["released"], level: .info, event: "invocation.released"),
        EffectRow(kind: .check, action: .completed, status: "completed", counted: ["reconciled", "completed"], level: .info, event: "invocation.completed"),
        EffectRow(kind: .check, action: .retry, status: "pending", counted: ["reconciled", "retried"], level: .warning, event: "invocation.retry"),
        EffectRow(kind: .check, action: .failed, status: "failed", counted: ["reconciled", "failed"], level: .warning, event: "invocation.failed"),
        EffectRow(kind: .check, action: .wait, status: "running", counted: ["reconciled"], level: .debug, event: "invocation.still_running"),
        EffectRow(kind: .check, action: .rejected, status: "running", counted: ["released"], level: .error, event: "invocation.credentials_rejected"),
        EffectRow(kind: .check, action: .release, status: "running", counted: ["released"], level: .info, event: "invocation.released"),
    ]

    @Test("each action of each kind", arguments: rows)
    func effect(_ row: EffectRow) {
        let invocation = row.kind == .post ? RuleFixture.run() : RuleFixture.check()
        let outcome = ExecutionOutcome(invocation: invocation, action: row.action)
        #expect(outcome.status == row.status)
        #expect(RuleFixture.counted(outcome) == row.counted)
        #expect(row.action.effect.level == row.level)
        #expect(row.action.effect.event == row.event)
    }

    @Test("a log line starts with the invocation's ids; a check's names its execution")
    func identityFields() {
        let names = { (fields: [(String, LogValue)]) in fields.map(\.0) }
        let ids = ["tenant", "project", "agent", "trigger", "invocation", "slot"]
        let run = RuleFixture.run(), check = RuleFixture.check()
        #expect(names(run.identity.fields + run.attemptFields) == ids + ["attempt"])
        #expect(names(check.identity.fields + check.attemptFields) == ids + ["attempt", "execution"])
        let accepted = RuleFixture.rules.outcome(
            for: RuleFixture.run(), RuleFixture.response(200, [("x-workflow-run-id", "run-1")]))
        #expect(names(accepted.answerFields + accepted.actionFields) == ["http_status", "execution"])
        let retry = RuleFixture.rules.outcome(for: RuleFixture.run(), RuleFixture.response(503))
        #expect(names(retry.answerFields + retry.actionFields) == ["http_status", "error", "delay_seconds"])
        #expect(ExecutionOutcome(invocation: RuleFixture.run(), action: .release).answerFields.isEmpty)
    }
}

@Suite("Execution ids and stored values: what an answer may leave in a row")
struct ExecutionStoredValueTests {
    static let long = "run-" + String(repeating: "x", count: 296)

    @Test(
        "a run id that cannot be stored fails that invocation alone, and is never quoted",
        arguments: [
            (String(repeating: "a", count: 257), "257 bytes, over 256"),
            (long, "300 bytes, over 256"),
            ("run 1", "5 bytes, not all printable ASCII"),
            ("run\u{1}1", "5 bytes, not all printable ASCII"),
            ("rün", "4 bytes, not all printable ASCII"),
            ("run-" + RuleFixture.key, "it echoes the API key"),
            ("run-sk%2dtest%2dZq7Xv9Lm2Pw4%2dsecret", "it echoes the API key"),
        ])
    func unusableRunId(id: String, problem: String) {
        let outcome = RuleFixture.rules.outcome(
            for: RuleFixture.run(), RuleFixture.response(200, [("x-workflow-run-id", id)]))
        #expect(outcome.action == .failed)
        #expect(outcome.executionId == nil)
        #expect(outcome.error == "endpoint returned an unusable run id: \(problem)")
    }

    @Test(
        "stored ids: 1–256 bytes of printable ASCII, never the key",
        arguments: [
            ("run-1", nil),
            ("a", nil),
            (String(repeating: "~", count: 256), nil),
            ("", "empty"),
            (String(repeating: "a", count: 257), "257 bytes, over 256"),
            (String(repeating: "a", count: 60_000), "60000 bytes, over 256"),
            ("a b", "3 bytes, not all printable ASCII"),
            ("a\u{7F}", "2 bytes, not all printable ASCII"),
            ("a\u{0}", "2 bytes, not all printable ASCII"),
            ("é", "2 bytes, not all printable ASCII"),
            ("conv-" + RuleFixture.key, "it echoes the API key"),
            ("conv-sk\\u002dtest\\u002dZq7Xv9Lm2Pw4\\u002Dsecret", "it echoes the API key"),
            ("conv-sk-test-Zq7Xv9Lm2Pw4", nil),
        ] as [(String, String?)])
    func identifiers(id: String, problem: String?) {
        #expect(IdentifierRule.problem(id, secret: RuleFixture.key) == problem)
    }

    @Test("status GET: a conversationId that cannot be stored is dropped, the answer counts as without it", arguments: [
        (String(repeating: "c", count: 60_000), "60000 bytes, over 256"),
        ("conv-" + RuleFixture.key, "it echoes the API key"),
        ("conv-sk%2Dtest%2DZq7Xv9Lm2Pw4%2Dsecret", "it echoes the API key"),
        ("conv\u{1}", "5 bytes, not all printable ASCII"),
    ])
    func droppedConversation(conversation: String, reason: String) {
        var body = "{\"status\":\"completed\",\"conversationId\":"
        JSONValue.writeString(conversation, to: &body)
        body += "}"
        let outcome = RuleFixture.rules.outcome(for: RuleFixture.check(), RuleFixture.response(200, body: body))
        #expect(outcome.action == .completed)
        #expect(outcome.conversationId == nil)
        #expect(outcome.droppedConversation == reason)
        #expect(outcome.error == nil)
    }

    @Test("status GET: a usable conversationId is kept, whatever the status says", arguments: ["running", "completed", "failed"])
    func keptConversation(status: String) {
        let outcome = RuleFixture.rules.outcome(
            for: RuleFixture.check(),
            RuleFixture.response(200, body: #"{"status":"\#(status)","conversationId":"conv-7"}"#))
        #expect(outcome.conversationId == "conv-7")
        #expect(outcome.droppedConversation == nil)
    }

    @Test("status GET: an answer over 64 KiB is an unreadable status, asked again later")
    func truncatedStatus() {
        var response = HTTPResponse(status: 200, headers: [], body: Array(repeating: 0x20, count: 65_536))
        response.bodyTruncated = true
        let outcome = RuleFixture.rules.outcome(for: RuleFixture.check(), .response(response))
        #expect(outcome.action == .wait)
        #expect(outcome.error == "unreadable execution status: the answer is over 65536 bytes")
        let late = RuleFixture.rules.outcome(for: RuleFixture.check(pastTimeout: true), .response(response))
        #expect(late.action == .retry)
    }

    @Test("the key never reaches last_error, however the endpoint echoes it", arguments: [401, 302, 400, 500])
    func keyRedacted(status: Int) {
        for invocation in [RuleFixture.run(), RuleFixture.check()] {
            let outcome = RuleFixture.rules.outcome(
                for: invocation,
                RuleFixture.response(
                    status, [("location", "https://x.test/?k=sk-test-Zq7Xv9Lm2Pw4%2Dsecret")],
                    body: #"{"echo":"Bearer sk-test-Zq7Xv9Lm2Pw4-secret"}"#))
            #expect(outcome.error?.contains("Zq7Xv9Lm2Pw4") == false, "\(outcome.error ?? "nil")")
            #expect(outcome.error?.contains("****") == true, "\(outcome.error ?? "nil")")
        }
    }

    @Test("last_error as bound: no NUL or control characters, at most 2 KiB")
    func storableError() throws {
        let stored = try #require(ExecutionStore.storable(error: "a\u{0}b\u{1B}[31mc\n" + String(repeating: "é", count: 5000)))
        #expect(!stored.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" })
        #expect(stored.hasPrefix("a\u{FFFD}b\u{FFFD}[31mc\n"))
        #expect(stored.utf8.count <= 2048)
        #expect(ExecutionStore.storable(delay: .infinity) == String(100 * 365.25 * 86_400))
        #expect(ExecutionStore.storable(delay: -.infinity) == "0.0")
        #expect(ExecutionStore.storable(delay: .nan) == "0.0")
        #expect(ExecutionStore.storable(status: 99_999) == nil)
    }
}
