import ArgumentParser
import Postgres
import Schedules

extension MisfirePolicy: ExpressibleByArgument {}
extension OverlapPolicy: ExpressibleByArgument {}

/// `dispatch-due triggers …`: create, inspect, pause and change scheduled triggers.
/// Parsing and reporting only; the SQL and the rules are in `Management/`.
public struct TriggersCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "triggers",
        abstract: "Manage scheduled triggers.",
        discussion: ExitStatus.managementHelpText,
        subcommands: [Add.self, List.self, Show.self, Update.self, Enable.self, Disable.self, Delete.self, Run.self])

    public init() {}

    // MARK: add

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
            try managing {
                let definition = try fields.definition(tenant: tenant, id: id, enabled: !disabled)
                let connection = try database.connect()
                let result = try TriggerStore().add(definition, on: connection)
                TriggerReport.write(result, verb: "created", json: json)
            }
        }
    }

    // MARK: list

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
            try managing {
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

    // MARK: show

    public struct Show: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Show one trigger in full, with its next five slots.",
            discussion: ExitStatus.managementHelpText)

        @OptionGroup public var database: DatabaseOptions
        @Argument(help: "Trigger id.") public var id: String
        @Option(help: "Tenant that owns the trigger.") public var tenant: String
        @Flag(help: "Print the trigger as one JSON document.") public var json = false

        public init() {}

        public func validate() throws {
            try CLIIdentifier.validated("--tenant", tenant)
            try CLIIdentifier.validated("the trigger id", id)
        }

        public func run() throws {
            try managing {
                let connection = try database.connect()
                let store = TriggerStore()
                let record = try store.fetch(tenant: tenant, id: id, on: connection)
                let now = try store.databaseNow(on: connection)
                TriggerReport.write(
                    TriggerWriteResult(record: record, now: now, cancelled: 0, changed: false), verb: nil, json: json)
            }
        }
    }

    // MARK: update

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
        @Argument(help: "Trigger id.") public var id: String
        @Option(help: "Tenant that owns the trigger.") public var tenant: String
        @OptionGroup public var fields: TriggerFieldOptions
        @Flag(help: "Remove the payload (SQL NULL).") public var clearPayload = false
        @Flag(help: "Print the trigger as one JSON document.") public var json = false

        public init() {}

        public func validate() throws {
            try CLIIdentifier.validated("--tenant", tenant)
            try CLIIdentifier.validated("the trigger id", id)
        }

        public func run() throws {
            try managing {
                var changes = try fields.changes()
                changes.clearPayload = clearPayload
                guard !changes.isEmpty else {
                    throw ManagementError.invalid("nothing to change: give at least one option (see --help)")
                }
                // What can be checked without the row is checked before connecting.
                try changes.validateAlone()
                let connection = try database.connect()
                let result = try TriggerStore().update(tenant: tenant, id: id, changes, on: connection)
                TriggerReport.write(result, verb: "updated", json: json)
            }
        }
    }

    // MARK: enable, disable, delete

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
        @Argument(help: "Trigger id.") public var id: String
        @Option(help: "Tenant that owns the trigger.") public var tenant: String
        @Flag(help: "Print the trigger as one JSON document.") public var json = false

        public init() {}

        public func validate() throws {
            try CLIIdentifier.validated("--tenant", tenant)
            try CLIIdentifier.validated("the trigger id", id)
        }

        public func run() throws {
            try managing {
                let connection = try database.connect()
                let result = try TriggerStore().enable(tenant: tenant, id: id, on: connection)
                TriggerReport.write(result, verb: result.changed ? "enabled" : "already enabled", json: json)
                if let error = result.record.scheduleError {
                    StandardError.writeLine("warning: trigger \(ManagementOutput.escaped(id)) is enabled but cannot be scheduled: \(ManagementOutput.escaped(error)); fix it with `triggers update`")
                }
            }
        }
    }

    public struct Disable: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Disable a trigger and cancel its pending invocations (one transaction).",
            discussion: """
                Invocations already running at the endpoint are not recalled; their outcome is \
                recorded as usual. Disabling a disabled trigger only cancels what is still pending.

                \(ExitStatus.managementHelpText)
                """)

        @OptionGroup public var database: DatabaseOptions
        @Argument(help: "Trigger id.") public var id: String
        @Option(help: "Tenant that owns the trigger.") public var tenant: String
        @Flag(help: "Print the trigger as one JSON document.") public var json = false

        public init() {}

        public func validate() throws {
            try CLIIdentifier.validated("--tenant", tenant)
            try CLIIdentifier.validated("the trigger id", id)
        }

        public func run() throws {
            try managing {
                let connection = try database.connect()
                let result = try TriggerStore().disable(tenant: tenant, id: id, on: connection)
                TriggerReport.write(result, verb: result.changed ? "disabled" : "already disabled", json: json)
            }
        }
    }

    public struct Delete: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Delete a trigger, cancelling its pending invocations; the invocation history stays.",
            discussion: ExitStatus.managementHelpText)

        @OptionGroup public var database: DatabaseOptions
        @Argument(help: "Trigger id.") public var id: String
        @Option(help: "Tenant that owns the trigger.") public var tenant: String
        @Flag(help: "Print the deleted trigger as one JSON document.") public var json = false

        public init() {}

        public func validate() throws {
            try CLIIdentifier.validated("--tenant", tenant)
            try CLIIdentifier.validated("the trigger id", id)
        }

        public func run() throws {
            try managing {
                let connection = try database.connect()
                let result = try TriggerStore().delete(tenant: tenant, id: id, on: connection)
                if json {
                    StandardOutput.writeLine(
                        ManagementOutput.jsonLine(JSONValue.object([
                            ("deleted", ManagementOutput.json(result.record)),
                            ("cancelled_invocations", .number(String(result.cancelled))),
                        ])))
                    return
                }
                StandardOutput.writeLine(
                    "deleted trigger \(ManagementOutput.escaped(id)) (tenant \(ManagementOutput.escaped(tenant))); cancelled \(result.cancelled) pending invocation(s); history kept")
            }
        }
    }
}

