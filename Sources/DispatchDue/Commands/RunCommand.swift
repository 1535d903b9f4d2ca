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

    @Flag(help: "Only heal and record due slots; leave posting to a later cycle (no endpoint needed).")
    public var recordOnly = false

    @Option(help: ArgumentHelp("After the cycle, write Prometheus metrics to this file atomically (node_exporter textfile collector).", valueName: "PATH"))
    public var metricsFile: String?

    @Option(help: ArgumentHelp(
        "Delete finished invocations older than this each cycle (bounded batches, about 0.5 s at most): 30d, 12h, 90m, 3600s; 0 keeps everything.",
        valueName: "DURATION"))
    public var retention = RetentionOption(seconds: Retention.defaultRetentionSeconds)

    public init() {}

    /// An unreachable database is a failed cycle too: the metrics file says so.
    private func connect(logger: Logger, deadline: CycleDeadline) throws -> Connection {
        do {
            return try database.connect()
        } catch {
            if let metricsFile, !dryRun {
                var report = CycleReport()
                report.durationSeconds = deadline.elapsed
                CycleMetrics(path: metricsFile, logger: logger).writeWithoutDatabase(report)
            }
            throw error
        }
    }

    public func run() throws {
        try reportingFailures(logging: logging) {
            StopSignal.install()
            let logger = logging.makeLogger()
            let deadline = CycleDeadline(maxRuntimeSeconds: dispatch.maxRuntime)
            let connection = try connect(logger: logger, deadline: deadline)
            var report = CycleReport()
            let dispatcher = DispatchStage(options: dispatch.settings, logger: logger)
            if dryRun {
                try dispatcher.preview(on: connection) { StandardOutput.writeLine($0) }
                return
            }
            var finished = false  // set when the stages returned; the metrics file says whether they did
            defer {
                report.durationSeconds = deadline.elapsed
                CycleSummary().log(report, to: logger)
                if let metricsFile { CycleMetrics(path: metricsFile, logger: logger).write(report, succeeded: finished, backlogFrom: connection) }
            }
            try dispatcher.run(on: connection, deadline: deadline, report: &report)
            if !recordOnly {
                try ExecutionStage(options: execution, logger: logger)
                    .run(on: connection, deadline: deadline, report: &report)
            }
            if !deadline.isPassed {
                report.pruned = try Retention(retentionSeconds: retention.seconds, timeBudgetSeconds: Retention.cycleTimeBudgetSeconds)
                    .run(on: connection, logger: logger).deleted
            }
            finished = true
            if let code = StopSignal.exitCode {
                logger.warning("cycle.stopped", ["signal": .int(Int(StopSignal.received ?? 0))])
                throw ExitCode(code)
            }
        }
    }
}
