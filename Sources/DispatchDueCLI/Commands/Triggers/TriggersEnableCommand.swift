import ArgumentParser
import DispatchCore

/// `dispatch-due triggers enable`.
extension TriggersCommand {
    public struct Enable: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Enable a trigger from now on (slots missed while disabled are not fired).",
            discussion: """
                next_run_at becomes the first slot after the database clock; a one-time trigger \
                whose run_at has not been recorded yet fires once at the next cycle, however late. \
                Enabling an enabled trigger changes nothing.

                \(ExitStatus.managementHelpText)
                """)

        @OptionGroup public var database: DatabaseOptions
        @OptionGroup public var target: TriggerTarget
        @Flag(help: "Print the trigger as one JSON document.") public var json = false

        public init() {}

        public func run() throws {
            try reportingFailures {
                let connection = try database.connect()
                let result = try TriggerStore().enable(tenant: target.tenant, id: target.id, on: connection)
                TriggerReport.write(result, verb: result.changed ? "enabled" : "already enabled", json: json)
                if let error = result.record.scheduleError {
                    StandardError.writeLine("warning: trigger \(ManagementOutput.escaped(target.id)) is enabled but cannot be scheduled: \(ManagementOutput.escaped(error)); fix it with `triggers update`")
                }
            }
        }
    }
}
