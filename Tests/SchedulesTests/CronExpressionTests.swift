import Schedules
import Testing

// Calendar facts (UTC): 2026-04-01 is a Wednesday, 2026-05-01 a Friday, 2026-02-01 a Sunday,
// 2027-02-01 a Monday; Feb 29 falls on Tue 2028, Sun 2032, Fri 2036, Wed 2040, Mon 2044.

@Suite struct DayFieldsAndNames {
    static let cases: [SlotCase] = [
        // Both day fields restricted -> OR: Fridays (Apr 3, 10, 17) or the 13th (Mon Apr 13).
        SlotCase("0 12 13 * 5", "UTC", after: "2026-04-01T00:00:00Z",
                 ["2026-04-03T12:00:00Z", "2026-04-10T12:00:00Z", "2026-04-13T12:00:00Z", "2026-04-17T12:00:00Z"],
                 "DOM/DOW OR"),
        // Day of week only.
        SlotCase("0 12 * * 5", "UTC", after: "2026-04-01T00:00:00Z",
                 ["2026-04-03T12:00:00Z", "2026-04-10T12:00:00Z"], "DOW with * DOM"),
        // Day of month only.
        SlotCase("0 12 13 * *", "UTC", after: "2026-04-01T00:00:00Z",
                 ["2026-04-13T12:00:00Z", "2026-05-13T12:00:00Z"], "DOM with * DOW"),
        // DOM starts with * -> AND: days 1,14,27 that are Fridays: May 1 (Fri), then Aug 14 (Fri).
        SlotCase("0 12 */13 * 5", "UTC", after: "2026-04-01T00:00:00Z",
                 ["2026-05-01T12:00:00Z", "2026-08-14T12:00:00Z"], "*-prefixed DOM ANDs"),
        // DOW starts with * (*/7 = 0,7 = Sunday) -> AND: the 13th on a Sunday: Sep 13 2026.
        SlotCase("0 12 13 * */7", "UTC", after: "2026-04-01T00:00:00Z",
                 ["2026-09-13T12:00:00Z"], "*-prefixed DOW ANDs"),
        // Sunday written 7, 0 and SUN: Sun Apr 5, Apr 12.
        SlotCase("0 8 * * 7", "UTC", after: "2026-04-01T00:00:00Z",
                 ["2026-04-05T08:00:00Z", "2026-04-12T08:00:00Z"], "Sunday as 7"),
        SlotCase("0 8 * * 0", "UTC", after: "2026-04-01T00:00:00Z",
                 ["2026-04-05T08:00:00Z", "2026-04-12T08:00:00Z"], "Sunday as 0"),
        SlotCase("0 8 * * sun", "UTC", after: "2026-04-01T00:00:00Z",
                 ["2026-04-05T08:00:00Z", "2026-04-12T08:00:00Z"], "Sunday as name, lower case"),
        // FRI-SUN: Fri Apr 3, Sat Apr 4, Sun Apr 5, Fri Apr 10.
        SlotCase("0 8 * * FRI-SUN", "UTC", after: "2026-04-01T00:00:00Z",
                 ["2026-04-03T08:00:00Z", "2026-04-04T08:00:00Z", "2026-04-05T08:00:00Z", "2026-04-10T08:00:00Z"],
                 "FRI-SUN"),
        SlotCase("0 8 * * 5-0", "UTC", after: "2026-04-01T00:00:00Z",
                 ["2026-04-03T08:00:00Z", "2026-04-04T08:00:00Z", "2026-04-05T08:00:00Z", "2026-04-10T08:00:00Z"],
                 "5-0 is Friday to Sunday"),
        // FRI-SUN/2: Friday and Sunday.
        SlotCase("0 8 * * FRI-SUN/2", "UTC", after: "2026-04-01T00:00:00Z",
                 ["2026-04-03T08:00:00Z", "2026-04-05T08:00:00Z", "2026-04-10T08:00:00Z"], "FRI-SUN/2"),
        // Month names, ranges with steps: JAN-DEC/3 = Jan, Apr, Jul, Oct; 1st at 00:00.
        SlotCase("0 0 1 jan-dec/3 *", "UTC", after: "2026-04-01T00:00:00Z",
                 ["2026-07-01T00:00:00Z", "2026-10-01T00:00:00Z", "2027-01-01T00:00:00Z"], "month names and step"),
        // Lists and a-b/n: minutes 5,20,35,50 of hours 9-17/4 = 9, 13, 17.
        SlotCase("5-59/15 9-17/4 * * *", "UTC", after: "2026-04-01T09:40:00Z",
                 ["2026-04-01T09:50:00Z", "2026-04-01T13:05:00Z"], "a-b/n"),
        // Macros, from Wed 2026-04-01 00:30Z.
        SlotCase("@yearly", "UTC", after: "2026-04-01T00:30:00Z", ["2027-01-01T00:00:00Z"], "@yearly"),
        SlotCase("@annually", "UTC", after: "2026-04-01T00:30:00Z", ["2027-01-01T00:00:00Z"], "@annually"),
        SlotCase("@monthly", "UTC", after: "2026-04-01T00:30:00Z", ["2026-05-01T00:00:00Z"], "@monthly"),
        SlotCase("@weekly", "UTC", after: "2026-04-01T00:30:00Z", ["2026-04-05T00:00:00Z"], "@weekly = Sunday"),
        SlotCase("@daily", "UTC", after: "2026-04-01T00:30:00Z", ["2026-04-02T00:00:00Z"], "@daily"),
        SlotCase("@midnight", "UTC", after: "2026-04-01T00:30:00Z", ["2026-04-02T00:00:00Z"], "@midnight"),
        SlotCase("@hourly", "UTC", after: "2026-04-01T00:30:00Z", ["2026-04-01T01:00:00Z"], "@hourly"),
        // Feb 29 only in leap years: 2028, 2032.
        SlotCase("0 0 29 2 *", "UTC", after: "2026-01-01T00:00:00Z",
                 ["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"], "Feb 29"),
        // 2100 is not a leap year: after 2096 comes 2104.
        SlotCase("0 0 29 2 *", "UTC", after: "2096-03-01T00:00:00Z", ["2104-02-29T00:00:00Z"], "no Feb 29 in 2100"),
        // `0 0 29 2 1`: both day fields restricted, so ORed (contract §3): Mondays of February or Feb 29.
        SlotCase("0 0 29 2 1", "UTC", after: "2026-01-01T00:00:00Z",
                 ["2026-02-02T00:00:00Z", "2026-02-09T00:00:00Z"], "Feb Mondays OR Feb 29"),
        SlotCase("0 0 29 2 1", "UTC", after: "2026-02-24T00:00:00Z", ["2027-02-01T00:00:00Z"], "next Feb Monday"),
        SlotCase("0 0 29 2 1", "UTC", after: "2028-02-28T00:00:00Z", ["2028-02-29T00:00:00Z"], "Feb 29 a Tuesday"),
        // Feb 29 that is a Sunday (day of week */7 = 0,7 starts with *, so ANDed): 2032.
        SlotCase("0 0 29 2 */7", "UTC", after: "2026-01-01T00:00:00Z", ["2032-02-29T00:00:00Z"], "Feb 29 on a Sunday"),
        // Day of month */29 = 1,30 starts with *, so ANDed with Monday: Feb 1 2027 (a Monday).
        SlotCase("0 0 */29 2 1", "UTC", after: "2026-01-01T00:00:00Z", ["2027-02-01T00:00:00Z"],
                 "*/29 = days 1,30 AND Monday: Feb 1 2027"),
    ]

