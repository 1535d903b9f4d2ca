#if canImport(Glibc)
import Glibc
#endif

/// A claimed invocation about to be posted, with what the request needs from its trigger.
struct ClaimedRun: Sendable {
    var tenantId: String
    var id: String
    var projectId: String
    var agentId: String
    var triggerId: String
    var ref: String
    /// `YYYY-MM-DDTHH:MM:SS.sssZ`, as PostgreSQL formatted it.
    var slot: String
    var idempotencyKey: String
    var attempt: Int
    /// The lease this dispatcher holds, as PostgreSQL's text: results are recorded only while
    /// the row still carries it, so a dispatcher whose lease ran out never overwrites another's.
    var lease: String
    var payload: String?
    var template: String?
    var timeZone: String
    var runAsUserId: String?
    var maxRetries: Int
    var retryDelaySeconds: Int
}

/// A claimed `running` invocation whose execution status is due to be asked.
struct ClaimedCheck: Sendable {
    var tenantId: String
    var id: String
    var projectId: String
    var agentId: String
    var triggerId: String
    var slot: String
    var attempt: Int
    var lease: String
    var executionId: String
    var runAsUserId: String?
    var maxRetries: Int
    var retryDelaySeconds: Int
    var timeoutSeconds: Int
    /// The execution was accepted more than `timeoutSeconds` ago (by the database clock).
    var pastTimeout: Bool
}

/// What to do with an invocation after its POST (SPEC §4 table).
struct PostOutcome: Sendable {
    enum Action: String, Sendable {
        /// 2xx with a run id: running, execution recorded, next check after the reconcile interval.
        case accepted
        /// 2xx without one.
        case completed
        /// Back to pending with attempt + 1 and a backoff.
        case retry
        case failed
        /// 401/403: back to pending, attempt and next_attempt_at untouched.
        case rejected
        /// Never sent (stop or rejected credentials): back to pending, nothing else changes.
        case release
    }

    var run: ClaimedRun
    var action: Action
    var httpStatus: Int? = nil
    var error: String? = nil
    var executionId: String? = nil
    /// retry: seconds of backoff from now; accepted: seconds until the first status check.
    var delaySeconds: Double? = nil
    /// retry: a Retry-After date (`YYYY-MM-DD HH:MM:SS+00`), the earliest next attempt.
    var notBefore: String? = nil

    var status: String {
        switch action {
        case .accepted: return "running"
        case .completed: return "completed"
        case .failed: return "failed"
        case .retry, .rejected, .release: return "pending"
        }
    }
}

/// What to do with a running invocation after its status GET (SPEC §4, reconcile).
struct CheckOutcome: Sendable {
    enum Action: String, Sendable {
        case completed
        case retry
        case failed
        /// Still running (or the answer was unusable): ask again after the reconcile interval.
        case wait
        /// 401/403: stays running with its lease cleared.
        case rejected
        /// Never asked (stop): lease cleared so the next cycle asks.
        case release
    }

    var check: ClaimedCheck
    var action: Action
    var httpStatus: Int? = nil
    var error: String? = nil
    var conversationId: String? = nil
    var delaySeconds: Double? = nil

    var status: String {
        switch action {
        case .completed: return "completed"
        case .failed: return "failed"
        case .retry: return "pending"
        case .wait, .rejected, .release: return "running"
        }
    }
}

/// Turns answers into outcomes. Pure: no clock, no database; randomness is a parameter.
struct OutcomeRules: Sendable {
    var settings: ExecutionSettings
    /// The key, for redaction of anything the endpoint sends back.
    var secret: String
    var jitter: @Sendable () -> Double = { Double.random(in: 1...1.3) }

    static let bodyLimit = 1024

