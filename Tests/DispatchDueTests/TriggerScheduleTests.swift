@testable import DispatchCore
import Schedules
import Testing

/// The one place a trigger's schedule is computed (contract §2 step 2, §3): from the columns
/// (cron_expression, cron_timezone, run_at) to a schedule error with its kind, or to the state
/// the heal and `triggers add/update/enable` write. Pure: no database; every expected value
/// worked by hand (2026-03-06 is a Friday; Europe/Berlin is UTC+1 in January, UTC+2 in July).
@Suite("TriggerSchedule: one rule for the heal, the triggers commands and next")
struct TriggerScheduleTests {
    static func at(_ text: String) -> Instant { Instant.parse(text)! }

    struct Healthy: Sendable, CustomTestStringConvertible {
        var cron: String?
        var zone = "UTC"
        var runAt: String?
        var now: String
        var recorded = false
        var next: String?
        var runAtRecorded = false
        var testDescription: String { "\(cron ?? "once \(runAt ?? "-")") in \(zone) after \(now)" }
    }

    @Test("first slot", arguments: [
        // Cron: the first slot strictly after now.
        Healthy(cron: "*/15 * * * *", now: "2026-03-08T07:00:00Z", next: "2026-03-08T07:15:00Z"),
        Healthy(cron: "*/15 * * * *", now: "2026-03-08T07:00:01Z", next: "2026-03-08T07:15:00Z"),
        Healthy(cron: "0 9 * * 1-5", now: "2026-03-06T10:00:00Z", next: "2026-03-09T09:00:00Z"),
        Healthy(cron: "0 9 * * *", zone: "Europe/Berlin", now: "2026-01-15T00:00:00Z", next: "2026-01-15T08:00:00Z"),
        Healthy(cron: "0 9 * * *", zone: "Europe/Berlin", now: "2026-07-01T00:00:00Z", next: "2026-07-01T07:00:00Z"),
        // A cron trigger ignores a recorded flag (it is about run_at only).
        Healthy(cron: "0 0 1 1 *", now: "2026-03-08T07:00:00Z", recorded: true, next: "2027-01-01T00:00:00Z"),
        // One-time: run_at however late, unless its slot is already recorded: then nothing, for good.
        Healthy(runAt: "2026-03-08T07:00:00Z", now: "2026-01-01T00:00:00Z", next: "2026-03-08T07:00:00Z"),
        Healthy(runAt: "2026-03-08T07:00:00Z", now: "2026-04-01T00:00:00Z", next: "2026-03-08T07:00:00Z"),
        Healthy(zone: "Europe/Berlin", runAt: "2026-03-08T07:00:00Z", now: "2026-04-01T00:00:00Z", recorded: true,
                next: nil, runAtRecorded: true),
    ])
    func firstSlot(_ row: Healthy) throws {
        let schedule = try TriggerSchedule.resolve(
            cronExpression: row.cron, timeZone: row.zone, runAt: row.runAt.map(Self.at))
        let state = schedule.firstSlot(after: Self.at(row.now), runAtRecorded: row.recorded)
        #expect(state == ScheduleState(nextRunAt: row.next.map(Self.at), runAtRecorded: row.runAtRecorded))
    }

    struct Broken: Sendable, CustomTestStringConvertible {
        var cron: String?
        var zone = "UTC"
        var runAt: Instant?
        var problem: String?
        var kind: ScheduleError.Kind
        var message: String
        var testDescription: String { "\(kind): \(message)" }
    }