    @Test(arguments: cases) func slots(_ row: SlotCase) throws { try row.check() }

    @Test func wildcardJobFlag() throws {
        #expect(try CronExpression.parse("*/5 * * * *").isWildcardJob)
        #expect(try CronExpression.parse("0 * * * *").isWildcardJob)
        #expect(try CronExpression.parse("@hourly").isWildcardJob)
        #expect(try CronExpression.parse("0 */2 * * *").isWildcardJob)
        #expect(try !CronExpression.parse("30 2 * * *").isWildcardJob)
        #expect(try !CronExpression.parse("15,45 2 * * *").isWildcardJob)
        #expect(try !CronExpression.parse("@daily").isWildcardJob)
        #expect(try CronExpression.parse("0 0 * * 7") == CronExpression.parse("0 0 * * SUN"))
    }

    @Test func slotsInRange() throws {
        let schedule = try CronSchedule(expression: "0 * * * *", timeZone: "UTC")
        // (00:00, 03:00] holds 01:00, 02:00, 03:00; the limit cuts at 2.
        let all = schedule.slots(after: instant("2026-04-01T00:00:00Z"), through: instant("2026-04-01T03:00:00Z"), limit: 10)
        #expect(all.map(\.iso8601) == ["2026-04-01T01:00:00Z", "2026-04-01T02:00:00Z", "2026-04-01T03:00:00Z"])
        let two = schedule.slots(after: instant("2026-04-01T00:00:00Z"), through: instant("2026-04-01T03:00:00Z"), limit: 2)
        #expect(two.count == 2)
    }
}

