import CCurl

/// libcurl's process-wide setup, done once before the first handle (curl_global_init is not
/// thread-safe, so it runs inside a lazily initialised global, which Swift guards).
private let curlGlobalInit: CURLcode = curl_global_init(Int(CURL_GLOBAL_DEFAULT))

/// Owns one `CURL*` easy handle; `deinit` cleans it up. Not copyable, so exactly one owner
/// frees it. A handle is reused for many transfers (curl_easy_reset between them).
struct EasyHandle: ~Copyable {
    let pointer: UnsafeMutableRawPointer

    init() throws(HTTPClientError) {
        _ = curlGlobalInit
        guard let pointer = curl_easy_init() else { throw HTTPClientError("curl_easy_init failed") }
        self.pointer = pointer
    }

    deinit { curl_easy_cleanup(pointer) }

    func set(_ option: CURLoption, _ value: Int) { _ = dd_curl_easy_setopt_long(pointer, option, value) }
    func set(_ option: CURLoption, _ value: String) { _ = dd_curl_easy_setopt_string(pointer, option, value) }
    func set(_ option: CURLoption, pointer value: UnsafeMutableRawPointer?) {
        _ = dd_curl_easy_setopt_pointer(pointer, option, value)
    }
    func set(_ option: CURLoption, callback: dd_curl_data_callback) {
        _ = dd_curl_easy_setopt_data_callback(pointer, option, callback)
    }

    var responseCode: Int {
        var code = 0
        _ = dd_curl_easy_getinfo_long(pointer, CURLINFO_RESPONSE_CODE, &code)
        return code
    }
}

/// Owns one `CURLM*` multi handle (which also owns the connection cache that transfers
/// share, so connections are reused across transfers); `deinit` cleans it up.
struct MultiHandle: ~Copyable {
    let pointer: UnsafeMutableRawPointer

    init() throws(HTTPClientError) {
        _ = curlGlobalInit
        guard let pointer = curl_multi_init() else { throw HTTPClientError("curl_multi_init failed") }
        self.pointer = pointer
    }

    deinit { curl_multi_cleanup(pointer) }

    func set(_ option: CURLMoption, _ value: Int) { _ = dd_curl_multi_setopt_long(pointer, option, value) }
}

/// Owns one `curl_slist*` of request headers; curl reads it until the transfer ends, so the
/// list lives as long as its transfer and `deinit` frees it.
struct HeaderList: ~Copyable {
    let pointer: UnsafeMutablePointer<curl_slist>?

    init(_ lines: [String]) {
        var list: UnsafeMutablePointer<curl_slist>? = nil
        for line in lines { list = curl_slist_append(list, line) }
        pointer = list
    }

    deinit { if let pointer { curl_slist_free_all(pointer) } }
}

public struct HTTPClientError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// One HTTP request for the client. `stopAfterSuccessHeaders` ends the transfer as soon as a
/// 2xx status and its headers are in: the POST answer is an event stream that never ends.
struct HTTPRequest: Sendable {
    enum Method: Sendable { case get, post }
    var method: Method
    var url: String
    var headers: [String]
    var body: String?
    var stopAfterSuccessHeaders: Bool
    /// Body bytes kept from the answer; further bytes end the transfer.
    var bodyLimit: Int
}

/// What came back: a status line and headers (with up to `bodyLimit` bytes of the body),
/// or a transport failure before the headers were complete.
enum HTTPResult: Sendable {
    case response(HTTPResponse)
    case transportFailure(HTTPTransportFailure)
}

struct HTTPResponse: Sendable {
    var status: Int
    /// Only the headers the rules read (`ExecutionLimits.keptHeaders`), names in lower case,
    /// in arrival order.
    var headers: [(name: String, value: String)]
    var body: [UInt8]
    /// The body went on past the request's `bodyLimit`; `body` holds the first part.
    var bodyTruncated = false

    func header(_ name: String) -> String? { headers.first { $0.name == name }?.value }
    var bodyText: String { String(decoding: body, as: UTF8.self) }
}

struct HTTPTransportFailure: Sendable {
    var code: Int
    var message: String
    var timedOut: Bool
}

/// The client-wide settings every transfer gets.
struct HTTPSettings: Sendable {
    var requestTimeoutSeconds: Double
    var connectTimeoutSeconds: Double
    var caFile: String?
}

/// One transfer's state, reachable from curl's C callbacks through an unretained pointer.
/// The client keeps it alive while curl may call back.
final class Transfer {
    let easy: EasyHandle
    var headerList: HeaderList?
    let errorBuffer: UnsafeMutablePointer<CChar>
    var tag = 0
    var request: HTTPRequest?

    var status = 0
    var headers: [(name: String, value: String)] = []
    var headersComplete = false
    /// Header bytes of this transfer so far, interim answers included.
    var headerBytes = 0
    var headerOverflow = false
    var body: [UInt8] = []
    var bodyTruncated = false
    /// Set when we ended the transfer on purpose (headers of a 2xx POST, body limit).
    var stoppedOnPurpose = false

