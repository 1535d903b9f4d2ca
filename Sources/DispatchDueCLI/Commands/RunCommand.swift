import ArgumentParser
import DispatchCore
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

    /// The cycle this command runs, every setting given as a value.
    func cycle(logger: Logger, deadline: CycleDeadline) -> DispatchCycle {
        DispatchCycle(
            logger: logger, deadline: deadline,
            serverTimeoutSeconds: DispatchCycle.serverTimeoutSeconds(maxRuntime: dispatch.maxRuntime),
            dispatch: DispatchStage(options: dispatch.settings, logger: logger),
            execution: recordOnly
                ? nil : execution.stage(logger: logger),
            retention: Retention(retentionSeconds: retention.seconds, timeBudgetSeconds: Retention.cycleTimeBudgetSeconds),
            metrics: metricsWriter(logger: logger), outcome: ExitStatus.cycleOutcome(of:))
    }

    /// An unreachable database is a failed cycle too: the metrics file says so.
    private func connect(_ cycle: DispatchCycle) throws -> Connection {
        do {
            return try database.connect()
        } catch {
            if !dryRun { cycle.reportUnreachable(error) }
            throw error
        }
    }

    public func run() throws {
        try reportingFailures(logging: logging) {
            let logger = logging.makeLogger()
            let deadline = CycleDeadline.forCommand(maxRuntimeSeconds: dispatch.maxRuntime)
            let cycle = cycle(logger: logger, deadline: deadline)
            let connection = try connect(cycle)
            if dryRun {
                try connection.withStatementLimit(deadline.statementLimit()) {
                    try cycle.checkSchema(on: connection)
                    try cycle.dispatch?.preview(on: connection) {
                        StandardOutput.writeLine(json ? DryRunJSON.line($0) : $0)
                    }
                }
                return
            }
            try cycle.run(on: connection)
            try ExitStatus.exitIfStopped(logger: logger)
        }
    }
}
