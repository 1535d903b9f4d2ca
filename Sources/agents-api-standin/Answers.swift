#if canImport(Glibc)
import Glibc
#endif

/// How the stand-in answers `POST /run/api/executions`. A mode is a comma-separated list
/// used one answer per request, the last repeating: `status:500,accept`.
enum PostAnswer: Equatable, Sendable {
    /// 200, `text/event-stream`, `x-workflow-run-id`, then an event stream that never ends.
    case accept
    /// 200 with a short finite body and no run id.
    case acceptWithoutRunId
    /// Any status with a JSON error body (3xx get a `Location`).
    case status(Int)
    /// 429 with `Retry-After: {seconds}`.
    case tooManyRequests(seconds: Int)
    /// 429 with `Retry-After` as an HTTP date `seconds` from now.
    case tooManyRequestsUntil(seconds: Int)
    /// 400 whose body echoes the Authorization header (to test redaction).
    case badRequestEcho
    /// Waits, then accepts.
    case slow(milliseconds: Int)
    /// Never answers; holds the connection until the client gives up.
    case hang
    /// Sends half a status line and headers, then closes the connection.
    case closeMidAnswer

    static func parse(_ text: String) -> PostAnswer? {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        let argument = parts.count > 1 ? Int(parts[1]) : nil
        switch parts[0] {
        case "accept": return .accept
        case "accept-no-run-id", "accept-without-run-id": return .acceptWithoutRunId
        case "status": return argument.map { .status($0) }
        case "500", "401", "403", "400", "404", "408", "302", "503": return .status(Int(parts[0])!)
        case "429": return .tooManyRequests(seconds: argument ?? 30)
        case "429-date": return .tooManyRequestsUntil(seconds: argument ?? 30)
        case "400-echo", "echo": return .badRequestEcho
        case "slow": return .slow(milliseconds: argument ?? 2000)
        case "hang": return .hang
        case "close": return .closeMidAnswer
        default: return nil
        }
    }
}

/// How the stand-in answers `GET /run/api/executions/{id}`.
enum GetAnswer: Equatable, Sendable {
    /// 200 with this execution status (`running`, `suspended`, `completed`, `failed`).
    case execution(String)
    /// Any other status with a JSON error body (404, 500, 401 …).
    case status(Int)
    case hang

    static func parse(_ text: String) -> GetAnswer? {
        switch text {
        case "running", "suspended", "completed", "failed": return .execution(text)
        case "hang": return .hang
        default:
            let digits = text.hasPrefix("status:") ? String(text.dropFirst(7)) : text
            guard let code = Int(digits), (100..<600).contains(code) else { return nil }
            return .status(code)
        }
    }
}

/// A list of answers handed out one per request; the last one repeats.
struct AnswerSequence<Answer: Sendable>: Sendable {
    var answers: [Answer]
    var next = 0

    mutating func take() -> Answer {
        let answer = answers[min(next, answers.count - 1)]
        next += 1
        return answer
    }

    static func parse(_ text: String, _ one: (String) -> Answer?) -> AnswerSequence? {
        let answers = text.split(separator: ",").map { one(String($0)) }
        guard !answers.isEmpty, !answers.contains(where: { $0 == nil }) else { return nil }
        return AnswerSequence(answers: answers.map { $0! })
    }
}

func reasonPhrase(_ status: Int) -> String {
    switch status {
    case 200: return "OK"
    case 202: return "Accepted"
    case 204: return "No Content"
    case 301: return "Moved Permanently"
    case 302: return "Found"
    case 400: return "Bad Request"
    case 401: return "Unauthorized"
    case 403: return "Forbidden"
    case 404: return "Not Found"
    case 408: return "Request Timeout"
    case 429: return "Too Many Requests"
    case 500: return "Internal Server Error"
    case 502: return "Bad Gateway"
    case 503: return "Service Unavailable"
    default: return "Status"
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`, `seconds` from now.
func httpDate(secondsFromNow seconds: Int) -> String {
    var now = time(nil) + seconds
    var parts = tm()
    gmtime_r(&now, &parts)
    let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    func pad(_ value: Int32) -> String { value < 10 ? "0\(value)" : String(value) }
    return "\(days[Int(parts.tm_wday)]), \(pad(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
        + "\(pad(parts.tm_hour)):\(pad(parts.tm_min)):\(pad(parts.tm_sec)) GMT"
}

/// `2026-03-08T07:00:00.123Z`.
func isoNow() -> String {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    var seconds = spec.tv_sec
    var parts = tm()
    gmtime_r(&seconds, &parts)
    func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
    return "\(pad(Int(parts.tm_year) + 1900, 4))-\(pad(Int(parts.tm_mon) + 1, 2))-\(pad(Int(parts.tm_mday), 2))T"
        + "\(pad(Int(parts.tm_hour), 2)):\(pad(Int(parts.tm_min), 2)):\(pad(Int(parts.tm_sec), 2))."
        + "\(pad(spec.tv_nsec / 1_000_000, 3))Z"
}

/// A JSON string literal.
func jsonQuoted(_ text: String) -> String {
    var output = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": output += "\\\""
        case "\\": output += "\\\\"
        case "\n": output += "\\n"
        case "\r": output += "\\r"
        case "\t": output += "\\t"
        case _ where scalar.value < 0x20:
            let hex = Array("0123456789abcdef")
            output += "\\u00" + String(hex[Int(scalar.value >> 4)]) + String(hex[Int(scalar.value & 0xF)])
        default: output.unicodeScalars.append(scalar)
        }
    }
    return output + "\""
}

/// Decodes `%XX` and `+` in a query component.
func percentDecoded(_ text: Substring) -> String {
    var bytes: [UInt8] = []
    var iterator = Array(text.utf8)[...]
    while let byte = iterator.popFirst() {
        if byte == UInt8(ascii: "%"), iterator.count >= 2,
            let value = UInt8(String(decoding: iterator.prefix(2), as: UTF8.self), radix: 16)
        {
            bytes.append(value)
            iterator = iterator.dropFirst(2)
        } else if byte == UInt8(ascii: "+") {
            bytes.append(UInt8(ascii: " "))
        } else {
            bytes.append(byte)
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}
