import Postgres

/// One dispatch cycle, the one path `run` and `backfill` share (contract §2): the schema check,
/// then the stages it is given (record due slots, post and reconcile, prune) with every
/// statement under the deadline, then the closing `cycle.finished` line and the metrics however
/// the stages ended. Settings, endpoint, clock and stop condition come in as values; failures
/// leave as typed errors: how the process ends is the caller's business.
public struct DispatchCycle {
    public var logger: Logger
    public var deadline: CycleDeadline
    /// The session's server-side statement and lock timeouts, a safety net under the deadline.
    public var serverTimeoutSeconds: Double
    /// Records due slots; nil when the slots were recorded beforehand (backfill).
    public var dispatch: DispatchStage?
    /// Posts and reconciles; nil to leave posting to a later cycle (`--record-only`).
    public var execution: ExecutionStage?
    /// Prunes finished invocations after the work; nil to keep them.
    public var retention: Retention?
    /// Where metrics go after the cycle; nil when neither a file nor a push is asked for.
    public var metrics: CycleMetrics?
    /// How the cycle's ending reads on `cycle.finished` and in the metrics: given the error that
    /// ended it (nil: the stages ran to their end, or to a stop), the caller names the outcome.
    public var outcome: (_ failure: (any Error)?) -> CycleOutcome

    public init(
        logger: Logger, deadline: CycleDeadline, serverTimeoutSeconds: Double,
        dispatch: DispatchStage? = nil, execution: ExecutionStage? = nil, retention: Retention? = nil,
        metrics: CycleMetrics? = nil, outcome: @escaping (_ failure: (any Error)?) -> CycleOutcome
    ) {
        self.logger = logger
        self.deadline = deadline
        self.serverTimeoutSeconds = serverTimeoutSeconds
        self.dispatch = dispatch
        self.execution = execution
        self.retention = retention
        self.metrics = metrics
        self.outcome = outcome
    }

    /// The server-side timeouts of a cycle's session: well beyond the client's own limits
    /// (max runtime, stop grace, finishing statements).
    public static func serverTimeoutSeconds(maxRuntime: Double) -> Double {
        max(120, maxRuntime + 60)
    }

    /// Refuses a schema this binary cannot run on (`schemaMissing`, `schemaMismatch`); also
    /// sets the session's server-side timeouts.
    public func checkSchema(on connection: borrowing Connection) throws {
        try SchemaCheck.embedded().verify(on: connection, serverTimeoutSeconds: serverTimeoutSeconds)
    }

    /// The database could not be reached: the failed cycle is still logged and counted, so the
    /// metrics file says the last cycle failed.
    public func reportUnreachable(_ error: any Error) {
        var report = CycleReport()
        report.durationSeconds = deadline.elapsed
        let outcome = outcome(error)
        CycleSummary().log(report, outcome: outcome, to: logger)
        metrics?.writeWithoutDatabase(report, outcome: outcome)
    }

    /// Runs the cycle on `connection`, starting from `report` (a backfill's recorded slots).
    /// A statement cancelled by the deadline or a stop ends the stages early: its transaction
    /// rolled back and the work stays for the next cycle. Any other error is rethrown after
    /// the summary and the metrics.
    public func run(on connection: borrowing Connection, report initial: CycleReport = CycleReport()) throws {
        var report = initial
        // Every statement of the cycle under the deadline: none waits without limit (a locked
        // table, a stop signal), and a cancelled one rolls its transaction back.
        try connection.withStatementLimit(deadline.statementLimit()) {
            var failure: (any Error)?
            defer {
                report.durationSeconds = deadline.elapsed
                finish(report, failure: failure, on: connection)
            }
            do {
                // Once, before any work is claimed: a schema this binary does not match is refused.
                try checkSchema(on: connection)
                try dispatch?.run(on: connection, deadline: deadline, report: &report)
                try execution?.run(on: connection, deadline: deadline, report: &report)
                if let retention, !deadline.isPassed {
                    // Housekeeping after the cycle's work: a refused DELETE (a role without the
                    // grant) or a deadlock with a concurrent prune is logged loudly every cycle,
                    // but does not fail a cycle whose runs were dispatched.
                    do {
                        report.pruned = try retention.run(on: connection, logger: logger).deleted
                    } catch let error as PostgresError where error.kind == .statement {
                        logger.error("retention.failed", ["error": .string(error.description)])
                    }
                }
            } catch let error as PostgresError where error.kind == .cancelled {
                logger.warning("cycle.interrupted", [
                    "reason": .string(deadline.stopReason ?? error.message), "error": .string(error.description),
                ])
            } catch {
                failure = error
                throw error
            }
        }
    }

    /// The closing line, then the metrics (the backlog measured on the cycle's connection).
    private func finish(_ report: CycleReport, failure: (any Error)?, on connection: borrowing Connection) {
        let outcome = outcome(failure)
        CycleSummary().log(report, outcome: outcome, to: logger)
        guard let metrics else { return }
        // After a stop the backlog is a nicety: it must not hold the stop up.
        let limit: StatementLimit = deadline.isStopRequested ? .seconds(1) : deadline.statementLimit()
        connection.withStatementLimit(limit) {
            metrics.write(report, outcome: outcome, backlogFrom: connection)
        }
    }
}
