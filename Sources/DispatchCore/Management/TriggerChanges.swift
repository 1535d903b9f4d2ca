import Schedules

/// The fields `triggers update` was given; nil leaves a field as it is. For the optional
/// text columns an empty string clears the column (sets it to NULL).
public struct TriggerChanges: Sendable, Equatable {
    public var projectID: String?
    public var agentID: String?
    public var name: String?
    public var description: String?
    public var cronExpression: String?
    public var timeZone: String?
    public var runAt: Instant?
    public var payload: String?
    public var clearPayload = false
    public var messageTemplate: String?
    public var maxRetries: Int?
    public var retryDelaySeconds: Int?
    public var timeoutSeconds: Int?
    public var misfirePolicy: MisfirePolicy?
    public var runAsUserID: String?
    public var createdBy: String?
    public var ref: String?
    /// contract §6 policies; `pauseAfterFailures` 0 means never (NULL).
    public var overlapPolicy: OverlapPolicy?
    public var jitterSeconds: Int?
    public var pauseAfterFailures: Int?

    public init() {}

    public var isEmpty: Bool { self == TriggerChanges() }

    /// Checks what can be checked without the stored row: each given field on its own
    /// (a cron expression alone, a zone alone, JSON, ranges, lengths).
    public func validateAlone() throws(ManagementError) {
        if cronExpression != nil && runAt != nil { throw .invalid("give either --cron or --at, not both") }
        if payload != nil && clearPayload { throw .invalid("give either --payload or --clear-payload, not both") }
        try CLIIdentifier.check("--project", projectID)
        try CLIIdentifier.check("--agent", agentID)
        if let name { try TriggerDefinition.checkText("--name", name, limit: 256, required: true) }
        try CLIIdentifier.check("--ref", ref)
        // An empty --run-as / --created-by clears the column.
        if let runAsUserID, !runAsUserID.isEmpty { try CLIIdentifier.check("--run-as", runAsUserID) }
        if let createdBy, !createdBy.isEmpty { try CLIIdentifier.check("--created-by", createdBy) }
        if let description { try TriggerDefinition.checkFreeText("--description", description) }
        if let messageTemplate { try TriggerDefinition.checkTemplate(messageTemplate) }
        if let cronExpression {
            try TriggerDefinition.checkText("--cron", cronExpression, limit: 256, required: true)
            do {
                _ = try CronExpression.parse(cronExpression)
            } catch {
                throw .invalid(TriggerDefinition.scheduleMessage(error, cron: cronExpression, zone: timeZone ?? ""))
            }
        }
        if let timeZone {
            try TriggerDefinition.checkText("--tz", timeZone, limit: 64, required: true)
            do {
                _ = try TimeZoneRules.named(timeZone)
            } catch {
                throw .invalid(TriggerDefinition.zoneMessage(error))
            }
        }
        if let maxRetries {
            try TriggerDefinition.checkRange("--max-retries", maxRetries, TriggerDefinition.maxRetriesRange, unit: "")
        }
        if let retryDelaySeconds {
            try TriggerDefinition.checkRange(
                "--retry-delay", retryDelaySeconds, TriggerDefinition.retryDelayRange, unit: " seconds")
        }
        if let timeoutSeconds {
            try TriggerDefinition.checkRange("--timeout", timeoutSeconds, TriggerDefinition.timeoutRange, unit: " seconds")
        }
        if let payload { try TriggerDefinition.checkPayload(payload) }
        try PolicyColumns.validate(jitter: jitterSeconds, pauseAfterFailures: pauseAfterFailures == 0 ? nil : pauseAfterFailures)
    }

    /// `definition` with these changes. `--cron` turns a one-time trigger into a cron trigger
    /// and `--at` the other way round (the CHECK wants exactly one of them).
    public func applied(to definition: TriggerDefinition) throws(ManagementError) -> TriggerDefinition {
        if cronExpression != nil && runAt != nil { throw .invalid("give either --cron or --at, not both") }
        if payload != nil && clearPayload { throw .invalid("give either --payload or --clear-payload, not both") }
        var result = definition
        if let projectID { result.projectID = projectID }
        if let agentID { result.agentID = agentID }
        if let name { result.name = name }
        if let description { result.description = description.isEmpty ? nil : description }
        if let cronExpression {
            result.cronExpression = cronExpression
            result.runAt = nil
        }
        if let runAt {
            result.runAt = runAt
            result.cronExpression = nil
        }
        if let timeZone { result.timeZone = timeZone }
        if let payload { result.payload = payload }
        if clearPayload { result.payload = nil }
        if let messageTemplate { result.messageTemplate = messageTemplate.isEmpty ? nil : messageTemplate }
        if let maxRetries { result.maxRetries = maxRetries }
        if let retryDelaySeconds { result.retryDelaySeconds = retryDelaySeconds }
        if let timeoutSeconds { result.timeoutSeconds = timeoutSeconds }
        if let misfirePolicy { result.misfirePolicy = misfirePolicy }
        if let runAsUserID { result.runAsUserID = runAsUserID.isEmpty ? nil : runAsUserID }
        if let createdBy { result.createdBy = createdBy.isEmpty ? nil : createdBy }
        if let ref { result.ref = ref }
        if let overlapPolicy { result.overlapPolicy = overlapPolicy }
        if let jitterSeconds { result.jitterSeconds = jitterSeconds }
        if let pauseAfterFailures { result.pauseAfterFailures = pauseAfterFailures == 0 ? nil : pauseAfterFailures }
        return result
    }
}

extension TriggerDefinition {
    /// True when the columns the row trigger watches for a new schedule differ
    /// (cron_expression, cron_timezone, run_at; contract §1).
    func scheduleDiffers(from other: TriggerDefinition) -> Bool {
        cronExpression != other.cronExpression || timeZone != other.timeZone || runAt != other.runAt
    }
}
