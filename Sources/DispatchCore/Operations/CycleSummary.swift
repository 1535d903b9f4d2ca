/// The closing log line of a cycle (contract §5): one `cycle.finished` event with every counter,
/// so an operator reading only the last line of each run knows what it did.
public struct CycleSummary {
    public init() {}

    /// The fields, in the order they are logged. Shared with tests and the README's example.
    public func fields(_ report: CycleReport) -> [(String, LogValue)] {
        [
            ("recorded", .int(report.recorded)),
            ("skipped_slots", .int(report.skippedSlots)),
            ("posted", .int(report.posted)),
            ("accepted", .int(report.accepted)),
            ("completed", .int(report.completed)),
            ("retried", .int(report.retried)),
            ("failed", .int(report.failed)),
            ("cancelled", .int(report.cancelled)),
            ("released", .int(report.released)),
            ("reconciled", .int(report.reconciled)),
            ("concurrency", .int(report.concurrency)),
            ("healed", .int(report.healed)),
            ("schedule_errors", .int(report.scheduleErrors)),
            ("slot_lag_seconds", .double(rounded(report.maxSlotLagSeconds))),
            ("duration_seconds", .double(rounded(report.durationSeconds))),
        ] + PolicyMetrics.summaryFields(report)
    }

    /// With an outcome, the line says how the cycle ended (`outcome`, `exit_code`) and is a
    /// warning when it was stopped, an error when it failed.
    public func log(_ report: CycleReport, outcome: CycleOutcome? = nil, to logger: Logger) {
        guard let outcome else { return logger.log(.info, "cycle.finished", fields: fields(report)) }
        logger.log(
            outcome.logLevel, "cycle.finished",
            fields: fields(report) + [("outcome", .string(outcome.kind.rawValue)), ("exit_code", .int(Int(outcome.status)))]
                + (outcome.reason.map { [("reason", LogValue.string($0))] } ?? []))
    }

    /// Milliseconds are enough for people and collectors; more digits are noise.
    private func rounded(_ seconds: Double) -> Double { (seconds * 1000).rounded() / 1000 }
}
