import ArgumentParser
import DispatchCore

/// `dispatch-due triggers add`.
extension TriggersCommand {
    public struct Add: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Create a trigger; prints its id and its next five slots.",
            discussion: """
                Everything is validated before anything is written: the cron expression and \
                zone, the JSON payload, and the ranges of contract §1. next_run_at is computed from \
                the database clock (cron: the first slot after now; --at: that instant, whole \
                seconds, however late). A --disabled trigger gets no next_run_at until enabled.

                \(ExitStatus.managementHelpText)
                """)

        @OptionGroup public var database: DatabaseOptions
        @Option(help: "Tenant that owns the trigger.") public var tenant: String
        @Option(help: "Trigger id (default: a fresh UUID).") public var id: String?
        @OptionGroup public var fields: TriggerFieldOptions
        @Flag(help: "Create it disabled (nothing is scheduled until `triggers enable`).") public var disabled = false
        @Flag(help: "Print the trigger as one JSON document.") public var json = false

        public init() {}

        public func run() throws {
            try reportingFailures {
                let definition = try fields.definition(tenant: tenant, id: id, enabled: !disabled)
                let connection = try database.connect()
                let result = try TriggerStore().add(definition, on: connection)
                TriggerReport.write(result, verb: "created", json: json)
            }
        }
    }
}
