/// contract §6: every skip, pause and prune is logged and counted; these are the cycle's counts in
/// the closing log line and the metrics file.
enum PolicyMetrics {
    static func summaryFields(_ report: CycleReport) -> [(String, LogValue)] {
        [
            ("skipped_overlap", .int(report.skippedByOverlap)),
            ("paused", .int(report.paused)),
            ("pruned", .int(report.pruned)),
            ("jitter_seconds_max", .double((report.maxJitterDelaySeconds * 1000).rounded() / 1000)),
        ]
    }

    static func families(_ report: CycleReport) -> [MetricFamily] {
        [
            MetricFamily(
                "dispatch_due_last_cycle_skipped_overlap",
                help: "Slots the last cycle recorded as skipped because of the trigger's overlap policy.",
                value: Double(report.skippedByOverlap)),
            MetricFamily(
                "dispatch_due_last_cycle_paused_triggers",
                help: "Triggers the last cycle paused after consecutive failures.", value: Double(report.paused)),
            MetricFamily(
                "dispatch_due_last_cycle_pruned_invocations",
                help: "Finished invocations the last cycle deleted by retention.", value: Double(report.pruned)),
            MetricFamily(
                "dispatch_due_last_cycle_jitter_delay_seconds", .gauge,
                "Jitter given to the invocations the last cycle recorded: total and largest delay.",
                [([("stat", "sum")], report.jitterDelaySecondsTotal),
                 ([("stat", "max")], report.maxJitterDelaySeconds)]),
        ]
    }
}
