/// A parsed five-field cron expression (minute hour day-of-month month day-of-week), stored as bit
/// sets so that finding the next matching value of a field is a single bit scan.
///
/// Syntax (contract §3): `*`, lists, ranges, `*/n`, `a-b/n`, three-letter month and weekday names in
/// any case, Sunday as 0 or 7, and the macros `@yearly @annually @monthly @weekly @daily
/// @midnight @hourly`. Day-of-month and day-of-week are ORed when both are restricted and ANDed
/// when either field starts with `*` (Vixie cron).
public struct CronExpression: Sendable, Hashable {
    /// Bits 0-59.
    public let minutes: UInt64
    /// Bits 0-23.
    public let hours: UInt64
    /// Bits 1-31.
    public let daysOfMonth: UInt64
    /// Bits 1-12.
    public let months: UInt64
    /// Bits 0-6, Sunday = 0 (a 7 in the expression is folded onto 0).
    public let daysOfWeek: UInt64
    /// The day-of-month field starts with `*`.
    public let dayOfMonthStartsWithStar: Bool
    /// The day-of-week field starts with `*`.
    public let dayOfWeekStartsWithStar: Bool
    /// The minute or hour field starts with `*` (`@hourly` counts): such a job follows the wall
    /// clock across DST changes; any other job is a fixed-time job (contract §3).
    public let isWildcardJob: Bool

    /// For each weekday of the 1st of a month (0 = Sunday), the days 1-31 whose weekday is in
    /// `daysOfWeek`, as bits 1-31.
    let weekdayDayMasks: [UInt64]

    init(
        minutes: UInt64, hours: UInt64, daysOfMonth: UInt64, months: UInt64, daysOfWeek: UInt64,
        dayOfMonthStartsWithStar: Bool, dayOfWeekStartsWithStar: Bool, isWildcardJob: Bool
    ) {
        self.minutes = minutes
        self.hours = hours
        self.daysOfMonth = daysOfMonth
        self.months = months
        self.daysOfWeek = daysOfWeek
        self.dayOfMonthStartsWithStar = dayOfMonthStartsWithStar
        self.dayOfWeekStartsWithStar = dayOfWeekStartsWithStar
        self.isWildcardJob = isWildcardJob
        weekdayDayMasks = (0..<7).map { firstWeekday in
            var mask: UInt64 = 0
            for day in 1...31 where daysOfWeek & (1 << UInt64((firstWeekday + day - 1) % 7)) != 0 {
                mask |= 1 << UInt64(day)
            }
            return mask
        }
    }

    /// The days (bits 1-31) of a month that match the day-of-month and day-of-week fields.
    @inline(__always)
    func matchingDays(firstWeekday: Int, length: Int) -> UInt64 {
        let byWeekday = weekdayDayMasks[firstWeekday]
        let both = dayOfMonthStartsWithStar || dayOfWeekStartsWithStar
        let days = both ? daysOfMonth & byWeekday : daysOfMonth | byWeekday
        return days & ((2 << UInt64(length)) - 2)
    }

    // MARK: Parsing

    private static let macros: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
        "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
        "@hourly": "0 * * * *",
    ]

    /// Parses a cron expression; the error names the field and the problem.
    public static func parse(_ text: String) throws(ScheduleError) -> CronExpression {
        let trimmed = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" })
        guard !trimmed.isEmpty else {
            throw ScheduleError("cron expression is empty: expected 5 fields (minute hour day-of-month month day-of-week)")
        }
        if trimmed[0].hasPrefix("@") {
            let name = trimmed[0].lowercased()
            guard let expansion = macros[name] else {
                if name == "@reboot" {
                    throw ScheduleError(.unsupported, "cron macro @reboot is not supported: a dispatcher has no boot")
                }
                throw ScheduleError(
                    "unknown cron macro \"\(trimmed[0])\": expected one of @yearly @annually @monthly @weekly @daily @midnight @hourly")
            }
            guard trimmed.count == 1 else {
                throw ScheduleError("cron macro \(trimmed[0]) takes no further fields, got \"\(text)\"")
            }
            return try parse(expansion)
        }
        guard trimmed.count == 5 else {
            var message = "cron expression needs 5 fields (minute hour day-of-month month day-of-week), got \(trimmed.count)"
            if trimmed.count == 6 || trimmed.count == 7 { message += "; a seconds or year field is not supported" }
            throw ScheduleError(trimmed.count == 6 || trimmed.count == 7 ? .unsupported : .syntax, message)
        }
        let minute = try Field.minute.parse(trimmed[0])
        let hour = try Field.hour.parse(trimmed[1])
        let dom = try Field.dayOfMonth.parse(trimmed[2])
        let month = try Field.month.parse(trimmed[3])
        let dow = try Field.dayOfWeek.parse(trimmed[4])
        let weekdays = (dow.bits | (dow.bits >> 7)) & 0x7F  // Sunday 7 -> 0
        let expression = CronExpression(
            minutes: minute.bits, hours: hour.bits, daysOfMonth: dom.bits, months: month.bits,
            daysOfWeek: weekdays,
            dayOfMonthStartsWithStar: dom.startsWithStar, dayOfWeekStartsWithStar: dow.startsWithStar,
            isWildcardJob: minute.startsWithStar || hour.startsWithStar)
        try expression.checkFiresSometime()
        return expression
    }

    /// With the day fields ANDed, a day-of-month that no selected month has never fires
    /// (`0 0 31 2 *`). When ORed, every month has every weekday, so something always fires.
    private func checkFiresSometime() throws(ScheduleError) {
        guard dayOfMonthStartsWithStar || dayOfWeekStartsWithStar else { return }
        var longest = 0
        var selected: [String] = []
        for month in 1...12 where months & (1 << UInt64(month)) != 0 {
            longest = max(longest, month == 2 ? 29 : Civil.daysInMonth(year: 2001, month: month))
            selected.append(Civil.monthNames[month - 1])
        }
        guard daysOfMonth & ((2 << UInt64(longest)) - 2) == 0 else { return }
        let days = (1...31).filter { daysOfMonth & (1 << UInt64($0)) != 0 }.map(String.init)
        throw ScheduleError(
            .neverFires,
            "cron field 3 (day of month): never fires: day \(days.joined(separator: ",")) does not occur in "
                + "\(selected.joined(separator: ",")) (field 4)")
    }
}

