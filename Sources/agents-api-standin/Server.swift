#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// One parsed HTTP/1.1 request.
struct Request {
    var method: String
    var path: String
    var query: String
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    func header(_ name: String) -> String? { headers.first { $0.name == name }?.value }

    func queryValue(_ name: String) -> String? {
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.first.map(percentDecoded) == name { return parts.count > 1 ? percentDecoded(parts[1]) : "" }
        }
        return nil
    }
}

/// The stand-in's shared state: answer modes, counters and the record file, behind one lock.
final class StandInState: Sendable {
    struct Mutable: Sendable {
        var post: AnswerSequence<PostAnswer>
        var get: AnswerSequence<GetAnswer>
        var runs = 0
        var requests = 0
    }

    let state: Mutex<Mutable>
    let recordDescriptor: Int32
    let apiKey: String?
    /// `--latency-ms` and `--max-in-flight` (set once by main before serving).
    let pacer = Pacer()

    init(post: AnswerSequence<PostAnswer>, get: AnswerSequence<GetAnswer>, recordDescriptor: Int32, apiKey: String?) {
        state = Mutex(Mutable(post: post, get: get))
        self.recordDescriptor = recordDescriptor
        self.apiKey = apiKey
    }

    /// Appends one JSON line per request (method, path, query, headers, body). `shed` marks a
    /// request answered 429 by `--max-in-flight` (never shown to the answer modes).
    func record(_ request: Request, shed: Bool = false) {
        guard recordDescriptor >= 0 else { return }
        var line = "{\"method\":\(jsonQuoted(request.method)),\"path\":\(jsonQuoted(request.path)),"
        if shed { line += "\"shed\":true," }
        line += "\"query\":\(jsonQuoted(request.query)),\"headers\":{"
        for (index, header) in request.headers.enumerated() {
            if index > 0 { line += "," }
            line += "\(jsonQuoted(header.name)):\(jsonQuoted(header.value))"
        }
        line += "},\"body\":\(jsonQuoted(String(decoding: request.body, as: UTF8.self))),\"time\":\(jsonQuoted(isoNow()))}\n"
        state.withLock { _ in writeAll(recordDescriptor, Array(line.utf8)) }
    }
}

/// Serves one connection: requests in a keep-alive loop until the client closes.
final class Connection {
    let descriptor: Int32
    let shared: StandInState
    var buffer: [UInt8] = []

    init(descriptor: Int32, shared: StandInState) {
        self.descriptor = descriptor
        self.shared = shared
    }

    func serve() {
        defer { close(descriptor) }
        while let request = readRequest() {
            if !handle(request) { return }
            if request.header("connection")?.lowercased() == "close" { return }
        }
    }

    /// Answers one request; false ends the connection.
    func handle(_ request: Request) -> Bool {
        if request.path == "/_standin/mode" { return control(request) }
        // Pacing comes before the record, so a request's `time` is when its answer starts.
        guard shared.pacer.admitAndWait() else {
            shared.record(request, shed: true)
            return respond(429, json: "{\"error\":\"too many requests in flight\"}", extraHeaders: ["Retry-After: \(shared.pacer.retryAfterSeconds)"])
        }
        shared.record(request)
        shared.state.withLock { $0.requests += 1 }
        // A Pushgateway for `run --metrics-push`: a PUT of a metrics group is accepted (200, no body).
        if request.method == "PUT", request.path.hasPrefix("/metrics/job/") {
            return respond(200, contentType: nil, body: "")
        }
        if let key = shared.apiKey, request.header("authorization") != "Bearer \(key)" {
            return respond(401, json: "{\"error\":\"invalid API key\"}")
        }
        if request.method == "POST", request.path == "/run/api/executions" {
            return answerPost(request)
        }
        let prefix = "/run/api/executions/"
        if request.method == "GET", request.path.hasPrefix(prefix) {
            let id = percentDecoded(request.path.dropFirst(prefix.count))
            return answerGet(request, id: id)
        }
        return respond(404, json: "{\"error\":\"no route for \(request.method) \(request.path)\"}")
    }

    func answerPost(_ request: Request) -> Bool {
        let (answer, run) = shared.state.withLock { state -> (PostAnswer, Int) in
            let answer = state.post.take(tenant: request.header("x-inkeep-tenant-id"))
            if answer == .accept || { if case .slow = answer { return true } else { return false } }() {
                state.runs += 1
            }
            return (answer, state.runs)
        }
        switch answer {
        case .accept:
            return acceptStream(runId: "run-\(run)")
        case .slow(let milliseconds):
            usleep(UInt32(milliseconds) * 1000)
            return acceptStream(runId: "run-\(run)")
        case .acceptWithoutRunId:
            return respond(200, contentType: "text/event-stream", body: "event: done\ndata: {}\n\n")
        case .status(let code):
            var extra: [String] = []
            if (300..<400).contains(code) { extra.append("Location: http://127.0.0.1:1/elsewhere") }
            return respond(code, json: "{\"error\":\"stand-in answer \(code)\"}", extraHeaders: extra)
        case .tooManyRequests(let seconds):
            return respond(429, json: "{\"error\":\"slow down\"}", extraHeaders: ["Retry-After: \(seconds)"])
        case .tooManyRequestsUntil(let seconds):
            return respond(
                429, json: "{\"error\":\"slow down\"}", extraHeaders: ["Retry-After: \(httpDate(secondsFromNow: seconds))"])
        case .badRequestEcho:
            let echoed = request.header("authorization") ?? ""
            return respond(400, json: "{\"error\":\"invalid request; you sent authorization \(jsonQuoted(echoed).dropFirst().dropLast())\"}")
        case .hang:
            holdUntilClosed()
            return false
        case .closeMidAnswer:
            writeAll(descriptor, Array("HTTP/1.1 200 OK\r\nContent-Type: text/event-".utf8))
            return false
        case .crafted(let crafted):
            writeAll(descriptor, crafted.response(key: bearerToken(request.header("authorization"))))
            return false
        }
    }

