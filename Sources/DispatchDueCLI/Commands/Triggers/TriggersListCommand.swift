import ArgumentParser
import DispatchCore

/// `dispatch-due triggers list`.
extension TriggersCommand {
    public struct List: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "List triggers with their next run (UTC and local), last invocation and schedule error.",
            discussion: ExitStatus.managementHelpText)

        @OptionGroup public var database: DatabaseOptions
        @Option(help: "Only this tenant's triggers.") public var tenant: String?
        @Option(help: "Only triggers of this project.") public var project: String?
        @Option(help: "Only triggers of this agent.") public var agent: String?
        @Option(parsing: .unconditional, help: "At most this many triggers, 1-100000.") public var limit = 1000
        @Flag(help: "Print one JSON document (an array of triggers).") public var json = false

        public init() {}

        public func validate() throws {
            try NumericFlag.check("--limit", limit, 1...100_000)
            try CLIIdentifier.validated("--tenant", tenant)
            try CLIIdentifier.validated("--project", project)
            try CLIIdentifier.validated("--agent", agent)
        }

        public func run() throws {
            try reportingFailures {
                let connection = try database.connect()
                let filter = TriggerFilter(tenantID: tenant, projectID: project, agentID: agent, limit: limit + 1)
                var records = try TriggerStore().list(filter, on: connection)
                let truncated = records.count > limit
                if truncated { records.removeLast() }
                if json {
                    StandardOutput.writeLine(ManagementOutput.jsonLine(JSONValue.array(records.map { ManagementOutput.json($0) })))
                    return
                }
                let rows = records.map { record -> [String] in
                    var cells: [String] = []
                    if tenant == nil { cells.append(record.definition.tenantID) }
                    cells += [
                        record.id,
                        ManagementOutput.cell(record.definition.name, limit: 40),
                        record.scheduleText,
                        record.definition.timeZone,
                        record.definition.enabled ? "yes" : "no",
                        ManagementOutput.utc(record.nextRunAt),
                        ManagementOutput.local(record.nextRunAt, record.zone),
                        record.lastStatus ?? "-",
                        ManagementOutput.cell(record.scheduleError),
                        record.definition.overlapPolicy.rawValue,
                        String(record.definition.jitterSeconds),
                        record.definition.pauseAfterFailures.map(String.init) ?? "-",
                        ManagementOutput.cell(record.pausedReason, limit: 40),
                    ]
                    return cells
                }
                var headers = ["ID", "NAME", "SCHEDULE", "ZONE", "ENABLED", "NEXT RUN (UTC)", "NEXT RUN (LOCAL)", "LAST", "SCHEDULE ERROR", "OVERLAP", "JITTER", "PAUSE AFTER", "PAUSED"]
                if tenant == nil { headers.insert("TENANT", at: 0) }
                for line in ManagementOutput.table(headers, rows) { StandardOutput.writeLine(line) }
                if truncated { StandardError.writeLine("(first \(limit) triggers shown; raise --limit for more)") }
            }
        }
    }
}
