#if canImport(Glibc)
import Glibc
#endif
import Schedules

/// Which request a claimed invocation is due for: a POST (contract §2 step 4, §4.2) or a status
/// check of its running execution (step 5, §4.3). What differs between the two is kept here as
/// data; the pipeline, the outcome, the recording statement and the counters are shared.
enum ExecutionKind: String, Sendable, CaseIterable {
    case post
    case check

    /// The status a claim given back returns to (a stop, rejected credentials): a POST's claim
    /// was `pending`, a check's stays `running` with its execution (contract §2.2).
    var releasedStatus: String {
        switch self {
        case .post: return "pending"
        case .check: return "running"
        }
    }

    /// Counted as each request starts: `posted`. A check is counted once its answer is
    /// recorded instead (`answeredCounter`).
    var sentCounter: WritableKeyPath<CycleReport, Int>? {
        switch self {
        case .post: return \.posted
        case .check: return nil
        }
    }

    /// Counted for each answer recorded, whatever it said (`ExecutionAction.answered`): `reconciled`.
    var answeredCounter: WritableKeyPath<CycleReport, Int>? {
        switch self {
        case .post: return nil
        case .check: return \.reconciled
        }
    }

    /// Logged for a request still in flight when the stop grace ran out (it keeps its lease).
    var cutOffEvent: String {
        switch self {
        case .post: return "invocation.cut_off"
        case .check: return "invocation.check_cut_off"
        }
    }
}

/// A claimed invocation: who it is, the lease that guards recording its answer, its retry
/// settings, and what its request needs.
struct ClaimedInvocation: Sendable {
    var tenantId: String
    var id: String
    var projectId: String
    var agentId: String
    var triggerId: String
    /// `YYYY-MM-DDTHH:MM:SS.sssZ`, as PostgreSQL formatted it (a POST's is empty when `Post.slotProblem` is set).
    var slot: String
    var attempt: Int
    /// The lease this dispatcher holds, as PostgreSQL's text: results are recorded only while
    /// the row still carries it, so a dispatcher whose lease ran out never overwrites another's.
    var lease: String
    var runAsUserId: String?
    var maxRetries: Int
    var retryDelaySeconds: Int
    /// The request it is due for, with what only that request needs.
    var request: Request

    /// What a POST needs from the invocation and its trigger.
    struct Post: Sendable {
        var ref: String
        /// Set when `scheduled_for` is ±infinity or outside the years 1–9999 (`slot` is then
        /// empty): `TimestampSQL.problem`'s text. Such a run is failed, never sent.
        var slotProblem: String? = nil
        var idempotencyKey: String
        /// The payload as jsonb text; nil when NULL or over `ExecutionLimits.payloadBytes`
        /// (the claim leaves such a payload in the database and returns only its size).
        var payload: String?
        var payloadBytes: Int? = nil
        /// The template; nil when NULL or over `ExecutionLimits.templateBytes` (size only, as above).
        var template: String?
        var templateBytes: Int? = nil
        var timeZone: String
        /// The database clock at the claim (Unix seconds): a Retry-After date is turned into a
        /// delay against it, so the host's clock never decides (contract §2 step 1).
        var claimedAt: Double = 0
    }

    /// What a status check needs.
    struct Check: Sendable {
        var executionId: String
        var timeoutSeconds: Int
        /// The execution was accepted more than `timeoutSeconds` ago (by the database clock).
        var pastTimeout: Bool
    }

    var kind: ExecutionKind { request.kind }

    /// The ids every log line about this invocation carries (contract §5), set once on the
    /// logger (`logger.with(identity)`) rather than rebuilt at each call site.
    var identity: LogIdentity {
        LogIdentity(
            tenant: tenantId, project: projectId, agent: agentId, trigger: triggerId, invocation: id, slot: slot)
    }

    /// What follows the ids on each line: the attempt, and for a check the execution asked about.
    var attemptFields: [(String, LogValue)] {
        var fields: [(String, LogValue)] = [("attempt", .int(attempt))]
        if case .check(let check) = request { fields.append(("execution", .string(check.executionId))) }
        return fields
    }

    enum Request: Sendable {
        case post(Post)
        case check(Check)

        var kind: ExecutionKind {
            switch self {
            case .post: return .post
            case .check: return .check
            }
        }
    }
}

/// What becomes of a claimed invocation (contract §4.2 and §4.3 tables).
enum ExecutionAction: String, Sendable, CaseIterable {
    /// POST 2xx with a run id: running, execution recorded, next check after the reconcile interval.
    case accepted
    /// POST 2xx without one, or the status check said completed.
    case completed
    /// Back to pending with attempt + 1 and a backoff.
    case retry
    case failed
    /// Check: still running (or the answer was unusable); ask again after the reconcile interval.
    case wait
    /// 401/403: given back (as `release`) and the cycle stops.
    case rejected
    /// Never sent or never asked (a stop): given back, nothing else changes.
    case release