    func outcome(for run: ClaimedRun, _ result: HTTPResult) -> PostOutcome {
        switch result {
        case .transportFailure(let failure):
            return retryOrFail(run, httpStatus: nil, error: transportError(failure))
        case .response(let response):
            let status = response.status
            switch status {
            case 200..<300:
                if let runId = response.header("x-workflow-run-id"), !runId.isEmpty {
                    return PostOutcome(
                        run: run, action: .accepted, httpStatus: status, executionId: runId,
                        delaySeconds: settings.reconcileIntervalSeconds)
                }
                return PostOutcome(run: run, action: .completed, httpStatus: status)
            case 401, 403:
                return PostOutcome(
                    run: run, action: .rejected, httpStatus: status,
                    error: "credentials rejected: " + describe(response))
            case 408, 429, 500..<600:
                var outcome = retryOrFail(run, httpStatus: status, error: describe(response))
                if status == 429, outcome.action == .retry, let header = response.header("retry-after") {
                    switch RetryAfter.parse(header) {
                    case .seconds(let seconds)?:
                        outcome.delaySeconds = max(outcome.delaySeconds ?? 0, seconds)
                    case .date(let timestamp)?:
                        outcome.notBefore = timestamp
                    case nil:
                        break
                    }
                }
                return outcome
            case 300..<400:
                let location = response.header("location").map { " to \(clean($0))" } ?? ""
                return PostOutcome(
                    run: run, action: .failed, httpStatus: status,
                    error: "redirect\(location) not followed: " + describe(response))
            default:
                return PostOutcome(run: run, action: .failed, httpStatus: status, error: describe(response))
            }
        }
    }

    func outcome(for check: ClaimedCheck, _ result: HTTPResult) -> CheckOutcome {
        let timedOut = "timed out: still running \(check.timeoutSeconds) s after it was accepted"
        switch result {
        case .transportFailure(let failure):
            if check.pastTimeout { return retryOrFail(check, httpStatus: nil, error: timedOut) }
            return CheckOutcome(
                check: check, action: .wait, error: transportError(failure),
                delaySeconds: settings.reconcileIntervalSeconds)
        case .response(let response):
            switch response.status {
            case 200..<300:
                let document = try? JSONValue.parse(response.bodyText)
                let conversation = document?["conversationId"]?.stringValue
                switch document?["status"]?.stringValue {
                case "completed"?:
                    return CheckOutcome(
                        check: check, action: .completed, httpStatus: response.status, conversationId: conversation)
                case "failed"?:
                    var outcome = retryOrFail(check, httpStatus: response.status, error: "execution failed")
                    outcome.conversationId = conversation
                    return outcome
                case "running"?, "suspended"?:
                    if check.pastTimeout {
                        var outcome = retryOrFail(check, httpStatus: response.status, error: timedOut)
                        outcome.conversationId = conversation
                        return outcome
                    }
                    return CheckOutcome(
                        check: check, action: .wait, httpStatus: response.status, conversationId: conversation,
                        delaySeconds: settings.reconcileIntervalSeconds)
                default:
                    if check.pastTimeout { return retryOrFail(check, httpStatus: response.status, error: timedOut) }
                    return CheckOutcome(
                        check: check, action: .wait, httpStatus: response.status,
                        error: "unreadable execution status: " + describe(response),
                        delaySeconds: settings.reconcileIntervalSeconds)
                }
            case 404:
                return CheckOutcome(
                    check: check, action: .failed, httpStatus: 404,
                    error: "execution not found: " + describe(response))
            case 401, 403:
                return CheckOutcome(
                    check: check, action: .rejected, httpStatus: response.status,
                    error: "credentials rejected: " + describe(response))
            default:
                if check.pastTimeout { return retryOrFail(check, httpStatus: response.status, error: timedOut) }
                return CheckOutcome(
                    check: check, action: .wait, httpStatus: response.status, error: describe(response),
                    delaySeconds: settings.reconcileIntervalSeconds)
            }
        }
    }

    /// `retry_delay_seconds × 2^(attempt−1) × [1, 1.3]`, or failed once `max_retries` retries
    /// have been spent (attempt 1 is the original, so attempt n is retry n − 1).
    func backoff(attempt: Int, maxRetries: Int, retryDelaySeconds: Int) -> Double? {
        guard attempt <= maxRetries else { return nil }
        let exponent = Double(1 << min(max(attempt - 1, 0), 20))
        return Double(retryDelaySeconds) * exponent * jitter()
    }

