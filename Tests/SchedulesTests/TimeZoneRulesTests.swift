@testable import Schedules
import Testing

struct OffsetCase: Sendable, CustomTestStringConvertible {
    var zone: String
    var at: String
    var offset: Int
    var why: String
    var testDescription: String { "\(zone) at \(at)" }
    init(_ zone: String, _ at: String, _ offset: Int, _ why: String) {
        self.zone = zone
        self.at = at
        self.offset = offset
        self.why = why
    }
}

@Suite struct TimeZoneOffsets {
    static let cases: [OffsetCase] = [
        OffsetCase("UTC", "2026-07-01T00:00:00Z", 0, "UTC"),
        OffsetCase("Etc/UTC", "2026-07-01T00:00:00Z", 0, "Etc/UTC"),
        // Before the first transition: local mean time. Berlin LMT +0:53:28, New York LMT -4:56:02.
        OffsetCase("Europe/Berlin", "1850-01-01T00:00:00Z", 53 * 60 + 28, "Berlin LMT"),
        OffsetCase("America/New_York", "1850-01-01T00:00:00Z", -(4 * 3600 + 56 * 60 + 2), "New York LMT"),
        // Listed transitions, both sides of the 2026 changes.
        OffsetCase("America/New_York", "2026-03-08T06:59:59Z", -5 * 3600, "EST before spring change"),
        OffsetCase("America/New_York", "2026-03-08T07:00:00Z", -4 * 3600, "EDT from 07:00Z"),
        OffsetCase("America/New_York", "2026-11-01T05:59:59Z", -4 * 3600, "EDT before autumn change"),
        OffsetCase("America/New_York", "2026-11-01T06:00:00Z", -5 * 3600, "EST from 06:00Z"),
        OffsetCase("Australia/Lord_Howe", "2026-10-03T15:29:59Z", 10 * 3600 + 1800, "+10:30"),
        OffsetCase("Australia/Lord_Howe", "2026-10-03T15:30:00Z", 11 * 3600, "+11 from 15:30Z"),
        OffsetCase("Pacific/Chatham", "2026-09-26T14:00:00Z", 13 * 3600 + 45 * 60, "+13:45"),
        // After the last listed transition (the file lists to 2037): the footer rule
        // CET-1CEST,M3.5.0,M10.5.0/3. 2100: last Sunday of March is the 28th (change at 01:00Z),
        // last Sunday of October the 31st (change at 01:00Z).
        OffsetCase("Europe/Berlin", "2100-01-15T12:00:00Z", 3600, "Berlin winter 2100"),
        OffsetCase("Europe/Berlin", "2100-03-28T00:59:59Z", 3600, "just before 2100 spring change"),
        OffsetCase("Europe/Berlin", "2100-03-28T01:00:00Z", 7200, "2100 spring change"),
        OffsetCase("Europe/Berlin", "2100-07-01T00:00:00Z", 7200, "Berlin summer 2100"),
        OffsetCase("Europe/Berlin", "2100-10-31T00:59:59Z", 7200, "before 2100 autumn change"),
        OffsetCase("Europe/Berlin", "2100-10-31T01:00:00Z", 3600, "2100 autumn change"),
        // Beyond the precomputed years (computed from the rule on the fly). 2300-03-25 is the
        // last Sunday of March 2300.
        OffsetCase("Europe/Berlin", "2300-03-25T00:59:59Z", 3600, "2300 before change"),
        OffsetCase("Europe/Berlin", "2300-03-25T01:00:00Z", 7200, "2300 change"),
        OffsetCase("Europe/Berlin", "2300-12-01T00:00:00Z", 3600, "2300 winter"),
        // Southern hemisphere footer: Lord Howe in January is in daylight time (+11).
        OffsetCase("Australia/Lord_Howe", "2100-01-01T00:00:00Z", 11 * 3600, "Lord Howe summer 2100"),
        OffsetCase("Australia/Lord_Howe", "2100-07-01T00:00:00Z", 10 * 3600 + 1800, "Lord Howe winter 2100"),
        // Santiago footer with 24:00 transition times: <-04>4<-03>,M9.1.6/24,M4.1.6/24.
        // 2100: first Saturday of September is Sep 4 -> Sep 5 00:00 -04 = 04:00Z.
        OffsetCase("America/Santiago", "2100-09-05T03:59:59Z", -4 * 3600, "Santiago before 2100 change"),
        OffsetCase("America/Santiago", "2100-09-05T04:00:00Z", -3 * 3600, "Santiago 2100 change"),
        OffsetCase("Asia/Kolkata", "2026-01-01T00:00:00Z", 5 * 3600 + 1800, "no DST, +05:30"),
    ]

    @Test(arguments: cases) func offset(_ row: OffsetCase) throws {
        let zone = try TimeZoneRules.named(row.zone)
        #expect(zone.utcOffset(at: instant(row.at)) == row.offset, "\(row.why)")
        #expect(zone.name == row.zone)
    }