struct ErrorCase: Sendable, CustomTestStringConvertible {
    var expression: String
    var kind: ScheduleError.Kind
    var message: String
    var testDescription: String { expression }
    init(_ expression: String, _ kind: ScheduleError.Kind, _ message: String) {
        self.expression = expression
        self.kind = kind
        self.message = message
    }
}

@Suite struct CronErrors {
    static let cases: [ErrorCase] = [
        ErrorCase("* * * *", .syntax, "cron expression needs 5 fields (minute hour day-of-month month day-of-week), got 4"),
        ErrorCase("0 * * * * *", .unsupported, "cron expression needs 5 fields (minute hour day-of-month month day-of-week), got 6; a seconds or year field is not supported"),
        ErrorCase("", .syntax, "cron expression is empty: expected 5 fields (minute hour day-of-month month day-of-week)"),
        ErrorCase("60 * * * *", .range, "cron field 1 (minute): 60 is out of range 0-59"),
        ErrorCase("0 24 * * *", .range, "cron field 2 (hour): 24 is out of range 0-23"),
        ErrorCase("0 0 0 * *", .range, "cron field 3 (day of month): 0 is out of range 1-31"),
        ErrorCase("0 0 32 * *", .range, "cron field 3 (day of month): 32 is out of range 1-31"),
        ErrorCase("0 0 * 13 *", .range, "cron field 4 (month): 13 is out of range 1-12"),
        ErrorCase("0 0 * * 8", .range, "cron field 5 (day of week): 8 is out of range 0-7"),
        ErrorCase("0 0 1-40 * *", .range, "cron field 3 (day of month): 40 is out of range 1-31"),
        ErrorCase("0 5-2 * * *", .range, "cron field 2 (hour): reversed range \"5-2\": 5 is after 2"),
        ErrorCase("0 0 * DEC-JAN *", .range, "cron field 4 (month): reversed range \"DEC-JAN\": 12 is after 1"),
        ErrorCase("0 0 * * SAT-MON", .range, "cron field 5 (day of week): reversed range \"SAT-MON\": 6 is after 1"),
        ErrorCase("*/0 * * * *", .range, "cron field 1 (minute): step 0 in \"*/0\": a step must be at least 1"),
        ErrorCase("0 0 1-10/0 * *", .range, "cron field 3 (day of month): step 0 in \"1-10/0\": a step must be at least 1"),
        ErrorCase("0 0 * FOO *", .syntax, "cron field 4 (month): unknown name \"FOO\": expected one of JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC"),
        ErrorCase("0 0 * * MONDAY", .syntax, "cron field 5 (day of week): unknown name \"MONDAY\": expected one of SUN MON TUE WED THU FRI SAT"),
        ErrorCase("0 noon * * *", .syntax, "cron field 2 (hour): unknown value \"noon\": this field takes numbers 0-23"),
        ErrorCase("0 0 31 2 *", .neverFires, "cron field 3 (day of month): never fires: day 31 does not occur in FEB (field 4)"),
        ErrorCase("0 0 30 2 *", .neverFires, "cron field 3 (day of month): never fires: day 30 does not occur in FEB (field 4)"),
        ErrorCase("0 0 31 4,6,9,11 *", .neverFires, "cron field 3 (day of month): never fires: day 31 does not occur in APR,JUN,SEP,NOV (field 4)"),
        ErrorCase("0 0 30,31 2 */7", .neverFires, "cron field 3 (day of month): never fires: day 30,31 does not occur in FEB (field 4)"),
        ErrorCase("0 0 L * *", .unsupported, "cron field 3 (day of month): \"L\" (last/weekday) is not supported"),
        ErrorCase("0 0 15W * *", .unsupported, "cron field 3 (day of month): \"15W\" (last/weekday, L or W) is not supported"),
        ErrorCase("0 0 * * 5L", .unsupported, "cron field 5 (day of week): \"5L\" (last/weekday, L or W) is not supported"),
        ErrorCase("0 0 * * 5#3", .unsupported, "cron field 5 (day of week): \"5#3\" (nth weekday, #) is not supported"),
        ErrorCase("0 0 ? * *", .unsupported, "cron field 3 (day of month): \"?\" is not supported; use *"),
        ErrorCase("0 0 * * ?", .unsupported, "cron field 5 (day of week): \"?\" is not supported; use *"),
        ErrorCase("5/15 * * * *", .syntax, "cron field 1 (minute): a step needs a range or *: \"5/15\" (write 5-59/15)"),
        ErrorCase("1,,2 * * * *", .syntax, "cron field 1 (minute): empty list element in \"1,,2\""),
        ErrorCase("-5 * * * *", .syntax, "cron field 1 (minute): missing value in \"-5\""),
        ErrorCase("*/x * * * *", .syntax, "cron field 1 (minute): step \"x\" in \"*/x\" is not a number"),
        ErrorCase("@reboot", .unsupported, "cron macro @reboot is not supported: a dispatcher has no boot"),
        ErrorCase("@fortnightly", .syntax, "unknown cron macro \"@fortnightly\": expected one of @yearly @annually @monthly @weekly @daily @midnight @hourly"),
        ErrorCase("@daily 5", .syntax, "cron macro @daily takes no further fields, got \"@daily 5\""),
    ]

