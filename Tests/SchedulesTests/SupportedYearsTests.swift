import Schedules
import Testing

// Issue 11 item 13: slots and one-time run_at values lie in years 1-9999 (UTC). Bounds by hand:
// 0001-01-01 is 719,162 days before 1970-01-01 (1969 years, 477 of them leap: 492 - 19 + 4),
// so -62,135,596,800 s; 10000-01-01 is 2,932,897 days after it, 253,402,300,800 s, and the last
// supported second is one before.
@Suite struct SupportedYears {
    @Test func bounds() {
        #expect(Instant.earliestSupported == Instant(secondsSinceEpoch: -62_135_596_800))
        #expect(Instant.latestSupported == Instant(secondsSinceEpoch: 253_402_300_799))
        #expect(Instant.earliestSupported.iso8601 == "0001-01-01T00:00:00Z")
        #expect(Instant.latestSupported.iso8601 == "9999-12-31T23:59:59Z")
        #expect(Instant.supportedRange == Instant.earliestSupported...Instant.latestSupported)
    }

    @Test(arguments: [
        (Int64(-62_135_596_800), true),
        (-62_135_596_801, false),
        (0, true),
        (253_402_300_799, true),
        (253_402_300_800, false),
        (.min, false),
        (.max, false),
    ])
    func wholeSeconds(_ seconds: Int64, _ inside: Bool) {
        #expect(Instant.isWithinSupportedYears(secondsSinceEpoch: seconds) == inside)
        #expect(Instant(secondsSinceEpoch: seconds).isWithinSupportedYears == inside)
    }

    // extract(epoch from …) as a double: the infinities ('infinity', '-infinity') and NaN are
    // outside; a fraction counts with the whole second it truncates to (floor).
    @Test(arguments: [
        (Double.infinity, false), (-Double.infinity, false), (Double.nan, false),
        (253_402_300_799.5, true), (253_402_300_800, false),
        (-62_135_596_800, true), (-62_135_596_800.5, false), (1e300, false),
    ])
    func floatingSeconds(_ seconds: Double, _ inside: Bool) {
        #expect(Instant.isWithinSupportedYears(secondsSinceEpoch: seconds) == inside)
    }

    @Test func checkedRunAt() throws {
        #expect(try Instant.checkedSupportedYears(secondsSinceEpoch: 0) == Instant(secondsSinceEpoch: 0))
        #expect(throws: ScheduleError(.yearOutOfRange, "run_at +010000-01-01T00:00:00Z is outside the supported years 1-9999")) {
            try Instant.checkedSupportedYears(secondsSinceEpoch: 253_402_300_800)
        }
        #expect(throws: ScheduleError(.yearOutOfRange, "next_run_at +000000-12-31T23:59:59Z is outside the supported years 1-9999")) {
            try Instant.checkedSupportedYears(secondsSinceEpoch: -62_135_596_801, what: "next_run_at")
        }
    }

    // Outside years 1-9999 an instant is written with a sign and six digits (ISO 8601 expanded
    // form), so it never passes for a four-digit date: no `-4712-…` idempotency keys.
    // PostgreSQL's earliest timestamp, 4714-11-24 00:00 BC (astronomical year -4713), is Julian
    // day -0.5, and the epoch is Julian day 2,440,587.5: 2,440,588 days before 1970, -210,866,803,200 s.
    @Test(arguments: [
        (Int64(-62_135_596_801), "+000000-12-31T23:59:59Z"),
        (253_402_300_800, "+010000-01-01T00:00:00Z"),
        (-210_866_803_200, "-004713-11-24T00:00:00Z"),
    ])
    func formatsOutsideYearsUnmistakably(_ seconds: Int64, _ text: String) {
        let value = Instant(secondsSinceEpoch: seconds)
        #expect(value.iso8601 == text)
        #expect(value.iso8601Milliseconds == String(text.dropLast()) + ".000Z")
        #expect(Instant.parse(value.iso8601) == nil)  // never read back as an ordinary date
    }

    @Test func extremesFormatWithoutTrapping() {
        #expect(Instant(secondsSinceEpoch: .min).iso8601.hasPrefix("-"))
        #expect(Instant(secondsSinceEpoch: .max).iso8601.hasPrefix("+"))
    }
}

/// Slots at the ends of the supported years: the last ones are returned, the first one past
/// them is an error of kind `.yearOutOfRange`, never a wrong timestamp.
@Suite struct SlotsAtTheEndsOfTime {
    static let afterMessage = "would fall after year 9999 (slots must lie in years 1-9999)"

