import Schedules

/// A trigger's misfire policy (contract §3): what to do with slots missed while nobody dispatched.
public enum MisfirePolicy: String, Sendable, CaseIterable {
    /// Fire the most recent missed slot once.
    case latest
    /// Fire every missed slot, oldest first, at most `SlotPlanner.maxSlotsPerCycle` per cycle.
    case all
    /// Fire the most recent missed slot only if it is less than two minutes late.
    case skip
}

/// What the record step does with one claimed trigger.
public struct SlotPlan: Sendable, Equatable {
    /// Slots to record, ascending.
    public var slots: [Instant]
    /// Missed slots the policy chose not to record.
    public var skipped: Int
    /// True when `skipped` reached the counting cap (the real number is at least that).
    public var skippedIsLowerBound: Bool
    /// The new next_run_at; nil means nothing more to schedule (one-time done, or an error).
    public var nextRunAt: Instant?
    /// Set when the schedule cannot be computed; nothing is recorded then.
    public var scheduleError: String?

    public init(
        slots: [Instant], skipped: Int = 0, skippedIsLowerBound: Bool = false,
        nextRunAt: Instant?, scheduleError: String? = nil
    ) {
        self.slots = slots
        self.skipped = skipped
        self.skippedIsLowerBound = skippedIsLowerBound
        self.nextRunAt = nextRunAt
        self.scheduleError = scheduleError
    }

    static func failed(_ message: String) -> SlotPlan {
        SlotPlan(slots: [], nextRunAt: nil, scheduleError: message)
    }
}

/// Decides which slots of a due trigger to record and where next_run_at moves.
/// Pure: time comes in as a parameter (the database's clock), so it is tested without a database.
public enum SlotPlanner {
    /// contract §3: `all` fires at most 100 slots per trigger per cycle.
    public static let maxSlotsPerCycle = 100
    /// contract §3: `skip` fires the latest slot only when it is less than this late.
    public static let skipToleranceSeconds: Int64 = 120
    /// Missed slots are counted one by one up to this many; beyond it the count is a lower bound.
    public static let skippedCountCap = 100_000

    /// The plan for a cron trigger whose stored next slot `due` is at or before `now`.
    public static func planCron(
        schedule: CronSchedule, due: Instant, now: Instant, policy: MisfirePolicy,
        countCap: Int = skippedCountCap
    ) -> SlotPlan {
        // Common case: only `due` has passed; every policy fires it (skip: unless it is too late).
        guard let following = schedule.next(after: due) else {
            return .failed("cron expression has no slot after \(due.iso8601)")
        }
        if following > now {
            if policy == .skip, now.secondsSinceEpoch - due.secondsSinceEpoch >= skipToleranceSeconds {
                return SlotPlan(slots: [], skipped: 1, nextRunAt: following)
            }
            return SlotPlan(slots: [due], nextRunAt: following)
        }
        switch policy {
        case .all:
            var slots = [due]
            var cursor = following
            while slots.count < maxSlotsPerCycle, cursor <= now {
                slots.append(cursor)
                guard let next = schedule.next(after: cursor) else { return SlotPlan(slots: slots, nextRunAt: nil) }
                cursor = next
            }
            // cursor is the first slot not fired: still due when more were missed (next cycle
            // fires them), otherwise the first future slot.
            return SlotPlan(slots: slots, nextRunAt: cursor)
        case .latest, .skip:
            let (latest, missedBefore, capped) = latestSlot(
                schedule: schedule, from: following, now: now, countCap: countCap)
            let skippedBeforeLatest = missedBefore + 1  // `due` itself and the ones after it
            guard let future = schedule.next(after: latest) else {
                return .failed("cron expression has no slot after \(latest.iso8601)")
            }
            if policy == .skip, now.secondsSinceEpoch - latest.secondsSinceEpoch >= skipToleranceSeconds {
                return SlotPlan(
                    slots: [], skipped: skippedBeforeLatest + 1, skippedIsLowerBound: capped, nextRunAt: future)
            }
            return SlotPlan(
                slots: [latest], skipped: skippedBeforeLatest, skippedIsLowerBound: capped, nextRunAt: future)
        }
    }