    private func retryOrFail(_ run: ClaimedRun, httpStatus: Int?, error: String) -> PostOutcome {
        guard let delay = backoff(attempt: run.attempt, maxRetries: run.maxRetries, retryDelaySeconds: run.retryDelaySeconds)
        else {
            return PostOutcome(
                run: run, action: .failed, httpStatus: httpStatus,
                error: clip("\(error) (after \(run.attempt) attempts)"))
        }
        return PostOutcome(run: run, action: .retry, httpStatus: httpStatus, error: error, delaySeconds: delay)
    }

    private func retryOrFail(_ check: ClaimedCheck, httpStatus: Int?, error: String) -> CheckOutcome {
        guard
            let delay = backoff(
                attempt: check.attempt, maxRetries: check.maxRetries, retryDelaySeconds: check.retryDelaySeconds)
        else {
            return CheckOutcome(
                check: check, action: .failed, httpStatus: httpStatus,
                error: clip("\(error) (after \(check.attempt) attempts)"))
        }
        return CheckOutcome(check: check, action: .retry, httpStatus: httpStatus, error: error, delaySeconds: delay)
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

    /// The text without the key (raw or percent-encoded). Redact before cutting, so a cut never
    /// leaves half a key behind.
    func clean(_ text: String) -> String { Redaction.redact(text, secret: secret) }

    func clip(_ text: String) -> String { Redaction.clip(text, maxBytes: OutcomeRules.bodyLimit + 100) }
}

enum Redaction {
    static func redact(_ text: String, secret: String) -> String {
        guard !secret.isEmpty else { return text }
        var result = text.replacing(secret, with: "****")
        for variant in [percentEncoded(secret), jsonEscaped(secret)] where variant != secret {
            result = result.replacing(variant, with: "****")
        }
        return result
    }

    /// At most `maxBytes` of UTF-8, cut on a character boundary.
    static func clip(_ text: String, maxBytes: Int) -> String {
        guard text.utf8.count > maxBytes else { return text }
        var result = ""
        var used = 0
        for character in text {
            let size = character.utf8.count
            if used + size > maxBytes - 3 { break }
            result.append(character)
            used += size
        }
        return result + "…"
    }

    static func percentEncoded(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            let unreserved = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A)
                || (byte >= 0x61 && byte <= 0x7A) || byte == 0x2D || byte == 0x2E || byte == 0x5F || byte == 0x7E
            if unreserved {
                result.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = Array("0123456789ABCDEF")
                result += "%" + String(hex[Int(byte >> 4)]) + String(hex[Int(byte & 0xF)])
            }
        }
        return result
    }

    static func jsonEscaped(_ text: String) -> String {
        let quoted = JSONValue.quoted(text)
        return String(quoted.dropFirst().dropLast()).replacing("/", with: "\\/")
    }
}

/// `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP date.
enum RetryAfter: Equatable {
    case seconds(Double)
    /// `YYYY-MM-DD HH:MM:SS+00`, for PostgreSQL.
    case date(String)

    static func parse(_ text: String) -> RetryAfter? {
        let value = Substring(text).trimmingSpaces
        if !value.isEmpty, value.allSatisfy({ $0.isASCII && $0.isNumber }), let seconds = Int(value.prefix(9)) {
            return .seconds(Double(seconds))
        }
        return httpDate(value).map { .date($0) }
    }

    /// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form servers must send.
    static func httpDate(_ text: String) -> String? {
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[0].hasSuffix(","), parts[5] == "GMT",
            let day = Int(parts[1]), (1...31).contains(day),
            let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
                .firstIndex(of: String(parts[2])),
            parts[3].count == 4, let year = Int(parts[3])
        else { return nil }
        let clock = parts[4].split(separator: ":")
        guard clock.count == 3, let hour = Int(clock[0]), let minute = Int(clock[1]), let second = Int(clock[2]),
            (0..<24).contains(hour), (0..<60).contains(minute), (0...60).contains(second)
        else { return nil }
        func pad(_ value: Int) -> String { value < 10 ? "0\(value)" : String(value) }
        return "\(year)-\(pad(month + 1))-\(pad(day)) \(pad(hour)):\(pad(minute)):\(pad(min(second, 59)))+00"
    }
}

func formatSeconds(_ value: Double) -> String {
    value == value.rounded() ? String(Int(value)) : String(value)
}
