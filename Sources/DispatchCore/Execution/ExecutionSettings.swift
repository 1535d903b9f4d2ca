/// Where runs go and the key that authorises them. `description` never shows the key.
public struct Endpoint: Sendable, CustomStringConvertible {
    public var baseURL: String
    public var apiKey: String
    public var caFile: String?

    public init(baseURL: String, apiKey: String, caFile: String? = nil) {
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.caFile = caFile
    }

    public var description: String { "Endpoint(\(baseURL), key: ****)" }
}

/// The tunables of the execution stage, with the derived lease and batch sizes.
public struct ExecutionSettings: Sendable {
    public var concurrency: Int
    public var requestTimeoutSeconds: Double
    public var reconcileIntervalSeconds: Double
    /// Seconds given to requests in flight after a stop (contract §2 step 6).
    public var stopGraceSeconds: Double = 10

    /// The default ceiling of requests in flight (issue 14). Against a remote API the limit is
    /// concurrency × latency: a burst of N runs at latency L takes about N·L/C. 256 drains a
    /// 10,000-trigger burst at 200 ms in about 8 s, and still within a 50 s cycle at up to
    /// about 1 s of latency. Over HTTP/2 that is 3 connections (100 streams each, curl's
    /// default), over HTTP/1.1 256 sockets, well under the usual 1,024 descriptors. The
    /// adaptive limit starts at 8 and only climbs while the endpoint answers healthily.
    public static let defaultConcurrency = 256

    public init(
        concurrency: Int = ExecutionSettings.defaultConcurrency, requestTimeoutSeconds: Double = 30,
        reconcileIntervalSeconds: Double = 30
    ) {
        self.concurrency = concurrency
        self.requestTimeoutSeconds = requestTimeoutSeconds
        self.reconcileIntervalSeconds = reconcileIntervalSeconds
    }

    /// Invocations claimed per statement: two rounds of requests at the current adaptive limit.
    func claimSize(limit: Int) -> Int { max(1, limit) * 2 }

    /// A claimed invocation waits behind at most about three rounds of requests before its own
    /// (the queue is refilled below one round), so the lease covers four request timeouts —
    /// always more than the twice the contract asks for (docs/contract.md §2). When the limit
    /// drops after a claim, a job whose lease no longer covers a request is put back unsent.
    var leaseSeconds: Double { requestTimeoutSeconds * 4 + 10 }

    var connectTimeoutSeconds: Double { min(10, requestTimeoutSeconds) }
}

/// Where the endpoint comes from, as a value: the command line builds it from flags, the
/// environment and key files; the execution stage calls it only when there is work to post,
/// so a cycle with nothing to run needs no endpoint configured.
public struct EndpointResolver {
    let resolve: () throws(DispatchFailure) -> Endpoint

    public init(_ resolve: @escaping () throws(DispatchFailure) -> Endpoint) { self.resolve = resolve }

    /// An endpoint known in advance (tests, benchmarks).
    public static func fixed(_ endpoint: Endpoint) -> EndpointResolver { EndpointResolver { endpoint } }
}