/// The trigger fields `add` and `update` share. On `add`, --project, --agent, --name and one
/// of --cron / --at are required.
public struct TriggerFieldOptions: ParsableArguments {
    @Option(help: "Project the run goes to (required for add).") public var project: String?
    @Option(help: "Agent that runs (required for add).") public var agent: String?
    @Option(help: "Human-readable name, up to 256 characters (required for add).") public var name: String?
    @Option(help: ArgumentHelp("Five-field cron expression or @daily etc.", valueName: "EXPR")) public var cron: String?
    @Option(help: ArgumentHelp("IANA time zone of the cron expression (default UTC).", valueName: "ZONE")) public var tz: String?
    @Option(help: ArgumentHelp(
        "One-time trigger: ISO 8601 with a zone (2026-03-08T07:00:00Z, …+01:00); fractions are truncated.",
        valueName: "INSTANT"))
    public var at: String?
    @Option(help: "Free-text description.") public var description: String?
    @Option(help: ArgumentHelp("Message template with {{dot.path}} placeholders into the payload.", valueName: "TEMPLATE"))
    public var message: String?
    @Option(help: ArgumentHelp("Read the message template from a file (at most 64 KiB).", valueName: "PATH"))
    public var messageFile: String?
    @Option(help: ArgumentHelp("Payload as a JSON document.", valueName: "JSON")) public var payload: String?
    @Option(help: ArgumentHelp("Read the JSON payload from a file.", valueName: "PATH")) public var payloadFile: String?
    @Option(parsing: .unconditional, help: "Retries after the first attempt, 0-10 (default 1).") public var maxRetries: Int?
    @Option(parsing: .unconditional, help: ArgumentHelp("Base retry delay, 10-3600 seconds (default 60).", valueName: "S")) public var retryDelay: Int?
    @Option(parsing: .unconditional, help: ArgumentHelp("Run timeout, 30-86400 seconds (default 780).", valueName: "S")) public var timeout: Int?
    @Option(help: "Missed slots: latest, all or skip (default latest).") public var misfirePolicy: MisfirePolicy?
    @Option(help: ArgumentHelp("Branch of the project to run (default main).", valueName: "R")) public var ref: String?
    @Option(help: ArgumentHelp("User id the run acts as.", valueName: "USER")) public var runAs: String?
    @Option(help: "Who created the trigger.") public var createdBy: String?
    @Option(help: "Slot due while a run is unfinished: allow, skip or buffer_one (default allow).") public var overlap: OverlapPolicy?
    @Option(parsing: .unconditional, help: ArgumentHelp("Spread cron runs over [0, S) seconds after the slot, 0-3600 (default 0).", valueName: "S")) public var jitter: Int?
    @Option(parsing: .unconditional, help: ArgumentHelp("Pause after N consecutive failed runs, 1-100; 0 = never (default never).", valueName: "N")) public var pauseAfterFailures: Int?

