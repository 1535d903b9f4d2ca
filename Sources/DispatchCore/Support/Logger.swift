/// A value in a log line.
public enum LogValue: Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }

    var jsonText: String {
        switch self {
        case .string(let text): return JSONValue.quoted(text)
        case .int(let value): return String(value)
        case .double(let value): return value.isFinite ? String(value) : "null"
        case .bool(let value): return value ? "true" : "false"
        }
    }

    /// Text values are quoted when they could be misread as several fields or lines:
    /// empty, or holding a space, `=`, a quote, a backslash or a control character.
    static func needsQuotes(_ text: String) -> Bool {
        text.isEmpty || text.unicodeScalars.contains { scalar in
            scalar == " " || scalar == "=" || scalar == "\"" || scalar == "\\" || scalar.value < 0x20
                || scalar.value == 0x7F || scalar.value == 0x2028 || scalar.value == 0x2029
        }
    }

    var plainText: String {
        switch self {
        case .string(let text): return LogValue.needsQuotes(text) ? JSONValue.quoted(text) : text
        case .int(let value): return String(value)
        case .double(let value): return String(value)
        case .bool(let value): return value ? "true" : "false"
        }
    }
}

public enum LogLevel: Int, Sendable, Comparable, CaseIterable {
    case debug, info, warning, error

    public var name: String {
        switch self {
        case .debug: return "debug"
        case .info: return "info"
        case .warning: return "warning"
        case .error: return "error"
        }
    }

    /// What log platforms read (Google Cloud Logging's `severity`; upper case as it expects).
    public var severity: String {
        switch self {
        case .debug: return "DEBUG"
        case .info: return "INFO"
        case .warning: return "WARNING"
        case .error: return "ERROR"
        }
    }

    /// The syslog priority journald reads from a `<N>` line prefix (sd-daemon(3)).
    public var syslogPriority: Int {
        switch self {
        case .debug: return 7
        case .info: return 6
        case .warning: return 4
        case .error: return 3
        }
    }

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rawValue < rhs.rawValue }
}

public enum LogFormat: String, Sendable, CaseIterable {
    case json, text
}

/// Who a log line is about: the ids of contract §1, in the order every line carries them
/// (tenant, project, agent, trigger, invocation, slot). Made once where the ids are known and
/// handed to `Logger.with(_:)`, so no call site assembles them by hand. An id left nil is not
/// written; an empty one is written empty.
public struct LogIdentity: Sendable, Equatable {
    public var tenant: String?
    public var project: String?
    public var agent: String?
    public var trigger: String?
    public var invocation: String?
    /// The slot as written in logs: `YYYY-MM-DDTHH:MM:SS.sssZ`.
    public var slot: String?

    public init(
        tenant: String? = nil, project: String? = nil, agent: String? = nil, trigger: String? = nil,
        invocation: String? = nil, slot: String? = nil
    ) {
        self.tenant = tenant
        self.project = project
        self.agent = agent
        self.trigger = trigger
        self.invocation = invocation
        self.slot = slot
    }

    /// The ids as log fields, in contract order.
    public var fields: [(String, LogValue)] {
        let all: [(String, String?)] = [
            ("tenant", tenant), ("project", project), ("agent", agent), ("trigger", trigger),
            ("invocation", invocation), ("slot", slot),
        ]
        return all.compactMap { key, value in value.map { (key, .string($0)) } }
    }
}

/// One line per event on stderr: a JSON object (for collectors) or `key=value` text (for people).
/// Fields keep their order. Metadata set with `with(_:)` (the ids of a `LogIdentity`) comes
/// first after the event, then the line's own fields.
/// `context` fields (the cycle id) end every line; they are rendered once, when
/// the logger is made. With `syslogPrefix` (stderr is the journal) each line starts with `<N>`,
/// the syslog priority of its level, which journald strips and records as the line's priority.
public struct Logger: Sendable {
    public var format: LogFormat
    public var minimumLevel: LogLevel
    /// Where lines go; stderr unless a test captures them.
    public var sink: @Sendable (String) -> Void
    /// Host-side wall clock for the `time` field (the database clock drives scheduling, not logs).
    public var clock: @Sendable () -> String
    public var syslogPrefix: Bool
    /// The context fields, already rendered in each format.
    private let jsonContext: String
    private let textContext: String
    /// Fields every line of this logger value starts with (`with(_:)`), rendered only for lines
    /// that pass the level, so a dropped debug line costs nothing.
    private var metadata: [(String, LogValue)] = []

    public init(
        format: LogFormat? = nil,
        minimumLevel: LogLevel = .info,
        sink: @escaping @Sendable (String) -> Void = { StandardError.writeLine($0) },
        clock: @escaping @Sendable () -> String = { WallClock.nowISO8601Milliseconds() },
        context: [(String, LogValue)] = [],
        syslogPrefix: Bool = false
    ) {
        self.format = format ?? (StandardError.isTerminal ? .text : .json)
        self.minimumLevel = minimumLevel
        self.sink = sink
        self.clock = clock
        self.syslogPrefix = syslogPrefix
        jsonContext = context.map { ",\(JSONValue.quoted($0.0)):\($0.1.jsonText)" }.joined()
        textContext = context.map { " \($0.0)=\($0.1.plainText)" }.joined()
    }

    /// This logger with `fields` added to its metadata: its lines carry them after the event,
    /// before their own fields.
    public func with(_ fields: [(String, LogValue)]) -> Logger {
        var copy = self
        copy.metadata += fields
        return copy
    }

    /// This logger with the ids of `identity` (in contract order) as metadata.
    public func with(_ identity: LogIdentity) -> Logger { with(identity.fields) }

    public func log(_ level: LogLevel, _ event: String, _ fields: KeyValuePairs<String, LogValue> = [:]) {
        guard level >= minimumLevel else { return }
        log(level, event, fields: Array(fields.map { ($0.key, $0.value) }))
    }

    public func log(_ level: LogLevel, _ event: String, fields: [(String, LogValue)]) {
        guard level >= minimumLevel else { return }
        var line = syslogPrefix ? "<\(level.syslogPriority)>" : ""
        switch format {
        case .json:
            line += "{\"time\":\(JSONValue.quoted(clock())),\"level\":\"\(level.name)\",\"severity\":\"\(level.severity)\""
            line += ",\"event\":\(JSONValue.quoted(event))"
            for (key, value) in metadata { line += ",\(JSONValue.quoted(key)):\(value.jsonText)" }
            for (key, value) in fields { line += ",\(JSONValue.quoted(key)):\(value.jsonText)" }
            sink(line + jsonContext + "}")
        case .text:
            line += "\(clock()) \(level.name.uppercased().padding(7)) \(event)"
            for (key, value) in metadata { line += " \(key)=\(value.plainText)" }
            for (key, value) in fields { line += " \(key)=\(value.plainText)" }
            sink(line + textContext)
        }
    }

    public func debug(_ event: String, _ fields: KeyValuePairs<String, LogValue> = [:]) { log(.debug, event, fields) }
    public func info(_ event: String, _ fields: KeyValuePairs<String, LogValue> = [:]) { log(.info, event, fields) }
    public func warning(_ event: String, _ fields: KeyValuePairs<String, LogValue> = [:]) { log(.warning, event, fields) }
    public func error(_ event: String, _ fields: KeyValuePairs<String, LogValue> = [:]) { log(.error, event, fields) }
}
