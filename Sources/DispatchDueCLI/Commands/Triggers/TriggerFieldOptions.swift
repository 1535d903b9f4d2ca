import ArgumentParser
import DispatchCore
import Schedules

extension MisfirePolicy: ExpressibleByArgument {}
extension OverlapPolicy: ExpressibleByArgument {}

/// The trigger fields `add` and `update` share. On `add`, --project, --agent, --name and one
/// of --cron / --at are required.
public struct TriggerFieldOptions: ParsableArguments {
    @Option(help: "Project the run goes to (required for add).") public var project: String?
    @Option(help: "Agent that runs (required for add).") public var agent: String?
    @Option(help: "Human-readable name, up to 256 characters (required for add).") public var name: String?
    @Option(help: ArgumentHelp("Five-field cron expression or @daily etc.", valueName: "EXPR")) public var cron: String?
    @Option(help: ArgumentHelp("IANA time zone of the cron expression (default UTC).", valueName: "ZONE")) public var tz: String?
    @Option(help: ArgumentHelp(
        "One-time trigger: ISO 8601 with a zone (2026-03-08T07:00:00Z, …+01:00); fractions are truncated.",
        valueName: "INSTANT"))
    public var at: String?
    @Option(help: "Free-text description.") public var description: String?
    @Option(help: ArgumentHelp("Message template with {{dot.path}} placeholders into the payload.", valueName: "TEMPLATE"))
    public var message: String?
    @Option(help: ArgumentHelp("Read the message template from a file (at most 64 KiB).", valueName: "PATH"))
    public var messageFile: String?
    @Option(help: ArgumentHelp("Payload as a JSON document.", valueName: "JSON")) public var payload: String?
    @Option(help: ArgumentHelp("Read the JSON payload from a file.", valueName: "PATH")) public var payloadFile: String?
    @Option(parsing: .unconditional, help: "Retries after the first attempt, 0-10 (default 1).") public var maxRetries: Int?
    @Option(parsing: .unconditional, help: ArgumentHelp("Base retry delay, 10-3600 seconds (default 60).", valueName: "S")) public var retryDelay: Int?
    @Option(parsing: .unconditional, help: ArgumentHelp("Run timeout, 30-86400 seconds (default 780).", valueName: "S")) public var timeout: Int?
    @Option(help: "Missed slots: latest, all or skip (default latest).") public var misfirePolicy: MisfirePolicy?
    @Option(help: ArgumentHelp("Branch of the project to run (default main).", valueName: "R")) public var ref: String?
    @Option(help: ArgumentHelp("User id the run acts as.", valueName: "USER")) public var runAs: String?
    @Option(help: "Who created the trigger.") public var createdBy: String?
    @Option(help: "Slot due while a run is unfinished: allow, skip or buffer_one (default allow).") public var overlap: OverlapPolicy?
    @Option(parsing: .unconditional, help: ArgumentHelp("Spread cron runs over [0, S) seconds after the slot, 0-3600 (default 0).", valueName: "S")) public var jitter: Int?
    @Option(parsing: .unconditional, help: ArgumentHelp("Pause after N consecutive failed runs, 1-100; 0 = never (default never).", valueName: "N")) public var pauseAfterFailures: Int?

    public init() {}

    /// The --at instant, or a usage error that says what is accepted.
    func runAt() throws(ManagementError) -> Instant? {
        guard let at else { return nil }
        guard let instant = Instant.parse(at) else {
            throw .invalid(
                "--at \"\(at)\": not an ISO 8601 instant with a zone; use e.g. 2026-03-08T07:00:00Z or 2026-03-08T08:00:00+01:00")
        }
        return instant
    }

    /// --payload, or the contents of --payload-file.
    func payloadText() throws(ManagementError) -> String? {
        switch (payload, payloadFile) {
        case (.some, .some): throw .invalid("give either --payload or --payload-file, not both")
        case (let text?, nil): return text
        case (nil, let path?):
            do {
                return try FileSystem.readRegularFile(path, limit: TriggerDefinition.payloadLimit)
            } catch {
                throw .invalid("--payload-file: cannot use \(error)")
            }
        case (nil, nil): return nil
        }
    }

    /// --message, or the contents of --message-file (a regular file of at most 64 KiB).
    func messageText() throws(ManagementError) -> String? {
        switch (message, messageFile) {
        case (.some, .some): throw .invalid("give either --message or --message-file, not both")
        case (let text, nil): return text
        case (nil, let path?):
            do {
                return try FileSystem.readRegularFile(path, limit: TriggerDefinition.templateLimit)
            } catch {
                throw .invalid("--message-file: cannot use \(error)")
            }
        }
    }

    /// A complete, validated trigger for `add`.
    func definition(tenant: String, id: String?, enabled: Bool) throws(ManagementError) -> TriggerDefinition {
        var missing: [String] = []
        if project == nil { missing.append("--project") }
        if agent == nil { missing.append("--agent") }
        if name == nil { missing.append("--name") }
        if !missing.isEmpty { throw .invalid("missing \(missing.joined(separator: ", ")) (required for add)") }
        let definition = TriggerDefinition(
            tenantID: tenant, id: id, projectID: project!, agentID: agent!, name: name!,
            description: description, enabled: enabled, cronExpression: cron, timeZone: tz ?? "UTC",
            runAt: try runAt(), payload: try payloadText(), messageTemplate: try messageText(),
            maxRetries: maxRetries ?? 1, retryDelaySeconds: retryDelay ?? 60, timeoutSeconds: timeout ?? 780,
            misfirePolicy: misfirePolicy ?? .latest, runAsUserID: runAs, createdBy: createdBy, ref: ref ?? "main",
            overlapPolicy: overlap ?? .allow, jitterSeconds: jitter ?? 0,
            pauseAfterFailures: pauseAfterFailures == 0 ? nil : pauseAfterFailures)
        try definition.validateFields()
        _ = try definition.validateSchedule()
        return definition
    }

    /// The changes `update` was given.
    func changes() throws(ManagementError) -> TriggerChanges {
        var changes = TriggerChanges()
        changes.projectID = project
        changes.agentID = agent
        changes.name = name
        changes.description = description
        changes.cronExpression = cron
        changes.timeZone = tz
        changes.runAt = try runAt()
        changes.payload = try payloadText()
        changes.messageTemplate = try messageText()
        changes.maxRetries = maxRetries
        changes.retryDelaySeconds = retryDelay
        changes.timeoutSeconds = timeout
        changes.misfirePolicy = misfirePolicy
        changes.runAsUserID = runAs
        changes.createdBy = createdBy
        changes.ref = ref
        changes.overlapPolicy = overlap
        changes.jitterSeconds = jitter
        changes.pauseAfterFailures = pauseAfterFailures
        return changes
    }
}
