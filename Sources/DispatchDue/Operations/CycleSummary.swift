import ArgumentParser

/// The closing line of a cycle and its metrics file. Placeholder until operations land.
public struct CycleSummary {
    public init() {}

    public func log(_ report: CycleReport, to logger: Logger) {
        logger.info("cycle.finished", [
            "recorded": .int(report.recorded), "skipped_slots": .int(report.skippedSlots),
            "posted": .int(report.posted), "duration_seconds": .double(report.durationSeconds),
        ])
    }
}
