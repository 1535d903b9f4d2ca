import Postgres

/// One metric family in Prometheus text exposition format 0.0.4.
public struct MetricFamily: Sendable {
    public enum Kind: String, Sendable { case gauge, counter }

    public var name: String
    public var kind: Kind
    public var help: String
    /// Label pairs (already valid label names) and the value.
    public var samples: [(labels: [(String, String)], value: Double)]

    public init(_ name: String, _ kind: Kind, _ help: String, _ samples: [(labels: [(String, String)], value: Double)]) {
        self.name = name
        self.kind = kind
        self.help = help
        self.samples = samples
    }

    func write(to output: inout String) {
        output += "# HELP \(name) \(MetricFamily.escapeHelp(help))\n"
        output += "# TYPE \(name) \(kind.rawValue)\n"
        for sample in samples {
            output += name
            if !sample.labels.isEmpty {
                output += "{"
                output += sample.labels.map { "\($0.0)=\"\(MetricFamily.escapeLabel($0.1))\"" }.joined(separator: ",")
                output += "}"
            }
            output += " \(MetricFamily.format(sample.value))\n"
        }
    }

    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }

    static func escapeHelp(_ text: String) -> String {
        text.replacing("\\", with: "\\\\").replacing("\n", with: "\\n")
    }

    static func escapeLabel(_ text: String) -> String {
        escapeHelp(text).replacing("\"", with: "\\\"")
    }
}

/// The `--metrics-file` writer (contract §5): Prometheus text for node_exporter's textfile
/// collector, replaced atomically after each cycle so the collector never reads half a file.
///
/// A file describes the last cycle: its counters (gauges that hold that cycle's counts; sum
/// them over time in Prometheus), whether it succeeded, when a cycle last succeeded (carried
/// over from the previous file when this one failed), and the backlog measured afterwards.
public struct CycleMetrics {
    public let path: String
    public let logger: Logger

    public init(path: String, logger: Logger) {
        self.path = path
        self.logger = logger
    }

    static let lastSuccessName = "dispatch_due_last_success_timestamp_seconds"

    /// The target must be a regular file or not exist yet: /dev/null, a directory or a
    /// symlink is refused before the cycle starts (exit 78), never replaced.
    public static func checkTarget(_ path: String) throws(DispatchFailure) {
        do {
            try FileSystem.requireRegularOrAbsent(path)
        } catch {
            throw .configuration(detail: "--metrics-file: \(error)")
        }
    }

    /// Measures the backlog on `connection` and writes the file. A failure to measure or to
    /// write is logged, never fatal: the metrics file must not change what the cycle did.
    public func write(_ report: CycleReport, succeeded: Bool, backlogFrom connection: borrowing Connection) {
        var backlog: Backlog?
        var scheduleErrors: Int?
        do {
            backlog = try Backlog.measure(on: connection)
            scheduleErrors = try BacklogDetails.scheduleErrorCount(on: connection)
        } catch {
            logger.warning("metrics.backlog_failed", ["error": .string(String(describing: error))])
        }
        write(report, succeeded: succeeded, backlog: backlog, scheduleErrors: scheduleErrors)
    }

    /// A failed cycle that never reached the database: counters and success flag only, so
    /// the file still says the last cycle failed (and keeps the last success time).
    public func writeWithoutDatabase(_ report: CycleReport) {
        write(report, succeeded: false, backlog: nil, scheduleErrors: nil)
    }

    private func write(_ report: CycleReport, succeeded: Bool, backlog: Backlog?, scheduleErrors: Int?) {
        let finishedAt = backlog?.measuredAt ?? Double(WallClock.nowMilliseconds()) / 1000
        // Bounded and non-blocking: whatever sits at the path, reading it never hangs the cycle.
        let previous = (try? FileSystem.readRegularFile(path, limit: 1 << 20)).flatMap { CycleMetrics.lastSuccess(in: $0) }
        let text = CycleMetrics.render(
            report, succeeded: succeeded, finishedAt: finishedAt,
            lastSuccessAt: succeeded ? finishedAt : previous,
            backlog: backlog, scheduleErrorTriggers: scheduleErrors)
        do {
            try FileSystem.writeAtomically(text, to: path)
        } catch {
            logger.error("metrics.write_failed", ["path": .string(path), "error": .string(error.description)])
        }
    }

