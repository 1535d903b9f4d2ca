import ArgumentParser
import DispatchCore

/// `dispatch-due triggers update`.
extension TriggersCommand {
    public struct Update: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Change a trigger's fields; a new schedule is applied at once.",
            discussion: """
                Only the options given change. An empty --description, --message, --run-as or \
                --created-by clears that field; --clear-payload clears the payload. --cron turns a \
                one-time trigger into a cron trigger and --at the other way round.

                When the schedule (--cron, --tz, --at) changes, next_run_at is recomputed from the \
                database clock (enabled triggers), and the trigger's pending invocations whose \
                slot is not in the new schedule are cancelled, in the same transaction. \
                Use `triggers enable` / `triggers disable` to switch it on or off.

                \(ExitStatus.managementHelpText)
                """)

        @OptionGroup public var database: DatabaseOptions
        @OptionGroup public var target: TriggerTarget
        @OptionGroup public var fields: TriggerFieldOptions
        @Flag(help: "Remove the payload (SQL NULL).") public var clearPayload = false
        @Flag(help: "Print the trigger as one JSON document.") public var json = false

        public init() {}

        public func run() throws {
            try reportingFailures {
                var changes = try fields.changes()
                changes.clearPayload = clearPayload
                guard !changes.isEmpty else {
                    throw ManagementError.invalid("nothing to change: give at least one option (see --help)")
                }
                // What can be checked without the row is checked before connecting.
                try changes.validateAlone()
                let connection = try database.connect()
                let result = try TriggerStore().update(tenant: target.tenant, id: target.id, changes, on: connection)
                TriggerReport.write(result, verb: "updated", json: json)
            }
        }
    }
}