    @Test(arguments: cases) func rejected(_ row: ErrorCase) {
        #expect(throws: ScheduleError(row.kind, row.message)) { try CronExpression.parse(row.expression) }
    }

    @Test(arguments: [
        // Feb 29 occurs in leap years: after 2026-01-01 the next is 2028-02-29.
        ("0 0 29 2 *", "2028-02-29T00:00:00Z"),
        // Jan has a 31st (Feb does not, but the list includes Jan).
        ("0 0 31 1,2 *", "2026-01-31T00:00:00Z"),
        // Both day fields restricted: the weekday alone fires (OR). 2026-01-01 is a Thursday,
        // so Feb 1 is a Sunday and the first February Monday is Feb 2.
        ("0 0 30 2 1", "2026-02-02T00:00:00Z"),
        ("0 0 31 2 MON", "2026-02-02T00:00:00Z"),
    ])
    func validDayMonthCombinations(_ expression: String, next: String) throws {
        let schedule = try CronSchedule(expression: expression, timeZone: "UTC")
        #expect(schedule.next(after: Instant(year: 2026, month: 1, day: 1))?.iso8601 == next)
    }

    // Not IANA names: the message names the zone and says why (see ZoneNameTests for more).
    @Test(arguments: [
        ("Mars/Olympus", "unknown time zone \"Mars/Olympus\": not an IANA zone name"),
        ("../../etc/passwd", "unknown time zone \"../../etc/passwd\": not an IANA zone name (empty, . or .. path component)"),
        ("/usr/share/zoneinfo/UTC", "unknown time zone \"/usr/share/zoneinfo/UTC\": not an IANA zone name (an absolute path)"),
        ("Europe/../UTC", "unknown time zone \"Europe/../UTC\": not an IANA zone name (empty, . or .. path component)"),
        ("", "unknown time zone \"\": not an IANA zone name"),
        ("zone.tab", "unknown time zone \"zone.tab\": not an IANA zone name"),
        ("Europe", "unknown time zone \"Europe\": not an IANA zone name"),
    ])
    func unknownZones(_ zone: String, _ message: String) {
        #expect(throws: ScheduleError(.unknownZone, message)) { try CronSchedule(expression: "* * * * *", timeZone: zone) }
    }
}