    /// The file's text. `lastSuccessAt` nil (no cycle ever succeeded) leaves that metric out,
    /// so an alert on its absence fires; `backlog` nil (not measurable) leaves the gauges out.
    public static func render(
        _ report: CycleReport, succeeded: Bool, finishedAt: Double, lastSuccessAt: Double?,
        backlog: Backlog?, scheduleErrorTriggers: Int?
    ) -> String {
        var families: [MetricFamily] = [
            MetricFamily(
                "dispatch_due_build_info", "Always 1; the version label names the dispatcher build.",
                [([("version", DispatchDueVersion.current)], 1)]),
            MetricFamily(
                "dispatch_due_last_cycle_success", help: "1 when the last cycle finished its work, 0 when it failed.",
                value: succeeded ? 1 : 0),
            MetricFamily(
                "dispatch_due_last_cycle_timestamp_seconds",
                help: "When the last cycle finished (Unix time, database clock when reachable).", value: finishedAt),
            MetricFamily(
                "dispatch_due_last_cycle_duration_seconds", help: "Wall time of the last cycle.",
                value: report.durationSeconds),
            MetricFamily(
                "dispatch_due_last_cycle_slots", .gauge,
                "Slots of the last cycle: recorded as invocations, or skipped by the misfire policy.",
                [([("result", "recorded")], Double(report.recorded)),
                 ([("result", "skipped")], Double(report.skippedSlots))]),
            MetricFamily(
                "dispatch_due_last_cycle_invocations", .gauge,
                "Invocations the last cycle handled, by what happened to them.",
                [("posted", report.posted), ("accepted", report.accepted), ("completed", report.completed),
                 ("retried", report.retried), ("failed", report.failed), ("cancelled", report.cancelled),
                 ("released", report.released), ("reconciled", report.reconciled)]
                    .map { ([("result", $0.0)], Double($0.1)) }),
            MetricFamily(
                "dispatch_due_last_cycle_concurrency",
                help: "Requests in flight the adaptive limit settled on in the last cycle (0 when nothing was sent).",
                value: Double(report.concurrency)),
            MetricFamily(
                "dispatch_due_last_cycle_triggers", .gauge,
                "Triggers the last cycle scheduled (healed) or marked with a schedule error.",
                [([("result", "healed")], Double(report.healed)),
                 ([("result", "schedule_error")], Double(report.scheduleErrors))]),
            MetricFamily(
                "dispatch_due_last_cycle_slot_lag_seconds",
                help: "How late the last cycle recorded its latest slot (database clock minus slot).",
                value: report.maxSlotLagSeconds),
        ]
        families += PolicyMetrics.families(report)
        if let lastSuccessAt {
            families.append(MetricFamily(
                lastSuccessName, help: "When a cycle last finished its work (Unix time).", value: lastSuccessAt))
        }
        if let backlog {
            families += [
                MetricFamily(
                    "dispatch_due_due_triggers", help: "Enabled triggers whose next_run_at has passed, after the cycle.",
                    value: Double(backlog.dueTriggers)),
                MetricFamily(
                    "dispatch_due_oldest_due_lag_seconds",
                    help: "now - the oldest due next_run_at, after the cycle (0 when none is due).",
                    value: backlog.oldestDueLagSeconds),
                MetricFamily(
                    "dispatch_due_runnable_invocations",
                    help: "Pending invocations whose next attempt time has passed, after the cycle.",
                    value: Double(backlog.runnableInvocations)),
                MetricFamily(
                    "dispatch_due_oldest_runnable_lag_seconds",
                    help: "now - the oldest runnable invocation's coalesce(next_attempt_at, created_at) (0 when none).",
                    value: backlog.oldestRunnableLagSeconds),
                MetricFamily(
                    "dispatch_due_invocations", .gauge,
                    "Invocations not yet finished, by status (finished ones are counted per cycle).",
                    [([("status", "pending")], Double(backlog.pendingInvocations)),
                     ([("status", "running")], Double(backlog.runningInvocations))]),
                MetricFamily(
                    "dispatch_due_expired_leases",
                    help: "Running invocations whose lease has passed (a crashed dispatcher's work or a due status check).",
                    value: Double(backlog.expiredLeases)),
            ]
        }
        if let scheduleErrorTriggers {
            families.append(MetricFamily(
                "dispatch_due_schedule_error_triggers",
                help: "Triggers whose schedule cannot be computed (schedule_error set).",
                value: Double(scheduleErrorTriggers)))
        }
        var output = ""
        for family in families { family.write(to: &output) }
        return output
    }

    /// The last-success timestamp in a previous file, if it has one.
    static func lastSuccess(in text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(lastSuccessName + " ") {
            return Double(line.dropFirst(lastSuccessName.count + 1))
        }
        return nil
    }
}

extension MetricFamily {
    init(_ name: String, _ kind: Kind = .gauge, help: String, value: Double) {
        self.init(name, kind, help, [([], value)])
    }

    init(_ name: String, _ help: String, _ samples: [(labels: [(String, String)], value: Double)]) {
        self.init(name, .gauge, help, samples)
    }
}