/// One of the five cron fields, with its bounds and names.
private struct Field {
    let number: Int
    let name: String
    let low: Int
    let high: Int
    let names: [String]

    static let minute = Field(number: 1, name: "minute", low: 0, high: 59, names: [])
    static let hour = Field(number: 2, name: "hour", low: 0, high: 23, names: [])
    static let dayOfMonth = Field(number: 3, name: "day of month", low: 1, high: 31, names: [])
    static let month = Field(number: 4, name: "month", low: 1, high: 12, names: Civil.monthNames)
    static let dayOfWeek = Field(number: 5, name: "day of week", low: 0, high: 7, names: Civil.weekdayNames)

    var isDayOfWeek: Bool { number == 5 }

    func error(_ problem: String, _ kind: ScheduleError.Kind = .syntax) -> ScheduleError {
        ScheduleError(kind, "cron field \(number) (\(name)): \(problem)")
    }

    func parse(_ text: Substring) throws(ScheduleError) -> (bits: UInt64, startsWithStar: Bool) {
        if text == "?" {
            throw error("\"?\" is not supported; use *", .unsupported)
        }
        var bits: UInt64 = 0
        for element in text.split(separator: ",", omittingEmptySubsequences: false) {
            bits |= try parseElement(element, in: text)
        }
        return (bits, text.hasPrefix("*"))
    }

    private func parseElement(_ element: Substring, in field: Substring) throws(ScheduleError) -> UInt64 {
        guard !element.isEmpty else { throw error("empty list element in \"\(field)\"") }
        let parts = element.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let rangeText = parts[0]
        var step = 1
        if parts.count == 2 {
            let stepText = parts[1]
            guard !stepText.isEmpty, stepText.utf8.count <= 6, stepText.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                let value = Int(stepText)
            else { throw error("step \"\(stepText)\" in \"\(element)\" is not a number") }
            guard value > 0 else { throw error("step 0 in \"\(element)\": a step must be at least 1", .range) }
            step = value
        }
        var first: Int
        var last: Int
        if rangeText == "*" {
            first = low
            last = high
        } else {
            let bounds = rangeText.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
            first = try value(bounds[0], element: element)
            if bounds.count == 2 {
                last = try value(bounds[1], element: element)
                if last < first {
                    if isDayOfWeek && last == 0 {
                        last = 7  // FRI-SUN, 5-0: Friday to Sunday
                    } else {
                        throw error("reversed range \"\(rangeText)\": \(first) is after \(last)", .range)
                    }
                }
            } else {
                if parts.count == 2 {
                    throw error("a step needs a range or *: \"\(element)\" (write \(rangeText)-\(high)/\(step))")
                }
                last = first
            }
        }
        var bits: UInt64 = 0
        var value = first
        while value <= last {
            bits |= 1 << UInt64(value)
            value += step
        }
        return bits
    }

    private func value(_ text: Substring, element: Substring) throws(ScheduleError) -> Int {
        guard !text.isEmpty else { throw error("missing value in \"\(element)\"") }
        let utf8 = text.utf8
        if utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            guard utf8.count <= 6, let number = Int(text) else {
                throw error("\(text) is out of range \(low)-\(high)", .range)
            }
            guard number >= low, number <= high else { throw error("\(number) is out of range \(low)-\(high)", .range) }
            return number
        }
        let upper = text.uppercased()
        if utf8.allSatisfy({ ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) }) {
            if let index = names.firstIndex(of: upper) {
                return index + (number == 4 ? 1 : 0)
            }
            if upper == "L" || upper == "W" || upper == "LW" {
                throw error("\"\(text)\" (last/weekday) is not supported", .unsupported)
            }
            if names.isEmpty {
                throw error("unknown value \"\(text)\": this field takes numbers \(low)-\(high)")
            }
            throw error("unknown name \"\(text)\": expected one of \(names.joined(separator: " "))")
        }
        if upper.contains("#") {
            throw error("\"\(text)\" (nth weekday, #) is not supported", .unsupported)
        }
        if upper.contains("L") || upper.contains("W") {
            throw error("\"\(text)\" (last/weekday, L or W) is not supported", .unsupported)
        }
        if upper.contains("?") {
            throw error("\"?\" is not supported; use *", .unsupported)
        }
        throw error("invalid value \"\(text)\"")
    }
}
