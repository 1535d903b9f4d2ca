#if canImport(Glibc)
import Glibc
#endif
import DispatchCore

/// The `agents-api-standin` executable running on a free loopback port for one test: start
/// it, point a dispatcher at `url`, switch its answers, read what it received, stop it.
public final class StandIn: @unchecked Sendable {
    public let process: ChildProcess
    public let port: Int
    public let recordPath: String

    public var url: String { "http://127.0.0.1:\(port)" }

    /// `postAnswer` / `getStatus` are the stand-in's answer lists (see its --help):
    /// e.g. `"accept"`, `"status:500,accept"`, `"429:600"`, `"hang"`; `"completed"`, `"404"`.
    /// With `apiKey` it answers 401 to any other bearer token. `latencyMilliseconds`,
    /// `maxInFlight` and `retryAfterSeconds` are its pacing flags (a remote API's latency; 429
    /// with Retry-After to a request arriving while `maxInFlight` others wait out theirs).
    public init(
        postAnswer: String = "accept", getStatus: String = "completed", apiKey: String? = nil,
        latencyMilliseconds: Int? = nil, maxInFlight: Int? = nil, retryAfterSeconds: Int? = nil
    ) throws {
        let scratch = try ChildProcess.makeScratchDirectory()
        recordPath = scratch + "/requests.jsonl"
        var arguments = ["--port", "0", "--record", recordPath, "--post-answer", postAnswer, "--get-status", getStatus]
        if let apiKey { arguments += ["--api-key", apiKey] }
        if let latencyMilliseconds { arguments += ["--latency-ms", String(latencyMilliseconds)] }
        if let maxInFlight { arguments += ["--max-in-flight", String(maxInFlight)] }
        if let retryAfterSeconds { arguments += ["--retry-after", String(retryAfterSeconds)] }
        process = try ChildProcess("agents-api-standin", arguments)
        let deadline = monotonicSeconds() + 20
        var found: Int?
        while found == nil, monotonicSeconds() < deadline {
            let output = process.stdoutSoFar
            if let newline = output.firstIndex(of: "\n") {
                found = Int(output[..<newline])
            } else {
                usleep(5_000)
            }
        }
        guard let found else {
            process.send(SIGKILL)
            let result = process.wait()
            throw FileSystemError(path: "agents-api-standin", reason: "did not report its port: \(result)")
        }
        port = found
    }

    deinit { stop() }

    /// Switches the answers from the next request on (the lists restart).
    public func setAnswers(post: String? = nil, get: String? = nil) throws {
        var query: [String] = []
        if let post { query.append("post=" + StandIn.queryEncoded(post)) }
        if let get { query.append("get=" + StandIn.queryEncoded(get)) }
        let answer = try StandIn.send(
            "POST /_standin/mode?\(query.joined(separator: "&")) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + "Content-Length: 0\r\nConnection: close\r\n\r\n",
            port: port)
        guard answer.hasPrefix("HTTP/1.1 204") else {
            throw FileSystemError(path: "agents-api-standin", reason: "mode change refused: \(answer)")
        }
    }

    /// Every request received so far, in arrival order.
    public func requests() -> [RecordedRequest] {
        guard let text = try? FileSystem.readText(recordPath) else { return [] }
        // Split on bytes: a record holds whole request bodies (megabytes), and splitting by
        // Character would segment every grapheme of them.
        return text.utf8.split(separator: UInt8(ascii: "\n")).compactMap { line in
            guard let value = try? JSONValue.parse(String(decoding: line, as: UTF8.self)) else { return nil }
            return RecordedRequest(value)
        }
    }

    /// The POSTs to the execution endpoint received so far.
    public func posts() -> [RecordedRequest] {
        requests().filter { $0.method == "POST" && $0.path == "/run/api/executions" }
    }

    public func stop() {
        process.send(SIGKILL)
        _ = process.wait(timeoutSeconds: 10)
    }

    static func queryEncoded(_ text: String) -> String { PercentEncoding.encode(text) }

    /// Sends raw bytes to 127.0.0.1:`port` and returns everything read until the peer closes.
    static func send(_ text: String, port: Int) throws -> String {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw FileSystemError(path: "socket", reason: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            throw FileSystemError(path: "127.0.0.1:\(port)", reason: String(cString: strerror(errno)))
        }
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(descriptor, &chunk, chunk.count, 0)
            if count <= 0 { break }
            received.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: received, as: UTF8.self)
    }
}

/// One request as the stand-in recorded it. Header names are lower case.
public struct RecordedRequest: Sendable {
    public var method: String
    public var path: String
    public var query: String
    public var headers: [(name: String, value: String)]
    public var body: String
    /// Answered 429 at once by `--max-in-flight` (never seen by the answer modes).
    public var shed: Bool

    init?(_ value: JSONValue) {
        guard let method = value["method"]?.stringValue, let path = value["path"]?.stringValue else { return nil }
        self.method = method
        self.path = path
        query = value["query"]?.stringValue ?? ""
        body = value["body"]?.stringValue ?? ""
        shed = value["shed"] == .bool(true)
        if case .object(let members)? = value["headers"] {
            headers = members.map { ($0.key, $0.value.stringValue ?? "") }
        } else {
            headers = []
        }
    }

    public func header(_ name: String) -> String? { headers.first { $0.name == name.lowercased() }?.value }

    /// The body parsed as JSON, keys in the order they were sent.
    public var json: JSONValue? { try? JSONValue.parse(body) }
}