    @Test("schedule errors carry their kind", arguments: [
        Broken(cron: "0 24 * * *", kind: .range, message: "cron field 2 (hour): 24 is out of range 0-23"),
        Broken(cron: "0 0 31 2 *", kind: .neverFires,
               message: "cron field 3 (day of month): never fires: day 31 does not occur in FEB (field 4)"),
        Broken(cron: "* * * * *", zone: "Mars/Olympus_Mons", kind: .unknownZone, message: "unknown time zone \"Mars/Olympus_Mons\""),
        Broken(zone: "Mars/Olympus_Mons", runAt: Instant(year: 2026, month: 3, day: 8), kind: .unknownZone,
               message: "unknown time zone \"Mars/Olympus_Mons\""),
        // What the database said of a run_at it cannot give as an instant (TimestampSQL.problem).
        Broken(problem: "infinity", kind: .yearOutOfRange, message: "run_at is infinity: not a time this dispatcher can fire"),
        Broken(problem: "-infinity", kind: .yearOutOfRange, message: "run_at is -infinity: not a time this dispatcher can fire"),
        Broken(problem: "10000", kind: .yearOutOfRange, message: "run_at year 10000 is outside 1–9999"),
        // The problem wins over a bad zone, as the heal always had it.
        Broken(zone: "Nowhere", problem: "infinity", kind: .yearOutOfRange,
               message: "run_at is infinity: not a time this dispatcher can fire"),
        Broken(runAt: Instant(year: 10000, month: 1, day: 1), kind: .yearOutOfRange,
               message: "run_at after the year 9999 is outside 1–9999"),
        Broken(kind: .syntax, message: "neither cron_expression nor run_at is set"),
    ])
    func scheduleError(_ row: Broken) {
        #expect {
            try TriggerSchedule.resolve(
                cronExpression: row.cron, timeZone: row.zone, runAt: row.runAt, runAtProblem: row.problem)
        } throws: { error in
            guard let error = error as? ScheduleError else { return false }
            return error.kind == row.kind && error.message.hasPrefix(row.message)
        }
    }

    @Test("next slots: exactly count, or the error", arguments: [
        ("*/5 * * * *", "UTC", "2026-03-08T07:00:00Z", 3, ["2026-03-08T07:05:00Z", "2026-03-08T07:10:00Z", "2026-03-08T07:15:00Z"]),
        ("0 9 * * 1-5", "UTC", "2026-03-06T10:00:00Z", 2, ["2026-03-09T09:00:00Z", "2026-03-10T09:00:00Z"]),
        ("30 1 * * *", "Europe/Berlin", "2026-01-15T00:00:00Z", 2, ["2026-01-15T00:30:00Z", "2026-01-16T00:30:00Z"]),
    ])
    func nextSlots(_ cron: String, _ zone: String, _ after: String, _ count: Int, _ expected: [String]) throws {
        let slots = try TriggerSchedule.cron(cron, timeZone: zone).nextSlots(after: Self.at(after), count: count)
        #expect(slots.map(\.iso8601) == expected)
    }

    @Test("a one-time schedule lists its slot however late, and holds only it")
    func oneTime() throws {
        let schedule = try TriggerSchedule.resolve(cronExpression: nil, timeZone: "UTC", runAt: Self.at("2026-03-08T07:00:00Z"))
        #expect(try schedule.nextSlots(after: Self.at("2027-01-01T00:00:00Z"), count: 5) == [Self.at("2026-03-08T07:00:00Z")])
        #expect(schedule.contains(Self.at("2026-03-08T07:00:00Z")))
        #expect(!schedule.contains(Self.at("2026-03-08T07:00:01Z")))
    }

    @Test("the triggers commands word a year error for --at, a zone error for --tz")
    func flagMessages() {
        let late = TriggerDefinitionMessage(runAt: Instant(year: 10000, month: 1, day: 1), zone: "UTC")
        #expect(late.message == "--at after the year 9999 is outside 1–9999")
        let zone = TriggerDefinitionMessage(runAt: Self.at("2026-03-08T07:00:00Z"), zone: "Mars/Olympus_Mons")
        #expect(zone.message.hasPrefix("--tz: unknown time zone \"Mars/Olympus_Mons\""))
    }

    /// `validateSchedule`'s message for a one-time trigger.
    struct TriggerDefinitionMessage {
        var runAt: Instant
        var zone: String
        var message: String {
            do {
                _ = try TriggerSchedule.resolve(cronExpression: nil, timeZone: zone, runAt: runAt)
                return ""
            } catch {
                return TriggerDefinition.scheduleMessage(error, cron: nil, zone: zone, runAt: runAt)
            }
        }
    }
}
