import DispatchDueTestSupport
import Testing

@Suite("next command")
struct NextCommandTests {
    @Test("prints the next slots in UTC, one per line")
    func slots() throws {
        // Weekdays 09:00 in Berlin (CET, UTC+1 in late November). After Fri 2026-11-27 12:00Z
        // the next weekdays are Mon Nov 30 and Tue Dec 1: 08:00Z each.
        let result = try ChildProcess.run(
            "dispatch-due",
            ["next", "--cron", "0 9 * * 1-5", "--tz", "Europe/Berlin", "--after", "2026-11-27T12:00:00Z", "--count", "2"])
        #expect(result.exitCode == 0, "\(result)")
        #expect(result.stdout == "2026-11-30T08:00:00Z\n2026-12-01T08:00:00Z\n")
    }

    @Test("invalid input is a usage error naming the problem", arguments: [
        (["--cron", "0 24 * * *"], "hour"),
        (["--cron", "0 0 31 2 *"], "never fires"),
        (["--cron", "0 9 * * *", "--tz", "Europe/Atlantis"], "Europe/Atlantis"),
        (["--cron=-5 * * * *"], "minute"),
        (["--cron", "0 9 * * *", "--after", "tomorrow"], "tomorrow"),
    ])
    func invalid(arguments: [String], message: String) throws {
        let result = try ChildProcess.run("dispatch-due", ["next"] + arguments)
        #expect(result.exitCode == 64, "\(result)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }

    @Test("--batch answers each line in order, errors included, and never stops early")
    func batch() throws {
        let input = """
            {"expr":"30 2 * * *","tz":"America/New_York","after":"2026-03-07T12:00:00Z","count":2}
            not json
            {"expr":"* * *"}
            {"tz":"UTC"}
            {"expr":"@daily","after":"2026-01-01T00:00:00Z"}

            """
        let result = try ChildProcess.run("dispatch-due", ["next", "--batch"], standardInput: input)
        #expect(result.exitCode == 0, "\(result)")
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // New York springs forward on 2026-03-08 at 02:00: 02:30 does not exist, the fixed-time
        // job fires at 03:00 EDT = 07:00Z; Mar 9 02:30 EDT = 06:30Z.
        #expect(lines[0] == #"{"next":["2026-03-08T07:00:00Z","2026-03-09T06:30:00Z"]}"#)
        #expect(lines[1].hasPrefix(#"{"error":"invalid JSON"#))
        #expect(lines[2].hasPrefix(#"{"error":"cron expression needs 5 fields"#))
        #expect(lines[3] == #"{"error":"\"expr\" is required and must be a string"}"#)
        // @daily after midnight Jan 1: the next midnight, Jan 2.
        #expect(lines[4] == #"{"next":["2026-01-02T00:00:00Z"]}"#)
        #expect(lines.count == 6 && lines[5].isEmpty)
    }
}
