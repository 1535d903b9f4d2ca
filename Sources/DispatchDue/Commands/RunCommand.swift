import ArgumentParser
import Postgres

public struct RunCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run one dispatch cycle (the default): heal, record due slots, post runs, reconcile, exit.",
        discussion: ExitStatus.helpText)

    @OptionGroup public var database: DatabaseOptions
    @OptionGroup public var dispatch: DispatchOptions
    @OptionGroup public var execution: ExecutionOptions
    @OptionGroup public var logging: LogOptions

    @Flag(help: "Show what is due and would be recorded; change nothing and post nothing.")
    public var dryRun = false

    @Flag(help: "With --dry-run: one JSON object per line (RFC 3339 UTC instants in milliseconds).")
    public var json = false

    @Flag(help: "Only heal and record due slots; leave posting to a later cycle (no endpoint needed).")
    public var recordOnly = false

    @Option(help: ArgumentHelp("After the cycle, write Prometheus metrics to this file atomically (node_exporter textfile collector; env DISPATCH_DUE_METRICS_FILE).", valueName: "PATH"))
    public var metricsFile: String?

    @Option(help: ArgumentHelp(
        "Delete finished invocations older than this each cycle (bounded batches, about 0.5 s at most): 30d, 12h, 90m, 3600s; 0 keeps everything.",
        valueName: "DURATION"))
    public var retention = RetentionOption(seconds: Retention.defaultRetentionSeconds)

    @OptionGroup public var metricsPush: MetricsPushOptions

    public init() {}

    /// An unreachable database is a failed cycle too: the metrics file says so.
    private func connect(logger: Logger, deadline: CycleDeadline) throws -> Connection {
        do {
            return try database.connect()
        } catch {
            if !dryRun {
                var report = CycleReport()
                report.durationSeconds = deadline.elapsed
                let outcome = Self.outcome(of: error)
                CycleSummary().log(report, outcome: outcome, to: logger)
                metricsWriter(logger: logger)?.writeWithoutDatabase(report, outcome: outcome)
            }
            throw error
        }
    }

    /// The server-side statement_timeout and lock_timeout of a cycle's session: a safety net
    /// well beyond the client's own limits (max runtime, stop grace, finishing statements).
    static func serverTimeoutSeconds(maxRuntime: Double) -> Double {
        max(120, maxRuntime + 60)
    }

    public func run() throws {
        try reportingFailures(logging: logging) {
            let logger = logging.makeLogger()
            let deadline = CycleDeadline.forCommand(maxRuntimeSeconds: dispatch.maxRuntime)
            let connection = try connect(logger: logger, deadline: deadline)
            var report = CycleReport()
            let dispatcher = DispatchStage(options: dispatch.settings, logger: logger)
            // Every statement of the cycle under the deadline: none waits without limit (a
            // locked table, a stop signal), and a cancelled one rolls its transaction back.
            try connection.withStatementLimit(deadline.statementLimit()) {
                if dryRun {
                    try SchemaCheck.embedded().verify(
                        on: connection, serverTimeoutSeconds: Self.serverTimeoutSeconds(maxRuntime: dispatch.maxRuntime))
                    try dispatcher.preview(on: connection) { StandardOutput.writeLine(json ? DryRunJSON.line($0) : $0) }
                    return
                }
                var failure: (any Error)?  // what ended the stages; the metrics and cycle.finished say how it ended
                defer {
                    report.durationSeconds = deadline.elapsed
                    let outcome = Self.outcome(of: failure)
                    CycleSummary().log(report, outcome: outcome, to: logger)
                    if let writer = metricsWriter(logger: logger) {
                        // After a stop signal the backlog is a nicety: it must not hold the exit up.
                        let limit: StatementLimit = deadline.isStopRequested ? .seconds(1) : deadline.statementLimit()
                        connection.withStatementLimit(limit) {
                            writer.write(report, outcome: outcome, backlogFrom: connection)
                        }
                    }
                }
                do {
                    // Once, before any work is claimed: a schema this binary does not match is refused.
                    try SchemaCheck.embedded().verify(
                        on: connection, serverTimeoutSeconds: Self.serverTimeoutSeconds(maxRuntime: dispatch.maxRuntime))
                    try dispatcher.run(on: connection, deadline: deadline, report: &report)
                    if !recordOnly {
                        try ExecutionStage(options: execution, logger: logger)
                            .run(on: connection, deadline: deadline, report: &report)
                    }
                    if !deadline.isPassed {
                        // Housekeeping after the cycle's work: a refused DELETE (a role without the
                        // grant) or a deadlock with a concurrent prune is logged loudly every cycle,
                        // but does not fail a cycle whose runs were dispatched.
                        do {
                            report.pruned = try Retention(
                                retentionSeconds: retention.seconds, timeBudgetSeconds: Retention.cycleTimeBudgetSeconds
                            ).run(on: connection, logger: logger).deleted
                        } catch let error as PostgresError where error.kind == .statement {
                            logger.error("retention.failed", ["error": .string(error.description)])
                        }
                    }
                } catch let error as PostgresError where error.kind == .cancelled {
                    // A statement blocked past max runtime or a stop: its transaction rolled back,
                    // the work stays for the next cycle.
                    logger.warning("cycle.interrupted", [
                        "reason": .string(deadline.stopReason ?? error.message), "error": .string(error.description),
                    ])
                } catch {
                    failure = error
                    throw error
                }
            }
            if let code = StopSignal.exitCode {
                logger.warning("cycle.stopped", ["signal": .int(Int(StopSignal.received ?? 0))])
                throw ExitCode(code)
            }
        }
    }
}
