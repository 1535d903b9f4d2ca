import ArgumentParser
import DispatchCore

/// `dispatch-due triggers show`.
extension TriggersCommand {
    public struct Show: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Show one trigger in full, with its next five slots.",
            discussion: ExitStatus.managementHelpText)

        @OptionGroup public var database: DatabaseOptions
        @OptionGroup public var target: TriggerTarget
        @Flag(help: "Print the trigger as one JSON document.") public var json = false

        public init() {}

        public func run() throws {
            try reportingFailures {
                let connection = try database.connect()
                let store = TriggerStore()
                let record = try store.fetch(tenant: target.tenant, id: target.id, on: connection)
                let now = try store.databaseNow(on: connection)
                TriggerReport.write(record, now: now, verb: nil, json: json)
            }
        }
    }
}
