import CCurl
@testable import DispatchCore
@testable import DispatchDueCLI
import Testing

/// The pure rules of the execution stage, in-process: how an answer becomes an outcome, which
/// ids can be stored, how Retry-After is read and capped, which headers are kept.
enum RuleFixture {
    static let key = "sk-test-Zq7Xv9Lm2Pw4-secret"
    /// Claimed at 2026-01-01T00:00:00Z by the database clock.
    static let claimedAt = 1_767_225_600.0

    static func run(attempt: Int = 1, maxRetries: Int = 1, payload: String? = nil, payloadBytes: Int? = nil,
                    template: String? = nil, templateBytes: Int? = nil) -> ClaimedRun {
        ClaimedRun(
            tenantId: "t1", id: "inv-1", projectId: "p1", agentId: "a1", triggerId: "trg1", ref: "main",
            slot: "2026-01-01T00:00:00.000Z", idempotencyKey: "sched_trg1_2026-01-01T00:00:00.000Z", attempt: attempt,
            lease: "2026-01-01 00:02:10+00", payload: payload, payloadBytes: payloadBytes, template: template,
            templateBytes: templateBytes, timeZone: "UTC", runAsUserId: nil, maxRetries: maxRetries,
            retryDelaySeconds: 10, claimedAt: claimedAt)
    }

    static func check(pastTimeout: Bool = false) -> ClaimedCheck {
        ClaimedCheck(
            tenantId: "t1", id: "inv-1", projectId: "p1", agentId: "a1", triggerId: "trg1",
            slot: "2026-01-01T00:00:00.000Z", attempt: 1, lease: "2026-01-01 00:00:30+00", executionId: "run-1",
            runAsUserId: nil, maxRetries: 1, retryDelaySeconds: 10, timeoutSeconds: 780, pastTimeout: pastTimeout)
    }

    /// Backoff without randomness: 10 s × 2^(attempt−1) × 1.
    static let rules = OutcomeRules(
        settings: ExecutionSettings(concurrency: 4, requestTimeoutSeconds: 30, reconcileIntervalSeconds: 30),
        secret: key, jitter: { 1 })

    static func response(_ status: Int, _ headers: [(String, String)] = [], body: String = "") -> HTTPResult {
        .response(HTTPResponse(status: status, headers: headers.map { ($0.0, $0.1) }, body: Array(body.utf8)))
    }
}

struct PostRuleCase: Sendable, CustomTestStringConvertible {
    var name: String
    var status: Int
    var headers: [(String, String)] = []
    var action: PostOutcome.Action
    var executionId: String? = nil
    var delay: Double? = nil
    var errorContains: [String] = []
    var testDescription: String { name }
}

@Suite("Execution rules: answers, ids, Retry-After, headers")
struct ExecutionRulesTests {
    static let long = "run-" + String(repeating: "x", count: 296)