    /// What recording it counts and logs. One table for both kinds, so a POST and a status
    /// check can never count the same action differently.
    var effect: (counter: WritableKeyPath<CycleReport, Int>?, level: LogLevel, event: String) {
        switch self {
        case .accepted: return (\.accepted, .info, "invocation.accepted")
        case .completed: return (\.completed, .info, "invocation.completed")
        case .retry: return (\.retried, .warning, "invocation.retry")
        case .failed: return (\.failed, .warning, "invocation.failed")
        case .wait: return (nil, .debug, "invocation.still_running")
        // A 401/403 gives the invocation back untouched (pending after a POST, running without
        // a lease after a check): it is `released` after either request. A check's used to
        // count as `reconciled`, but the endpoint said nothing about the execution.
        case .rejected: return (\.released, .error, "invocation.credentials_rejected")
        case .release: return (\.released, .info, "invocation.released")
        }
    }

    /// The endpoint answered about this invocation (counted by `ExecutionKind.answeredCounter`);
    /// false when it was given back.
    var answered: Bool { self != .release && self != .rejected }
}

/// What to do with a claimed invocation after its request (or instead of it).
struct ExecutionOutcome: Sendable {
    var invocation: ClaimedInvocation
    var action: ExecutionAction
    var httpStatus: Int? = nil
    var error: String? = nil
    /// accepted: the run id the POST answered with.
    var executionId: String? = nil
    /// Check: the answer's `conversationId`, when it can be stored.
    var conversationId: String? = nil
    /// Check: why the answer's `conversationId` was not kept (too long, not printable, echoes the key).
    var droppedConversation: String? = nil
    /// retry: seconds of backoff from now; accepted and wait: seconds until the next status check.
    var delaySeconds: Double? = nil

    var status: String {
        switch action {
        case .accepted, .wait: return "running"
        case .completed: return "completed"
        case .failed: return "failed"
        case .retry: return "pending"
        case .rejected, .release: return invocation.kind.releasedStatus
        }
    }

    /// The counters recording it adds one to.
    var counters: [WritableKeyPath<CycleReport, Int>] {
        var counters: [WritableKeyPath<CycleReport, Int>] = []
        if action.answered, let answered = invocation.kind.answeredCounter { counters.append(answered) }
        if let counter = action.effect.counter { counters.append(counter) }
        return counters
    }

    /// What the endpoint answered, for the log line (after the invocation's ids and `attemptFields`).
    var answerFields: [(String, LogValue)] {
        var fields: [(String, LogValue)] = []
        if let httpStatus { fields.append(("http_status", .int(httpStatus))) }
        if let error { fields.append(("error", .string(error))) }
        return fields
    }

    /// What the action's log line adds after the answer.
    var actionFields: [(String, LogValue)] {
        switch action {
        case .accepted: return [("execution", .string(executionId ?? ""))]
        case .retry: return [("delay_seconds", .double(delaySeconds ?? 0))]
        default: return []
        }
    }
}

/// Turns answers into outcomes. Pure: no clock, no database; randomness is a parameter.
struct OutcomeRules: Sendable {
    var settings: ExecutionSettings
    /// The key, for redaction of anything the endpoint sends back.
    var secret: String
    var jitter: @Sendable () -> Double = { Double.random(in: 1...1.3) }

    static let bodyLimit = ExecutionLimits.errorBodyBytes

    /// The answer table of the invocation's kind.
    func outcome(for invocation: ClaimedInvocation, _ result: HTTPResult) -> ExecutionOutcome {
        switch invocation.request {
        case .post(let post): return postOutcome(invocation, post, result)
        case .check(let check): return checkOutcome(invocation, check, result)
        }
    }

