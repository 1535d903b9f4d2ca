import ArgumentParser
import DispatchCore
import Postgres

/// `--retention` as a command-line value: `0`, `30d`, `12h`, `90m`, `3600s`.
public struct RetentionOption: ExpressibleByArgument, Sendable {
    public var seconds: Int64
    public init(seconds: Int64) { self.seconds = seconds }
    public init?(argument: String) {
        guard let seconds = RetentionDuration.parse(argument) else { return nil }
        self.seconds = seconds
    }
    public var defaultValueDescription: String { seconds == Retention.defaultRetentionSeconds ? "30d" : "\(seconds)s" }
}

/// `dispatch-due prune` (contract §6 history): what `run` does in bounded batches each cycle, on demand.
public struct PruneCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Delete finished invocations older than the retention (each trigger's newest finished one is kept).",
        discussion: """
            Deletes completed, failed, cancelled and skipped invocations whose completed_at (or \
            created_at when that is NULL) is older than --retention, in batches of 10,000 rows, \
            keeping each trigger's most recent finished invocation; pending and running ones are \
            never touched. A pruned slot is never recorded again: backfill leaves it out. \
            `run` does the same in every cycle, bounded to about half a second.

            \(ExitStatus.pruneHelpText)
            """)

    @OptionGroup public var database: DatabaseOptions
    @OptionGroup public var logging: LogOptions

    @Option(help: ArgumentHelp("Keep finished invocations this long: 30d, 12h, 90m, 3600s; 0 keeps everything.", valueName: "DURATION"))
    public var retention = RetentionOption(seconds: Retention.defaultRetentionSeconds)

    @Flag(help: "Count what would be deleted; delete nothing.")
    public var dryRun = false

    public init() {}

    public func run() throws {
        try reportingFailures(logging: logging) {
            let logger = logging.makeLogger()
            let connection = try database.connect()
            // A missing or old schema (no table, no pruned_through column) says to migrate (ExitStatus).
            let result = try Retention(retentionSeconds: retention.seconds, timeBudgetSeconds: nil)
                .run(on: connection, dryRun: dryRun, logger: logger)
            if retention.seconds == 0 {
                StandardOutput.writeLine("retention 0: everything is kept; nothing to prune")
            } else {
                StandardOutput.writeLine("\(dryRun ? "would delete" : "deleted") \(result.deleted) finished invocation(s)")
            }
        }
    }
}
