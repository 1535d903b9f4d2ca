/// A point in time: whole seconds since 1970-01-01T00:00:00Z (leap seconds not counted).
public struct Instant: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var secondsSinceEpoch: Int64

    public init(secondsSinceEpoch: Int64) { self.secondsSinceEpoch = secondsSinceEpoch }

    /// The instant of a UTC calendar date and time.
    public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) {
        secondsSinceEpoch = Civil.days(year: year, month: month, day: day) * Civil.secondsPerDay
            + Int64(hour * 3600 + minute * 60 + second)
    }

    public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.secondsSinceEpoch < rhs.secondsSinceEpoch }

    // MARK: Supported years

    /// 0001-01-01T00:00:00Z: 719,162 days before 1970-01-01.
    public static let earliestSupported = Instant(secondsSinceEpoch: -62_135_596_800)
    /// 9999-12-31T23:59:59Z: one second before 10000-01-01 (2,932,897 days after 1970-01-01).
    public static let latestSupported = Instant(secondsSinceEpoch: 253_402_300_799)
    /// Slots and one-time `run_at` values must lie in years 1-9999 (UTC): beyond them a
    /// four-digit `YYYY-MM-DDTHH:MM:SS.sssZ` key or timestamp cannot be written.
    public static let supportedRange: ClosedRange<Instant> = earliestSupported...latestSupported

    /// True when the instant lies in years 1-9999 (UTC).
    public var isWithinSupportedYears: Bool { Self.supportedRange.contains(self) }

    /// True when `secondsSinceEpoch` (e.g. a one-time `run_at` read from the database) lies in
    /// years 1-9999 (UTC).
    public static func isWithinSupportedYears(secondsSinceEpoch: Int64) -> Bool {
        supportedRange.contains(Instant(secondsSinceEpoch: secondsSinceEpoch))
    }

    /// The same for a value read as a floating-point number (`extract(epoch from …)`):
    /// NaN and the infinities (PostgreSQL's `'infinity'`, `'-infinity'`) are outside.
    public static func isWithinSupportedYears(secondsSinceEpoch: Double) -> Bool {
        secondsSinceEpoch.isFinite
            && secondsSinceEpoch >= Double(earliestSupported.secondsSinceEpoch)
            && secondsSinceEpoch < Double(latestSupported.secondsSinceEpoch) + 1
    }

    /// `secondsSinceEpoch` as an instant when it lies in years 1-9999; otherwise a schedule
    /// error of kind `.yearOutOfRange` naming `what` (e.g. `run_at`) and the value.
    public static func checkedSupportedYears(secondsSinceEpoch: Int64, what: String = "run_at")
        throws(ScheduleError) -> Instant
    {
        let value = Instant(secondsSinceEpoch: secondsSinceEpoch)
        guard value.isWithinSupportedYears else {
            throw ScheduleError(
                .yearOutOfRange, "\(what) \(value.iso8601) is outside the supported years 1-9999")
        }
        return value
    }

    public func adding(seconds: Int64) -> Instant {
        Instant(secondsSinceEpoch: secondsSinceEpoch &+ seconds)
    }

    public var description: String { iso8601 }

    /// `2026-03-08T07:00:00Z`
    public var iso8601: String { formatted(milliseconds: false) }

    /// `2026-03-08T07:00:00.000Z`
    public var iso8601Milliseconds: String { formatted(milliseconds: true) }

    /// Years outside 1-9999 (which no slot may have, see `supportedRange`) are written in the
    /// ISO 8601 expanded form with a sign and six digits (`+010000-01-01T00:00:00Z`,
    /// `-004712-01-01T00:00:00Z`, year 0 as `+000000`), so such an instant can never pass for
    /// an ordinary four-digit date in a key, a log line or a SQL parameter.
    private func formatted(milliseconds: Bool) -> String {
        // Split without multiplying back, which would overflow near Int64.min.
        let remainder = secondsSinceEpoch % Civil.secondsPerDay
        let days = secondsSinceEpoch / Civil.secondsPerDay - (remainder < 0 ? 1 : 0)
        let seconds = Int(remainder < 0 ? remainder + Civil.secondsPerDay : remainder)
        let (year, month, day) = Civil.date(days: days)
        var text = ""
        text.reserveCapacity(24)
        if year >= 1 && year <= 9999 {
            text += pad(year, 4)
        } else {
            text += year < 0 ? "-" : "+"
            text += pad(year < 0 ? -year : year, 6)
        }
        text += "-" + pad(month, 2) + "-" + pad(day, 2)
        text += "T" + pad(seconds / 3600, 2) + ":" + pad(seconds / 60 % 60, 2) + ":" + pad(seconds % 60, 2)
        if milliseconds { text += ".000" }
        text += "Z"
        return text
    }

    private func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    /// Parses ISO 8601 (`2026-03-08T07:00:00Z`, `2026-03-08T07:00Z`, `2026-03-08T07:00:00.123Z`,
    /// offsets `+01:00`, `-0530`, `+01`) and PostgreSQL's text output
    /// (`2026-03-08 07:00:00+00`, `2026-03-08 07:00:00.123456+05:30`).
    /// A fraction of a second is truncated. A time without a zone designator is rejected.
    public static func parse(_ text: String) -> Instant? {
        var bytes = Array(text.utf8)
        while let last = bytes.last, last == 0x20 || last == 0x09 || last == 0x0A || last == 0x0D { bytes.removeLast() }
        var index = bytes.startIndex
        while index < bytes.endIndex, bytes[index] == 0x20 || bytes[index] == 0x09 { index += 1 }

        func digits(_ count: Int) -> Int? {
            guard index + count <= bytes.endIndex else { return nil }
            var value = 0
            for i in index..<(index + count) {
                let b = bytes[i]
                guard b >= 0x30, b <= 0x39 else { return nil }
                value = value * 10 + Int(b - 0x30)
            }
            index += count
            return value
        }
        func consume(_ byte: UInt8) -> Bool {
            if index < bytes.endIndex, bytes[index] == byte {
                index += 1
                return true
            }
            return false
        }

        guard let year = digits(4), consume(0x2D), let month = digits(2), consume(0x2D), let day = digits(2)
        else { return nil }
        guard month >= 1, month <= 12, day >= 1, day <= Civil.daysInMonth(year: year, month: month) else { return nil }
        guard index < bytes.endIndex, [0x54, 0x74, 0x20].contains(bytes[index]) else { return nil }  // T t space
        index += 1
        guard let hour = digits(2), consume(0x3A), let minute = digits(2) else { return nil }
        var second = 0
        if consume(0x3A) {
            guard let s = digits(2) else { return nil }
            second = s
            if consume(0x2E) || consume(0x2C) {  // fraction, truncated
                let start = index
                while index < bytes.endIndex, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
                guard index > start else { return nil }
            }
        }
        guard hour <= 23, minute <= 59, second <= 59 else { return nil }

        var offset = 0
        guard index < bytes.endIndex else { return nil }
        let sign = bytes[index]
        if sign == 0x5A || sign == 0x7A {  // Z z
            index += 1
        } else if sign == 0x2B || sign == 0x2D {  // + -
            index += 1
            guard let offsetHours = digits(2) else { return nil }
            var offsetMinutes = 0
            if index < bytes.endIndex {
                _ = consume(0x3A)
                guard let m = digits(2) else { return nil }
                offsetMinutes = m
            }
            guard offsetHours <= 23, offsetMinutes <= 59 else { return nil }
            offset = (offsetHours * 3600 + offsetMinutes * 60) * (sign == 0x2D ? -1 : 1)
        } else {
            return nil
        }
        guard index == bytes.endIndex else { return nil }
        let local = Instant(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        return local.adding(seconds: Int64(-offset))
    }
}
