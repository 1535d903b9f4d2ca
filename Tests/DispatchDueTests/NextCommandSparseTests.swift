import DispatchDueTestSupport
import Testing

/// `next` end to end for issue 11 items 7, 13 and 19: far-apart slots all printed, fewer than
/// --count only as an error, zone names only from the tz database (TZDIR honoured).
@Suite("next command: sparse slots, years 1-9999, zone names")
struct NextCommandSparseTests {
    @Test("slots 40 years apart are all printed")
    func sparse() throws {
        // `0 0 29 2 */7` = a Feb 29 that is a Sunday (day fields ANDed, */7 = Sunday):
        // 2088, then 2128 (2100 is not a leap year), then 2156 (worked out in SparseSchedules).
        let result = try ChildProcess.run(
            "dispatch-due", ["next", "--cron", "0 0 29 2 */7", "--after", "2060-03-01T00:00:00Z", "--count", "3"])
        #expect(result.exitCode == 0, "\(result)")
        #expect(result.stdout == "2088-02-29T00:00:00Z\n2128-02-29T00:00:00Z\n2156-02-29T00:00:00Z\n")
    }

    @Test("fewer slots than --count before year 10000 is a usage error, not a short list")
    func pastYear9999() throws {
        // The last Sunday Feb 29 before 10000 is 9976-02-29; the next would be 10004.
        let result = try ChildProcess.run(
            "dispatch-due", ["next", "--cron", "0 0 29 2 */7", "--after", "9950-01-01T00:00:00Z", "--count", "2"])
        #expect(result.exitCode == 64, "\(result)")
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains(
            "only 1 of 2 slots exist: the next slot after 9976-02-29T00:00:00Z would fall after year 9999"), "\(result.stderr)")
    }

    @Test("zone names that are not IANA names are refused", arguments: [
        ("localtime", "unknown time zone \"localtime\": not an IANA zone name"),
        ("posixrules", "unknown time zone \"posixrules\": not an IANA zone name"),
        ("Factory", "unknown time zone \"Factory\": not an IANA zone name"),
        ("right/Europe/Berlin", "unknown time zone \"right/Europe/Berlin\": not an IANA zone name"),
        ("/usr/share/zoneinfo/UTC", "unknown time zone \"/usr/share/zoneinfo/UTC\": not an IANA zone name"),
    ])
    func zones(zone: String, message: String) throws {
        let result = try ChildProcess.run("dispatch-due", ["next", "--cron", "0 9 * * *", "--tz", zone])
        #expect(result.exitCode == 64, "\(result)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }

    @Test("TZDIR is honoured; UTC works without a tz database")
    func tzdir() throws {
        let missing = try ChildProcess.run(
            "dispatch-due", ["next", "--cron", "0 9 * * *", "--tz", "Europe/Berlin"],
            extraEnvironment: ["TZDIR": "/nonexistent-tzdir"])
        #expect(missing.exitCode == 64, "\(missing)")
        #expect(missing.stderr.contains("unknown time zone \"Europe/Berlin\": not in the tz database at /nonexistent-tzdir"))
        let utc = try ChildProcess.run(
            "dispatch-due", ["next", "--cron", "@daily", "--tz", "UTC", "--after", "2026-01-01T00:00:00Z"],
            extraEnvironment: ["TZDIR": "/nonexistent-tzdir"])
        #expect(utc.exitCode == 0, "\(utc)")
        #expect(utc.stdout == "2026-01-02T00:00:00Z\n")
    }

    @Test("--batch answers a short list with an error line")
    func batch() throws {
        let input = """
            {"expr":"0 0 29 2 */7","after":"9950-01-01T00:00:00Z","count":2}
            {"expr":"0 0 29 2 */7","after":"2088-02-29T00:00:00Z","count":1}

            """
        let result = try ChildProcess.run("dispatch-due", ["next", "--batch"], standardInput: input)
        #expect(result.exitCode == 0, "\(result)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines == [
            #"{"error":"only 1 of 2 slots exist: the next slot after 9976-02-29T00:00:00Z would fall after year 9999 (slots must lie in years 1-9999)"}"#,
            #"{"next":["2128-02-29T00:00:00Z"]}"#,
        ])
    }
}
