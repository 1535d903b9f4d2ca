import CCurl

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `--metrics-push URL`: after the cycle, PUT the metrics to a Prometheus Pushgateway at
/// `URL/metrics/job/dispatch-due/instance/INSTANCE`. PUT replaces the whole group, so gauges
/// the cycle could not measure (the backlog of an unreachable database) do not linger from an
/// earlier push. One blocking request with a short timeout; a failure is logged
/// (`metrics.push_failed`) and never changes how the cycle ended.
public struct MetricsPush: Sendable {
    /// The base URL without trailing slashes (checked at start: `MetricsPush.checkURL`).
    public var baseURL: String
    public var instance: String
    public var caFile: String?
    public var timeoutSeconds: Double = 10

    public static let job = "dispatch-due"

    public init(baseURL: String, instance: String, caFile: String? = nil) {
        self.baseURL = baseURL
        self.instance = instance
        self.caFile = caFile
    }

    /// `URL/metrics/job/dispatch-due/instance/INSTANCE`, the values escaped for a path segment.
    public var url: String {
        baseURL + "/metrics/" + Self.pathSegment(label: "job", Self.job)
            + "/" + Self.pathSegment(label: "instance", instance)
    }

    /// `label/value` with the value percent-encoded; a value holding `/` (which percent-encoding
    /// does not protect from the Pushgateway's router) or an empty one is sent as
    /// `label@base64/…` in the URL-safe alphabet, as the Pushgateway documents.
    static func pathSegment(label: String, _ value: String) -> String {
        if value.isEmpty || value.contains("/") { return "\(label)@base64/" + base64URL(Array(value.utf8)) }
        return label + "/" + PercentEncoding.encode(value)
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".unicodeScalars)
        var out = ""
        var index = 0
        while index < bytes.count {
            let chunk = Array(bytes[index..<min(index + 3, bytes.count)])
            let value = chunk.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (16 - 8 * UInt32($1.offset)) }
            for position in 0..<4 {
                if position <= chunk.count {
                    out.unicodeScalars.append(alphabet[Int((value >> (18 - 6 * UInt32(position))) & 0x3F)])
                } else {
                    out += "="
                }
            }
            index += 3
        }
        return bytes.isEmpty ? "=" : out
    }

    /// The URL as given, without trailing slashes: http(s), a host, printable ASCII, no user
    /// information (no secret on the command line), no query or fragment (paths are appended).
    public static func checkURL(_ raw: String, origin: String) throws(DispatchFailure) -> String {
        func refuse(_ why: String) -> DispatchFailure {
            .configuration(detail: "\(origin): the Pushgateway URL \(ManagementOutput.quotedForMessage(raw)) \(why)")
        }
        guard raw.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw refuse("holds spaces, control or non-ASCII characters")
        }
        let lower = raw.lowercased()
        guard let scheme = ["https://", "http://"].first(where: { lower.hasPrefix($0) }) else {
            throw refuse("must start with http:// or https://")
        }
        var url = raw
        while url.hasSuffix("/") { url.removeLast() }
        let authority = url.dropFirst(scheme.count).prefix { $0 != "/" }
        guard !authority.isEmpty, !authority.hasPrefix(":") else { throw refuse("has no host") }
        if authority.contains("@") {
            // Not quoted: the user information may hold a password.
            throw .configuration(detail: "\(origin): the Pushgateway URL must not hold user information (user:password@)")
        }
        if url.contains("?") || url.contains("#") { throw refuse("must not have a query or fragment") }
        return url
    }

    /// The instance label: 1-256 characters without control characters.
    public static func checkInstance(_ value: String, origin: String) throws(DispatchFailure) {
        guard !value.isEmpty, value.count <= 256,
            !value.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) })
        else {
            throw .configuration(detail: "\(origin): the instance must be 1-256 characters without control characters")
        }
    }

    /// This host's name (the default instance), or "unknown".
    public static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "unknown" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "unknown" : name
    }

    /// PUTs `text`; logs `metrics.pushed` (debug) or `metrics.push_failed` (warning).
    public func send(_ text: String, logger: Logger) {
        switch put(text) {
        case .success(let status):
            logger.debug("metrics.pushed", ["url": .string(url), "status": .int(status)])
        case .failure(let reason):
            logger.warning("metrics.push_failed", ["url": .string(url), "error": .string(reason.description)])
        }
    }

    struct PushError: Error, CustomStringConvertible {
        var description: String
    }

    /// One blocking PUT with libcurl; 2xx is success. At most 1 KiB of a refusal's body is kept.
    func put(_ text: String) -> Result<Int, PushError> {
        let easy: EasyHandle
        do {
            easy = try EasyHandle()
        } catch {
            return .failure(PushError(description: error.description))
        }
        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(dd_curl_error_size()))
        errorBuffer.initialize(repeating: 0, count: Int(dd_curl_error_size()))
        defer { errorBuffer.deallocate() }
        let sink = PushResponseBody()
        let me = Unmanaged.passUnretained(sink).toOpaque()
        easy.set(CURLOPT_URL, url)
        easy.set(CURLOPT_PROTOCOLS_STR, "http,https")
        easy.set(CURLOPT_NOSIGNAL, 1)
        easy.set(CURLOPT_FOLLOWLOCATION, 0)
        easy.set(CURLOPT_TIMEOUT_MS, Int(timeoutSeconds * 1000))
        easy.set(CURLOPT_CONNECTTIMEOUT_MS, Int(min(timeoutSeconds, 5) * 1000))
        easy.set(CURLOPT_SSL_VERIFYPEER, 1)
        easy.set(CURLOPT_SSL_VERIFYHOST, 2)
        if let caFile { easy.set(CURLOPT_CAINFO, caFile) }
        easy.set(CURLOPT_USERAGENT, "dispatch-due")
        easy.set(CURLOPT_ERRORBUFFER, pointer: UnsafeMutableRawPointer(errorBuffer))
        easy.set(CURLOPT_CUSTOMREQUEST, "PUT")
        _ = dd_curl_easy_setopt_off(easy.pointer, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(text.utf8.count))
        easy.set(CURLOPT_COPYPOSTFIELDS, text)
        // Without a write callback libcurl prints the answer's body on stdout.
        easy.set(CURLOPT_WRITEDATA, pointer: me)
        easy.set(CURLOPT_WRITEFUNCTION, callback: pushWriteCallback)
        let headers = HeaderList(["Content-Type: text/plain; version=0.0.4; charset=utf-8", "Expect:"])
        easy.set(CURLOPT_HTTPHEADER, pointer: UnsafeMutableRawPointer(headers.pointer))
        let code = curl_easy_perform(easy.pointer)
        withExtendedLifetime(sink) {}
        guard code == CURLE_OK else {
            let detail = String(cString: errorBuffer)
            let summary = String(cString: curl_easy_strerror(code))
            return .failure(PushError(description: detail.isEmpty ? summary : "\(summary): \(detail)"))
        }
        let status = easy.responseCode
        guard (200..<300).contains(status) else {
            let body = String(decoding: sink.bytes, as: UTF8.self)
            return .failure(PushError(description: "HTTP \(status)" + (body.isEmpty ? "" : ": " + body)))
        }
        return .success(status)
    }
}

/// The first KiB of the Pushgateway's answer (its error message on a refusal).
private final class PushResponseBody {
    var bytes: [UInt8] = []
}

private let pushWriteCallback: dd_curl_data_callback = { data, size, count, userdata in
    let length = size * count
    guard let data, let userdata else { return length }
    let sink = Unmanaged<PushResponseBody>.fromOpaque(userdata).takeUnretainedValue()
    let room = max(0, 1024 - sink.bytes.count)
    sink.bytes.append(contentsOf: UnsafeRawBufferPointer(start: data, count: length).prefix(room))
    return length
}
