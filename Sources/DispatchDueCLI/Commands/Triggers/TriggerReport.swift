import DispatchCore
import Schedules

/// Prints what a trigger command did: text for people, one JSON document with --json.
enum TriggerReport {
    static func write(_ result: TriggerWriteResult, verb: String?, json: Bool) {
        write(result.record, now: result.now, cancelled: result.cancelled, verb: verb, json: json)
    }

    static func write(_ record: TriggerRecord, now: Instant, cancelled: Int = 0, verb: String?, json: Bool) {
        let upcoming = upcomingSlots(record, now: now)
        if json {
            var document = ManagementOutput.json(record, upcoming: upcoming)
            if verb != nil, case .object(var members) = document {
                members.append(("cancelled_invocations", .number(String(cancelled))))
                document = .object(members)
            }
            StandardOutput.writeLine(ManagementOutput.jsonLine(document))
            return
        }
        let d = record.definition
        var lines: [String] = []
        if let verb {
            lines.append("\(verb) trigger \(ManagementOutput.escaped(record.id)) (tenant \(ManagementOutput.escaped(d.tenantID)))")
            if cancelled > 0 || verb == "disabled" {
                lines.append("cancelled \(cancelled) pending invocation(s)\(verb == "updated" ? " no longer in the schedule" : "")")
            }
        }
        // Everything shown may have been written by SQL: control characters are escaped.
        func field(_ label: String, _ value: String) { lines.append(label.padding(20) + ManagementOutput.escaped(value)) }
        field("id:", record.id)
        field("tenant:", d.tenantID)
        field("project / agent:", "\(d.projectID) / \(d.agentID)")
        field("ref:", d.ref)
        field("name:", d.name)
        if let description = d.description {
            field("description:", description + (record.descriptionCutFrom.map {
                "… (cut: the first \(TriggerRecord.descriptionShownCharacters) of \($0) characters shown)"
            } ?? ""))
        }
        field("enabled:", d.enabled ? "yes" : "no")
        field("schedule:", record.scheduleText)
        field("time zone:", d.timeZone)
        field("next run:", record.nextRunAt.map {
            "\(ManagementOutput.utc($0))  (\(ManagementOutput.local($0, record.zone)))"
        } ?? "-")
        if let error = record.scheduleError { field("schedule error:", error) }
        field("misfire policy:", d.misfirePolicy.rawValue)
        field("overlap policy:", d.overlapPolicy.rawValue)
        field("jitter:", "\(d.jitterSeconds) s")
        field("pause after:", d.pauseAfterFailures.map { "\($0) consecutive failure(s)" } ?? "never")
        if let reason = record.pausedReason { field("paused:", ManagementOutput.cell(reason, limit: 1000)) }
        field("retries:", "\(d.maxRetries), delay \(d.retryDelaySeconds) s; timeout \(d.timeoutSeconds) s")
        field("payload:", d.payload ?? overLimit(record.payloadOverLimitBytes, ExecutionLimits.payloadBytes))
        field("message:", d.messageTemplate ?? overLimit(record.messageTemplateOverLimitBytes, ExecutionLimits.templateBytes))
        if let runAs = d.runAsUserID { field("run as:", runAs) }
        if let createdBy = d.createdBy { field("created by:", createdBy) }
        field("created / updated:", "\(record.createdAt.iso8601) / \(record.updatedAt.iso8601)")
        field("last invocation:", record.lastStatus.map { "\($0) (slot \(ManagementOutput.utc(record.lastScheduledFor)))" } ?? "-")
        if !upcoming.isEmpty {
            let heading: String
            if !d.enabled {
                heading = "not scheduled while disabled; once enabled it would run at:"
            } else if d.runAt != nil {
                heading = upcoming[0] <= now ? "runs once, at the next cycle (run_at has passed):" : "runs once, at:"
            } else {
                heading = "next \(upcoming.count) slots:"
            }
            lines.append(heading)
            for slot in upcoming {
                lines.append("  \(ManagementOutput.utc(slot))  \(ManagementOutput.local(slot, record.zone))")
            }
        } else if d.enabled && record.scheduleError == nil && d.runAt != nil {
            lines.append("already fired: its slot has been recorded")
        }
        for line in lines { StandardOutput.writeLine(line) }
    }

    /// The slots shown: from next_run_at when scheduled (so the first is what fires next),
    /// else from now (disabled or not yet healed).
    /// A payload or template over its limit: its size instead of the value (never read).
    static func overLimit(_ bytes: Int?, _ limit: Int) -> String {
        bytes.map { "\($0) bytes, over the \(limit)-byte limit (not shown)" } ?? "-"
    }

    static func upcomingSlots(_ record: TriggerRecord, now: Instant) -> [Instant] {
        guard let schedule = record.schedule else { return [] }
        if case .once(let runAt, _) = schedule.timing {
            if record.definition.enabled && record.nextRunAt == nil && record.scheduleError == nil
                && record.lastScheduledFor != nil
            {
                return []  // fired already
            }
            return [runAt]
        }
        if let next = record.nextRunAt {
            return [next] + schedule.upcoming(after: next, count: 4)
        }
        return schedule.upcoming(after: now, count: 5)
    }
}
