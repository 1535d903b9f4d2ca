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
            output += MetricFamily.seriesKey(name, sample.labels) + " \(MetricFamily.format(sample.value))\n"
        }
    }

    /// `name{label="value",...}` as written: also the key counters are carried by.
    static func seriesKey(_ name: String, _ labels: [(String, String)]) -> String {
        guard !labels.isEmpty else { return name }
        return name + "{" + labels.map { "\($0.0)=\"\(escapeLabel($0.1))\"" }.joined(separator: ",") + "}"
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

/// How a cycle ended: the `outcome` of `cycle.finished`, `dispatch_due_last_exit_code`, and
/// the labels of the `_total` counters. The caller names the status and the reason; the core
/// only reports them.
public struct CycleOutcome: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable { case ok, stopped, failed }

    public var kind: Kind
    /// The status the process ends with, as the caller reports it (0 when ok).
    public var status: Int32
    /// Why a failed cycle failed (`dispatch_due_cycle_failures_total{reason}`); nil otherwise.
    public var reason: String?

    public init(kind: Kind, status: Int32, reason: String? = nil) {
        self.kind = kind
        self.status = status
        self.reason = reason
    }

    public static let ok = CycleOutcome(kind: .ok, status: 0)

    /// A failure nothing more is known of.
    public static let unspecifiedFailure = CycleOutcome(kind: .failed, status: 1, reason: "error")

    /// The reasons a failed cycle is counted under, in the order they are written.
    public static let failureReasons = ["error", "usage", "database_unavailable", "credentials_rejected", "configuration"]

    /// The log level of `cycle.finished`: a stopped cycle is a warning, a failed one an error.
    public var logLevel: LogLevel {
        switch kind {
        case .ok: return .info
        case .stopped: return .warning
        case .failed: return .error
        }
    }
}

/// The `--metrics-file` writer (docs/metrics.md): Prometheus text for node_exporter's textfile
/// collector, replaced atomically after each cycle so the collector never reads half a file;
/// and the `--metrics-push` sender (a Pushgateway).
///
/// Per-cycle values are gauges named `dispatch_due_last_cycle_*`. The `_total` counters are
/// monotonic across runs: each file carries the previous file's totals plus this cycle's
/// counts (the file is ours; read bounded and non-blocking). A lost file (a reboot clears
/// /run) restarts them at zero, which Prometheus' rate() and increase() treat as a reset.
/// A push carries no counters (a pushed group has no previous value to add to): use the
/// gauges, and the Pushgateway's own `push_time_seconds`.
public struct CycleMetrics {
    public let path: String?
    public let push: MetricsPush?
    public let logger: Logger

    public init(path: String?, push: MetricsPush? = nil, logger: Logger) {
        self.path = path
        self.push = push
        self.logger = logger
    }

    static let lastSuccessName = "dispatch_due_last_success_timestamp_seconds"
    /// The most a previous file is read (ours is a few KiB).
    static let previousFileLimit = 1 << 20

    /// The target must be a regular file or not exist yet, in a folder that exists and is
    /// writable: /dev/null, a directory, a symlink, or a missing or read-only folder is
    /// refused before the cycle starts (`configuration`, contract §5), never replaced.
    public static func checkTarget(_ path: String) throws(DispatchFailure) {
        do {
            try FileSystem.requireRegularOrAbsent(path)
            try FileSystem.requireWritableFolder(of: path)
        } catch {
            throw .configuration(detail: "--metrics-file: \(error)")
        }
    }

    /// Measures the backlog on `connection`, then writes the file and pushes. A failure to
    /// measure, write or push is logged, never fatal: metrics must not change what the cycle did.
    public func write(_ report: CycleReport, outcome: CycleOutcome, backlogFrom connection: borrowing Connection) {
        var backlog: Backlog?
        var scheduleErrors: Int?
        do {
            backlog = try Backlog.measure(on: connection)
            scheduleErrors = try BacklogDetails.scheduleErrorCount(on: connection)
        } catch {
            logger.warning("metrics.backlog_failed", ["error": .string(String(describing: error))])
        }
        write(report, outcome: outcome, backlog: backlog, scheduleErrors: scheduleErrors)
    }

    /// A failed cycle that never reached the database: counters and success flag only, so
    /// the file still says the last cycle failed (and keeps the last success time).
    public func writeWithoutDatabase(_ report: CycleReport, outcome: CycleOutcome) {
        write(report, outcome: outcome, backlog: nil, scheduleErrors: nil)
    }

