import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Synchronization
import Testing

/// Collects a logger's lines in memory.
final class LineSink: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    func append(_ line: String) { lines.withLock { $0.append(line) } }
}

@Suite("operations: logs")
struct OperationsLogTests {
    /// Awkward values a field may hold (a trigger id, an error message from the endpoint).
    static let awkwardValues: [String] = [
        "plain",
        "two words",
        "quote \" and backslash \\",
        "line one\nline two\r\n",
        "tab\there",
        "key=value",
        "",
        "ünïcødé ✓ and \u{2028} separator",
        "\u{1}\u{1f}",
    ]

    @Test("a JSON line is one parseable object with time, level, event and the field's exact value", arguments: awkwardValues)
    func jsonLine(value: String) throws {
        let sink = LineSink()
        let logger = Logger(format: .json, sink: { sink.append($0) }, clock: { "2026-03-08T07:00:00.000Z" })
        logger.info("invocation.recorded", ["tenant": .string(value), "count": 3, "ok": true])
        #expect(sink.all.count == 1)
        let line = try #require(sink.all.first)
        #expect(!line.contains("\n") && !line.contains("\r"))
        let object = try JSONValue.parse(line)
        #expect(object["time"] == .string("2026-03-08T07:00:00.000Z"))
        #expect(object["level"] == .string("info"))
        #expect(object["event"] == .string("invocation.recorded"))
        #expect(object["tenant"] == .string(value))
        #expect(object["count"] == .number("3"))
        #expect(object["ok"] == .bool(true))
    }

    @Test("a text line stays one line, and a value that could be misread is quoted", arguments: awkwardValues)
    func textLine(value: String) throws {
        let sink = LineSink()
        let logger = Logger(format: .text, sink: { sink.append($0) }, clock: { "T" })
        logger.warning("slots.skipped", ["trigger": .string(value)])
        let line = try #require(sink.all.first)
        #expect(!line.contains("\n") && !line.contains("\r"))
        #expect(line.hasPrefix("T WARNING slots.skipped trigger="))
        let shown = String(line.dropFirst("T WARNING slots.skipped trigger=".count))
        if shown.hasPrefix("\"") {
            // Quoted values are JSON strings: they read back exactly.
            #expect(try JSONValue.parse(shown) == .string(value))
        } else {
            #expect(shown == value)
            #expect(!value.isEmpty && !value.contains(" ") && !value.contains("="))
        }
    }

    @Test("levels below the minimum are dropped", arguments: [
        (LogLevel.debug, ["debug", "info", "warning", "error"]),
        (LogLevel.info, ["info", "warning", "error"]),
        (LogLevel.error, ["error"]),
    ])
    func minimumLevel(minimum: LogLevel, shown: [String]) throws {
        let sink = LineSink()
        let logger = Logger(format: .json, minimumLevel: minimum, sink: { sink.append($0) })
        logger.debug("e")
        logger.info("e")
        logger.warning("e")
        logger.error("e")
        let levels = try sink.all.map { try JSONValue.parse($0)["level"]?.stringValue ?? "" }
        #expect(levels == shown)
    }

    @Test("a real cycle logs JSON lines naming tenant, project, agent, trigger, invocation and slot, then one summary", .requiresDatabase)
    func realCycle() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            // A one-time trigger an hour late: it fires once, its slot is run_at in whole seconds.
            try connection.insertTrigger(
                tenant: "tenant-log", id: "once", project: "project-log", agent: "agent-log",
                runAt: .sql("date_trunc('second', now()) - interval '1 hour'"),
                nextRunAt: .sql("date_trunc('second', now()) - interval '1 hour'"))
            let expectedSlot = try #require(try connection.value("""
                SELECT to_char(run_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') FROM scheduled_triggers WHERE id = 'once'
                """))

            let result = try database.runCycle()
            #expect(result.exitCode == 0, "\(result)")

            let invocationID = try #require(try connection.value(
                "SELECT id FROM scheduled_trigger_invocations WHERE scheduled_trigger_id = 'once'"))
            let lines = result.stderr.split(separator: "\n").map(String.init)
            #expect(!lines.isEmpty)
            var objects: [JSONValue] = []
            for line in lines {
                let object = try JSONValue.parse(line)
                #expect(object["time"]?.stringValue != nil, "\(line)")
                #expect(object["level"]?.stringValue != nil, "\(line)")
                #expect(object["event"]?.stringValue != nil, "\(line)")
                objects.append(object)
            }
            // Every line about this trigger names where it runs.
            let aboutTrigger = objects.filter { $0["trigger"] == .string("once") }
            #expect(!aboutTrigger.isEmpty, "no line names the trigger:\n\(result.stderr)")
            for object in aboutTrigger {
                #expect(object["tenant"] == .string("tenant-log"))
                #expect(object["project"] == .string("project-log"))
                #expect(object["agent"] == .string("agent-log"))
            }
            // The recorded invocation is logged with its id and slot.
            let recorded = aboutTrigger.filter { $0["invocation"] == .string(invocationID) }
            #expect(recorded.count >= 1, "no line names invocation \(invocationID):\n\(result.stderr)")
            for object in recorded {
                let slot = object["slot"]?.stringValue ?? ""
                #expect(slot.hasPrefix(expectedSlot), "slot \(slot), expected \(expectedSlot)")
            }
            // Exactly one summary, the last line, with the cycle's counts.
            let summaries = objects.filter { $0["event"] == .string("cycle.finished") }
            #expect(summaries.count == 1)
            let summary = try #require(objects.last)
            #expect(summary["event"] == .string("cycle.finished"))
            #expect(summary["recorded"] == .number("1"))
            #expect(summary["skipped_slots"] == .number("0"))
            #expect(summary["posted"] == .number("0"))
            for key in ["accepted", "retried", "failed", "cancelled", "slot_lag_seconds", "duration_seconds"] {
                #expect(summary[key] != nil, "summary lacks \(key)")
            }
            // One hour late (and the database clock moved on a little since).
            if case .number(let lag)? = summary["slot_lag_seconds"], let seconds = Double(lag) {
                #expect(seconds >= 3600 && seconds < 3600 + 120, "lag \(seconds)")
            } else {
                Issue.record("slot_lag_seconds is not a number: \(summary)")
            }
        }
    }

    @Test("--log-format text writes key=value lines", .requiresDatabase)
    func textFormat() throws {
        try withTestDatabase { database in
            let result = try database.dispatchDue(["run", "--record-only", "--log-format", "text"])
            #expect(result.exitCode == 0, "\(result)")
            let last = try #require(result.stderr.split(separator: "\n").last.map(String.init))
            #expect(last.contains(" INFO    cycle.finished recorded=0 "), "\(last)")
            #expect(!last.hasPrefix("{"))
        }
    }
}
