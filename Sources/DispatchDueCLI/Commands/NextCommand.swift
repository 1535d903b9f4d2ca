import ArgumentParser
import DispatchCore
import Schedules

/// `dispatch-due next`: prints the next slots of a cron expression, one UTC instant per line,
/// or validates many schedules at once with `--batch` (JSON lines on stdin and stdout).
public struct NextCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "next", abstract: "Print the next slots of a cron expression.",
        discussion: """
            Prints one instant per line in UTC (2026-03-08T07:00:00Z), following the DST rules of the zone. For an expression that starts with '-', write --cron='-5 * * * *'.

            --batch reads JSON lines {"expr": "...", "tz": "UTC", "after": "...", "count": 1} from stdin and writes one line per input line, in order: {"next": [...]} or {"error": "..."}.

            EXIT CODES:
              0    printed (with --batch: always, errors are answered per line)
              64   invalid expression, zone, instant or count, or fewer than --count slots lie in
                   years 1-9999; the message names the problem

            ENVIRONMENT:
              TZDIR  the IANA time zone database (default /usr/share/zoneinfo)
            """)

    static let maximumCount = 100_000

    @Option(name: .long, parsing: .unconditional, help: "The cron expression, e.g. '*/5 * * * *' or @daily.")
    var cron: String?

    @Option(name: .long, help: "IANA time zone of the expression.")
    var tz: String = "UTC"

    @Option(name: .long, help: "Start after this instant (ISO 8601, e.g. 2026-03-08T07:00:00Z); default now.")
    var after: String?

    @Option(name: .long, parsing: .unconditional, help: "How many slots to print.")
    var count: Int = 1

    @Flag(name: .long, help: "Read JSON lines from stdin, write one JSON line per input line.")
    var batch = false

    @Flag(name: .long, help: "Print one JSON object {\"next\": [...]} with RFC 3339 UTC instants in milliseconds.")
    var json = false

    public init() {}

    public func run() throws {
        try reportingFailures {
            let now = Self.now()
            if batch {
                guard cron == nil, after == nil else {
                    throw ExitStatus.fail(ExitStatus.usage, "dispatch-due next: --batch takes its input from stdin; drop --cron and --after")
                }
                guard !json else {
                    throw ExitStatus.fail(ExitStatus.usage, "dispatch-due next: --batch already writes JSON lines; drop --json")
                }
                NextBatch.run(now: now)
                return
            }
            guard let cron else {
                throw ExitStatus.fail(ExitStatus.usage, "dispatch-due next: --cron is required (or --batch)")
            }
            guard (1...Self.maximumCount).contains(count) else {
                throw ExitStatus.fail(ExitStatus.usage, "dispatch-due next: --count must be between 1 and \(Self.maximumCount), got \(count)")
            }
            var start = now
            if let after {
                guard let parsed = Instant.parse(after) else {
                    throw ExitStatus.fail(
                        ExitStatus.usage,
                        "dispatch-due next: --after \"\(after)\" is not an instant; write e.g. 2026-03-08T07:00:00Z")
                }
                start = parsed
            }
            // Exactly --count slots or an error: never fewer in silence (contract §3).
            let slots: [Instant]
            do throws(ScheduleError) {
                slots = try TriggerSchedule.cron(cron, timeZone: tz).nextSlots(after: start, count: count)
            } catch {
                throw ExitStatus.fail(ExitStatus.usage, "dispatch-due next: \(error.message)")
            }
            if json {
                StandardOutput.writeLine(
                    JSONValue.object([("next", .array(slots.map { .string($0.iso8601Milliseconds) }))]).compactText)
                return
            }
            StandardOutput.writeLine(slots.map(\.iso8601).joined(separator: "\n"))
        }
    }

    /// The host clock, read only here at the outermost layer.
    static func now() -> Instant {
        Instant(secondsSinceEpoch: WallClock.nowMilliseconds() / 1000)
    }
}
