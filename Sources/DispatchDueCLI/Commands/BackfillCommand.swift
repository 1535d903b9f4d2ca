import ArgumentParser
import DispatchCore
import Postgres
import Schedules

public struct BackfillCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "backfill",
        abstract: "Record every slot in a past window, then run them.",
        discussion: """
            Records every slot in [--from, --to] of the selected enabled cron triggers that have \
            no schedule_error, leaving slots that were already recorded alone, then posts the \
            runnable invocations as a cycle does. --to defaults to, and is capped at, the \
            database's now. next_run_at is never moved. One-time triggers are not backfilled: \
            they fire once however late.

            \(ExitStatus.backfillHelpText)
            """)

    @OptionGroup public var database: DatabaseOptions
    @OptionGroup public var execution: ExecutionOptions
    @OptionGroup public var logging: LogOptions

    @Option(help: ArgumentHelp("Start of the window (ISO 8601, e.g. 2026-03-08T00:00:00Z), inclusive.", valueName: "INSTANT"))
    public var from: String

    @Option(help: ArgumentHelp("End of the window, inclusive (default and cap: now).", valueName: "INSTANT"))
    public var to: String?

    @Option(help: "Only this tenant's triggers.")
    public var tenant: String?

    @Option(help: ArgumentHelp("Only this trigger (repeatable).", valueName: "ID"))
    public var trigger: [String] = []

    @Option(help: "Refuse windows holding more slots than this in total.")
    public var maxSlots: Int = 100_000

    @Option(help: "Seconds after which posting stops (the rest stays pending for the next cycle).")
    public var maxRuntime: Double = 50

    @Flag(help: "Print what would be recorded; change nothing and post nothing.")
    public var dryRun = false

    @Option(help: ArgumentHelp("After posting, write Prometheus metrics to this file atomically, as `run` does (env DISPATCH_DUE_METRICS_FILE).", valueName: "PATH"))
    public var metricsFile: String?

    public init() {}

    public func validate() throws {
        guard let start = Instant.parse(from) else { throw ValidationError("--from: \"\(from)\" is not an ISO 8601 instant such as 2026-03-08T00:00:00Z") }
        // Slots before the year 1 would get keys and timestamps no reader can take (a sign).
        if let error = SlotPlanner.yearError(start, what: "--from") { throw ValidationError(error) }
        if let to {
            guard let end = Instant.parse(to) else { throw ValidationError("--to: \"\(to)\" is not an ISO 8601 instant such as 2026-03-08T06:00:00Z") }
            guard Instant.parse(from)! <= end else { throw ValidationError("--from must not be after --to") }
        }
        guard maxSlots > 0 else { throw ValidationError("--max-slots must be positive") }
    }

    /// `--metrics-file`, else DISPATCH_DUE_METRICS_FILE.
    var metricsPath: String? { Tunable.string("--metrics-file", metricsFile) }

    /// The cycle that posts what was recorded: `run`'s, without its record and prune stages.
    func cycle(logger: Logger, deadline: CycleDeadline) -> DispatchCycle {
        DispatchCycle(
            logger: logger, deadline: deadline,
            serverTimeoutSeconds: DispatchCycle.serverTimeoutSeconds(maxRuntime: maxRuntime),
            execution: execution.stage(logger: logger),
            metrics: metricsPath.map { CycleMetrics(path: $0, logger: logger) }, outcome: ExitStatus.cycleOutcome(of:))
    }

    public func run() throws {
        try reportingFailures(logging: logging) {
            let logger = logging.makeLogger()
            let deadline = CycleDeadline.forCommand(maxRuntimeSeconds: maxRuntime)
            let cycle = cycle(logger: logger, deadline: deadline)
            let connection = try database.connect()
            try cycle.checkSchema(on: connection)
            let request = BackfillRequest(
                from: Instant.parse(from)!, to: to.flatMap(Instant.parse), tenantID: tenant, triggerIDs: trigger,
                dryRun: dryRun, maxSlots: maxSlots)
            let results: [BackfillResult]
            do {
                // Recording is one transaction: a stop signal cancels it whole (max runtime
                // bounds only the posting that follows).
                let recording = CycleDeadline.forCommand(maxRuntimeSeconds: .infinity)
                results = try connection.withStatementLimit(recording.statementLimit()) {
                    try Backfill(logger: logger).run(on: connection, request)
                }
            } catch let error as PostgresError where error.kind == .cancelled {
                logger.warning("backfill.interrupted", ["error": .string(error.description)])
                throw ExitCode(StopSignal.exitCode ?? ExitStatus.failure)
            }
            let verb = dryRun ? "would record" : "recorded"
            for result in results {
                StandardOutput.writeLine(
                    "\(result.tenantID)/\(result.triggerID): \(verb) \(result.recorded) of \(result.slots) slot(s)"
                        + BackfillPolicyText.suffix(result))
            }
            StandardOutput.writeLine(
                "\(results.count) trigger(s), \(verb) \(results.reduce(0) { $0 + $1.recorded }) slot(s)")
            if dryRun { return }
            var report = CycleReport()
            report.recorded = results.reduce(0) { $0 + $1.recorded }
            try cycle.run(on: connection, report: report)
            try ExitStatus.exitIfStopped(logger: logger)
        }
    }
}
