import Schedules

/// contract §3: what a cron trigger does with slots missed while no dispatcher ran.
// MisfirePolicy is defined once, in Dispatch/SlotPlanner.swift (shared with the dispatch stage).

/// The columns of a `scheduled_triggers` row that a person writes (contract §1), before or after
/// validation. `id` is nil on `add` without `--id` (the database generates a UUID).
public struct TriggerDefinition: Sendable, Equatable {
    public var tenantID: String
    public var id: String?
    public var projectID: String
    public var agentID: String
    public var name: String
    public var description: String?
    public var enabled: Bool
    public var cronExpression: String?
    public var timeZone: String
    /// One-time slot, whole seconds (a fraction is truncated, contract §1).
    public var runAt: Instant?
    /// JSON text as given (jsonb normalises it on insert).
    public var payload: String?
    public var messageTemplate: String?
    public var maxRetries: Int
    public var retryDelaySeconds: Int
    public var timeoutSeconds: Int
    public var misfirePolicy: MisfirePolicy
    public var runAsUserID: String?
    public var createdBy: String?
    public var ref: String
    /// contract §6 policies.
    public var overlapPolicy: OverlapPolicy
    public var jitterSeconds: Int
    /// nil: never pause.
    public var pauseAfterFailures: Int?

    public init(
        tenantID: String, id: String? = nil, projectID: String, agentID: String, name: String,
        description: String? = nil, enabled: Bool = true, cronExpression: String? = nil,
        timeZone: String = "UTC", runAt: Instant? = nil, payload: String? = nil,
        messageTemplate: String? = nil, maxRetries: Int = 1, retryDelaySeconds: Int = 60,
        timeoutSeconds: Int = 780, misfirePolicy: MisfirePolicy = .latest, runAsUserID: String? = nil,
        createdBy: String? = nil, ref: String = "main",
        overlapPolicy: OverlapPolicy = .allow, jitterSeconds: Int = 0, pauseAfterFailures: Int? = nil
    ) {
        self.tenantID = tenantID
        self.id = id
        self.projectID = projectID
        self.agentID = agentID
        self.name = name
        self.description = description
        self.enabled = enabled
        self.cronExpression = cronExpression
        self.timeZone = timeZone
        self.runAt = runAt
        self.payload = payload
        self.messageTemplate = messageTemplate
        self.maxRetries = maxRetries
        self.retryDelaySeconds = retryDelaySeconds
        self.timeoutSeconds = timeoutSeconds
        self.misfirePolicy = misfirePolicy
        self.runAsUserID = runAsUserID
        self.createdBy = createdBy
        self.ref = ref
        self.overlapPolicy = overlapPolicy
        self.jitterSeconds = jitterSeconds
        self.pauseAfterFailures = pauseAfterFailures
    }

    /// The ranges of contract §1, as `(flag, column, range)`.
    public static let maxRetriesRange = 0...10
    public static let retryDelayRange = 10...3600
    public static let timeoutRange = 30...86400

    /// Payload as stored, and message template, in bytes (PLAN limits): larger ones are
    /// refused here and never loaded by the dispatcher.
    public static let payloadLimit = 262_144
    public static let templateLimit = 65_536

    /// Checks every field except the schedule against contract §1; the message names the flag.
    public func validateFields() throws(ManagementError) {
        try CLIIdentifier.check("--tenant", tenantID)
        if let id { try CLIIdentifier.check("--id", id) }
        try CLIIdentifier.check("--project", projectID)
        try CLIIdentifier.check("--agent", agentID)
        try Self.checkText("--name", name, limit: 256, required: true)
        try CLIIdentifier.check("--ref", ref)
        try Self.checkText("--tz", timeZone, limit: 64, required: true)
        if let runAsUserID { try CLIIdentifier.check("--run-as", runAsUserID) }
        if let createdBy { try CLIIdentifier.check("--created-by", createdBy) }
        if let cronExpression { try Self.checkText("--cron", cronExpression, limit: 256, required: true) }
        try Self.checkRange("--max-retries", maxRetries, Self.maxRetriesRange, unit: "")
        try Self.checkRange("--retry-delay", retryDelaySeconds, Self.retryDelayRange, unit: " seconds")
        try Self.checkRange("--timeout", timeoutSeconds, Self.timeoutRange, unit: " seconds")
        if let payload { try Self.checkPayload(payload) }
        try PolicyColumns.validate(jitter: jitterSeconds, pauseAfterFailures: pauseAfterFailures)
        if let description { try Self.checkFreeText("--description", description) }
        if let messageTemplate { try Self.checkTemplate(messageTemplate) }
    }

    /// Validates the schedule (cron and zone through the `Schedules` engine) and returns it;
    /// the message names the flag to fix.
    public func validateSchedule() throws(ManagementError) -> TriggerSchedule {
        switch (cronExpression, runAt) {
        case (nil, nil): throw .invalid("a trigger needs a schedule: give --cron EXPR or --at INSTANT")
        case (.some, .some): throw .invalid("give either --cron or --at, not both")
        default: break
        }
        do {
            return try resolveSchedule()
        } catch {
            throw .invalid(Self.scheduleMessage(error, cron: cronExpression, zone: timeZone, runAt: runAt))
        }
    }

    /// The schedule as the dispatcher would compute it; the error is what goes into
    /// schedule_error (no flag names: the row may have been written by SQL).
    public func resolveSchedule() throws(ScheduleError) -> TriggerSchedule {
        try TriggerSchedule.resolve(cronExpression: cronExpression, timeZone: timeZone, runAt: runAt)
    }

