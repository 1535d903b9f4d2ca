import ArgumentParser
import DispatchCore

/// `dispatch-due triggers disable`.
extension TriggersCommand {
    public struct Disable: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Disable a trigger and cancel its pending invocations (one transaction).",
            discussion: """
                Invocations already running at the endpoint are not recalled; their outcome is \
                recorded as usual. Disabling a disabled trigger only cancels what is still pending.

                \(ExitStatus.managementHelpText)
                """)

        @OptionGroup public var database: DatabaseOptions
        @OptionGroup public var target: TriggerTarget
        @Flag(help: "Print the trigger as one JSON document.") public var json = false

        public init() {}

        public func run() throws {
            try reportingFailures {
                let connection = try database.connect()
                let result = try TriggerStore().disable(tenant: target.tenant, id: target.id, on: connection)
                TriggerReport.write(result, verb: result.changed ? "disabled" : "already disabled", json: json)
            }
        }
    }
}
