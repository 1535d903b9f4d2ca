import CCurl
@testable import DispatchCore
import Testing

/// The requests of contract §4.1 and §4.3 as built from a claimed invocation, in-process: URL,
/// headers in order, body byte for byte, and the rows that cannot be sent.
@Suite("Execution requests: URL, headers, body")
struct ExecutionRequestTests {
    static let requests = ExecutionRequests(endpoint: Endpoint(baseURL: "https://agents.test", apiKey: RuleFixture.key))

    static func invocation(
        tenant: String = "t1", agent: String = "a1", runAsUser: String? = "user-7", attempt: Int = 2,
        _ request: ClaimedInvocation.Request
    ) -> ClaimedInvocation {
        ClaimedInvocation(
            tenantId: tenant, id: "inv-1", projectId: "p1", agentId: agent, triggerId: "trg1",
            slot: "2026-01-01T01:30:00.000Z", attempt: attempt, lease: "2026-01-01 01:32:10+00",
            runAsUserId: runAsUser, maxRetries: 3, retryDelaySeconds: 10, request: request)
    }

    static func post(ref: String = "feature/a b&c", payload: String?, template: String?) -> ClaimedInvocation.Request {
        .post(
            ClaimedInvocation.Post(
                ref: ref, idempotencyKey: "sched_trg1_2026-01-01T01:30:00.000Z", payload: payload,
                payloadBytes: payload?.utf8.count, template: template, templateBytes: template?.utf8.count,
                timeZone: "Europe/Zurich"))
    }

    @Test("the POST: ?ref= percent-encoded, identity headers, Idempotency-Key of this attempt, the body")
    func post() throws {
        let request = try Self.requests.request(
            for: Self.invocation(
                Self.post(payload: #"{"city": "Zürich", "n": 2.50}"#, template: "Weather for {{ city }} x{{n}}")))
        #expect(request.method == .post)
        #expect(request.url == "https://agents.test/run/api/executions?ref=feature%2Fa%20b%26c")
        #expect(
            request.headers == [
                "Authorization: Bearer \(RuleFixture.key)",
                "x-inkeep-tenant-id: t1",
                "x-inkeep-project-id: p1",
                "x-inkeep-agent-id: a1",
                "x-inkeep-run-as-user-id: user-7",
                "Idempotency-Key: sched_trg1_2026-01-01T01:30:00.000Z-2",
                "Content-Type: application/json",
                "Accept: text/event-stream",
            ])
        #expect(
            request.body
                == #"{"messages":[{"role":"user","content":"Weather for Zürich x2.50"}],"forwardedHeaders":{"x-inkeep-client-timezone":"Europe/Zurich","x-inkeep-client-timestamp":"2026-01-01T01:30:00.000Z"}}"#
        )
        // The event stream is not read: the answer's headers decide.
        #expect(request.stopAfterSuccessHeaders)
        // 1 KiB of error body plus the key's longest escaped form (18 bytes a key byte).
        #expect(request.bodyLimit == 1024 + RuleFixture.key.utf8.count * 18)
    }

    @Test(
        "MESSAGE: the rendered template, else the payload as compact JSON, else {}",
        arguments: [
            // (payload, template, content as JSON text)
            (#"{"a": [true, null], "b": 1}"#, nil, #""{\"a\":[true,null],\"b\":1}""#),
            (nil, nil, #""{}""#),
            (#"{"who": "Ann"}"#, "Hi {{who}}, {{ missing }}!", #""Hi Ann, !""#),
            (nil, "line\nbreak \"quoted\"", #""line\nbreak \"quoted\"""#),
        ] as [(String?, String?, String)])
    func message(payload: String?, template: String?, content: String) throws {
        let request = try Self.requests.request(for: Self.invocation(Self.post(payload: payload, template: template)))
        #expect(
            request.body
                == #"{"messages":[{"role":"user","content":"# + content
                + #"}],"forwardedHeaders":{"x-inkeep-client-timezone":"Europe/Zurich","x-inkeep-client-timestamp":"2026-01-01T01:30:00.000Z"}}"#
        )
    }

    @Test("no run-as user, or an empty one: no header")
    func noRunAsUser() throws {
        for user in [nil, ""] as [String?] {
            let request = try Self.requests.request(
                for: Self.invocation(runAsUser: user, attempt: 1, Self.post(ref: "main", payload: nil, template: nil)))
            #expect(request.url == "https://agents.test/run/api/executions?ref=main")
            #expect(!request.headers.contains { $0.hasPrefix("x-inkeep-run-as-user-id") })
            #expect(request.headers.contains("Idempotency-Key: sched_trg1_2026-01-01T01:30:00.000Z-1"))
        }
    }

    @Test("the status GET: the execution in the path, the same identity headers, JSON accepted")
    func status() throws {
        let request = try Self.requests.request(
            for: Self.invocation(
                .check(ClaimedInvocation.Check(executionId: "run-1", timeoutSeconds: 780, pastTimeout: false))))
        #expect(request.method == .get)
        #expect(request.url == "https://agents.test/run/api/executions/run-1")
        #expect(
            request.headers == [
                "Authorization: Bearer \(RuleFixture.key)",
                "x-inkeep-tenant-id: t1",
                "x-inkeep-project-id: p1",
                "x-inkeep-agent-id: a1",
                "x-inkeep-run-as-user-id: user-7",
                "Accept: application/json",
            ])
        #expect(request.body == nil)
        #expect(!request.stopAfterSuccessHeaders)
        // The status document is read up to 64 KiB (more than an error body needs here).
        #expect(request.bodyLimit == 65_536)
    }

    @Test(
        "a value that cannot be a header: that invocation fails alone, nothing is sent",
        arguments: [
            ("t1\r\nX-Evil: 1", "a1", "tenant id contains a line break and cannot be sent as a header"),
            ("t1", "a\u{7}1", "agent id contains the control character U+0007 and cannot be sent as a header"),
            ("t1", "a1\u{7F}", "agent id contains the control character U+007F and cannot be sent as a header"),
        ])
    func unsendableHeader(tenant: String, agent: String, message: String) {
        for request in [
            Self.post(payload: nil, template: nil),
            .check(ClaimedInvocation.Check(executionId: "run-1", timeoutSeconds: 780, pastTimeout: false)),
        ] as [ClaimedInvocation.Request] {
            #expect(throws: RequestError.self) {
                _ = try Self.requests.request(for: Self.invocation(tenant: tenant, agent: agent, request))
            }
            do {
                _ = try Self.requests.request(for: Self.invocation(tenant: tenant, agent: agent, request))
            } catch {
                #expect(error.message == message)
            }
        }
    }

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
        ] as [(ClaimedInvocation, String)])
    func unsendable(run: ClaimedInvocation, message: String) {
        #expect(throws: RequestError.self) { try Self.requests.request(for: run) }
        do {
            _ = try Self.requests.request(for: run)
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
        let body = try #require(try Self.requests.request(for: run).body)
        #expect(body.utf8.count > 262_000)
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