    private func write(_ report: CycleReport, outcome: CycleOutcome, backlog: Backlog?, scheduleErrors: Int?) {
        let finishedAt = backlog?.measuredAt ?? Double(WallClock.nowMilliseconds()) / 1000
        // Bounded and non-blocking: whatever sits at the path, reading it never hangs the cycle.
        let previous = path.flatMap { try? FileSystem.readRegularFile($0, limit: Self.previousFileLimit) }
        let succeeded = outcome.kind != .failed
        let lastSuccessAt = succeeded ? finishedAt : previous.flatMap { CycleMetrics.lastSuccess(in: $0) }
        if let path {
            let text = CycleMetrics.render(
                report, succeeded: succeeded, finishedAt: finishedAt, lastSuccessAt: lastSuccessAt,
                backlog: backlog, scheduleErrorTriggers: scheduleErrors, outcome: outcome,
                previousTotals: previous.map(CycleMetrics.totals(in:)) ?? [:])
            do {
                try FileSystem.writeAtomically(text, to: path)
            } catch {
                logger.error("metrics.write_failed", ["path": .string(path), "error": .string(error.description)])
            }
        }
        if let push {
            let text = CycleMetrics.render(
                report, succeeded: succeeded, finishedAt: finishedAt, lastSuccessAt: lastSuccessAt,
                backlog: backlog, scheduleErrorTriggers: scheduleErrors, outcome: outcome, counters: false)
            push.send(text, logger: logger)
        }
    }

    /// The file's text. `lastSuccessAt` nil (no cycle ever succeeded) leaves that metric out,
    /// so an alert on its absence fires; `backlog` nil (not measurable) leaves the gauges out.
    /// `previousTotals` (series → value, from the previous file) are added to this cycle's
    /// counts; `counters` false leaves the `_total` families out (a push).
    public static func render(
        _ report: CycleReport, succeeded: Bool, finishedAt: Double, lastSuccessAt: Double?,
        backlog: Backlog?, scheduleErrorTriggers: Int?, outcome: CycleOutcome? = nil,
        previousTotals: [String: Double] = [:], counters: Bool = true
    ) -> String {
        let outcome = outcome ?? (succeeded ? .ok : .unspecifiedFailure)
        let invocationResults: [(String, Int)] = [
            ("posted", report.posted), ("accepted", report.accepted), ("completed", report.completed),
            ("retried", report.retried), ("failed", report.failed), ("cancelled", report.cancelled),
            ("released", report.released), ("reconciled", report.reconciled),
        ]
        var families: [MetricFamily] = [
            MetricFamily(
                "dispatch_due_build_info", "Always 1; the labels name the dispatcher build (version and git commit).",
                [([("version", DispatchDueVersion.current), ("commit", DispatchDueVersion.commit)], 1)]),
            MetricFamily(
                "dispatch_due_last_cycle_success", help: "1 when the last cycle finished its work, 0 when it failed.",
                value: succeeded ? 1 : 0),
            MetricFamily(
                "dispatch_due_last_exit_code",
                help: "The status the last cycle ended with (0 ok, 130/143 stopped, others failed; docs/exit-codes.md).",
                value: Double(outcome.status)),
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
                invocationResults.map { ([("result", $0.0)], Double($0.1)) }),
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
        if counters {
            // Every series is written from the first file on (at 0), so rate() sees its start.
            func counter(_ name: String, _ help: String, _ label: String, _ counts: [(String, Int)]) -> MetricFamily {
                MetricFamily(name, .counter, help, counts.map { value, count in
                    let labels = [(label, value)]
                    let previous = previousTotals[MetricFamily.seriesKey(name, labels)] ?? 0
                    return (labels, previous + Double(count))
                })
            }
            families += [
                counter(
                    "dispatch_due_cycles_total", "Cycles run, by how they ended (ok, stopped by a signal, failed).",
                    "outcome", CycleOutcome.Kind.allCases.map { ($0.rawValue, $0 == outcome.kind ? 1 : 0) }),
                counter(
                    "dispatch_due_cycle_failures_total",
                    "Failed cycles, by reason (database_unavailable 69, configuration 78, credentials_rejected 77, usage 64, error 1; docs/exit-codes.md).",
                    "reason", CycleOutcome.failureReasons.map { ($0, outcome.reason == $0 ? 1 : 0) }),
                counter(
                    "dispatch_due_slots_total", "Slots recorded as invocations, or skipped by the misfire policy.",
                    "result", [("recorded", report.recorded), ("skipped", report.skippedSlots)]),
                counter(
                    "dispatch_due_invocations_total", "Invocations handled, by what happened to them.",
                    "result", invocationResults),
                counter(
                    "dispatch_due_triggers_total", "Triggers scheduled (healed) or marked with a schedule error.",
                    "result", [("healed", report.healed), ("schedule_error", report.scheduleErrors)]),
            ]
        }
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

    /// The `dispatch_due_*_total` samples of a previous file, by series (`name{labels}` as
    /// written). Anything else, and values that are not finite and non-negative, are ignored:
    /// a damaged file restarts those counters at zero rather than carrying garbage.
    static func totals(in text: String) -> [String: Double] {
        var totals: [String: Double] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("dispatch_due_") {
            guard let space = line.lastIndex(of: " ") else { continue }
            let series = line[..<space]
            let name = series.prefix { $0 != "{" }
            guard name.hasSuffix("_total"), let value = Double(line[line.index(after: space)...]),
                value.isFinite, value >= 0
            else { continue }
            totals[String(series)] = value
        }
        return totals
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
