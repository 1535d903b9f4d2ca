/// A cron expression in a time zone: computes the slots at which it fires, following
/// cronie's DST rules (SPEC §3):
/// - a wildcard job (minute or hour field starts with `*`) follows the wall clock: a skipped
///   wall time never fires, a repeated wall time fires in both passes;
/// - a fixed-time job whose wall time is skipped fires once at the first instant after the
///   change (several skipped matches collapse into one); a repeated wall time fires only in
///   the first pass.
///
/// The set of slots does not depend on where a search starts, so a start inside the second
/// pass of a repeated hour does not bring back a fixed-time slot of the first pass.
public struct CronSchedule: Sendable {
    public let expression: CronExpression
    public let timeZone: TimeZoneRules

    /// How far `next(after:)` looks before giving up.
    static let horizonYears = 30

    /// Parses and validates both the expression and the zone.
    public init(expression: String, timeZone: String) throws(ScheduleError) {
        self.expression = try CronExpression.parse(expression)
        self.timeZone = try TimeZoneRules.named(timeZone)
    }

    public init(expression: CronExpression, timeZone: TimeZoneRules) {
        self.expression = expression
        self.timeZone = timeZone
    }

    /// The first slot strictly after `instant`, or nil if none within 30 years.
    public func next(after instant: Instant) -> Instant? {
        let start = instant.secondsSinceEpoch
        guard start < Int64.max / 4, start > Int64.min / 4 else { return nil }
        let horizon = start + Int64(Self.horizonYears) * 366 * Civil.secondsPerDay
        let fixedTime = !expression.isWildcardJob
        var t = start + 1
        // Each turn looks at one stretch of constant offset; `t` only moves forward.
        while t <= horizon {
            let period = timeZone.period(containing: t)
            let offset = Int64(period.offset)
            if fixedTime, period.start >= t, period.offset > period.previousOffset {
                // Wall times [start + previous, start + offset) were skipped: a fixed-time job
                // matching any of them fires once, right at the change.
                let gapStart = period.start + Int64(period.previousOffset)
                if let wall = nextWallMatch(from: gapStart, horizon: horizon + offset), wall < period.start + offset {
                    return Instant(secondsSinceEpoch: period.start)
                }
            }
            var from = t + offset
            if fixedTime, period.offset < period.previousOffset, period.start != Int64.min {
                // Second pass of repeated wall times: fixed-time jobs already fired in the first.
                from = max(from, period.start + Int64(period.previousOffset))
            }
            guard let wall = nextWallMatch(from: from, horizon: horizon + offset) else { return nil }
            if period.end == Int64.max || wall < period.end + offset {
                return Instant(secondsSinceEpoch: wall - offset)
            }
            // Nothing in this period. Every instant x >= end has wall time >= end + minimumOffset,
            // so the next slot's wall time is at least the next match from there: jump ahead.
            guard let ahead = nextWallMatch(from: period.end + Int64(timeZone.minimumOffset), horizon: horizon + offset)
            else { return nil }
            t = max(period.end, ahead - Int64(timeZone.maximumOffset))
        }
        return nil
    }

    /// The next `count` slots after `after`, ascending (fewer only if the horizon ends).
    public func slots(after: Instant, count: Int) -> [Instant] {
        slots(after: after, through: Instant(secondsSinceEpoch: .max), limit: count)
    }

    /// The slots in `(after, through]`, ascending, at most `limit` of them.
    public func slots(after: Instant, through: Instant, limit: Int) -> [Instant] {
        var result: [Instant] = []
        var cursor = after
        while result.count < limit, let slot = next(after: cursor), slot <= through {
            result.append(slot)
            cursor = slot
        }
        return result
    }

    /// The first wall-clock minute (seconds since 1970-01-01 in local time) at or after `from`
    /// that matches the expression, searching month, then day, then hour, then minute.
    @inline(__always)
    func nextWallMatch(from: Int64, horizon: Int64) -> Int64? {
        let e = expression
        let aligned = Civil.floorDiv(from + 59, 60) * 60
        let days = Civil.floorDiv(aligned, Civil.secondsPerDay)
        let secondOfDay = Int(aligned - days * Civil.secondsPerDay)
        var (year, month, day) = Civil.date(days: days)
        var hour = secondOfDay / 3600
        var minute = secondOfDay / 60 % 60
        let lastYear = Civil.date(days: Civil.floorDiv(horizon, Civil.secondsPerDay)).year + 1
        while year <= lastYear {
            if let m = Self.nextBit(e.months, from: month) {
                if m != month {
                    month = m
                    day = 1
                    hour = 0
                    minute = 0
                }
            } else {
                year += 1
                month = Self.nextBit(e.months, from: 1) ?? 1
                day = 1
                hour = 0
                minute = 0
            }
            let firstOfMonth = Civil.days(year: year, month: month, day: 1)
            let matchingDays = e.matchingDays(
                firstWeekday: Civil.weekday(days: firstOfMonth),
                length: Civil.daysInMonth(year: year, month: month))
            guard let d = Self.nextBit(matchingDays, from: day) else {
                Self.advanceMonth(&year, &month)
                day = 1
                hour = 0
                minute = 0
                continue
            }
            if d != day {
                day = d
                hour = 0
                minute = 0
            }
            guard let h = Self.nextBit(e.hours, from: hour) else {
                day += 1
                hour = 0
                minute = 0
                continue
            }
            if h != hour {
                hour = h
                minute = 0
            }
            guard let mi = Self.nextBit(e.minutes, from: minute) else {
                hour += 1
                minute = 0
                continue
            }
            return (firstOfMonth + Int64(day - 1)) * Civil.secondsPerDay + Int64(hour * 3600 + mi * 60)
        }
        return nil
    }

    @inline(__always)
    static func advanceMonth(_ year: inout Int, _ month: inout Int) {
        if month == 12 {
            year += 1
            month = 1
        } else {
            month += 1
        }
    }

    /// The lowest set bit at or above `from`.
    @inline(__always)
    static func nextBit(_ mask: UInt64, from: Int) -> Int? {
        guard from < 64 else { return nil }
        let rest = mask & (~UInt64(0) << UInt64(from))
        return rest == 0 ? nil : rest.trailingZeroBitCount
    }
}
