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
    /// A misbehaving answer, written byte for byte (see `CraftedPost`).
    case crafted(CraftedPost)

    static func parse(_ text: String) -> PostAnswer? {
        if let crafted = CraftedPost.parse(text) { return .crafted(crafted) }
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
    /// A misbehaving answer (see `CraftedStatus`).
    case crafted(CraftedStatus)

    static func parse(_ text: String) -> GetAnswer? {
        if let crafted = CraftedStatus.parse(text) { return .crafted(crafted) }
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

/// A list of answers handed out one per request; the last one repeats. Lists for single
/// tenants may follow after `;`: `accept;evil=run-id-long:300` answers requests whose
/// `x-inkeep-tenant-id` is `evil` from their own list, everyone else from the first.
struct AnswerSequence<Answer: Sendable>: Sendable {
    var answers: [Answer]
    var next = 0
    var byTenant: [String: AnswerSequence<Answer>] = [:]

    init(answers: [Answer]) { self.answers = answers }

    mutating func take() -> Answer {
        let answer = answers[min(next, answers.count - 1)]
        next += 1
        return answer
    }

    mutating func take(tenant: String?) -> Answer {
        if let tenant, byTenant[tenant] != nil { return byTenant[tenant]!.take() }
        return take()
    }

    static func parse(_ text: String, _ one: (String) -> Answer?) -> AnswerSequence? {
        var groups = text.split(separator: ";", omittingEmptySubsequences: false)
        guard var sequence = list(groups.removeFirst(), one) else { return nil }
        for group in groups {
            guard let equals = group.firstIndex(of: "="), let tenantList = list(group[group.index(after: equals)...], one)
            else { return nil }
            sequence.byTenant[String(group[..<equals])] = tenantList
        }
        return sequence
    }

    private static func list(_ text: Substring, _ one: (String) -> Answer?) -> AnswerSequence? {
        let answers = text.split(separator: ",").map { one(String($0)) }
        guard !answers.isEmpty, !answers.contains(where: { $0 == nil }) else { return nil }
        return AnswerSequence(answers: answers.map { $0! })
    }
}

/// Ways to write the API key back, for redaction tests. Each byte of the key is written:
/// `raw` as is; `percent` as `%XX` unless unreserved; `percent-lower` the same in lower-case
/// hex; `percent-all` every byte as `%XX` (unreserved ones too: `%2D`); `percent-all-lower`;
/// `json-u` every byte as `\u00xx`; `json-u-upper` as `\u00XX`; `double` as `%25XX`;
/// `html` as `&#NN;`; `mixed` cycling through raw, `%xx`, `\u00XX`, `%XX`, `&#xNN;`.
enum KeyEncoding: String, CaseIterable, Sendable {
    case raw, percent
    case percentLower = "percent-lower"
    case percentAll = "percent-all"
    case percentAllLower = "percent-all-lower"
    case jsonU = "json-u"
    case jsonUUpper = "json-u-upper"
    case double, html, mixed

    func encode(_ key: String) -> String {
        var output = ""
        for (index, byte) in key.utf8.enumerated() {
            let unreserved = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A)
                || (byte >= 0x61 && byte <= 0x7A) || byte == 0x2D || byte == 0x2E || byte == 0x5F || byte == 0x7E
            let raw = String(decoding: [byte], as: UTF8.self)
            func hex(_ upper: Bool) -> String {
                let digits = Array(upper ? "0123456789ABCDEF" : "0123456789abcdef")
                return String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 0xF)])
            }
            switch self {
            case .raw: output += raw
            case .percent: output += unreserved ? raw : "%" + hex(true)
            case .percentLower: output += unreserved ? raw : "%" + hex(false)
            case .percentAll: output += "%" + hex(true)
            case .percentAllLower: output += "%" + hex(false)
            case .jsonU: output += "\\u00" + hex(false)
            case .jsonUUpper: output += "\\u00" + hex(true)
            case .double: output += "%25" + hex(true)
            case .html: output += "&#\(byte);"
            case .mixed:
                switch index % 5 {
                case 0: output += raw
                case 1: output += "%" + hex(false)
                case 2: output += "\\u00" + hex(true)
                case 3: output += "%" + hex(true)
                default: output += "&#x" + hex(false) + ";"
                }
            }
        }
        return output
    }
}

/// POST answers that misbehave on purpose (the poison answers of issue 11):
/// `run-id-long:N` (a run id of N bytes), `run-id-late:N` (the run id as header N),
/// `run-id-control`, `run-id-utf8`, `run-id-echo:ENCODING` (the key inside the run id),
/// `echo:ENCODING` (400 whose body has the key), `headers-huge` (200 with 80 KiB of headers),
/// `429-year-9999` (Retry-After: Fri, 31 Dec 9999 23:59:59 GMT).
enum CraftedPost: Equatable, Sendable {
    case runIdLong(Int)
    case runIdLate(Int)
    case runIdControl
    case runIdUTF8
    case runIdEcho(KeyEncoding)
    case echo(KeyEncoding)
    case headersHuge
    case retryAfterYear9999

