@testable import Schedules
import Testing

// Issue 11 item 19 / contract §3: a valid expression's next slots are found however far apart they
// are, never cut short by a search horizon (the old one was 30 years).
//
// `0 0 29 2 */7`: the day-of-week field `*/7` is 0-7 step 7 = {0, 7} = Sunday, and it starts
// with `*`, so the day fields are ANDed (Vixie): midnight of a February 29 that is a Sunday.
// Working it out: 2004-02-29 was a Sunday. Four years are 1,461 days = 208 weeks + 5 days, so
// each later leap day falls 5 weekdays later; across a century year that is not leap (2100,
// 2200, 2300) eight years pass with one leap day, 2,921 days = 417 weeks + 2.
//   2004 Sun, 2032 Sun, 2060 Sun, 2088 Sun (+28 years each: 7 x 5 = 35 = 0 mod 7);
//   2092 Fri, 2096 Wed, [2100 not leap] 2104 Fri (+2), 2108 Wed, 2112 Mon, 2116 Sat, 2120 Thu,
//   2124 Tue, 2128 Sun   -> 40 years after 2088;
//   2156, 2184 Sun; 2188 Fri, 2192 Wed, 2196 Mon, [2200] 2204 Wed, 2208 Mon, 2212 Sat,
//   2216 Thu, 2220 Tue, 2224 Sun -> 40 years; 2252, 2280 Sun; 2284 Fri, 2288 Wed, 2292 Mon,
//   2296 Sat, [2300] 2304 Mon, 2308 Sat, 2312 Thu, 2316 Tue, 2320 Sun -> 40 years;
//   2348, 2376 Sun; 2380 Fri, 2384 Wed, 2388 Mon, 2392 Sat, 2396 Thu, 2400 (leap) Tue,
//   2404 Sun -> 28 years. 2404 = 2004 + 400: the 400-year cycle closes on a Sunday again.
@Suite struct SparseSchedules {
    static let sundayLeapDays = [
        "2004", "2032", "2060", "2088", "2128", "2156", "2184", "2224", "2252", "2280", "2320", "2348", "2376", "2404",
    ]

    static let cases: [SlotCase] = [
        SlotCase(
            "0 0 29 2 */7", "UTC", after: "2000-01-01T00:00:00Z",
            sundayLeapDays.map { "\($0)-02-29T00:00:00Z" },
            "Sunday Feb 29s over a whole 400-year cycle, three gaps of 40 years"),
        // Berlin in February is CET (UTC+1) in every year, the footer rule included: local
        // midnight is 23:00Z on the 28th.
        SlotCase(
            "0 0 29 2 */7", "Europe/Berlin", after: "2060-03-01T00:00:00Z",
            ["2088-02-28T23:00:00Z", "2128-02-28T23:00:00Z", "2156-02-28T23:00:00Z", "2184-02-28T23:00:00Z",
             "2224-02-28T23:00:00Z"],
            "the same days in Berlin, across the end of the listed transitions and the precomputed years"),
        // Names work the same: SUN is not star-prefixed, so with DOM 29 restricted the fields
        // are ORed: every Sunday in February plus Feb 29. Not sparse: after 2026-01-01 the first
        // is Feb 1 2026 (2026-01-01 is a Thursday, so Feb 1 is a Sunday).
        SlotCase(
            "0 0 29 2 SUN", "UTC", after: "2026-01-01T00:00:00Z",
            ["2026-02-01T00:00:00Z", "2026-02-08T00:00:00Z", "2026-02-15T00:00:00Z", "2026-02-22T00:00:00Z",
             "2027-02-07T00:00:00Z"],
            "ORed day fields fire every year"),
        // `0 0 29 2 1` (Monday, ORed) likewise: February 2026's Mondays are the 2nd ... 23rd.
        SlotCase(
            "0 0 29 2 1", "UTC", after: "2026-02-20T00:00:00Z",
            ["2026-02-23T00:00:00Z", "2027-02-01T00:00:00Z"],
            "2027-02-01 is a Monday (2026-02-02 + 364 days = 2027-02-01)"),
    ]

    @Test(arguments: cases) func everySlotIsFound(_ row: SlotCase) throws {
        try row.check()
    }

    @Test func nextSlotsReturnsTheFullCount() throws {
        let schedule = try CronSchedule(expression: "0 0 29 2 */7", timeZone: "UTC")
        let slots = try schedule.nextSlots(after: instant("2000-01-01T00:00:00Z"), count: 14)
        #expect(slots.map(\.iso8601) == Self.sundayLeapDays.map { "\($0)-02-29T00:00:00Z" })
        // The same through the non-throwing API.
        #expect(schedule.slots(after: instant("2000-01-01T00:00:00Z"), count: 14) == slots)
        // A gap longer than 30 years is bridged by one call.
        #expect(schedule.next(after: instant("2088-02-29T00:00:00Z"))?.iso8601 == "2128-02-29T00:00:00Z")
    }

    /// A zone whose clock jumps from 02:00 to 03:00 (UTC-3 to UTC-2) on the last Sunday of
    /// February, every year, and back on the last Sunday of October (TZif v2, no listed
    /// transitions, footer `<-03>3<-02>,M2.5.0/2,M10.5.0/2`).
    static func februaryJumpZone() throws -> TimeZoneRules {
        func be32(_ v: Int32) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }
        let header = Array("TZif2".utf8) + [UInt8](repeating: 0, count: 15)
            + be32(0) + be32(0) + be32(0) + be32(0) + be32(1) + be32(4)
        let body = be32(-10_800) + [0, 0] + Array("-03\0".utf8)
        let file = header + body + header + body + Array("\n<-03>3<-02>,M2.5.0/2,M10.5.0/2\n".utf8)
        return try #require(TZif.parse(file, name: "Test/FebruaryJump"))
    }

    @Test func neverFiresInAZoneIsProvenNotGuessed() throws {
        // `* 2 29 2 */7` is a wildcard job (minute `*`): 02:00-02:59 on a Sunday Feb 29. A Feb 29
        // that is a Sunday is the last Sunday of February, so in this zone all its 02:xx wall
        // times are skipped, every time: no slot ever. The search proves it over 400 years.
        let zone = try Self.februaryJumpZone()
        let wildcard = CronSchedule(expression: try CronExpression.parse("* 2 29 2 */7"), timeZone: zone)
        #expect(throws: ScheduleError(.neverFires, "never fires in time zone \"Test/FebruaryJump\": its clock changes skip every wall time the expression matches")) {
            try wildcard.nextSlot(after: instant("2026-01-01T00:00:00Z"))
        }
        #expect(wildcard.next(after: instant("2026-01-01T00:00:00Z")) == nil)
        // The fixed-time job `30 2 29 2 */7` fires once at the change instead: 02:00 at UTC-3 is
        // 05:00Z, on 2032-02-29 and 2060-02-29 (Sunday leap days above).
        let fixed = CronSchedule(expression: try CronExpression.parse("30 2 29 2 */7"), timeZone: zone)
        #expect(try fixed.nextSlots(after: instant("2026-01-01T00:00:00Z"), count: 2).map(\.iso8601)
                == ["2032-02-29T05:00:00Z", "2060-02-29T05:00:00Z"])
    }
}
