import ArgumentParser
import DispatchCore
import Postgres
import Schedules

extension InvocationStatus: ExpressibleByArgument {}

/// `dispatch-due invocations …`: inspect, cancel and rerun recorded runs.
/// Parsing and reporting only; the SQL and the rules are in `Management/InvocationStore.swift`.
public struct InvocationsCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "invocations",
        abstract: "Inspect, cancel and rerun invocations.",
        discussion: ExitStatus.managementHelpText,
        subcommands: [List.self, Cancel.self, Rerun.self])

    public init() {}

    public struct List: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "List invocations, newest slot first.",
            discussion: """
                --trigger names an id, so it needs --tenant.

                \(ExitStatus.managementHelpText)
                """)

        @OptionGroup public var database: DatabaseOptions
        @Option(help: "Only this tenant's invocations.") public var tenant: String?
        @Option(help: ArgumentHelp("Only this trigger's invocations (needs --tenant).", valueName: "ID")) public var trigger: String?
        @Option(help: "Only this status: pending, running, completed, failed or cancelled.") public var status: InvocationStatus?
        @Option(help: ArgumentHelp("Only slots at or after this ISO 8601 instant.", valueName: "INSTANT")) public var since: String?
        @Option(parsing: .unconditional, help: "At most this many invocations, 1-100000.") public var limit = 50
        @Flag(help: "Print one JSON document (an array of invocations).") public var json = false

        public init() {}

        public func validate() throws {
            try NumericFlag.check("--limit", limit, 1...100_000)
            try CLIIdentifier.validated("--tenant", tenant)
            try CLIIdentifier.validated("--trigger", trigger)
            if trigger != nil && tenant == nil { throw ValidationError("--trigger needs --tenant (trigger ids are per tenant)") }
            if let since, Instant.parse(since) == nil {
                throw ValidationError("--since \"\(since)\": not an ISO 8601 instant with a zone, e.g. 2026-03-08T07:00:00Z")
            }
        }

        public func run() throws {
            try reportingFailures {
                let connection = try database.connect()
                let filter = InvocationFilter(
                    tenantID: tenant, triggerID: trigger, status: status, since: since.flatMap(Instant.parse),
                    limit: limit + 1)
                var records = try InvocationStore().list(filter, on: connection)
                let truncated = records.count > limit
                if truncated { records.removeLast() }
                if json {
                    StandardOutput.writeLine(ManagementOutput.jsonLine(JSONValue.array(records.map(ManagementOutput.json))))
                    return
                }
                var headers = ["ID", "TRIGGER", "SLOT (UTC)", "STATUS", "ATTEMPT", "NEXT ATTEMPT", "HTTP", "EXECUTION", "LAST ERROR"]
                if tenant == nil { headers.insert("TENANT", at: 0) }
                let rows = records.map { record -> [String] in
                    var cells: [String] = []
                    if tenant == nil { cells.append(record.tenantID) }
                    cells += [
                        record.id, record.triggerID, record.slotText, record.status,
                        String(record.attemptNumber), record.timeText("next_attempt_at", record.nextAttemptAt),
                        record.lastHTTPStatus.map(String.init) ?? "-", record.executionID ?? "-",
                        ManagementOutput.cell(record.lastError),
                    ]
                    return cells
                }
                for line in ManagementOutput.table(headers, rows) { StandardOutput.writeLine(line) }
                if truncated { StandardError.writeLine("(newest \(limit) invocations shown; raise --limit for more)") }
            }
        }
    }

    public struct Cancel: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Cancel an invocation that has not been accepted by the endpoint.",
            discussion: """
                Cancels a pending invocation (waiting for its first attempt or a retry), or a \
                running one without an execution id whose lease has expired (its dispatcher died \
                before the endpoint accepted it). Refused (exit 1): running ones with a live lease \
                (being posted now) or an execution id (the endpoint has no cancel call), and \
                completed or failed ones. Cancelling a cancelled invocation changes nothing (exit 0).

                \(ExitStatus.managementHelpText)
                """)

        @OptionGroup public var database: DatabaseOptions
        @OptionGroup public var target: InvocationTarget
        @Flag(help: "Print the invocation as one JSON document.") public var json = false

        public init() {}

        public func run() throws {
            try reportingFailures {
                let connection = try database.connect()
                let (record, changed) = try InvocationStore().cancel(tenant: target.tenant, id: target.id, on: connection)
                if json {
                    StandardOutput.writeLine(ManagementOutput.jsonLine(ManagementOutput.json(record)))
                } else {
                    StandardOutput.writeLine(
                        changed ? "cancelled invocation \(target.id) (trigger \(ManagementOutput.escaped(record.triggerID)), slot \(record.slotText))"
                            : "invocation \(target.id) was already cancelled")
                }
            }
        }
    }

    public struct Rerun: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Record a new pending invocation for the same slot as a finished one.",
            discussion: """
                The new invocation copies the original's project, agent, ref, slot and \
                resolved_payload, starts at attempt 1, and has the idempotency key \
                {original key}_rerun_{n}; the original is not changed. Only completed, failed or \
                cancelled invocations of an enabled trigger can be rerun (otherwise exit 1). The \
                next dispatch cycle posts it.

                \(ExitStatus.managementHelpText)
                """)

        @OptionGroup public var database: DatabaseOptions
        @OptionGroup public var target: InvocationTarget
        @Flag(help: "Print the new invocation as one JSON document.") public var json = false

        public init() {}

        public func run() throws {
            try reportingFailures {
                let connection = try database.connect()
                let record = try InvocationStore().rerun(tenant: target.tenant, id: target.id, on: connection)
                if json {
                    StandardOutput.writeLine(ManagementOutput.jsonLine(ManagementOutput.json(record)))
                } else {
                    StandardOutput.writeLine(
                        "recorded invocation \(record.id) (pending, key \(ManagementOutput.escaped(record.idempotencyKey))) to rerun \(target.id) "
                            + "for slot \(record.slotText)")
                }
            }
        }
    }
}

/// The invocation a command acts on: `ID --tenant T` (cancel, rerun), checked as the trigger
/// commands check theirs.
public struct InvocationTarget: ParsableArguments {
    @Argument(help: "Invocation id.") public var id: String
    @Option(help: "Tenant that owns the invocation.") public var tenant: String

    public init() {}

    public func validate() throws {
        try CLIIdentifier.validated("--tenant", tenant)
        try CLIIdentifier.validated("the invocation id", id)
    }
}
