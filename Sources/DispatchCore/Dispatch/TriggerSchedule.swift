import Postgres
import Schedules

/// The one place a trigger's schedule is computed (contract §2 step 2, §3). From the columns that
/// define it (`cron_expression`, `cron_timezone`, `run_at`) it gives either a `ScheduleError` or
/// the schedule; from the schedule, the first slot (the heal and `triggers add/update/enable`,
/// through `state(of:now:cache:)`), the next slots (`dispatch-due next`, `triggers show`) and
/// whether a slot belongs to it. What a due trigger records is `SlotPlanner`'s (misfire policies).
public struct TriggerSchedule: Sendable {
    public enum Timing: Sendable {
        case cron(CronSchedule)
        /// One-time: the slot (whole seconds) and the zone it is shown and sent in.
        case once(Instant, TimeZoneRules)
    }

    public let timing: Timing

    public init(timing: Timing) { self.timing = timing }

    /// The schedule of a cron expression in a zone (`dispatch-due next`).
    public static func cron(_ expression: String, timeZone: String) throws(ScheduleError) -> TriggerSchedule {
        var cache = ScheduleCache()
        return try resolve(cronExpression: expression, timeZone: timeZone, runAt: nil, cache: &cache)
    }

    /// The schedule of a trigger's columns. A cron expression wins when set; a one-time trigger
    /// needs a usable `run_at` (`runAtProblem`: what the database said of one it cannot give as an
    /// instant, see `TimestampSQL.problem`), a known zone, and an instant in the years 1–9999.
    /// The error is what goes into schedule_error: no flag names (the row may come from SQL).
    public static func resolve(
        cronExpression: String?, timeZone: String, runAt: Instant?, runAtProblem: String? = nil
    ) throws(ScheduleError) -> TriggerSchedule {
        var cache = ScheduleCache()
        return try resolve(
            cronExpression: cronExpression, timeZone: timeZone, runAt: runAt, runAtProblem: runAtProblem, cache: &cache)
    }

    static func resolve(
        cronExpression: String?, timeZone: String, runAt: Instant?, runAtProblem: String? = nil,
        cache: inout ScheduleCache
    ) throws(ScheduleError) -> TriggerSchedule {
        if let cronExpression {
            return TriggerSchedule(timing: .cron(try cache.schedule(expression: cronExpression, zone: timeZone).get()))
        }
        if let runAtProblem {
            throw ScheduleError(.yearOutOfRange, TimestampSQL.message(column: "run_at", problem: runAtProblem))
        }
        guard let runAt else { throw ScheduleError("neither cron_expression nor run_at is set") }
        let zone = try cache.zone(timeZone).get()
        if let error = SlotPlanner.yearError(runAt, what: "run_at") { throw ScheduleError(.yearOutOfRange, error) }
        return TriggerSchedule(timing: .once(runAt, zone))
    }

    public var timeZone: TimeZoneRules {
        switch timing {
        case .cron(let schedule): return schedule.timeZone
        case .once(_, let zone): return zone
        }
    }

    /// contract §2 step 2: a cron trigger's first slot strictly after `now`; a one-time trigger's
    /// run_at however late, unless `runAtRecorded` (its slot has an invocation, or retention
    /// pruned it: `slot_recorded` of `scheduleColumns`), then nothing more, for good.
    public func firstSlot(after now: Instant, runAtRecorded: Bool) -> ScheduleState {
        switch timing {
        case .cron(let schedule):
            let plan = SlotPlanner.firstSlot(schedule: schedule, after: now)
            return ScheduleState(nextRunAt: plan.nextRunAt, scheduleError: plan.scheduleError)
        case .once(let runAt, _):
            return runAtRecorded ? ScheduleState(nextRunAt: nil, runAtRecorded: true) : ScheduleState(nextRunAt: runAt)
        }
    }

    /// Exactly the next `count` slots after `now`, or the error saying why there are fewer
    /// (contract §3). A one-time slot is listed however late it is: it fires once at the next cycle.
    public func nextSlots(after now: Instant, count: Int) throws(ScheduleError) -> [Instant] {
        switch timing {
        case .once(let runAt, _): return [runAt]
        case .cron(let schedule): return try schedule.nextSlots(after: now, count: count)
        }
    }

    /// Up to `count` slots after `now` (fewer when the schedule ends). A one-time slot is listed
    /// however late it is: it fires once at the next cycle (contract §3).
    public func upcoming(after now: Instant, count: Int) -> [Instant] {
        switch timing {
        case .once(let runAt, _): return [runAt]
        case .cron(let schedule): return schedule.slots(after: now, count: count)
        }
    }

