import Schedules
import Testing

// 2026-01-01T00:00:00Z is 1767225600; + 66 days (Jan 31 + Feb 28 + 7) + 7 h gives
// 2026-03-08T07:00:00Z = 1772953200.
@Suite struct InstantParsing {
    @Test(arguments: [
        "2026-03-08T07:00:00Z",
        "2026-03-08T07:00Z",
        "2026-03-08T07:00:00.123Z",
        "2026-03-08T07:00:00.999999Z",
        "2026-03-08t07:00:00z",
        "2026-03-08T08:00:00+01:00",
        "2026-03-08T08:00:00+0100",
        "2026-03-08T01:30:00-0530",
        "2026-03-08T01:30:00-05:30",
        "2026-03-08 07:00:00+00",
        "2026-03-08 12:30:00.123456+05:30",
        "2026-03-08 02:00:00-05",
        " 2026-03-08T07:00:00Z\n",
    ])
    func parses(_ text: String) {
        #expect(Instant.parse(text) == Instant(secondsSinceEpoch: 1_772_953_200))
    }

    @Test(arguments: [
        "", "garbage", "2026-03-08T07:00:00", "2026-03-08", "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z",
        "2026-03-08T24:00:00Z", "2026-03-08T07:60:00Z", "2026-03-08T07:00:00+1", "2026-03-08T07:00:00Zjunk",
        "2026-03-08T07:00:00.Z", "2026-3-8T07:00:00Z",
    ])
    func rejects(_ text: String) {
        #expect(Instant.parse(text) == nil)
    }

    @Test(arguments: [
        (Int64(1_772_953_200), "2026-03-08T07:00:00Z", "2026-03-08T07:00:00.000Z"),
        (0, "1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000Z"),
        (-1, "1969-12-31T23:59:59Z", "1969-12-31T23:59:59.000Z"),
        (951_782_400, "2000-02-29T00:00:00Z", "2000-02-29T00:00:00.000Z"),  // 2000-03-01 is 951868800
        (4_102_444_800, "2100-01-01T00:00:00Z", "2100-01-01T00:00:00.000Z"),
    ])
    func formats(_ seconds: Int64, _ text: String, _ milliseconds: String) {
        let value = Instant(secondsSinceEpoch: seconds)
        #expect(value.iso8601 == text)
        #expect(value.iso8601Milliseconds == milliseconds)
        #expect(Instant.parse(text) == value)
    }

    @Test func arithmeticAndOrder() {
        let a = Instant(secondsSinceEpoch: 100)
        #expect(a.adding(seconds: 60) == Instant(secondsSinceEpoch: 160))
        #expect(a < a.adding(seconds: 1))
        #expect(Instant(year: 2026, month: 3, day: 8, hour: 7) == Instant(secondsSinceEpoch: 1_772_953_200))
    }
}