    /// The one-time plan: its slot fires once, however late (contract §3). A run_at outside the
    /// years 1–9999 is a schedule error: no key or forwarded timestamp is ever made for it.
    public static func planOneTime(runAt: Instant) -> SlotPlan {
        if let error = yearError(runAt, what: "run_at") { return .failed(error) }
        return SlotPlan(slots: [runAt], nextRunAt: nil)
    }

    /// The instants the dispatcher can fire: 0001-01-01T00:00:00Z up to 9999-12-31T23:59:59Z.
    /// Outside them an ISO 8601 key or timestamp would need a sign or a fifth digit.
    public static let supportedInstants =
        Instant(year: 1, month: 1, day: 1)...Instant(year: 9999, month: 12, day: 31, hour: 23, minute: 59, second: 59)

    /// Nil when `instant` lies in the years 1–9999; otherwise the schedule error that says so.
    public static func yearError(_ instant: Instant, what: String) -> String? {
        guard !supportedInstants.contains(instant) else { return nil }
        let year = instant < supportedInstants.lowerBound ? "before the year 1" : "after the year 9999"
        return "\(what) \(year) is outside 1–9999"
    }

    /// The plan for a cron trigger whose stored next_run_at cannot be read (`-infinity`, or a
    /// year before 1, written by SQL): it is due, so the most recent slot at or before `now`
    /// is treated as the missed one and the misfire policy decides as usual. Without any slot
    /// in the windows searched, the trigger is simply rescheduled from now.
    public static func planCronFromUnreadableDue(schedule: CronSchedule, now: Instant, policy: MisfirePolicy) -> SlotPlan {
        guard let latest = latestSlot(schedule: schedule, atOrBefore: now) else {
            return firstSlot(schedule: schedule, after: now)
        }
        return planCron(schedule: schedule, due: latest, now: now, policy: policy)
    }

    /// The last slot at or before `now`, looked for in growing windows that end at `now`.
    static func latestSlot(schedule: CronSchedule, atOrBefore now: Instant) -> Instant? {
        for window: Int64 in [60, 3_600, 86_400, 32 * 86_400, 366 * 86_400, 30 * 366 * 86_400] {
            guard var cursor = schedule.next(after: now.adding(seconds: -window)), cursor <= now else { continue }
            while let next = schedule.next(after: cursor), next <= now { cursor = next }
            return cursor
        }
        return nil
    }

    /// The last slot at or before `now`, starting from `first` (a slot known to be <= now),
    /// with how many slots lie between `first` (inclusive) and it (exclusive).
    /// Walks slot by slot up to the cap, then jumps to a window just before `now` so a long
    /// outage of an every-minute schedule costs bounded work.
    static func latestSlot(schedule: CronSchedule, from first: Instant, now: Instant, countCap: Int)
        -> (latest: Instant, between: Int, capped: Bool)
    {
        var latest = first
        var between = 0
        while between < countCap {
            guard let next = schedule.next(after: latest), next <= now else {
                return (latest, between, false)
            }
            between += 1
            latest = next
        }
        // Too many to count: find the latest slot inside growing windows that end at `now`.
        for window: Int64 in [60, 3_600, 86_400, 32 * 86_400, 366 * 86_400, 30 * 366 * 86_400] {
            let start = max(latest, now.adding(seconds: -window))
            guard var cursor = schedule.next(after: start), cursor <= now else { continue }
            while let next = schedule.next(after: cursor), next <= now { cursor = next }
            return (cursor, between, true)
        }
        return (latest, between, true)
    }

    /// The first slot strictly after `now` for a cron trigger (the heal, and `enable`).
    public static func firstSlot(schedule: CronSchedule, after now: Instant) -> SlotPlan {
        guard let next = schedule.next(after: now) else {
            return .failed("cron expression has no slot in the next 30 years")
        }
        return SlotPlan(slots: [], nextRunAt: next)
    }
}

/// `sched_{triggerId}_{YYYY-MM-DDTHH:MM:SS.sssZ}` (contract §1): the same slot always gets the same key.
public func idempotencyKey(triggerID: String, slot: Instant) -> String {
    "sched_\(triggerID)_\(slot.iso8601Milliseconds)"
}
