/// The POSIX TZ string in a TZif footer (RFC 8536 §3.3), e.g. `CET-1CEST,M3.5.0,M10.5.0/3`:
/// the rule for instants after the last transition listed in the file.
struct PosixTimeZoneRule: Sendable, Equatable {
    /// Seconds east of UTC (POSIX writes them west, with the sign flipped).
    var standardOffset: Int
    var daylight: Daylight?

    struct Daylight: Sendable, Equatable {
        var offset: Int
        var start: DateRule
        /// Seconds after local (standard) midnight of the start date; may be negative or > 24h (v3).
        var startTime: Int
        var end: DateRule
        /// Seconds after local (daylight) midnight of the end date.
        var endTime: Int
    }

    enum DateRule: Sendable, Equatable {
        /// `Jn`: day 1-365, February 29 never counted.
        case julianNoLeap(Int)
        /// `n`: day 0-365, February 29 counted in leap years.
        case zeroBased(Int)
        /// `Mm.w.d`: day d (0 = Sunday) of week w (1-4, 5 = last) of month m.
        case monthWeekDay(month: Int, week: Int, weekday: Int)

        /// Days since 1970-01-01 of this rule's date in `year`.
        func days(in year: Int) -> Int64 {
            switch self {
            case .julianNoLeap(let n):
                let jan1 = Civil.days(year: year, month: 1, day: 1)
                let skipsLeapDay = Civil.isLeap(year) && n >= 60
                return jan1 + Int64(n - 1) + (skipsLeapDay ? 1 : 0)
            case .zeroBased(let n):
                return Civil.days(year: year, month: 1, day: 1) + Int64(n)
            case .monthWeekDay(let month, let week, let weekday):
                let first = Civil.days(year: year, month: month, day: 1)
                let firstMatch = 1 + (weekday - Civil.weekday(days: first) + 7) % 7
                var day = firstMatch + (week - 1) * 7
                let length = Civil.daysInMonth(year: year, month: month)
                while day > length { day -= 7 }
                return first + Int64(day - 1)
            }
        }
    }

    /// The transitions of `year` as (instant, offset after), in instant order.
    func transitions(in year: Int) -> [(at: Int64, offset: Int)] {
        guard let daylight else { return [] }
        let start = daylight.start.days(in: year) * Civil.secondsPerDay + Int64(daylight.startTime - standardOffset)
        let end = daylight.end.days(in: year) * Civil.secondsPerDay + Int64(daylight.endTime - daylight.offset)
        let pair: [(at: Int64, offset: Int)] = [(start, daylight.offset), (end, standardOffset)]
        return start <= end ? pair : [pair[1], pair[0]]
    }

    /// Parses a POSIX TZ string; nil if it is malformed. An empty string has no rule.
    static func parse(_ text: String) -> PosixTimeZoneRule? {
        var parser = Parser(bytes: Array(text.utf8))
        return parser.rule()
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { index >= bytes.count }
        var current: UInt8? { atEnd ? nil : bytes[index] }

        mutating func consume(_ byte: UInt8) -> Bool {
            if current == byte {
                index += 1
                return true
            }
            return false
        }

        mutating func rule() -> PosixTimeZoneRule? {
            guard name(), let std = offset() else { return nil }
            var result = PosixTimeZoneRule(standardOffset: -std, daylight: nil)
            if atEnd { return result }
            guard name() else { return nil }
            var dstOffset = -std + 3600
            if let c = current, c != 0x2C {
                guard let value = offset() else { return nil }
                dstOffset = -value
            }
            var start = DateRule.monthWeekDay(month: 3, week: 2, weekday: 0)  // POSIX default (US rules)
            var end = DateRule.monthWeekDay(month: 11, week: 1, weekday: 0)
            var startTime = 7200
            var endTime = 7200
            if consume(0x2C) {
                guard let s = dateRule() else { return nil }
                start = s
                if consume(0x2F) {
                    guard let t = offset() else { return nil }
                    startTime = t
                }
                guard consume(0x2C), let e = dateRule() else { return nil }
                end = e
                if consume(0x2F) {
                    guard let t = offset() else { return nil }
                    endTime = t
                }
            }
            guard atEnd else { return nil }
            result.daylight = Daylight(
                offset: dstOffset, start: start, startTime: startTime, end: end, endTime: endTime)
            return result
        }

        /// `CET` or `<+1030>`.
        mutating func name() -> Bool {
            if consume(0x3C) {
                while let c = current, c != 0x3E { index += 1 }
                return consume(0x3E)
            }
            let start = index
            while let c = current, (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) { index += 1 }
            return index - start >= 3
        }

        /// `[+-]hh[:mm[:ss]]` in seconds; hours up to 167 (RFC 8536 extension).
        mutating func offset() -> Int? {
            var sign = 1
            if consume(0x2D) { sign = -1 } else { _ = consume(0x2B) }
            guard let hours = number(maxDigits: 3), hours <= 167 else { return nil }
            var seconds = hours * 3600
            if consume(0x3A) {
                guard let minutes = number(maxDigits: 2), minutes <= 59 else { return nil }
                seconds += minutes * 60
                if consume(0x3A) {
                    guard let secs = number(maxDigits: 2), secs <= 59 else { return nil }
                    seconds += secs
                }
            }
            return sign * seconds
        }

        mutating func dateRule() -> DateRule? {
            if consume(0x4A) {  // J
                guard let n = number(maxDigits: 3), n >= 1, n <= 365 else { return nil }
                return .julianNoLeap(n)
            }
            if consume(0x4D) {  // M
                guard let m = number(maxDigits: 2), m >= 1, m <= 12, consume(0x2E),
                    let w = number(maxDigits: 1), w >= 1, w <= 5, consume(0x2E),
                    let d = number(maxDigits: 1), d <= 6
                else { return nil }
                return .monthWeekDay(month: m, week: w, weekday: d)
            }
            guard let n = number(maxDigits: 3), n <= 365 else { return nil }
            return .zeroBased(n)
        }

        mutating func number(maxDigits: Int) -> Int? {
            var value = 0
            var count = 0
            while let c = current, c >= 0x30, c <= 0x39, count < maxDigits {
                value = value * 10 + Int(c - 0x30)
                count += 1
                index += 1
            }
            return count > 0 ? value : nil
        }
    }
}