    /// Contract §4.2.
    private func postOutcome(_ run: ClaimedInvocation, _ post: ClaimedInvocation.Post, _ result: HTTPResult)
        -> ExecutionOutcome
    {
        switch result {
        case .transportFailure(let failure):
            return retryOrFail(run, httpStatus: nil, error: transportError(failure))
        case .response(let response):
            let status = response.status
            switch status {
            case 200..<300:
                if let runId = response.header("x-workflow-run-id"), !runId.isEmpty {
                    // The run started, but an id we cannot store or ask about cannot be followed:
                    // fail this invocation alone rather than the batch's UPDATE.
                    if let problem = identifierProblem(runId) {
                        return ExecutionOutcome(
                            invocation: run, action: .failed, httpStatus: status,
                            error: "endpoint returned an unusable run id: \(problem)")
                    }
                    return ExecutionOutcome(
                        invocation: run, action: .accepted, httpStatus: status, executionId: runId,
                        delaySeconds: settings.reconcileIntervalSeconds)
                }
                return ExecutionOutcome(invocation: run, action: .completed, httpStatus: status)
            case 401, 403:
                return rejected(run, response)
            case 408, 429, 500..<600:
                var outcome = retryOrFail(run, httpStatus: status, error: describe(response))
                if status == 429, outcome.action == .retry, let header = response.header("retry-after"),
                    let wait = RetryAfter.parse(header)?.delay(now: post.claimedAt)
                {
                    outcome.delaySeconds = max(outcome.delaySeconds ?? 0, wait.seconds)
                    if wait.capped {
                        outcome.error = clip(
                            "\(outcome.error ?? describe(response)) (Retry-After of \(formatSeconds(wait.requested.rounded())) s "
                                + "capped at \(formatSeconds(ExecutionLimits.retryAfterCapSeconds)) s)")
                    }
                }
                return outcome
            case 300..<400:
                let location = response.header("location").map { " to \(clean($0))" } ?? ""
                return ExecutionOutcome(
                    invocation: run, action: .failed, httpStatus: status,
                    error: "redirect\(location) not followed: " + describe(response))
            default:
                return ExecutionOutcome(invocation: run, action: .failed, httpStatus: status, error: describe(response))
            }
        }
    }

    /// Contract §4.3.
    private func checkOutcome(_ run: ClaimedInvocation, _ check: ClaimedInvocation.Check, _ result: HTTPResult)
        -> ExecutionOutcome
    {
        let timedOut = "timed out: still running \(check.timeoutSeconds) s after it was accepted"
        // No usable answer: asked again after the reconcile interval, unless the timeout passed.
        func wait(httpStatus: Int?, error: String?) -> ExecutionOutcome {
            if check.pastTimeout { return retryOrFail(run, httpStatus: httpStatus, error: timedOut) }
            return ExecutionOutcome(
                invocation: run, action: .wait, httpStatus: httpStatus, error: error,
                delaySeconds: settings.reconcileIntervalSeconds)
        }
        switch result {
        case .transportFailure(let failure):
            return wait(httpStatus: nil, error: transportError(failure))
        case .response(let response):
            switch response.status {
            case 200..<300:
                if response.bodyTruncated {
                    return wait(
                        httpStatus: response.status,
                        error: "unreadable execution status: the answer is over \(ExecutionLimits.statusBodyBytes) bytes")
                }
                let document = try? JSONValue.parse(response.bodyText, maximumBytes: ExecutionLimits.statusBodyBytes)
                // A conversation id we could not store whole is dropped (and logged); the answer
                // counts as it would without one.
                var conversation = document?["conversationId"]?.stringValue
                var dropped: String?
                if let candidate = conversation, let problem = identifierProblem(candidate) {
                    conversation = nil
                    dropped = problem
                }
                func keeping(_ outcome: ExecutionOutcome) -> ExecutionOutcome {
                    var outcome = outcome
                    outcome.conversationId = conversation
                    outcome.droppedConversation = dropped
                    return outcome
                }
                switch document?["status"]?.stringValue {
                case "completed"?:
                    return keeping(ExecutionOutcome(invocation: run, action: .completed, httpStatus: response.status))
                case "failed"?:
                    return keeping(retryOrFail(run, httpStatus: response.status, error: "execution failed"))
                case "running"?, "suspended"?:
                    return keeping(wait(httpStatus: response.status, error: nil))
                default:
                    return wait(httpStatus: response.status, error: "unreadable execution status: " + describe(response))
                }
            case 404:
                return ExecutionOutcome(
                    invocation: run, action: .failed, httpStatus: 404,
                    error: "execution not found: " + describe(response))
            case 401, 403:
                return rejected(run, response)
            default:
                return wait(httpStatus: response.status, error: describe(response))
            }
        }
    }

    private func rejected(_ run: ClaimedInvocation, _ response: HTTPResponse) -> ExecutionOutcome {
        ExecutionOutcome(
            invocation: run, action: .rejected, httpStatus: response.status,
            error: "credentials rejected: " + describe(response))
    }

    /// `retry_delay_seconds × 2^(attempt−1) × [1, 1.3]`, or failed once `max_retries` retries
    /// have been spent (attempt 1 is the original, so attempt n is retry n − 1).
    func backoff(attempt: Int, maxRetries: Int, retryDelaySeconds: Int) -> Double? {
        guard attempt <= maxRetries else { return nil }
        let exponent = Double(1 << min(max(attempt - 1, 0), 20))
        return Double(retryDelaySeconds) * exponent * jitter()
    }