    public init() {}

    /// The --at instant, or a usage error that says what is accepted.
    func runAt() throws(ManagementError) -> Instant? {
        guard let at else { return nil }
        guard let instant = Instant.parse(at) else {
            throw .invalid(
                "--at \"\(at)\": not an ISO 8601 instant with a zone; use e.g. 2026-03-08T07:00:00Z or 2026-03-08T08:00:00+01:00")
        }
        return instant
    }

    /// --payload, or the contents of --payload-file.
    func payloadText() throws(ManagementError) -> String? {
        switch (payload, payloadFile) {
        case (.some, .some): throw .invalid("give either --payload or --payload-file, not both")
        case (let text?, nil): return text
        case (nil, let path?):
            do {
                return try FileSystem.readRegularFile(path, limit: TriggerDefinition.payloadLimit)
            } catch {
                throw .invalid("--payload-file: cannot use \(error)")
            }
        case (nil, nil): return nil
        }
    }

    /// --message, or the contents of --message-file (a regular file of at most 64 KiB).
    func messageText() throws(ManagementError) -> String? {
        switch (message, messageFile) {
        case (.some, .some): throw .invalid("give either --message or --message-file, not both")
        case (let text, nil): return text
        case (nil, let path?):
            do {
                return try FileSystem.readRegularFile(path, limit: TriggerDefinition.templateLimit)
            } catch {
                throw .invalid("--message-file: cannot use \(error)")
            }
        }
    }

    /// A complete, validated trigger for `add`.
    func definition(tenant: String, id: String?, enabled: Bool) throws(ManagementError) -> TriggerDefinition {
        var missing: [String] = []
        if project == nil { missing.append("--project") }
        if agent == nil { missing.append("--agent") }
        if name == nil { missing.append("--name") }
        if !missing.isEmpty { throw .invalid("missing \(missing.joined(separator: ", ")) (required for add)") }
        let definition = TriggerDefinition(
            tenantID: tenant, id: id, projectID: project!, agentID: agent!, name: name!,
            description: description, enabled: enabled, cronExpression: cron, timeZone: tz ?? "UTC",
            runAt: try runAt(), payload: try payloadText(), messageTemplate: try messageText(),
            maxRetries: maxRetries ?? 1, retryDelaySeconds: retryDelay ?? 60, timeoutSeconds: timeout ?? 780,
            misfirePolicy: misfirePolicy ?? .latest, runAsUserID: runAs, createdBy: createdBy, ref: ref ?? "main",
            overlapPolicy: overlap ?? .allow, jitterSeconds: jitter ?? 0,
            pauseAfterFailures: pauseAfterFailures == 0 ? nil : pauseAfterFailures)
        try definition.validateFields()
        _ = try definition.validateSchedule()
        return definition
    }

    /// The changes `update` was given.
    func changes() throws(ManagementError) -> TriggerChanges {
        var changes = TriggerChanges()
        changes.projectID = project
        changes.agentID = agent
        changes.name = name
        changes.description = description
        changes.cronExpression = cron
        changes.timeZone = tz
        changes.runAt = try runAt()
        changes.payload = try payloadText()
        changes.messageTemplate = try messageText()
        changes.maxRetries = maxRetries
        changes.retryDelaySeconds = retryDelay
        changes.timeoutSeconds = timeout
        changes.misfirePolicy = misfirePolicy
        changes.runAsUserID = runAs
        changes.createdBy = createdBy
        changes.ref = ref
        changes.overlapPolicy = overlap
        changes.jitterSeconds = jitter
        changes.pauseAfterFailures = pauseAfterFailures
        return changes
    }
}