    func answerGet(_ request: Request, id: String) -> Bool {
        let answer = shared.state.withLock { $0.get.take(tenant: request.header("x-inkeep-tenant-id")) }
        switch answer {
        case .execution(let status):
            let now = isoNow()
            let body = "{\"id\":\(jsonQuoted(id)),\"status\":\(jsonQuoted(status)),"
                + "\"conversationId\":\(jsonQuoted("conv-" + id)),"
                + "\"agentId\":\(jsonQuoted(request.header("x-inkeep-agent-id") ?? "")),"
                + "\"createdAt\":\(jsonQuoted(now)),\"updatedAt\":\(jsonQuoted(now))}"
            return respond(200, json: body)
        case .status(let code):
            return respond(code, json: "{\"error\":\"stand-in answer \(code)\"}")
        case .hang:
            holdUntilClosed()
            return false
        case .crafted(let crafted):
            writeAll(descriptor, crafted.response(id: id, key: bearerToken(request.header("authorization"))))
            return false
        }
    }

    /// `POST /_standin/mode?post=…&get=…` switches the answers (counters restart).
    func control(_ request: Request) -> Bool {
        let post = request.queryValue("post").map { AnswerSequence.parse($0, PostAnswer.parse) }
        let get = request.queryValue("get").map { AnswerSequence.parse($0, GetAnswer.parse) }
        if case .some(nil) = post { return respond(400, json: "{\"error\":\"unknown post answer\"}") }
        if case .some(nil) = get {
            return respond(400, json: "{\"error\":\"unknown answer\"}")
        }
        shared.state.withLock { state in
            if let post = post ?? nil { state.post = post }
            if let get = get ?? nil { state.get = get }
        }
        return respond(204, contentType: nil, body: "")
    }

    /// The accepted answer: headers, a first event, then an event stream that never ends.
    func acceptStream(runId: String) -> Bool {
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            + "x-workflow-run-id: \(runId)\r\nTransfer-Encoding: chunked\r\n\r\n"
        guard writeAll(descriptor, Array(head.utf8)) else { return false }
        let event = "event: run-started\ndata: {\"runId\":\(jsonQuoted(runId))}\n\n"
        let chunk = String(event.utf8.count, radix: 16) + "\r\n" + event + "\r\n"
        _ = writeAll(descriptor, Array(chunk.utf8))
        holdUntilClosed()
        return false
    }

    /// Blocks until the peer closes the connection (or a long safety timeout passes).
    func holdUntilClosed() {
        var scratch = [UInt8](repeating: 0, count: 4096)
        var waited = 0
        while waited < 600 {
            var descriptorSet = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptorSet, 1, 1000)
            if ready < 0, errno != EINTR { return }
            if ready == 0 { waited += 1; continue }
            let count = recv(descriptor, &scratch, scratch.count, 0)
            if count <= 0 { return }
        }
    }

    @discardableResult
    func respond(_ status: Int, json: String, extraHeaders: [String] = []) -> Bool {
        respond(status, contentType: "application/json", body: json, extraHeaders: extraHeaders)
    }

    @discardableResult
    func respond(_ status: Int, contentType: String?, body: String, extraHeaders: [String] = []) -> Bool {
        var head = "HTTP/1.1 \(status) \(reasonPhrase(status))\r\n"
        if let contentType { head += "Content-Type: \(contentType)\r\n" }
        for header in extraHeaders { head += header + "\r\n" }
        head += "Content-Length: \(body.utf8.count)\r\n\r\n"
        return writeAll(descriptor, Array((head + body).utf8))
    }

    /// Reads one request (headers, then a Content-Length body); nil when the connection ends.
    func readRequest() -> Request? {
        var headerEnd: Int?
        while true {
            if let end = findHeaderEnd() { headerEnd = end; break }
            if buffer.count > 64 * 1024 || !fill() { return nil }
        }
        guard let headerEnd else { return nil }
        let headText = String(decoding: buffer[..<headerEnd], as: UTF8.self)
        var lines = headText.split(separator: "\r\n", omittingEmptySubsequences: false)
        guard !lines.isEmpty else { return nil }
        let requestLine = lines.removeFirst().split(separator: " ")
        guard requestLine.count >= 2 else { return nil }
        let target = requestLine[1]
        let path: Substring
        let query: Substring
        if let mark = target.firstIndex(of: "?") {
            path = target[..<mark]
            query = target[target.index(after: mark)...]
        } else {
            path = target
            query = ""
        }
        var headers: [(name: String, value: String)] = []
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { continue }
            var value = line[line.index(after: colon)...]
            while value.first == " " || value.first == "\t" { value.removeFirst() }
            while value.last == " " || value.last == "\t" { value.removeLast() }
            headers.append((line[..<colon].lowercased(), String(value)))
        }
        let length = headers.first { $0.name == "content-length" }.flatMap { Int($0.value) } ?? 0
        let bodyStart = headerEnd + 4
        while buffer.count < bodyStart + length {
            if !fill() { return nil }
        }
        let body = Array(buffer[bodyStart..<(bodyStart + length)])
        buffer.removeFirst(bodyStart + length)
        return Request(
            method: String(requestLine[0]), path: String(path), query: String(query), headers: headers, body: body)
    }

    private func findHeaderEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for index in 0...(buffer.count - 4)
        where buffer[index] == 13 && buffer[index + 1] == 10 && buffer[index + 2] == 13 && buffer[index + 3] == 10 {
            return index
        }
        return nil
    }

    private func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = recv(descriptor, &chunk, chunk.count, 0)
            if count < 0, errno == EINTR { continue }
            if count <= 0 { return false }
            buffer.append(contentsOf: chunk[0..<count])
            return true
        }
    }
}

