import ArgumentParser

/// Endpoint options (SPEC §4, §5). The URL and the key are resolved lazily, only when the
/// cycle has something to post or reconcile, so a cycle with nothing to run needs neither.
public struct ExecutionOptions: ParsableArguments {
    @Option(
        name: .customLong("agents-api-url"),
        help: ArgumentHelp("Base URL of the agents execution API (default: $AGENTS_API_URL).", valueName: "URL"))
    public var agentsAPIURL: String?

    @Option(
        name: .customLong("api-key-file"),
        help: ArgumentHelp(
            "File holding the API key (default: $AGENTS_API_KEY_FILE, then $CREDENTIALS_DIRECTORY/agents-api-key, then $AGENTS_API_KEY).",
            valueName: "PATH"))
    public var apiKeyFile: String?

    @Option(name: .customLong("cacert"), help: ArgumentHelp("CA bundle for a private CA (TLS is always verified).", valueName: "PATH"))
    public var caCertificate: String?

    @Option(help: "Requests in flight at once.")
    public var concurrency: Int = 16

    @Option(help: "Seconds a request may take, connecting included.")
    public var requestTimeout: Double = 30

    @Option(help: "Seconds between status checks of a running execution.")
    public var reconcileInterval: Double = 30

    public init() {}

    public func validate() throws {
        guard (1...1000).contains(concurrency) else {
            throw ValidationError("--concurrency must be between 1 and 1000, got \(concurrency)")
        }
        guard requestTimeout > 0, requestTimeout <= 3600 else {
            throw ValidationError("--request-timeout must be between 0 and 3600 seconds, got \(requestTimeout)")
        }
        guard reconcileInterval > 0 else {
            throw ValidationError("--reconcile-interval must be positive, got \(reconcileInterval)")
        }
    }

    /// The endpoint and its key, or exit 64 naming what is missing (never the key itself).
    public func resolveEndpoint(environment: (String) -> String? = Environment.get) throws -> Endpoint {
        guard let rawURL = agentsAPIURL ?? environment("AGENTS_API_URL").flatMap({ $0.isEmpty ? nil : $0 }) else {
            throw ExitStatus.fail(
                ExitStatus.usage,
                "dispatch-due: there are runs to post but no endpoint: set --agents-api-url or AGENTS_API_URL")
        }
        var url = rawURL
        while url.hasSuffix("/") { url.removeLast() }
        let lower = url.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://"), url.count > 8 else {
            throw ExitStatus.fail(ExitStatus.usage, "dispatch-due: the agents API URL must start with http:// or https://")
        }
        let key = try resolveKey(environment: environment)
        return Endpoint(baseURL: url, apiKey: key, caFile: caCertificate)
    }

    /// `--api-key-file`, `AGENTS_API_KEY_FILE`, `$CREDENTIALS_DIRECTORY/agents-api-key`,
    /// `AGENTS_API_KEY`, in that order; a trailing newline is trimmed.
    func resolveKey(environment: (String) -> String?) throws -> String {
        func nonEmpty(_ name: String) -> String? { environment(name).flatMap { $0.isEmpty ? nil : $0 } }
        var source: (path: String, origin: String)?
        if let apiKeyFile {
            source = (apiKeyFile, "--api-key-file")
        } else if let path = nonEmpty("AGENTS_API_KEY_FILE") {
            source = (path, "AGENTS_API_KEY_FILE")
        } else if let directory = nonEmpty("CREDENTIALS_DIRECTORY"),
            FileSystem.exists(directory + "/agents-api-key")
        {
            source = (directory + "/agents-api-key", "CREDENTIALS_DIRECTORY")
        }
        var key: String
        var origin: String
        if let source {
            do {
                key = try FileSystem.readText(source.path)
            } catch {
                throw ExitStatus.fail(ExitStatus.usage, "dispatch-due: cannot read the API key (\(source.origin)): \(error)")
            }
            origin = "\(source.origin) \(source.path)"
        } else if let value = nonEmpty("AGENTS_API_KEY") {
            key = value
            origin = "AGENTS_API_KEY"
        } else {
            throw ExitStatus.fail(
                ExitStatus.usage,
                "dispatch-due: there are runs to post but no API key: set --api-key-file, AGENTS_API_KEY_FILE, "
                    + "$CREDENTIALS_DIRECTORY/agents-api-key or AGENTS_API_KEY")
        }
        while key.last == "\n" || key.last == "\r" || key.last == "\r\n" { key.removeLast() }
        guard !key.isEmpty else { throw ExitStatus.fail(ExitStatus.usage, "dispatch-due: the API key from \(origin) is empty") }
        guard !key.contains(where: { $0.isNewline }) else {
            throw ExitStatus.fail(ExitStatus.usage, "dispatch-due: the API key from \(origin) spans several lines")
        }
        return key
    }

    var settings: ExecutionSettings {
        ExecutionSettings(
            concurrency: concurrency, requestTimeoutSeconds: requestTimeout, reconcileIntervalSeconds: reconcileInterval)
    }
}

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
    /// Seconds given to requests in flight after a stop (SPEC §2.6).
    public var stopGraceSeconds: Double = 10

    public init(concurrency: Int = 16, requestTimeoutSeconds: Double = 30, reconcileIntervalSeconds: Double = 30) {
        self.concurrency = concurrency
        self.requestTimeoutSeconds = requestTimeoutSeconds
        self.reconcileIntervalSeconds = reconcileIntervalSeconds
    }

    /// Invocations claimed per statement: two rounds of requests.
    var claimSize: Int { concurrency * 2 }

    /// A claimed invocation waits behind at most about three rounds of requests before its own
    /// (the queue is refilled below one round), so the lease covers four request timeouts —
    /// always more than the twice the SPEC asks for.
    var leaseSeconds: Double { requestTimeoutSeconds * 4 + 10 }

    var connectTimeoutSeconds: Double { min(10, requestTimeoutSeconds) }
}
