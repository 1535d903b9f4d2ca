/// A cron expression in a time zone: computes the slots at which it fires, following
/// cronie's DST rules (contract §3):
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

    /// 400 Gregorian years: 146,097 days, exactly 20,871 weeks. Dates, weekdays and a zone's
    /// rule-made clock changes all repeat after it, so the slots after the zone's last listed
    /// change repeat too: a search this long past that point finds the next slot or proves
    /// there is none. No shorter horizon ever cuts a valid expression's slots short (contract §3).
    static let gregorianCycleSeconds: Int64 = 146_097 * 86_400

    /// Parses and validates both the expression and the zone.
    public init(expression: String, timeZone: String) throws(ScheduleError) {
        self.expression = try CronExpression.parse(expression)
        self.timeZone = try TimeZoneRules.named(timeZone)
    }

    public init(expression: CronExpression, timeZone: TimeZoneRules) {
        self.expression = expression
        self.timeZone = timeZone
    }

    /// The first slot strictly after `instant`; nil when there is none in years 1-9999 (see
    /// `nextSlot(after:)` for why).
    public func next(after instant: Instant) -> Instant? {
        if case .slot(let slot) = search(after: instant) { return slot }
        return nil
    }

    /// The first slot strictly after `instant`. Throws `.yearOutOfRange` when that slot would
    /// lie outside years 1-9999, and `.neverFires` when the zone's clock changes skip every wall
    /// time the expression matches (a wildcard job whose only matches fall in skipped hours).
    public func nextSlot(after instant: Instant) throws(ScheduleError) -> Instant {
        switch search(after: instant) {
        case .slot(let slot):
            return slot
        case .afterLastSupportedYear:
            throw ScheduleError(
                .yearOutOfRange,
                "the next slot after \(instant.iso8601) would fall after year 9999 (slots must lie in years 1-9999)")
        case .beforeFirstSupportedYear:
            throw ScheduleError(
                .yearOutOfRange,
                "the next slot after \(instant.iso8601) would fall before year 1 (slots must lie in years 1-9999)")
        case .never:
            throw ScheduleError(
                .neverFires,
                "never fires in time zone \"\(timeZone.name)\": its clock changes skip every wall time the expression matches")
        }
    }

    /// The next `count` slots after `after`, ascending (fewer only when year 9999 ends first).
    public func slots(after: Instant, count: Int) -> [Instant] {
        slots(after: after, through: Instant(secondsSinceEpoch: .max), limit: count)
    }

    /// Exactly the next `count` slots after `after`, ascending; throws (as `nextSlot(after:)`
    /// does) rather than return fewer. The message says how many were found.
    public func nextSlots(after: Instant, count: Int) throws(ScheduleError) -> [Instant] {
        var result: [Instant] = []
        result.reserveCapacity(min(max(count, 0), 1024))
        var cursor = after
        while result.count < count {
            do throws(ScheduleError) {
                cursor = try nextSlot(after: cursor)
            } catch {
                guard !result.isEmpty else { throw error }
                var partial = error
                partial.message = "only \(result.count) of \(count) slots exist: \(error.message)"
                throw partial
            }
            result.append(cursor)
        }
        return result
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

    enum SearchResult: Equatable {
        case slot(Instant)
        case afterLastSupportedYear
        case beforeFirstSupportedYear
        /// No slot ever after the start (proven over a whole 400-year cycle).
        case never
    }

    func search(after instant: Instant) -> SearchResult {
        let start = instant.secondsSinceEpoch
        let earliest = Instant.earliestSupported.secondsSinceEpoch
        let latest = Instant.latestSupported.secondsSinceEpoch
        let margin = 2 * Civil.secondsPerDay
        guard start < latest else { return .afterLastSupportedYear }
        // A valid expression fires within every 400 years, and before year 1 no zone has clock
        // changes (local mean time): from this far back the next slot lies before year 1.
        guard start >= earliest - Self.gregorianCycleSeconds - margin else { return .beforeFirstSupportedYear }
        // Past `periodicFrom` the slots repeat every cycle, so one cycle past it proves the rest.
        let proofEnd = max(start, timeZone.periodicFrom) + Self.gregorianCycleSeconds + margin
        let horizon = min(proofEnd, latest + margin)
        guard let slot = firstSlot(after: start, horizon: horizon) else {
            return proofEnd <= horizon ? .never : .afterLastSupportedYear
        }
        if slot > latest { return .afterLastSupportedYear }
        if slot < earliest { return .beforeFirstSupportedYear }
        return .slot(Instant(secondsSinceEpoch: slot))
    }

    /// The first slot strictly after `start` whose search starts at or before `horizon`
    /// (a slot a little past `horizon` may be returned; none is missed before it).
    private func firstSlot(after start: Int64, horizon: Int64) -> Int64? {
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
                    return period.start
                }
            }
            var from = t + offset
            if fixedTime, period.offset < period.previousOffset, period.start != Int64.min {
                // Second pass of repeated wall times: fixed-time jobs already fired in the first.
                from = max(from, period.start + Int64(period.previousOffset))
            }
            guard let wall = nextWallMatch(from: from, horizon: horizon + offset) else { return nil }
            if period.end == Int64.max || wall < period.end + offset {
                return wall - offset
            }
            // Nothing in this period. Every instant x >= end has wall time >= end + minimumOffset,
            // so the next slot's wall time is at least the next match from there: jump ahead.
            guard let ahead = nextWallMatch(from: period.end + Int64(timeZone.minimumOffset), horizon: horizon + offset)
            else { return nil }
            t = max(period.end, ahead - Int64(timeZone.maximumOffset))
        }
        return nil
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