@discardableResult
func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) -> Bool {
    var offset = 0
    while offset < bytes.count {
        let written = bytes[offset...].withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if written < 0 {
            if errno == EINTR { continue }
            // Regular files (the record) do not support send(2).
            if errno == ENOTSOCK {
                let plain = bytes[offset...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
                if plain <= 0 { return false }
                offset += plain
                continue
            }
            return false
        }
        offset += written
    }
    return true
}

/// Listens on 127.0.0.1:`port` (0 picks a free port); returns the socket and the port.
func listenLoopback(port: Int) -> (descriptor: Int32, port: Int)? {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { return nil }
    var yes: Int32 = 1
    setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0, listen(descriptor, 4096) == 0 else { return nil }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    return (descriptor, Int(UInt16(bigEndian: address.sin_port)))
}

/// Accepts forever, one detached thread per connection.
func acceptLoop(listener: Int32, shared: StandInState) -> Never {
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    pthread_attr_setstacksize(&attributes, 512 * 1024)
    while true {
        let client = accept(listener, nil, nil)
        if client < 0 {
            if errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE {
                if errno == EMFILE || errno == ENFILE { usleep(10_000) }
                continue
            }
            fatalError("accept failed: \(String(cString: strerror(errno)))")
        }
        var noDelay: Int32 = 1
        setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, socklen_t(MemoryLayout<Int32>.size))
        let connection = Connection(descriptor: client, shared: shared)
        let context = Unmanaged.passRetained(connection).toOpaque()
        var thread = pthread_t()
        let created = pthread_create(&thread, &attributes, { context in
            let connection = Unmanaged<Connection>.fromOpaque(context!).takeRetainedValue()
            connection.serve()
            return nil
        }, context)
        if created != 0 {
            Unmanaged<Connection>.fromOpaque(context).release()
            close(client)
        }
    }
}

/// `--latency-ms N`: every request is answered N ms after it was read (this connection's thread
/// sleeps; each connection has its own thread, so others are not held up).
/// `--max-in-flight K`: a request read while K others are waiting out their latency is answered
/// 429 at once, with `Retry-After: --retry-after` seconds: a server that sheds load above K.
/// A request counts as in flight from when it is read until its answer starts.
final class Pacer: Sendable {
    struct Settings: Sendable {
        var latencyMilliseconds = 0
        var maxInFlight: Int?
        var retryAfterSeconds = 1
    }
    struct Counters: Sendable {
        var inFlight = 0
        var shed = 0
    }

    let settings = Mutex(Settings())
    let counters = Mutex(Counters())

    var retryAfterSeconds: Int { settings.withLock { $0.retryAfterSeconds } }

    func configure(_ new: Settings) { settings.withLock { $0 = new } }

    /// False when the request is shed; otherwise returns after the latency.
    func admitAndWait() -> Bool {
        let current = settings.withLock { $0 }
        if current.latencyMilliseconds == 0, current.maxInFlight == nil { return true }
        let admitted = counters.withLock { counters -> Bool in
            if let limit = current.maxInFlight, counters.inFlight >= limit {
                counters.shed += 1
                return false
            }
            counters.inFlight += 1
            return true
        }
        guard admitted else { return false }
        var wanted = timespec(
            tv_sec: current.latencyMilliseconds / 1000, tv_nsec: (current.latencyMilliseconds % 1000) * 1_000_000)
        var remaining = timespec()
        while nanosleep(&wanted, &remaining) != 0, errno == EINTR { wanted = remaining }
        counters.withLock { $0.inFlight -= 1 }
        return true
    }
}