    /// True when `slot` is one this schedule fires at.
    public func contains(_ slot: Instant) -> Bool {
        switch timing {
        case .once(let runAt, _): return slot == runAt
        case .cron(let schedule): return schedule.next(after: slot.adding(seconds: -1)) == slot
        }
    }
}

/// The columns the dispatcher owns (contract §1.1) as the heal and `triggers add/update/enable`
/// leave them: next_run_at, or schedule_error, and run_at_recorded (a one-time trigger done for good).
public struct ScheduleState: Sendable, Equatable {
    public var nextRunAt: Instant?
    public var scheduleError: String?
    public var runAtRecorded: Bool

    public init(nextRunAt: Instant?, scheduleError: String? = nil, runAtRecorded: Bool = false) {
        self.nextRunAt = nextRunAt
        self.scheduleError = scheduleError
        self.runAtRecorded = runAtRecorded
    }

    static func failed(_ message: String) -> ScheduleState { ScheduleState(nextRunAt: nil, scheduleError: message) }
}

extension TriggerSchedule {
    /// The columns `state(of:cache:)` reads of a trigger row `t`, with the transaction's clock;
    /// the heal's claim and `selectScheduleColumns` both select them. `slot_recorded` is the
    /// one "a one-time trigger's slot is already recorded" rule (contract §2 step 2, §6): its
    /// run_at has an invocation, or retention pruned it (a pruned slot is never recorded again).
    static let scheduleColumns = """
        t.tenant_id, t.id, t.project_id, t.agent_id, t.cron_expression, t.cron_timezone,
        \(TimestampSQL.epoch("t.run_at")) AS run_at,
        \(TimestampSQL.problem("t.run_at")) AS run_at_problem,
        (EXISTS (SELECT 1 FROM scheduled_trigger_invocations i
                 WHERE i.tenant_id = t.tenant_id AND i.scheduled_trigger_id = t.id
                   AND i.scheduled_for = date_trunc('second', t.run_at))
         OR coalesce(date_trunc('second', t.run_at) <= t.pruned_through, false)) AS slot_recorded,
        floor(extract(epoch FROM now()))::int8 AS now
        """

    /// One trigger's schedule columns, as the heal reads them, for `triggers add/update/enable`.
    static let selectScheduleColumns = """
        SELECT \(scheduleColumns)
        FROM scheduled_triggers t
        WHERE t.tenant_id = $1 AND t.id = $2
        """

    /// The state a row of `selectScheduleColumns` (or the heal's claim, which selects the same
    /// columns) gets: the heal and `triggers add/update/enable` write exactly this.
    static func state(of row: Row, cache: inout ScheduleCache) throws -> ScheduleState {
        let now = Instant(secondsSinceEpoch: Int64(try row.int("now")))
        let zone = try row.string("cron_timezone")
        let runAt = try row.optionalInt("run_at").map { Instant(secondsSinceEpoch: Int64($0)) }
        let schedule: TriggerSchedule
        do throws(ScheduleError) {
            schedule = try resolve(
                cronExpression: row["cron_expression"], timeZone: zone, runAt: runAt,
                runAtProblem: row["run_at_problem"], cache: &cache)
        } catch {
            return .failed(error.message)
        }
        return schedule.firstSlot(after: now, runAtRecorded: try row.bool("slot_recorded"))
    }
}

/// Parsed schedules of one cycle: many triggers share an expression and a zone.
struct ScheduleCache {
    private var schedules: [String: Result<CronSchedule, ScheduleError>] = [:]
    private var zones: [String: Result<TimeZoneRules, ScheduleError>] = [:]

    mutating func schedule(expression: String, zone: String) -> Result<CronSchedule, ScheduleError> {
        let key = expression + "\u{1F}" + zone
        if let cached = schedules[key] { return cached }
        let result: Result<CronSchedule, ScheduleError>
        do throws(ScheduleError) {
            result = .success(try CronSchedule(expression: expression, timeZone: zone))
        } catch {
            result = .failure(error)
        }
        schedules[key] = result
        return result
    }

    mutating func zone(_ name: String) -> Result<TimeZoneRules, ScheduleError> {
        if let cached = zones[name] { return cached }
        let result: Result<TimeZoneRules, ScheduleError>
        do throws(ScheduleError) {
            result = .success(try TimeZoneRules.named(name))
        } catch {
            result = .failure(error)
        }
        zones[name] = result
        return result
    }
}
