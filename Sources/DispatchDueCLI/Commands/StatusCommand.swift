import ArgumentParser
import DispatchCore
import Postgres

public struct StatusCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Report backlog, lag and schedule errors; with --max-lag, a health check.",
        discussion: """
            Reports, on the database's clock: due triggers and the oldest one's lag \
            (now - next_run_at), runnable invocations and the oldest one's lag \
            (now - coalesce(next_attempt_at, created_at)), running invocations whose lease \
            has passed, invocations by status, and triggers with a schedule_error (tenant, id, \
            error; the first \(StatusReport.scheduleErrorListLimit) are listed). Changes nothing.

            Exits 1 when the oldest lag is over --max-lag and 69 when the database cannot be \
            reached, so it can back a health check or an alert.

            \(ExitStatus.statusHelpText)
            """)

    @OptionGroup public var database: DatabaseOptions

    @Option(name: .customLong("max-lag"), parsing: .unconditional, help: ArgumentHelp(
        "Exit 1 when a due trigger or runnable invocation has waited longer than this, 0-31536000 (a year; env DISPATCH_DUE_MAX_LAG).",
        valueName: "SECONDS"))
    var maxLagFlag: Double?
    /// --max-lag, else DISPATCH_DUE_MAX_LAG, else none (no health check).
    public var maxLag: Double? {
        if let maxLagFlag { return maxLagFlag }
        guard Tunable.raw("--max-lag") != nil else { return nil }
        return try? Tunable.number("--max-lag", nil, default: 0, 0...Self.maximumLag, unit: "seconds")
    }

    @Flag(help: "Print one JSON object instead of text.")
    public var json = false

    public init() {}

    /// A year: a longer threshold is no health check, and an infinite one crashed the report.
    static let maximumLag: Double = 31_536_000

    /// The longest any statement of the report may wait (a lock held elsewhere).
    static let statementLimitSeconds: Double = 30

    public func validate() throws {
        _ = try Tunable.number("--max-lag", maxLagFlag, default: 0, 0...Self.maximumLag, unit: "seconds")
    }

    public func run() throws {
        try reportingFailures {
            let connection = try database.connect()
            // A missing schema (exit 1, "run migrate") is mapped in ExitStatus.
            // A health check must answer: a table locked by another session cancels the
            // report's statement after this long (exit 1) instead of waiting without end.
            let report = try connection.withStatementLimit(.seconds(Self.statementLimitSeconds)) {
                try StatusReport.measure(on: connection, maxLagSeconds: maxLag)
            }
            if json {
                StandardOutput.writeLine(report.json.compactText)
            } else {
                for line in report.text { StandardOutput.writeLine(line) }
            }
            if !report.isHealthy {
                throw ExitStatus.fail(
                    ExitStatus.failure,
                    "dispatch-due status: oldest lag \(StatusReport.seconds(report.backlog.oldestLagSeconds)) s "
                        + "is over --max-lag \(StatusReport.seconds(maxLag ?? 0)) s")
            }
        }
    }
}