    // Worked from contract §4 and the limits: ids are 1–256 bytes of 0x21–0x7E without the key;
    // the backoff of a first attempt is 10 s (jitter fixed at 1); Retry-After counts from the
    // claim's database time, at most 3,600 s.
    static let postCases: [PostRuleCase] = [
        PostRuleCase(name: "run id", status: 200, headers: [("x-workflow-run-id", "run-1")], action: .accepted,
                     executionId: "run-1", delay: 30),
        PostRuleCase(name: "run id of 256 bytes", status: 202,
                     headers: [("x-workflow-run-id", String(repeating: "a", count: 256))], action: .accepted,
                     executionId: String(repeating: "a", count: 256), delay: 30),
        PostRuleCase(name: "run id of 257 bytes", status: 200,
                     headers: [("x-workflow-run-id", String(repeating: "a", count: 257))], action: .failed,
                     errorContains: ["endpoint returned an unusable run id: 257 bytes, over 256"]),
        PostRuleCase(name: "run id of 300 bytes", status: 200, headers: [("x-workflow-run-id", long)], action: .failed,
                     errorContains: ["endpoint returned an unusable run id: 300 bytes, over 256"]),
        PostRuleCase(name: "run id with a space", status: 200, headers: [("x-workflow-run-id", "run 1")],
                     action: .failed, errorContains: ["unusable run id: 5 bytes, not all printable ASCII"]),
        PostRuleCase(name: "run id with a control character", status: 200,
                     headers: [("x-workflow-run-id", "run\u{1}1")], action: .failed,
                     errorContains: ["unusable run id: 5 bytes, not all printable ASCII"]),
        PostRuleCase(name: "run id with non-ASCII", status: 200, headers: [("x-workflow-run-id", "rün")],
                     action: .failed, errorContains: ["unusable run id: 4 bytes, not all printable ASCII"]),
        PostRuleCase(name: "run id echoing the key", status: 200,
                     headers: [("x-workflow-run-id", "run-" + RuleFixture.key)], action: .failed,
                     errorContains: ["unusable run id: it echoes the API key"]),
        PostRuleCase(name: "run id echoing the key percent-encoded in lower case", status: 200,
                     headers: [("x-workflow-run-id", "run-sk%2dtest%2dZq7Xv9Lm2Pw4%2dsecret")], action: .failed,
                     errorContains: ["it echoes the API key"]),
        PostRuleCase(name: "no run id", status: 200, action: .completed),
        PostRuleCase(name: "empty run id", status: 200, headers: [("x-workflow-run-id", "")], action: .completed),
        PostRuleCase(name: "429, Retry-After 120 s", status: 429, headers: [("retry-after", "120")], action: .retry,
                     delay: 120),
        PostRuleCase(name: "429, Retry-After 2 s (the backoff is longer)", status: 429, headers: [("retry-after", "2")],
                     action: .retry, delay: 10),
        PostRuleCase(name: "429, Retry-After 86400 s", status: 429, headers: [("retry-after", "86400")],
                     action: .retry, delay: 3600, errorContains: ["HTTP 429", "Retry-After of 86400 s capped at 3600 s"]),
        // 2026-01-01T00:15:00Z is 900 s after the claim.
        PostRuleCase(name: "429, Retry-After date 900 s ahead", status: 429,
                     headers: [("retry-after", "Thu, 01 Jan 2026 00:15:00 GMT")], action: .retry, delay: 900),
        PostRuleCase(name: "429, Retry-After date in 9999", status: 429,
                     headers: [("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT")], action: .retry, delay: 3600,
                     errorContains: ["capped at 3600 s"]),
        PostRuleCase(name: "429, Retry-After date in the past", status: 429,
                     headers: [("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")], action: .retry, delay: 10),
        PostRuleCase(name: "429, Retry-After 31 February", status: 429,
                     headers: [("retry-after", "Tue, 31 Feb 2026 00:00:00 GMT")], action: .retry, delay: 10),
        PostRuleCase(name: "503 ignores Retry-After (contract: 429 only)", status: 503, headers: [("retry-after", "600")],
                     action: .retry, delay: 10),
        PostRuleCase(name: "302 names the redirect, key redacted", status: 302,
                     headers: [("location", "https://x.test/?k=sk-test-Zq7Xv9Lm2Pw4%2Dsecret")], action: .failed,
                     errorContains: ["redirect to https://x.test/?k=**** not followed"]),
        PostRuleCase(name: "401", status: 401, action: .rejected, errorContains: ["credentials rejected"]),
    ]