    init() throws(HTTPClientError) {
        easy = try EasyHandle()
        errorBuffer = .allocate(capacity: Int(dd_curl_error_size()))
        errorBuffer.initialize(repeating: 0, count: Int(dd_curl_error_size()))
    }

    deinit { errorBuffer.deallocate() }

    func prepare(_ request: HTTPRequest, tag: Int, settings: HTTPSettings) {
        self.tag = tag
        self.request = request
        status = 0
        headers = []
        headersComplete = false
        headerBytes = 0
        headerOverflow = false
        body = []
        bodyTruncated = false
        stoppedOnPurpose = false
        errorBuffer[0] = 0

        curl_easy_reset(easy.pointer)
        let me = Unmanaged.passUnretained(self).toOpaque()
        easy.set(CURLOPT_URL, request.url)
        easy.set(CURLOPT_PROTOCOLS_STR, "http,https")
        easy.set(CURLOPT_NOSIGNAL, 1)
        easy.set(CURLOPT_FOLLOWLOCATION, 0)  // contract §4: 3xx is an answer, not a hop
        easy.set(CURLOPT_TIMEOUT_MS, Int(settings.requestTimeoutSeconds * 1000))
        easy.set(CURLOPT_CONNECTTIMEOUT_MS, Int(settings.connectTimeoutSeconds * 1000))
        easy.set(CURLOPT_SSL_VERIFYPEER, 1)
        easy.set(CURLOPT_SSL_VERIFYHOST, 2)
        if let caFile = settings.caFile { easy.set(CURLOPT_CAINFO, caFile) }
        // HTTP/2 over TLS (HTTP/1.1 over plain http://): requests share one TLS connection as
        // streams, so a run costs a stream, not a handshake. An accepted POST's stream is reset
        // after its headers (stopAfterSuccessHeaders) while the connection stays up.
        easy.set(CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_2TLS))
        // Wait for a connection being set up to say whether it multiplexes rather than open one
        // connection (and handshake) per request of the first round. Only where HTTP/2 is
        // possible: plain http:// is HTTP/1.1, one request per connection, as before.
        if request.url.prefix(8).lowercased() == "https://" { easy.set(CURLOPT_PIPEWAIT, 1) }
        easy.set(CURLOPT_USERAGENT, "dispatch-due")
        easy.set(CURLOPT_ERRORBUFFER, pointer: UnsafeMutableRawPointer(errorBuffer))
        easy.set(CURLOPT_PRIVATE, pointer: me)
        easy.set(CURLOPT_HEADERDATA, pointer: me)
        easy.set(CURLOPT_WRITEDATA, pointer: me)
        easy.set(CURLOPT_HEADERFUNCTION, callback: transferHeaderCallback)
        easy.set(CURLOPT_WRITEFUNCTION, callback: transferWriteCallback)
        switch request.method {
        case .get:
            easy.set(CURLOPT_HTTPGET, 1)
        case .post:
            let body = request.body ?? ""
            easy.set(CURLOPT_POST, 1)
            _ = dd_curl_easy_setopt_off(easy.pointer, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.utf8.count))
            easy.set(CURLOPT_COPYPOSTFIELDS, body)
            // curl keeps its own copy; ours would only double the memory of a large message.
            self.request?.body = nil
        }
        // "Expect:" turns off curl's 100-continue wait for bodies over 1 KiB.
        let list = HeaderList(request.headers + ["Expect:"])
        easy.set(CURLOPT_HTTPHEADER, pointer: UnsafeMutableRawPointer(list.pointer))
        headerList = consume list
    }

    /// One header line (status lines and the closing blank line included). Returns false to end
    /// the transfer.
    func receiveHeader(_ bytes: UnsafeRawBufferPointer) -> Bool {
        // A header section past the limit is treated as a failed transfer (retried), so an
        // endpoint cannot make us hold or scan megabytes of headers.
        headerBytes += bytes.count
        if headerBytes > ExecutionLimits.headerSectionBytes {
            headerOverflow = true
            return false
        }
        var line = String(decoding: bytes, as: UTF8.self)
        while line.last == "\n" || line.last == "\r" || line.last == "\r\n" { line.removeLast() }
        if line.hasPrefix("HTTP/") {
            // A new status line: a 1xx before it, or a fresh answer.
            let parts = line.split(separator: " ", maxSplits: 2)
            status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
            headers = []
            return true
        }
        if line.isEmpty {
            if (100..<200).contains(status) { return true }  // interim answer; the real one follows
            headersComplete = true
            if request?.stopAfterSuccessHeaders == true, (200..<300).contains(status) {
                stoppedOnPurpose = true
                return false
            }
            return true
        }
        // Only the headers the rules read are kept, wherever they come in the section.
        if let colon = line.firstIndex(of: ":") {
            let name = line[..<colon].lowercased()
            if ExecutionLimits.keptHeaders.contains(name) {
                headers.append((name, line[line.index(after: colon)...].trimmingSpaces))
            }
        }
        return true
    }

    /// Body bytes; keeps up to the request's limit, then ends the transfer.
    func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let limit = request?.bodyLimit ?? 0
        let room = max(0, limit - body.count)
        body.append(contentsOf: bytes.prefix(room))
        if bytes.count > room {
            bodyTruncated = true
            stoppedOnPurpose = true
            return false
        }
        return true
    }

    func result(code: CURLcode) -> HTTPResult {
        if headerOverflow {
            return .transportFailure(
                HTTPTransportFailure(
                    code: Int(code.rawValue),
                    message: "response headers exceed \(ExecutionLimits.headerSectionBytes) bytes", timedOut: false))
        }
        if headersComplete, status > 0 {
            return .response(HTTPResponse(status: status, headers: headers, body: body, bodyTruncated: bodyTruncated))
        }
        let detail = String(cString: errorBuffer)
        let summary = String(cString: curl_easy_strerror(code))
        return .transportFailure(
            HTTPTransportFailure(
                code: Int(code.rawValue),
                message: detail.isEmpty ? summary : "\(summary): \(detail)",
                timedOut: code == CURLE_OPERATION_TIMEDOUT))
    }
}

