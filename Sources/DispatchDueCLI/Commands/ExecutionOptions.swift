import ArgumentParser
import DispatchCore

/// Endpoint options (contract §4, §5). The URL and the key are resolved lazily, only when the
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

    // Tunables: the flag, else DISPATCH_DUE_<FLAG> (Tunable), else the default.
    @Option(name: .customLong("cacert"), help: ArgumentHelp("CA bundle for a private CA (TLS is always verified; env DISPATCH_DUE_CACERT).", valueName: "PATH"))
    var caCertificateFlag: String?
    public var caCertificate: String? { Tunable.string("--cacert", caCertificateFlag) }

    @Option(name: .customLong("concurrency"), parsing: .unconditional, help: "Most requests in flight at once, 1-1000: the dispatcher starts at 8 and adapts below this ceiling to the endpoint's answers (default \(ExecutionSettings.defaultConcurrency); env DISPATCH_DUE_CONCURRENCY).")
    var concurrencyFlag: Int?
    public var concurrency: Int {
        (try? Tunable.number("--concurrency", concurrencyFlag, default: ExecutionSettings.defaultConcurrency, 1...1000))
            ?? ExecutionSettings.defaultConcurrency
    }

    @Option(name: .customLong("request-timeout"), parsing: .unconditional, help: ArgumentHelp("Seconds a request may take, connecting included, 1-3600 (default 30; env DISPATCH_DUE_REQUEST_TIMEOUT).", valueName: "S"))
    var requestTimeoutFlag: Double?
    public var requestTimeout: Double {
        (try? Tunable.number("--request-timeout", requestTimeoutFlag, default: 30, 1...3600, unit: "seconds")) ?? 30
    }

    @Option(name: .customLong("reconcile-interval"), parsing: .unconditional, help: ArgumentHelp("Seconds between status checks of a running execution, 1-86400 (default 30; env DISPATCH_DUE_RECONCILE_INTERVAL).", valueName: "S"))
    var reconcileIntervalFlag: Double?
    public var reconcileInterval: Double {
        (try? Tunable.number("--reconcile-interval", reconcileIntervalFlag, default: 30, 1...86400, unit: "seconds")) ?? 30
    }

    public init() {}

    /// Sizes of the files read here (a FIFO or /dev/zero is refused, never read forever).
    public static let keyFileLimit = 4 * 1024
    public static let caFileLimit = 1024 * 1024

    public func validate() throws {
        _ = try Tunable.number("--concurrency", concurrencyFlag, default: ExecutionSettings.defaultConcurrency, 1...1000)
        _ = try Tunable.number("--request-timeout", requestTimeoutFlag, default: 30, 1...3600, unit: "seconds")
        _ = try Tunable.number("--reconcile-interval", reconcileIntervalFlag, default: 30, 1...86400, unit: "seconds")
    }

    /// Every endpoint setting that was given (flag or environment) is usable: the URL is
    /// well formed, the CA bundle and the key file are readable regular files of sensible
    /// size. Run before any work is claimed; throws `DispatchFailure.configuration` (exit 78).
    /// What is not given is not required here: only a cycle with something to post needs it.
    public func checkGivenSettings(environment: (String) -> String? = Environment.get) throws(DispatchFailure) {
        if let given = givenURL(environment: environment) {
            _ = try Self.normalizedURL(given.value, origin: given.origin)
        }
        if let caCertificate { try Self.checkCABundle(caCertificate) }
        if let source = keySource(environment: environment) {
            _ = try Self.readKey(source)
        } else if let value = Self.nonEmpty(environment("AGENTS_API_KEY")) {
            _ = try Self.checkKey(value, origin: "AGENTS_API_KEY")
        }
    }

    /// The endpoint and its key, or `DispatchFailure.configuration` naming what is missing
    /// or unusable (never the key itself).
    public func resolveEndpoint(environment: (String) -> String? = Environment.get) throws(DispatchFailure) -> Endpoint {
        guard let given = givenURL(environment: environment) else {
            throw .configuration(
                detail: "there are runs to post but no endpoint: set --agents-api-url or AGENTS_API_URL")
        }
        let url = try Self.normalizedURL(given.value, origin: given.origin)
        let key = try resolveKey(environment: environment)
        return Endpoint(baseURL: url, apiKey: key, caFile: caCertificate)
    }

    private func givenURL(environment: (String) -> String?) -> (value: String, origin: String)? {
        if let agentsAPIURL { return (agentsAPIURL, "--agents-api-url") }
        return Self.nonEmpty(environment("AGENTS_API_URL")).map { ($0, "AGENTS_API_URL") }
    }

    private static func nonEmpty(_ value: String?) -> String? { value.flatMap { $0.isEmpty ? nil : $0 } }

    /// `--api-key-file`, `AGENTS_API_KEY_FILE`, `$CREDENTIALS_DIRECTORY/agents-api-key`.
    private func keySource(environment: (String) -> String?) -> (path: String, origin: String)? {
        if let apiKeyFile { return (apiKeyFile, "--api-key-file") }
        if let path = Self.nonEmpty(environment("AGENTS_API_KEY_FILE")) { return (path, "AGENTS_API_KEY_FILE") }
        if let directory = Self.nonEmpty(environment("CREDENTIALS_DIRECTORY")),
            FileSystem.exists(directory + "/agents-api-key")
        {
            return (directory + "/agents-api-key", "CREDENTIALS_DIRECTORY")
        }
        return nil
    }

    /// `--api-key-file`, `AGENTS_API_KEY_FILE`, `$CREDENTIALS_DIRECTORY/agents-api-key`,
    /// `AGENTS_API_KEY`, in that order; a trailing newline is trimmed.
    func resolveKey(environment: (String) -> String?) throws(DispatchFailure) -> String {
        if let source = keySource(environment: environment) { return try Self.readKey(source) }
        if let value = Self.nonEmpty(environment("AGENTS_API_KEY")) { return try Self.checkKey(value, origin: "AGENTS_API_KEY") }
        throw .configuration(
            detail: "there are runs to post but no API key: set --api-key-file, AGENTS_API_KEY_FILE, "
                + "$CREDENTIALS_DIRECTORY/agents-api-key or AGENTS_API_KEY")
    }

    private static func readKey(_ source: (path: String, origin: String)) throws(DispatchFailure) -> String {
        let text: String
        do {
            text = try FileSystem.readRegularFile(source.path, limit: keyFileLimit)
        } catch {
            throw .configuration(detail: "cannot read the API key (\(source.origin)): \(error)")
        }
        return try checkKey(text, origin: "\(source.origin) \(source.path)")
    }

    /// The key without its trailing newline; one line of printable ASCII (it goes into a header).
    private static func checkKey(_ raw: String, origin: String) throws(DispatchFailure) -> String {
        var key = raw
        while key.last == "\n" || key.last == "\r" || key.last == "\r\n" { key.removeLast() }
        guard !key.isEmpty else { throw .configuration(detail: "the API key from \(origin) is empty") }
        guard !key.contains(where: { $0.isNewline }) else {
            throw .configuration(detail: "the API key from \(origin) spans several lines")
        }
        guard key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw .configuration(
                detail: "the API key from \(origin) holds spaces, control characters or non-ASCII characters")
        }
        return key
    }

    /// The CA bundle is a readable regular file of at most 1 MiB holding a PEM certificate.
    static func checkCABundle(_ path: String) throws(DispatchFailure) {
        let text: String
        do {
            text = try FileSystem.readRegularFile(path, limit: caFileLimit, utf8: false)
        } catch {
            throw .configuration(detail: "--cacert: cannot use \(error)")
        }
        guard text.contains("-----BEGIN CERTIFICATE-----") else {
            throw .configuration(detail: "--cacert: \(path) holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
        }
    }

    /// `http(s)://host[:port][/path]` with the trailing slashes removed. Refused: other
    /// schemes, no host, a bad port, user information, a query or fragment (paths are
    /// appended to it), spaces, control and non-ASCII characters.
    static func normalizedURL(_ raw: String, origin: String) throws(DispatchFailure) -> String {
        func refuse(_ why: String) -> DispatchFailure {
            .configuration(detail: "\(origin): the agents API URL \(ManagementOutput.quotedForMessage(raw)) \(why)")
        }
        guard raw.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw refuse("holds spaces, control or non-ASCII characters")
        }
        let lower = raw.lowercased()
        let schemeLength: Int
        if lower.hasPrefix("https://") {
            schemeLength = 8
        } else if lower.hasPrefix("http://") {
            schemeLength = 7
        } else {
            throw refuse("must start with http:// or https://")
        }
        var url = raw
        while url.hasSuffix("/") { url.removeLast() }
        let rest = url.dropFirst(schemeLength)
        let authority = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(authority.count)
        if path.contains("?") || path.contains("#") || authority.contains("?") || authority.contains("#") {
            throw refuse("must not have a query or fragment")
        }
        if authority.contains("@") { throw refuse("must not hold user information (the key is sent as a header)") }
        var host = authority[...]
        var port: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw refuse("has an unterminated IPv6 address") }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw refuse("has text after the IPv6 address") }
                port = after.dropFirst()
            }
            guard !host.isEmpty, host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                throw refuse("has an invalid IPv6 address")
            }
        } else {
            if let colon = authority.firstIndex(of: ":") {
                host = authority[..<colon]
                port = authority[authority.index(after: colon)...]
            }
            guard !host.isEmpty else { throw refuse("has no host") }
            guard host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == "_" }) else {
                throw refuse("has an invalid host name")
            }
        }
        if let port {
            guard !port.isEmpty, port.count <= 5, port.allSatisfy(\.isWholeNumber), let number = Int(port),
                (1...65535).contains(number)
            else { throw refuse("has an invalid port (1-65535)") }
        }
        return url
    }

    var settings: ExecutionSettings {
        ExecutionSettings(
            concurrency: concurrency, requestTimeoutSeconds: requestTimeout, reconcileIntervalSeconds: reconcileInterval)
    }
}

extension ExecutionOptions {
    /// The endpoint source the core is given: resolved only when there is something to post.
    var endpointResolver: EndpointResolver {
        let options = self
        return EndpointResolver { () throws(DispatchFailure) -> Endpoint in try options.resolveEndpoint() }
    }

    /// The execution stage these options describe (run, backfill, `triggers run --post`).
    func stage(logger: Logger) -> ExecutionStage {
        ExecutionStage(endpoint: endpointResolver, settings: settings, logger: logger)
    }
}
