import ArgumentParser
import DispatchCore
import Postgres
import Schedules

extension TriggersCommand {
    /// `dispatch-due triggers run TENANT ID [--post]` (contract §6 run-now).
    public struct Run: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Record a run of a trigger now (run now); --post also posts it.",
            discussion: """
                Records a pending invocation for now with the idempotency key \
                manual_{id}_{now as YYYY-MM-DDTHH:MM:SS.sssZ} (database clock) and prints it. \
                next_run_at is not moved; jitter and the overlap policy do not apply (the run is \
                neither skipped nor held back). It works for a disabled trigger too: disabling \
                cancels scheduled slots, not runs a person asked for. The next cycle posts it, or \
                --post posts it at once with `run`'s endpoint settings (and posts anything else \
                runnable, as a cycle's execution step does).

                \(ExitStatus.triggersRunHelpText)
                """)

        @OptionGroup public var database: DatabaseOptions
        @Argument(help: "Tenant that owns the trigger.") public var tenant: String
        @Argument(help: "Trigger id.") public var id: String
        @Flag(help: "Post it now (needs the endpoint settings of `run`).") public var post = false
        @Flag(help: "Print the invocation as one JSON document.") public var json = false
        @OptionGroup public var execution: ExecutionOptions
        @OptionGroup public var logging: LogOptions

        public init() {}

        /// Seconds after which --post stops posting (the rest stays pending for the next cycle).
        static let maxRuntimeSeconds: Double = 50

        /// The cycle --post runs: `run`'s execution stage only, as `backfill` after recording.
        func cycle(logger: Logger, deadline: CycleDeadline) -> DispatchCycle {
            DispatchCycle(
                logger: logger, deadline: deadline,
                serverTimeoutSeconds: DispatchCycle.serverTimeoutSeconds(maxRuntime: Self.maxRuntimeSeconds),
                execution: execution.stage(logger: logger), outcome: ExitStatus.cycleOutcome(of:))
        }

        public func run() throws {
            // With --post the command logs a cycle: a failure is a log line too (`command.failed`
            // in JSON), as for `run`; without it, a plain message as for the other management commands.
            try reportingFailures(logging: post ? logging : nil) {
                let connection = try database.connect()
                let record = try RunNow().record(tenant: tenant, trigger: id, on: connection)
                if json {
                    StandardOutput.writeLine(ManagementOutput.json(record).compactText)
                } else {
                    StandardOutput.writeLine(
                        "recorded invocation \(record.id) (pending, key \(record.idempotencyKey)) of trigger \(id) "
                            + "for \(record.slotText)")
                }
                guard post else { return }
                // Posting is a cycle's execution stage, run through the one cycle `run` and
                // `backfill` use: schema check, statements under the deadline, cycle.finished
                // with its outcome and exit code, a stop ending with 130/143.
                let logger = logging.makeLogger()
                let deadline = CycleDeadline.forCommand(maxRuntimeSeconds: Self.maxRuntimeSeconds)
                try cycle(logger: logger, deadline: deadline).run(on: connection)
                try ExitStatus.exitIfStopped(logger: logger)
            }
        }
    }
}
