/// The HTTP requests of contract §4, built from claimed rows. Pure: no I/O.
struct ExecutionRequests: Sendable {
    var endpoint: Endpoint

    /// Body bytes kept from an answer: 1 KiB for `last_error`, plus room for the key in its
    /// longest escaped form, so that a key echoed across the cut is still found and redacted
    /// before cutting to 1 KiB.
    var errorBodyLimit: Int {
        OutcomeRules.bodyLimit + endpoint.apiKey.utf8.count * SecretMatcher.maximumBytesPerKeyByte
    }

    /// The request of the invocation's kind; an error when this invocation cannot be sent (it
    /// then fails alone).
    func request(for invocation: ClaimedInvocation) throws(RequestError) -> HTTPRequest {
        switch invocation.request {
        case .post(let post): return try self.post(invocation, post)
        case .check(let check): return try status(invocation, check)
        }
    }

    /// `POST {url}/run/api/executions?ref={ref}`.
    func post(_ run: ClaimedInvocation, _ post: ClaimedInvocation.Post) throws(RequestError) -> HTTPRequest {
        if let problem = post.slotProblem {
            throw RequestError(message: TimestampSQL.message(column: "scheduled_for", problem: problem) + "; not sent")
        }
        var headers = try identityHeaders(run)
        headers.append("Idempotency-Key: " + (try headerValue("idempotency key", "\(post.idempotencyKey)-\(run.attempt)")))
        headers.append("Content-Type: application/json")
        headers.append("Accept: text/event-stream")
        return HTTPRequest(
            method: .post,
            url: endpoint.baseURL + "/run/api/executions?ref=" + PercentEncoding.encode(post.ref),
            headers: headers,
            body: try ExecutionRequests.body(post, slot: run.slot),
            stopAfterSuccessHeaders: true,
            bodyLimit: errorBodyLimit)
    }

    /// `GET {url}/run/api/executions/{id}`.
    func status(_ run: ClaimedInvocation, _ check: ClaimedInvocation.Check) throws(RequestError) -> HTTPRequest {
        var headers = try identityHeaders(run)
        headers.append("Accept: application/json")
        return HTTPRequest(
            method: .get,
            url: endpoint.baseURL + "/run/api/executions/" + PercentEncoding.encode(check.executionId),
            headers: headers,
            body: nil,
            stopAfterSuccessHeaders: false,
            bodyLimit: max(ExecutionLimits.statusBodyBytes, errorBodyLimit))
    }

    /// `{"messages":[{"role":"user","content":MESSAGE}],"forwardedHeaders":{…}}`, or why this
    /// run cannot be sent (payload or template over its limit, unreadable payload, message too
    /// large): the invocation then fails alone, recorded with the rest of its batch.
    static func body(_ post: ClaimedInvocation.Post, slot: String) throws(RequestError) -> String {
        if post.payload == nil, let size = post.payloadBytes, size > ExecutionLimits.payloadBytes {
            throw RequestError(message: "payload is \(size) bytes, over the \(ExecutionLimits.payloadBytes)-byte limit")
        }
        if post.template == nil, let size = post.templateBytes, size > ExecutionLimits.templateBytes {
            throw RequestError(
                message: "message template is \(size) bytes, over the \(ExecutionLimits.templateBytes)-byte limit")
        }
        var payload: JSONValue?
        if let text = post.payload {
            do {
                payload = try JSONValue.parse(text, maximumBytes: ExecutionLimits.payloadBytes)
            } catch {
                throw RequestError(message: "payload cannot be read: \(error)")
            }
        }
        let message: String
        do {
            message = try MessageRendering.render(template: post.template, payload: payload)
        } catch {
            throw RequestError(message: error.description)
        }
        var body = "{\"messages\":[{\"role\":\"user\",\"content\":"
        JSONValue.writeString(message, to: &body)
        body += "}],\"forwardedHeaders\":{\"x-inkeep-client-timezone\":"
        JSONValue.writeString(post.timeZone, to: &body)
        body += ",\"x-inkeep-client-timestamp\":"
        JSONValue.writeString(slot, to: &body)
        body += "}}"
        return body
    }

    /// The headers both requests carry (contract §4.1, §4.3: "the same identity headers").
    private func identityHeaders(_ run: ClaimedInvocation) throws(RequestError) -> [String] {
        var headers = [
            "Authorization: Bearer \(endpoint.apiKey)",
            "x-inkeep-tenant-id: " + (try headerValue("tenant id", run.tenantId)),
            "x-inkeep-project-id: " + (try headerValue("project id", run.projectId)),
            "x-inkeep-agent-id: " + (try headerValue("agent id", run.agentId)),
        ]
        if let runAsUser = run.runAsUserId, !runAsUser.isEmpty {
            headers.append("x-inkeep-run-as-user-id: " + (try headerValue("run_as_user_id", runAsUser)))
        }
        return headers
    }

    /// A header value may not contain line breaks (they would start a new header) nor any other
    /// C0 control or DEL (invalid HTTP: a strict endpoint answers 400, an HTTP/2 peer resets the
    /// stream). Rows written by SQL can hold them; the run then fails alone, nothing is sent.
    private func headerValue(_ what: String, _ value: String) throws(RequestError) -> String {
        guard !value.unicodeScalars.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\0" }) else {
            throw RequestError(message: "\(what) contains a line break and cannot be sent as a header")
        }
        if let control = value.unicodeScalars.first(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            let code = String(control.value, radix: 16, uppercase: true)
            throw RequestError(
                message: "\(what) contains the control character U+\(String(repeating: "0", count: 4 - code.count) + code)"
                    + " and cannot be sent as a header")
        }
        return value
    }
}

struct RequestError: Error, Sendable {
    var message: String
}