    @Test func lastMinuteOfYear9999() throws {
        let schedule = try CronSchedule(expression: "59 23 31 12 *", timeZone: "UTC")
        #expect(try schedule.nextSlot(after: instant("9999-12-31T23:58:00Z")).iso8601 == "9999-12-31T23:59:00Z")
        #expect(throws: ScheduleError(.yearOutOfRange, "the next slot after 9999-12-31T23:59:00Z \(Self.afterMessage)")) {
            try schedule.nextSlot(after: instant("9999-12-31T23:59:00Z"))
        }
        #expect(schedule.next(after: instant("9999-12-31T23:59:00Z")) == nil)
        #expect(schedule.slots(after: instant("9999-12-31T23:58:00Z"), count: 5).map(\.iso8601) == ["9999-12-31T23:59:00Z"])
    }

    @Test func fewerThanAskedIsAnError() throws {
        // Sunday Feb 29s repeat every 400 years (SparseSchedules): 2004 + 19 x 400 = 9604, and
        // 9604 + 372 = 9976 is the last one; the next would be 10004.
        let schedule = try CronSchedule(expression: "0 0 29 2 */7", timeZone: "UTC")
        #expect(throws: ScheduleError(.yearOutOfRange, "only 1 of 2 slots exist: the next slot after 9976-02-29T00:00:00Z \(Self.afterMessage)")) {
            try schedule.nextSlots(after: instant("9950-01-01T00:00:00Z"), count: 2)
        }
        #expect(throws: ScheduleError(.yearOutOfRange, "the next slot after 9977-01-01T00:00:00Z \(Self.afterMessage)")) {
            try schedule.nextSlots(after: instant("9977-01-01T00:00:00Z"), count: 1)
        }
    }

    @Test(arguments: [
        // Kiritimati is UTC+14 (footer <+14>-14): local midnight of 10000-01-01 is
        // 9999-12-31T10:00Z, inside the supported years (they are UTC years).
        ("Pacific/Kiritimati", "9999-12-31T10:00:00Z"),
        // Honolulu is UTC-10 (HST10): the same local midnight is 10000-01-01T10:00Z, outside.
        ("Pacific/Honolulu", nil),
    ])
    func newYear10000(_ zone: String, _ expected: String?) throws {
        let schedule = try CronSchedule(expression: "0 0 1 1 *", timeZone: zone)
        let start = instant("9999-06-01T00:00:00Z")
        if let expected {
            #expect(try schedule.nextSlot(after: start).iso8601 == expected)
        } else {
            #expect(throws: ScheduleError(.yearOutOfRange, "the next slot after 9999-06-01T00:00:00Z \(Self.afterMessage)")) {
                try schedule.nextSlot(after: start)
            }
        }
    }

    @Test func beforeYearOne() throws {
        // From mid year 0 the next New Year is 0001-01-01, the first supported instant; a June
        // slot after 0000-01-01 would be in year 0 (written +000000 as every year outside 1-9999).
        let newYear = try CronSchedule(expression: "0 0 1 1 *", timeZone: "UTC")
        #expect(try newYear.nextSlot(after: instant("0000-06-01T00:00:00Z")) == Instant.earliestSupported)
        let june = try CronSchedule(expression: "0 0 1 6 *", timeZone: "UTC")
        #expect(throws: ScheduleError(.yearOutOfRange, "the next slot after +000000-01-01T00:00:00Z would fall before year 1 (slots must lie in years 1-9999)")) {
            try june.nextSlot(after: instant("0000-01-01T00:00:00Z"))
        }
    }

    @Test(arguments: [Int64.min, .min / 2, -62_135_596_800 * 3, .max / 2, .max])
    func extremeStartsAreErrorsNotTraps(_ seconds: Int64) throws {
        let schedule = try CronSchedule(expression: "*/5 * * * *", timeZone: "Europe/Berlin")
        #expect(throws: ScheduleError.self) { try schedule.nextSlot(after: Instant(secondsSinceEpoch: seconds)) }
        #expect(schedule.next(after: Instant(secondsSinceEpoch: seconds)) == nil)
        do throws(ScheduleError) {
            _ = try schedule.nextSlot(after: Instant(secondsSinceEpoch: seconds))
        } catch {
            #expect(error.kind == .yearOutOfRange)
        }
    }
}