private let transferHeaderCallback: dd_curl_data_callback = { data, size, count, userdata in
    let length = size * count
    guard let data, let userdata else { return length }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    return transfer.receiveHeader(UnsafeRawBufferPointer(start: data, count: length)) ? length : 0
}

private let transferWriteCallback: dd_curl_data_callback = { data, size, count, userdata in
    let length = size * count
    guard let data, let userdata else { return length }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    return transfer.receiveBody(UnsafeRawBufferPointer(start: data, count: length)) ? length : 0
}

/// Runs many transfers at once over curl's multi interface on the calling thread. The caller
/// decides how many are in flight (`start` / `poll`); handles are pooled and reused, and the
/// multi handle's connection cache keeps connections open between transfers.
final class HTTPClient {
    private let multi: MultiHandle
    private let settings: HTTPSettings
    private var active: [UnsafeMutableRawPointer: Transfer] = [:]
    private var idle: [Transfer] = []

    init(settings: HTTPSettings, maxConnections: Int) throws(HTTPClientError) {
        self.settings = settings
        multi = try MultiHandle()
        // One limit for everything: one host, at most `maxConnections` (the concurrency ceiling)
        // open and kept in the cache. Over HTTP/2 far fewer are opened (100 streams each).
        multi.set(CURLMOPT_MAX_TOTAL_CONNECTIONS, maxConnections)
        multi.set(CURLMOPT_MAX_HOST_CONNECTIONS, maxConnections)
        multi.set(CURLMOPT_MAXCONNECTS, maxConnections)
        multi.set(CURLMOPT_PIPELINING, dd_curlpipe_multiplex())
    }

    deinit {
        for (easy, _) in active { curl_multi_remove_handle(multi.pointer, easy) }
        active = [:]
    }

    func start(_ request: HTTPRequest, tag: Int) throws(HTTPClientError) {
        let transfer: Transfer
        if let reused = idle.popLast() { transfer = reused } else { transfer = try Transfer() }
        transfer.prepare(request, tag: tag, settings: settings)
        let code = curl_multi_add_handle(multi.pointer, transfer.easy.pointer)
        guard code == CURLM_OK else {
            throw HTTPClientError("curl_multi_add_handle: \(String(cString: curl_multi_strerror(code)))")
        }
        active[transfer.easy.pointer] = transfer
    }

    /// Drives transfers for up to `timeoutMilliseconds` and returns those that finished.
    func poll(timeoutMilliseconds: Int) -> [(tag: Int, result: HTTPResult)] {
        var running: Int32 = 0
        _ = curl_multi_perform(multi.pointer, &running)
        var finished = collect()
        if finished.isEmpty, !active.isEmpty {
            _ = curl_multi_poll(multi.pointer, nil, 0, Int32(timeoutMilliseconds), nil)
            _ = curl_multi_perform(multi.pointer, &running)
            finished = collect()
        }
        return finished
    }

    /// Ends every transfer still in flight without an answer; returns their tags.
    func abandonAll() -> [Int] {
        var tags: [Int] = []
        for (easy, transfer) in active {
            curl_multi_remove_handle(multi.pointer, easy)
            tags.append(transfer.tag)
            transfer.headerList = nil
            idle.append(transfer)
        }
        active = [:]
        return tags
    }

    private func collect() -> [(tag: Int, result: HTTPResult)] {
        var finished: [(tag: Int, result: HTTPResult)] = []
        var remaining: Int32 = 0
        while let message = curl_multi_info_read(multi.pointer, &remaining) {
            guard dd_curl_msg_is_done(message) != 0, let easy = message.pointee.easy_handle,
                let transfer = active.removeValue(forKey: easy)
            else { continue }
            let result = transfer.result(code: dd_curl_msg_result(message))
            curl_multi_remove_handle(multi.pointer, easy)
            transfer.headerList = nil
            transfer.request = nil
            finished.append((transfer.tag, result))
            idle.append(transfer)
        }
        return finished
    }
}

extension Substring {
    var trimmingSpaces: String {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" { text.removeLast() }
        return String(text)
    }
}