    static func parse(_ text: String) -> CraftedPost? {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        let argument = parts.count > 1 ? parts[1] : nil
        switch parts[0] {
        case "run-id-long": return argument.flatMap { Int($0) }.map { .runIdLong($0) }
        case "run-id-late": return argument.flatMap { Int($0) }.flatMap { $0 >= 1 ? .runIdLate($0) : nil }
        case "run-id-control": return .runIdControl
        case "run-id-utf8": return .runIdUTF8
        case "run-id-echo": return argument.flatMap(KeyEncoding.init(rawValue:)).map { .runIdEcho($0) }
        case "echo": return argument.flatMap(KeyEncoding.init(rawValue:)).map { .echo($0) }
        case "headers-huge": return .headersHuge
        case "429-year-9999": return .retryAfterYear9999
        default: return nil
        }
    }

    /// The whole answer; `key` is the bearer token the request carried.
    func response(key: String) -> [UInt8] {
        switch self {
        case .runIdLong(let size):
            return accepted(headers: ["x-workflow-run-id: run-" + String(repeating: "x", count: max(0, size - 4))])
        case .runIdLate(let position):
            // Header number `position` of the answer, counting from its first header line.
            let fillers = (1..<position).map { "x-filler-\($0): \($0)" }
            return answer(
                200, headers: fillers + ["x-workflow-run-id: run-late", "Content-Type: text/event-stream"],
                body: "event: done\ndata: {}\n\n")
        case .runIdControl:
            return accepted(headers: ["x-workflow-run-id: run\u{01}id"])
        case .runIdUTF8:
            return accepted(headers: ["x-workflow-run-id: run-\u{EF}d"])
        case .runIdEcho(let encoding):
            return accepted(headers: ["x-workflow-run-id: run-" + encoding.encode(key)])
        case .echo(let encoding):
            let body = "{\"error\":\"bad request; you sent key=\(encoding.encode(key))\"}"
            return answer(400, headers: ["Content-Type: application/json"], body: body)
        case .headersHuge:
            let value = String(repeating: "h", count: 1024)
            return accepted(headers: (1...80).map { "x-padding-\($0): \(value)" } + ["x-workflow-run-id: run-huge"])
        case .retryAfterYear9999:
            return answer(
                429, headers: ["Content-Type: application/json", "Retry-After: Fri, 31 Dec 9999 23:59:59 GMT"],
                body: "{\"error\":\"slow down\"}")
        }
    }

    private func accepted(headers: [String]) -> [UInt8] {
        answer(200, headers: ["Content-Type: text/event-stream"] + headers, body: "event: done\ndata: {}\n\n")
    }
}

/// GET answers that misbehave on purpose: `conversation-long:N` (status completed with a
/// conversationId of N bytes), `conversation-echo:ENCODING` (the key inside it).
enum CraftedStatus: Equatable, Sendable {
    case conversationLong(Int)
    case conversationEcho(KeyEncoding)

    static func parse(_ text: String) -> CraftedStatus? {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        let argument = parts.count > 1 ? parts[1] : nil
        switch parts[0] {
        case "conversation-long": return argument.flatMap { Int($0) }.map { .conversationLong($0) }
        case "conversation-echo": return argument.flatMap(KeyEncoding.init(rawValue:)).map { .conversationEcho($0) }
        default: return nil
        }
    }

    func response(id: String, key: String) -> [UInt8] {
        let conversation: String
        switch self {
        case .conversationLong(let size): conversation = "conv-" + String(repeating: "c", count: max(0, size - 5))
        case .conversationEcho(let encoding): conversation = "conv-" + encoding.encode(key)
        }
        let body = "{\"id\":\(jsonQuoted(id)),\"status\":\"completed\",\"conversationId\":\(jsonQuoted(conversation))}"
        return answer(200, headers: ["Content-Type: application/json"], body: body)
    }
}

/// A complete HTTP/1.1 answer that closes the connection after it.
func answer(_ status: Int, headers: [String], body: String) -> [UInt8] {
    var head = "HTTP/1.1 \(status) \(reasonPhrase(status))\r\n"
    for header in headers { head += header + "\r\n" }
    head += "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n"
    return Array((head + body).utf8)
}

/// The token of `Authorization: Bearer TOKEN`, or "".
func bearerToken(_ authorization: String?) -> String {
    guard let authorization, authorization.hasPrefix("Bearer ") else { return "" }
    return String(authorization.dropFirst(7))
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
