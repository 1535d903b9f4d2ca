import DispatchCore
import DispatchDueCLI
import Schedules
import Testing

/// The misfire policies of contract §3 on fixed instants, worked out by hand.
/// Schedule `0 * * * *` in UTC fires on every hour; `due` is the stored next_run_at.
@Suite("misfire policies")
struct SlotPlannerTests {
    static func at(_ text: String) -> Instant { Instant.parse(text)! }

    struct Case: Sendable, CustomTestStringConvertible {
        var policy: MisfirePolicy
        var due: String
        var now: String
        var fired: [String]
        var skipped: Int
        var next: String
        var testDescription: String { "\(policy) due \(due) now \(now)" }
    }

    @Test(arguments: [
        // Nothing missed: only `due` has passed, 30 s late. Every policy fires it.
        Case(policy: .latest, due: "2026-05-01T10:00:00Z", now: "2026-05-01T10:00:30Z",
             fired: ["2026-05-01T10:00:00Z"], skipped: 0, next: "2026-05-01T11:00:00Z"),
        Case(policy: .all, due: "2026-05-01T10:00:00Z", now: "2026-05-01T10:00:30Z",
             fired: ["2026-05-01T10:00:00Z"], skipped: 0, next: "2026-05-01T11:00:00Z"),
        Case(policy: .skip, due: "2026-05-01T10:00:00Z", now: "2026-05-01T10:00:30Z",
             fired: ["2026-05-01T10:00:00Z"], skipped: 0, next: "2026-05-01T11:00:00Z"),
        // skip: the only due slot is 2 min late exactly: not "less than two minutes" → skipped.
        Case(policy: .skip, due: "2026-05-01T10:00:00Z", now: "2026-05-01T10:02:00Z",
             fired: [], skipped: 1, next: "2026-05-01T11:00:00Z"),
        Case(policy: .skip, due: "2026-05-01T10:00:00Z", now: "2026-05-01T10:01:59Z",
             fired: ["2026-05-01T10:00:00Z"], skipped: 0, next: "2026-05-01T11:00:00Z"),
        // Down from 07:00 to 10:00:30: slots 07, 08, 09, 10 were missed.
        // latest: fire 10:00, skip 07, 08, 09.
        Case(policy: .latest, due: "2026-05-01T07:00:00Z", now: "2026-05-01T10:00:30Z",
             fired: ["2026-05-01T10:00:00Z"], skipped: 3, next: "2026-05-01T11:00:00Z"),
        // all: fire the four, oldest first.
        Case(policy: .all, due: "2026-05-01T07:00:00Z", now: "2026-05-01T10:00:30Z",
             fired: ["2026-05-01T07:00:00Z", "2026-05-01T08:00:00Z", "2026-05-01T09:00:00Z", "2026-05-01T10:00:00Z"],
             skipped: 0, next: "2026-05-01T11:00:00Z"),
        // skip: the latest (10:00) is 30 s late → fire it, skip the three before.
        Case(policy: .skip, due: "2026-05-01T07:00:00Z", now: "2026-05-01T10:00:30Z",
             fired: ["2026-05-01T10:00:00Z"], skipped: 3, next: "2026-05-01T11:00:00Z"),
        // skip: now 10:05, the latest (10:00) is 5 min late → nothing fires, all four skipped.
        Case(policy: .skip, due: "2026-05-01T07:00:00Z", now: "2026-05-01T10:05:00Z",
             fired: [], skipped: 4, next: "2026-05-01T11:00:00Z"),
        // latest over a long outage: due Jan 1 00:00, now May 1 10:30. Jan has 31 d, Feb 28,
        // Mar 31, Apr 30 → 120 days × 24 = 2880 hourly slots before May 1 00:00, plus
        // 00:00..10:00 on May 1 = 11 → 2891 slots, the last (10:00) fires, 2890 skipped.
        Case(policy: .latest, due: "2026-01-01T00:00:00Z", now: "2026-05-01T10:30:00Z",
             fired: ["2026-05-01T10:00:00Z"], skipped: 2890, next: "2026-05-01T11:00:00Z"),
    ])
    func hourly(_ c: Case) throws {
        let schedule = try CronSchedule(expression: "0 * * * *", timeZone: "UTC")
        let plan = SlotPlanner.planCron(schedule: schedule, due: Self.at(c.due), now: Self.at(c.now), policy: c.policy)
        #expect(plan.slots.map(\.iso8601) == c.fired)
        #expect(plan.skipped == c.skipped)
        #expect(plan.nextRunAt?.iso8601 == c.next)
        #expect(plan.scheduleError == nil)
    }

    @Test("all fires at most 100 per cycle and leaves the 101st due")
    func allIsCapped() throws {
        // Every minute, missed from 00:00 to 03:00 → 181 slots. The first cycle fires
        // 00:00 … 01:39 (100 slots); next_run_at is 01:40, still due.
        let schedule = try CronSchedule(expression: "* * * * *", timeZone: "UTC")
        let plan = SlotPlanner.planCron(
            schedule: schedule, due: Self.at("2026-05-01T00:00:00Z"), now: Self.at("2026-05-01T03:00:10Z"), policy: .all)
        #expect(plan.slots.count == 100)
        #expect(plan.slots.first?.iso8601 == "2026-05-01T00:00:00Z")
        #expect(plan.slots.last?.iso8601 == "2026-05-01T01:39:00Z")
        #expect(plan.nextRunAt?.iso8601 == "2026-05-01T01:40:00Z")
    }

    @Test("a long outage of an every-minute schedule is counted up to the cap, then bounded")
    func latestOverHugeOutage() throws {
        // 2025-01-01 → 2026-01-01 is 365 days = 525,600 minutes: more than the counting cap.
        let schedule = try CronSchedule(expression: "* * * * *", timeZone: "UTC")
        // A small cap keeps the debug-build test quick; production counts up to 100,000.
        let plan = SlotPlanner.planCron(
            schedule: schedule, due: Self.at("2025-01-01T00:00:00Z"), now: Self.at("2026-01-01T00:00:30Z"), policy: .latest,
            countCap: 1_000)
        #expect(plan.slots.map(\.iso8601) == ["2026-01-01T00:00:00Z"])
        #expect(plan.skippedIsLowerBound)
        #expect(plan.skipped >= 1_000)
        #expect(plan.nextRunAt?.iso8601 == "2026-01-01T00:01:00Z")
    }

    @Test("idempotency key format of contract §1")
    func keyFormat() {
        #expect(idempotencyKey(triggerID: "daily-report", slot: Self.at("2026-03-08T07:00:00Z"))
            == "sched_daily-report_2026-03-08T07:00:00.000Z")
    }
}