    /// The one retry rule of both tables: a retry with the backoff, or failed with the count.
    func retryOrFail(_ run: ClaimedInvocation, httpStatus: Int?, error: String) -> ExecutionOutcome {
        guard let delay = backoff(attempt: run.attempt, maxRetries: run.maxRetries, retryDelaySeconds: run.retryDelaySeconds)
        else {
            return ExecutionOutcome(
                invocation: run, action: .failed, httpStatus: httpStatus,
                error: clip("\(error) (after \(run.attempt) attempts)"))
        }
        return ExecutionOutcome(invocation: run, action: .retry, httpStatus: httpStatus, error: error, delaySeconds: delay)
    }

    private func transportError(_ failure: HTTPTransportFailure) -> String {
        if failure.timedOut {
            return clip("timed out after \(formatSeconds(settings.requestTimeoutSeconds)) s: \(clean(failure.message))")
        }
        return clip(clean(failure.message))
    }

    /// `HTTP 500: {body}`, the body redacted and cut to 1 KiB.
    func describe(_ response: HTTPResponse) -> String {
        let body = Redaction.clip(clean(response.bodyText), maxBytes: OutcomeRules.bodyLimit)
        return clip(body.isEmpty ? "HTTP \(response.status)" : "HTTP \(response.status): \(body)")
    }

    /// The text without the key, however it was escaped. Redact before cutting, so a cut never
    /// leaves half a key behind.
    func clean(_ text: String) -> String { Redaction.redact(text, secret: secret) }

    func clip(_ text: String) -> String {
        Redaction.clip(Redaction.storable(text), maxBytes: OutcomeRules.bodyLimit + 200)
    }

    /// Why an id from the endpoint (run id, conversation id) cannot be stored, or nil when it
    /// can: 1–256 bytes of printable ASCII (0x21–0x7E) that do not echo the key. The message
    /// never quotes the id.
    func identifierProblem(_ id: String) -> String? {
        IdentifierRule.problem(id, secret: secret)
    }
}

/// The shape of ids the endpoint hands back, which are stored in varchar(256) columns and
/// sent back in a URL path.
enum IdentifierRule {
    static func problem(_ id: String, secret: String) -> String? {
        let size = id.utf8.count
        if size == 0 { return "empty" }
        if size > ExecutionLimits.identifierBytes {
            return "\(size) bytes, over \(ExecutionLimits.identifierBytes)"
        }
        if id.utf8.contains(where: { $0 < 0x21 || $0 > 0x7E }) {
            return "\(size) bytes, not all printable ASCII"
        }
        if Redaction.echoes(id, secret: secret) { return "it echoes the API key" }
        return nil
    }
}

/// `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP date.
enum RetryAfter: Equatable {
    case seconds(Double)
    /// Unix seconds.
    case date(Double)

    static func parse(_ text: String) -> RetryAfter? {
        let value = Substring(text).trimmingSpaces
        if !value.isEmpty, value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            // Saturating: any number of digits is a delay, a huge one simply gets capped.
            let digits = value.drop { $0 == "0" }
            return .seconds(digits.count > 12 ? 1e12 : Double(Int(digits) ?? 0))
        }
        return httpDate(value).map { .date($0) }
    }

    /// The delay from `now` (Unix seconds, the database's clock), at most
    /// `ExecutionLimits.retryAfterCapSeconds`; `requested` is what the endpoint asked for.
    func delay(now: Double) -> (seconds: Double, requested: Double, capped: Bool) {
        let requested: Double
        switch self {
        case .seconds(let seconds): requested = seconds
        case .date(let instant): requested = max(0, instant - now)
        }
        let cap = ExecutionLimits.retryAfterCapSeconds
        return (min(requested, cap), requested, requested > cap)
    }

    /// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form servers must send, as Unix
    /// seconds; nil for anything else, an impossible date (31 Feb) included.
    static func httpDate(_ text: String) -> Double? {
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[0].hasSuffix(","), parts[5] == "GMT",
            parts[1].count <= 2, let day = Int(parts[1]),
            let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
                .firstIndex(of: String(parts[2])),
            parts[3].count == 4, parts[3].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let year = Int(parts[3]), year >= 1
        else { return nil }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let monthDays = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month]
        let clock = parts[4].split(separator: ":")
        guard (1...monthDays).contains(day), clock.count == 3, clock.allSatisfy({ $0.count == 2 }),
            let hour = Int(clock[0]), let minute = Int(clock[1]), let second = Int(clock[2]),
            (0..<24).contains(hour), (0..<60).contains(minute), (0...60).contains(second)
        else { return nil }
        // A leap second (:60) counts as :59; the calendar is the cron engine's (Schedules).
        let instant = Instant(
            year: year, month: month + 1, day: day, hour: hour, minute: minute, second: min(second, 59))
        return Double(instant.secondsSinceEpoch)
    }
}

func formatSeconds(_ value: Double) -> String {
    value == value.rounded() ? String(Int(value)) : String(value)
}