    /// The schedule error worded for the flag to fix: `--at`, `--tz` or `--cron`.
    static func scheduleMessage(_ error: ScheduleError, cron: String?, zone: String, runAt: Instant? = nil) -> String {
        if error.kind == .yearOutOfRange, cron == nil, let runAt, let message = SlotPlanner.yearError(runAt, what: "--at") {
            return message
        }
        if error.kind == .unknownZone || cron == nil { return zoneMessage(error) }
        return "--cron \"\(cron ?? "")\": \(error.message)"
    }

    /// `--tz: …`, with an example name unless the engine's message already gives one.
    static func zoneMessage(_ error: ScheduleError) -> String {
        "--tz: \(error.message)" + (error.suggestsFix ? "" : "; use an IANA name such as Europe/Berlin")
    }

    /// One line of text (a name, a zone, a cron expression): no control characters.
    static func checkText(_ flag: String, _ value: String, limit: Int, required: Bool) throws(ManagementError) {
        if required && value.isEmpty { throw .invalid("\(flag) must not be empty") }
        // varchar(n) counts characters (code points), not bytes.
        let length = value.unicodeScalars.count
        if length > limit { throw .invalid("\(flag) is \(length) characters long; at most \(limit) are allowed") }
        if let control = value.unicodeScalars.first(where: ManagementOutput.isControl) {
            throw .invalid("\(flag) contains the control character \(ManagementOutput.escaped(String(control)))")
        }
    }

    /// Free text (a description): tabs and line breaks allowed, other control characters not.
    static func checkFreeText(_ flag: String, _ value: String) throws(ManagementError) {
        if let control = value.unicodeScalars.first(where: { ManagementOutput.isControl($0) && !["\t", "\n", "\r"].contains($0) }) {
            throw .invalid("\(flag) contains the control character \(ManagementOutput.escaped(String(control)))")
        }
    }

    static func checkTemplate(_ template: String) throws(ManagementError) {
        let bytes = template.utf8.count
        if bytes > templateLimit {
            throw .invalid("--message is \(bytes) bytes; at most \(templateLimit) bytes are allowed")
        }
        if template.unicodeScalars.contains("\0") { throw .invalid("--message: contains a NUL character") }
    }

    static func checkRange(_ flag: String, _ value: Int, _ range: ClosedRange<Int>, unit: String) throws(ManagementError) {
        guard range.contains(value) else {
            throw .invalid("\(flag) \(value) is out of range: allowed \(range.lowerBound)-\(range.upperBound)\(unit)")
        }
    }

    /// JSON as RFC 8259 defines it, plus the one thing `jsonb` refuses that JSON allows: `\u0000`.
    static func checkPayload(_ text: String) throws(ManagementError) {
        // jsonb prints ", " and ": " between members: the stored text may be longer than a
        // compact input. The check below measures it as stored (see storedLength).
        if text.utf8.count > payloadLimit * 4 {
            throw .invalid("--payload is \(text.utf8.count) bytes; at most \(payloadLimit) bytes (as stored) are allowed")
        }
        let value: JSONValue
        do {
            value = try JSONValue.parse(text)
        } catch {
            throw .invalid("--payload: \(error)")
        }
        if containsNUL(value) { throw .invalid("--payload: PostgreSQL jsonb cannot store the character \\u0000") }
        let stored = storedLength(value)
        if stored > payloadLimit {
            throw .invalid("--payload is \(stored) bytes as stored; at most \(payloadLimit) bytes are allowed")
        }
    }

    /// The length of jsonb's text for `value`: compact JSON plus the space jsonb puts after
    /// each `,` and `:` between members (an estimate for numbers jsonb rewrites).
    static func storedLength(_ value: JSONValue) -> Int {
        switch value {
        case .array(let elements):
            return 2 + elements.reduce(0) { $0 + storedLength($1) } + max(0, elements.count - 1) * 2
        case .object(let members):
            return 2 + members.reduce(0) { $0 + JSONValue.quoted($1.key).utf8.count + 2 + storedLength($1.value) }
                + max(0, members.count - 1) * 2
        default:
            return value.compactText.utf8.count
        }
    }

    private static func containsNUL(_ value: JSONValue) -> Bool {
        switch value {
        case .string(let text): return text.unicodeScalars.contains("\0")
        case .array(let elements): return elements.contains(where: containsNUL)
        case .object(let members): return members.contains { $0.key.unicodeScalars.contains("\0") || containsNUL($0.value) }
        default: return false
        }
    }
}

/// The ids a person types on the command line (tenant, trigger, project, agent, run-as,
/// created-by, ref): 1-256 characters, no control characters (C0, DEL, C1); a ref has no
/// whitespace either. They end up in HTTP headers and a URL, where such characters would
/// make every later run of the trigger fail at send time.
public enum CLIIdentifier {
    public static let maximumLength = 256

    public static func check(_ flag: String, _ value: String?) throws(ManagementError) {
        guard let value else { return }
        if value.isEmpty { throw .invalid("\(flag) must not be empty") }
        let length = value.unicodeScalars.count
        if length > maximumLength {
            throw .invalid("\(flag) is \(length) characters long; at most \(maximumLength) are allowed")
        }
        if let control = value.unicodeScalars.first(where: ManagementOutput.isControl) {
            throw .invalid("\(flag) contains the control character \(ManagementOutput.escaped(String(control)))")
        }
        if flag == "--ref", value.unicodeScalars.contains(where: \.properties.isWhitespace) {
            throw .invalid("--ref \(ManagementOutput.quotedForMessage(value)) contains whitespace")
        }
    }
}