    @Test("POST answer → outcome", arguments: postCases)
    func postOutcome(_ expected: PostRuleCase) {
        let outcome = RuleFixture.rules.outcome(
            for: RuleFixture.run(), RuleFixture.response(expected.status, expected.headers, body: "{\"error\":\"x\"}"))
        #expect(outcome.action == expected.action)
        #expect(outcome.executionId == expected.executionId)
        #expect(outcome.delaySeconds == expected.delay)
        for fragment in expected.errorContains {
            #expect(outcome.error?.contains(fragment) == true, "\(outcome.error ?? "nil")")
        }
        // Neither the key nor an unusable id ever reaches last_error.
        #expect(outcome.error?.contains(RuleFixture.key) != true)
        #expect(outcome.error?.contains("Zq7Xv9Lm2Pw4") != true)
        #expect(outcome.error?.contains("xxxxxxxx") != true)
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

    @Test(
        "Retry-After: delay-seconds or IMF-fixdate",
        arguments: [
            ("120", RetryAfter.seconds(120)),
            ("0", .seconds(0)),
            (" 7 ", .seconds(7)),
            // Leading zeros do not shift digits out; many digits saturate instead of wrapping.
            ("000000000000001234", .seconds(1234)),
            ("99999999999999999999999", .seconds(1e12)),
            ("-5", nil),
            ("1.5", nil),
            ("", nil),
            ("soon", nil),
            // The RFC's example instant, and the last second of year 9999.
            ("Sun, 06 Nov 1994 08:49:37 GMT", .date(784_111_777)),
            ("Fri, 31 Dec 9999 23:59:59 GMT", .date(253_402_300_799)),
            // 2024 is a leap year: 1,704,067,200 (2024-01-01) + 59 days.
            ("Thu, 29 Feb 2024 00:00:00 GMT", .date(1_709_164_800)),
            ("Wed, 29 Feb 2023 00:00:00 GMT", nil),
            ("Tue, 31 Feb 2026 00:00:00 GMT", nil),
            ("Sat, 01 Jan 0000 00:00:00 GMT", nil),
            ("Sun, 06 Nov 1994 24:00:00 GMT", nil),
            ("Sun, 06 Nov 1994 08:49:37 UTC", nil),
            ("Sunday, 06-Nov-94 08:49:37 GMT", nil),
            ("Sun, 06 Nov 19945 08:49:37 GMT", nil),
        ] as [(String, RetryAfter?)])
    func retryAfterParsing(header: String, expected: RetryAfter?) {
        #expect(RetryAfter.parse(header) == expected)
    }

    @Test(
        "Retry-After honoured up to 3,600 s from the claim's database time",
        arguments: [
            // (value, now, delay, capped)
            (RetryAfter.seconds(0), 0.0, 0.0, false),
            (.seconds(3600), 0, 3600, false),
            (.seconds(3601), 0, 3600, true),
            (.seconds(1e12), 0, 3600, true),
            (.date(1900), 1000, 900, false),
            (.date(500), 1000, 0, false),
            (.date(4600), 1000, 3600, false),
            (.date(4601), 1000, 3600, true),
            (.date(253_402_300_799), RuleFixture.claimedAt, 3600, true),
        ])
    func retryAfterCap(value: RetryAfter, now: Double, delay: Double, capped: Bool) {
        let wait = value.delay(now: now)
        #expect(wait.seconds == delay)
        #expect(wait.capped == capped)
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

    @Test("status GET: a usable conversationId is kept")
    func keptConversation() {
        let outcome = RuleFixture.rules.outcome(
            for: RuleFixture.check(), RuleFixture.response(200, body: #"{"status":"running","conversationId":"conv-7"}"#))
        #expect(outcome.action == .wait)
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

@Suite("Execution headers: only the ones the rules read, 64 KiB at most")
struct ExecutionHeaderTests {
    static func feed(_ transfer: Transfer, _ line: String) -> Bool {
        Array((line + "\r\n").utf8).withUnsafeBytes { transfer.receiveHeader($0) }
    }

    static func transfer() throws -> Transfer {
        let transfer = try Transfer()
        transfer.request = HTTPRequest(
            method: .post, url: "http://127.0.0.1:1/", headers: [], body: nil, stopAfterSuccessHeaders: false,
            bodyLimit: 1024)
        return transfer
    }

    @Test("the run id is kept wherever it comes: header 1, 200, 251, 1000", arguments: [1, 200, 251, 1000])
    func position(_ position: Int) throws {
        let transfer = try Self.transfer()
        #expect(Self.feed(transfer, "HTTP/1.1 100 Continue"))
        #expect(Self.feed(transfer, ""))
        #expect(Self.feed(transfer, "HTTP/1.1 200 OK"))
        for index in 1..<position { #expect(Self.feed(transfer, "X-Filler-\(index): \(index)")) }
        #expect(Self.feed(transfer, "X-Workflow-Run-ID:  run-\(position) "))
        #expect(Self.feed(transfer, "Retry-After: 5"))
        #expect(Self.feed(transfer, "Location: /elsewhere"))
        #expect(Self.feed(transfer, "Content-Type: text/event-stream"))
        #expect(Self.feed(transfer, ""))
        guard case .response(let response) = transfer.result(code: CURLE_OK) else {
            Issue.record("expected a response")
            return
        }
        #expect(response.status == 200)
        #expect(response.headers.map(\.name) == ["x-workflow-run-id", "retry-after", "location"])
        #expect(response.header("x-workflow-run-id") == "run-\(position)")
    }

    @Test("a header section over 65,536 bytes is a transport failure (retried)")
    func oversized() throws {
        let transfer = try Self.transfer()
        #expect(Self.feed(transfer, "HTTP/1.1 200 OK"))
        // 1,026 bytes a line after the 17 of the status line: 17 + 63 × 1,026 = 64,655 fit,
        // the 64th line passes 65,536.
        let value = String(repeating: "v", count: 1024 - "X-Pad-00: ".utf8.count)
        var accepted = 0
        for index in 10..<99 {
            if !Self.feed(transfer, "X-Pad-\(index): \(value)") { break }
            accepted += 1
        }
        #expect(accepted == 63)
        guard case .transportFailure(let failure) = transfer.result(code: CURLE_WRITE_ERROR) else {
            Issue.record("expected a transport failure")
            return
        }
        #expect(failure.message == "response headers exceed 65536 bytes")
        let outcome = RuleFixture.rules.outcome(for: RuleFixture.run(), .transportFailure(failure))
        #expect(outcome.action == .retry)
    }
}

@Suite("Execution requests: payload and template limits, unreadable payloads")
struct ExecutionRequestLimitTests {
    @Test(
        "a run that cannot be sent fails alone with the reason",
        arguments: [
            (RuleFixture.run(payloadBytes: 5_242_880), "payload is 5242880 bytes, over the 262144-byte limit"),
            (RuleFixture.run(payload: "{}", template: nil, templateBytes: 100_000),
             "message template is 100000 bytes, over the 65536-byte limit"),
            (RuleFixture.run(payload: String(repeating: "[", count: 65) + String(repeating: "]", count: 65)),
             "payload cannot be read: invalid JSON at byte 64: nested deeper than 64 levels"),
            (RuleFixture.run(payload: "{\"b\": \"" + String(repeating: "y", count: 100_000) + "\"}",
                             template: String(repeating: "{{b}}", count: 3)),
             "rendered message exceeds 262144 bytes"),
        ] as [(ClaimedRun, String)])
    func unsendable(run: ClaimedRun, message: String) {
        #expect(throws: RequestError.self) { try ExecutionRequests.body(run) }
        do {
            _ = try ExecutionRequests.body(run)
        } catch {
            #expect(error.message == message)
        }
    }

    @Test("payload and template at their limits are sent")
    func atLimits() throws {
        // {"b": "yyy…"}: 9 bytes of syntax around the string, 262,144 in all.
        let payload = "{\"b\": \"" + String(repeating: "y", count: 262_144 - 9) + "\"}"
        #expect(payload.utf8.count == 262_144)
        let run = RuleFixture.run(payload: payload, payloadBytes: payload.utf8.count, template: "{{b}}", templateBytes: 5)
        let body = try ExecutionRequests.body(run)
        #expect(body.utf8.count > 262_000)
    }
}
