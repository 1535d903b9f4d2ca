import Postgres

/// What `dispatch-due status` reports (contract §5): the backlog and its lag, invocations by
/// status, and the triggers whose schedule cannot be computed.
public struct StatusReport: Sendable {
    public var backlog: Backlog
    public var invocationsByStatus: [(status: String, count: Int)]
    public var scheduleErrors: [ScheduleErrorEntry]
    public var scheduleErrorTotal: Int
    /// The `--max-lag` limit, if one was given.
    public var maxLagSeconds: Double?
    /// Set when the database's migrations are not this binary's (newer or older): a cycle of
    /// this binary would refuse to run. A warning only: `isHealthy` looks at the lag alone.
    public var schemaProblem: String?
    /// contract §6: triggers the dispatcher paused.
    public var paused = PausedTriggers(entries: [], total: 0)

    /// Schedule errors listed in full; the total is always reported.
    public static let scheduleErrorListLimit = 100

    public static func measure(on connection: borrowing Connection, maxLagSeconds: Double?) throws(PostgresError) -> StatusReport {
        let backlog = try Backlog.measure(on: connection)
        let byStatus = try BacklogDetails.invocationsByStatus(on: connection)
        let errors = try BacklogDetails.scheduleErrors(on: connection, limit: scheduleErrorListLimit)
        var schemaProblem: String?
        if let check = try? SchemaCheck.embedded(), let versions = try? check.versions(on: connection) {
            schemaProblem = versions.problem?.description
        }
        var report = StatusReport(
            backlog: backlog, invocationsByStatus: byStatus, scheduleErrors: errors.entries,
            scheduleErrorTotal: errors.total, maxLagSeconds: maxLagSeconds, schemaProblem: schemaProblem)
        report.paused = try PausedTriggers.measure(on: connection)
        return report
    }

    /// False when the oldest lag (due trigger or runnable invocation) is over the limit.
    public var isHealthy: Bool {
        guard let maxLagSeconds else { return true }
        return backlog.oldestLagSeconds <= maxLagSeconds
    }

    public var json: JSONValue {
        func number(_ value: Double) -> JSONValue { .number(StatusReport.seconds(value)) }
        var members: [(key: String, value: JSONValue)] = [
            ("healthy", .bool(isHealthy)),
            ("max_lag_seconds", maxLagSeconds.map(number) ?? .null),
            ("oldest_lag_seconds", number(backlog.oldestLagSeconds)),
            ("due_triggers", .number(String(backlog.dueTriggers))),
            ("oldest_due_lag_seconds", number(backlog.oldestDueLagSeconds)),
            ("runnable_invocations", .number(String(backlog.runnableInvocations))),
            ("oldest_runnable_lag_seconds", number(backlog.oldestRunnableLagSeconds)),
            ("abandoned_invocations", .number(String(backlog.abandonedInvocations))),
            ("expired_leases", .number(String(backlog.expiredLeases))),
        ]
        members.append(("invocations_by_status", .object(invocationsByStatus.map { ($0.status, .number(String($0.count))) })))
        members.append(("schema_problem", schemaProblem.map(JSONValue.string) ?? .null))
        members.append(("schedule_error_count", .number(String(scheduleErrorTotal))))
        members.append(("schedule_errors", .array(scheduleErrors.map {
            .object([("tenant_id", .string($0.tenantID)), ("id", .string($0.triggerID)), ("error", .string($0.error))])
        })))
        members += paused.jsonMembers
        return .object(members)
    }

    /// Lines for a person.
    public var text: [String] {
        var lines = [
            "due triggers:          \(backlog.dueTriggers)"
                + (backlog.dueTriggers > 0 ? " (oldest \(StatusReport.seconds(backlog.oldestDueLagSeconds)) s late)" : ""),
            "runnable invocations:  \(backlog.runnableInvocations)"
                + (backlog.runnableInvocations > 0
                    ? " (oldest waiting \(StatusReport.seconds(backlog.oldestRunnableLagSeconds)) s)" : "")
                + (backlog.abandonedInvocations > 0
                    ? ", \(backlog.abandonedInvocations) left running by a dispatcher that stopped" : ""),
            "expired leases:        \(backlog.expiredLeases)",
            "invocations:           " + invocationsByStatus.map { "\($0.status) \($0.count)" }.joined(separator: ", "),
            "schedule errors:       \(scheduleErrorTotal)",
        ]
        for entry in scheduleErrors {
            lines.append("  \(entry.tenantID)/\(entry.triggerID): \(entry.error)")
        }
        if scheduleErrorTotal > scheduleErrors.count {
            lines.append("  … and \(scheduleErrorTotal - scheduleErrors.count) more")
        }
        if let schemaProblem { lines.append("schema:                WARNING: \(schemaProblem)") }
        lines += paused.textLines
        if let maxLagSeconds {
            lines.append(isHealthy
                ? "lag:                   ok (oldest \(StatusReport.seconds(backlog.oldestLagSeconds)) s, limit \(StatusReport.seconds(maxLagSeconds)) s)"
                : "lag:                   OVER LIMIT (oldest \(StatusReport.seconds(backlog.oldestLagSeconds)) s, limit \(StatusReport.seconds(maxLagSeconds)) s)")
        }
        return lines
    }

    /// Seconds with at most three decimals, as JSON-compatible number text.
    package static func seconds(_ value: Double) -> String {
        let millis = (value * 1000).rounded()
        let whole = Int64(millis / 1000)
        let fraction = Int64(abs(millis.truncatingRemainder(dividingBy: 1000)))
        if fraction == 0 { return String(whole) }
        var digits = String(fraction)
        digits = String(repeating: "0", count: 3 - digits.count) + digits
        while digits.hasSuffix("0") { digits.removeLast() }
        return (millis < 0 && whole == 0 ? "-" : "") + "\(whole).\(digits)"
    }
}