/// Prints what a trigger command did: text for people, one JSON document with --json.
enum TriggerReport {
    static func write(_ result: TriggerWriteResult, verb: String?, json: Bool) {
        let record = result.record
        let upcoming = upcomingSlots(record, now: result.now)
        if json {
            var document = ManagementOutput.json(record, upcoming: upcoming)
            if verb != nil, case .object(var members) = document {
                members.append(("cancelled_invocations", .number(String(result.cancelled))))
                document = .object(members)
            }
            StandardOutput.writeLine(ManagementOutput.jsonLine(document))
            return
        }
        let d = record.definition
        var lines: [String] = []
        if let verb {
            lines.append("\(verb) trigger \(ManagementOutput.escaped(record.id)) (tenant \(ManagementOutput.escaped(d.tenantID)))")
            if result.cancelled > 0 || verb == "disabled" {
                lines.append("cancelled \(result.cancelled) pending invocation(s)\(verb == "updated" ? " no longer in the schedule" : "")")
            }
        }
        // Everything shown may have been written by SQL: control characters are escaped.
        func field(_ label: String, _ value: String) { lines.append(label.padding(20) + ManagementOutput.escaped(value)) }
        field("id:", record.id)
        field("tenant:", d.tenantID)
        field("project / agent:", "\(d.projectID) / \(d.agentID)")
        field("ref:", d.ref)
        field("name:", d.name)
        if let description = d.description { field("description:", description) }
        field("enabled:", d.enabled ? "yes" : "no")
        field("schedule:", record.scheduleText)
        field("time zone:", d.timeZone)
        field("next run:", record.nextRunAt.map {
            "\(ManagementOutput.utc($0))  (\(ManagementOutput.local($0, record.zone)))"
        } ?? "-")
        if let error = record.scheduleError { field("schedule error:", error) }
        field("misfire policy:", d.misfirePolicy.rawValue)
        field("overlap policy:", d.overlapPolicy.rawValue)
        field("jitter:", "\(d.jitterSeconds) s")
        field("pause after:", d.pauseAfterFailures.map { "\($0) consecutive failure(s)" } ?? "never")
        if let reason = record.pausedReason { field("paused:", ManagementOutput.cell(reason, limit: 1000)) }
        field("retries:", "\(d.maxRetries), delay \(d.retryDelaySeconds) s; timeout \(d.timeoutSeconds) s")
        field("payload:", d.payload ?? "-")
        field("message:", d.messageTemplate ?? "-")
        if let runAs = d.runAsUserID { field("run as:", runAs) }
        if let createdBy = d.createdBy { field("created by:", createdBy) }
        field("created / updated:", "\(record.createdAt.iso8601) / \(record.updatedAt.iso8601)")
        field("last invocation:", record.lastStatus.map { "\($0) (slot \(ManagementOutput.utc(record.lastScheduledFor)))" } ?? "-")
        if !upcoming.isEmpty {
            let heading: String
            if !d.enabled {
                heading = "not scheduled while disabled; once enabled it would run at:"
            } else if d.runAt != nil {
                heading = upcoming[0] <= result.now ? "runs once, at the next cycle (run_at has passed):" : "runs once, at:"
            } else {
                heading = "next \(upcoming.count) slots:"
            }
            lines.append(heading)
            for slot in upcoming {
                lines.append("  \(ManagementOutput.utc(slot))  \(ManagementOutput.local(slot, record.zone))")
            }
        } else if d.enabled && record.scheduleError == nil && d.runAt != nil {
            lines.append("already fired: its slot has been recorded")
        }
        for line in lines { StandardOutput.writeLine(line) }
    }

    /// The slots shown: from next_run_at when scheduled (so the first is what fires next),
    /// else from now (disabled or not yet healed).
    static func upcomingSlots(_ record: TriggerRecord, now: Instant) -> [Instant] {
        guard let schedule = record.schedule else { return [] }
        if case .once(let runAt, _) = schedule.timing {
            if record.definition.enabled && record.nextRunAt == nil && record.scheduleError == nil
                && record.lastScheduledFor != nil
            {
                return []  // fired already
            }
            return [runAt]
        }
        if let next = record.nextRunAt {
            return [next] + schedule.upcoming(after: next, count: 4)
        }
        return schedule.upcoming(after: now, count: 5)
    }
}

extension ParsableCommand {
    /// `reportingFailures` for the management commands: invalid input exits 64, a missing or
    /// refused row exits 1, a missing schema says to migrate (mapped in `ExitStatus`).
    func managing(_ body: () throws -> Void) throws {
        try reportingFailures(body)
    }
}
