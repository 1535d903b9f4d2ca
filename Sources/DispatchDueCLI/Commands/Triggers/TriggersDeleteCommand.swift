import ArgumentParser
import DispatchCore

/// `dispatch-due triggers delete`.
extension TriggersCommand {
    public struct Delete: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Delete a trigger, cancelling its pending invocations; the invocation history stays.",
            discussion: ExitStatus.managementHelpText)

        @OptionGroup public var database: DatabaseOptions
        @OptionGroup public var target: TriggerTarget
        @Flag(help: "Print the deleted trigger as one JSON document.") public var json = false

        public init() {}

        public func run() throws {
            try reportingFailures {
                let connection = try database.connect()
                let result = try TriggerStore().delete(tenant: target.tenant, id: target.id, on: connection)
                if json {
                    StandardOutput.writeLine(
                        ManagementOutput.jsonLine(JSONValue.object([
                            ("deleted", ManagementOutput.json(result.record)),
                            ("cancelled_invocations", .number(String(result.cancelled))),
                        ])))
                    return
                }
                StandardOutput.writeLine(
                    "deleted trigger \(ManagementOutput.escaped(target.id)) (tenant \(ManagementOutput.escaped(target.tenant))); cancelled \(result.cancelled) pending invocation(s); history kept")
            }
        }
    }
}