    @Test func cachedPerProcess() throws {
        #expect(try TimeZoneRules.named("Europe/Berlin") === TimeZoneRules.named("Europe/Berlin"))
    }

    @Test(arguments: [
        // POSIX TZ strings (RFC 8536 §3.3), including v3 extensions.
        ("CET-1CEST,M3.5.0,M10.5.0/3", 3600, 7200),
        ("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", 37800, 39600),
        ("<-04>4<-03>,M9.1.6/24,M4.1.6/24", -14400, -10800),
        ("EST5EDT", -18000, -14400),
        ("<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", -10800, -7200),
        ("IST-2IDT,M3.4.4/26,M10.5.0", 7200, 10800),
    ])
    func posixRule(_ text: String, standard: Int, daylight: Int) throws {
        let rule = try #require(PosixTimeZoneRule.parse(text))
        #expect(rule.standardOffset == standard)
        #expect(rule.daylight?.offset == daylight)
    }

    @Test func posixRuleTimes() throws {
        // Greenland: M3.5.0/-2 = last Sunday of March at -2:00 local standard time (-03), i.e.
        // Saturday 22:00 -03 = Sunday 01:00Z; 2026-03-29 is the last Sunday -> 2026-03-29T01:00Z.
        let rule = try #require(PosixTimeZoneRule.parse("<-03>3<-02>,M3.5.0/-2,M10.5.0/-1"))
        let transitions = rule.transitions(in: 2026)
        #expect(transitions.first?.at == instant("2026-03-29T01:00:00Z").secondsSinceEpoch)
        // Israel: M3.4.4/26 = 4th Thursday of March at 26:00 = Friday 02:00 +02 = 00:00Z.
        // 4th Thursday of March 2026 is Mar 26 -> 2026-03-27T00:00Z.
        let israel = try #require(PosixTimeZoneRule.parse("IST-2IDT,M3.4.4/26,M10.5.0"))
        #expect(israel.transitions(in: 2026).first?.at == instant("2026-03-27T00:00:00Z").secondsSinceEpoch)
    }

    @Test(arguments: ["", "CET", "CET-1CEST,M3.5.0", "CET-1CEST,M13.5.0,M10.5.0", "<+1030"])
    func malformedPosixRules(_ text: String) {
        #expect(PosixTimeZoneRule.parse(text) == nil)
    }

    /// A hand-built TZif v2 file: one transition at 1000000000 (2001-09-09T01:46:40Z) from
    /// +01:00 to +02:00, and the footer `<+02>-2` (a fixed +02:00 after it).
    @Test func handBuiltTZif() throws {
        func be32(_ v: Int32) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }
        func be64(_ v: Int64) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }
        func header(timecnt: Int32, typecnt: Int32, charcnt: Int32) -> [UInt8] {
            Array("TZif2".utf8) + [UInt8](repeating: 0, count: 15)
                + be32(0) + be32(0) + be32(0) + be32(timecnt) + be32(typecnt) + be32(charcnt)
        }
        let types: [UInt8] = be32(3600) + [0, 0] + be32(7200) + [1, 4]
        let chars = Array("AAA\0BBB\0".utf8)
        var file = header(timecnt: 1, typecnt: 2, charcnt: 8) + be32(1_000_000_000) + [1] + types + chars
        file += header(timecnt: 1, typecnt: 2, charcnt: 8) + be64(1_000_000_000) + [1] + types + chars
        file += Array("\n<+02>-2\n".utf8)
        let zone = try #require(TZif.parse(file, name: "Test/Handmade"))
        #expect(zone.utcOffset(at: Instant(secondsSinceEpoch: 999_999_999)) == 3600)
        #expect(zone.utcOffset(at: Instant(secondsSinceEpoch: 1_000_000_000)) == 7200)
        #expect(zone.utcOffset(at: instant("2200-01-01T00:00:00Z")) == 7200)
        // Truncated or foreign files are rejected.
        #expect(TZif.parse(Array(file.prefix(60)), name: "x") == nil)
        #expect(TZif.parse(Array("# tzdb zone.tab\n".utf8), name: "x") == nil)
    }

    @Test func readsFromGivenDirectory() throws {
        // TZDIR support: a zone is looked up under the given folder.
        let zone = try TimeZoneRules.load("Europe/Berlin", directory: "/usr/share/zoneinfo")
        #expect(zone.utcOffset(at: instant("2026-07-01T00:00:00Z")) == 7200)
        // /nonexistent has no tzdata.zi, so the name passes the fallback rules and the file is missing.
        #expect(throws: ScheduleError(.unknownZone, "unknown time zone \"Europe/Berlin\": not in the tz database at /nonexistent")) {
            try TimeZoneRules.load("Europe/Berlin", directory: "/nonexistent")
        }
    }
}
