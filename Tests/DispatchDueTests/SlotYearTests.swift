import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Schedules
import Testing

/// Issue 11, item 13: no idempotency key or forwarded timestamp is made for a year outside
/// 1–9999; such a run_at is a schedule error. And a cron row whose next_run_at cannot be read
/// (-infinity) is due: the latest slot at or before now fires, by its misfire policy.
@Suite("slot years")
struct SlotYearTests {
    @Test("a one-time run_at outside 1–9999 is a schedule error, with no slot", arguments: [
        Instant(year: 0, month: 12, day: 31, hour: 23, minute: 59, second: 59),  // 1 BC
        Instant(year: -4712, month: 1, day: 1),  // 4713 BC
        Instant(year: 10000, month: 1, day: 1),
    ])
    func outside(_ runAt: Instant) {
        let plan = SlotPlanner.planOneTime(runAt: runAt)
        #expect(plan.slots.isEmpty)
        #expect(plan.nextRunAt == nil)
        #expect(plan.scheduleError?.contains("outside 1–9999") == true, "\(plan)")
    }

    @Test("the edges of 1–9999 fire", arguments: [
        Instant(year: 1, month: 1, day: 1),
        Instant(year: 9999, month: 12, day: 31, hour: 23, minute: 59, second: 59),
    ])
    func edges(_ runAt: Instant) {
        let plan = SlotPlanner.planOneTime(runAt: runAt)
        #expect(plan.slots == [runAt])
        #expect(plan.scheduleError == nil)
    }

    @Test("an unreadable next_run_at of a cron row: the latest slot at or before now, by policy", arguments: [
        (MisfirePolicy.latest, ["2026-05-01T10:00:00Z"]),
        (MisfirePolicy.all, ["2026-05-01T10:00:00Z"]),
        // 25 minutes late: skip does not fire it.
        (MisfirePolicy.skip, []),
    ])
    func unreadableDue(_ policy: MisfirePolicy, _ fired: [String]) throws {
        let schedule = try CronSchedule(expression: "0 * * * *", timeZone: "UTC")
        let plan = SlotPlanner.planCronFromUnreadableDue(
            schedule: schedule, now: Instant.parse("2026-05-01T10:25:00Z")!, policy: policy)
        #expect(plan.slots.map(\.iso8601) == fired)
        #expect(plan.nextRunAt == Instant.parse("2026-05-01T11:00:00Z"))
        #expect(plan.scheduleError == nil)
    }
}

@Suite("slot years in the management commands", .requiresDatabase)
struct SlotYearManagementTests {
    @Test("triggers add --at in the year 0 (1 BC) is refused as a usage error; nothing is written")
    func addRefusesYearZero() throws {
        try withTestDatabase { db in
            let result = try db.cli(baseAdd() + ["--at", "0000-06-01T00:00:00Z"])
            #expect(result.exitCode == 64, "\(result)")
            #expect(result.stderr.contains("outside 1–9999"), "\(result.stderr)")
            #expect(try db.value("SELECT count(*) FROM scheduled_triggers") == "0")
        }
    }
}
