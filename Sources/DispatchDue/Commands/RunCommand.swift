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

    public func run() throws {
        try reportingFailures(logging: logging) {
            StopSignal.install()
            let logger = logging.makeLogger()
            let deadline = CycleDeadline(maxRuntimeSeconds: dispatch.maxRuntime)
            let connection = try connect(logger: logger, deadline: deadline)
            var report = CycleReport()
            let dispatcher = DispatchStage(options: dispatch.settings, logger: logger)
            if dryRun {
                try dispatcher.preview(on: connection) { StandardOutput.writeLine(json ? DryRunJSON.line($0) : $0) }
                return
            }
            var failure: (any Error)?  // what ended the stages; the metrics and cycle.finished say how it ended
            defer {
                report.durationSeconds = deadline.elapsed
                let outcome = Self.outcome(of: failure)
                CycleSummary().log(report, outcome: outcome, to: logger)
                metricsWriter(logger: logger)?.write(report, outcome: outcome, backlogFrom: connection)
            }
            do {
                try dispatcher.run(on: connection, deadline: deadline, report: &report)
                if !recordOnly {
                    try ExecutionStage(options: execution, logger: logger)
                        .run(on: connection, deadline: deadline, report: &report)
                }
            } catch {
                failure = error
                throw error
            }
            if let code = StopSignal.exitCode {
                logger.warning("cycle.stopped", ["signal": .int(Int(StopSignal.received ?? 0))])
                throw ExitCode(code)
            }
        }
    }
}
