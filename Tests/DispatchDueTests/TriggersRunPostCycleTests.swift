import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// `triggers run --post` posts through the one dispatch cycle `run` and `backfill` use: its
/// `cycle.finished` says how it ended (`outcome`, `exit_code`) as theirs does.
@Suite("triggers run --post: the shared cycle", .requiresDatabase, .serialized)
struct TriggersRunPostCycleTests {
    /// The last `cycle.finished` line of a JSON log stream.
    private func finished(_ stderr: String) throws -> JSONValue {
        let line = try #require(logLines(stderr, event: "cycle.finished").last, "\(stderr)")
        #expect(logLines(stderr, event: "cycle.finished").count == 1, "\(stderr)")
        return try JSONValue.parse(line)
    }

    @Test("a successful post ends with outcome ok and exit_code 0")
    func posted() throws {
        try withTestDatabase { database in
            let standIn = try StandIn()
            defer { standIn.stop() }
            let connection = try database.connect()
            try connection.insertTrigger(
                id: "p1", cron: "* * * * *", nextRunAt: "2999-01-01T00:00:00Z", payload: #"{"k": "v"}"#, maxRetries: 0,
                retryDelay: 10)
            let result = try database.dispatchDue(
                ["triggers", "run", "t1", "p1", "--post", "--log-format", "json"], endpoint: standIn.url,
                apiKey: testAPIKey)
            #expect(result.exitCode == 0, "\(result)")
            #expect(result.stdout.hasPrefix("recorded invocation "), "\(result)")
            #expect(standIn.posts().count == 1)
            let line = try finished(result.stderr)
            #expect(line["outcome"]?.stringValue == "ok")
            #expect(line["exit_code"] == .number("0"))
            #expect(line["posted"] == .number("1"))
        }
    }

    @Test("credentials rejected (401) ends with outcome failed and exit_code 77")
    func rejected() throws {
        try withTestDatabase { database in
            let standIn = try StandIn(apiKey: "the-right-key")
            defer { standIn.stop() }
            let connection = try database.connect()
            try connection.insertTrigger(
                id: "p2", cron: "* * * * *", nextRunAt: "2999-01-01T00:00:00Z", payload: #"{"k": "v"}"#, maxRetries: 0,
                retryDelay: 10)
            let result = try database.dispatchDue(
                ["triggers", "run", "t1", "p2", "--post", "--log-format", "json"], endpoint: standIn.url,
                apiKey: testAPIKey)
            #expect(result.exitCode == 77, "\(result)")
            #expect(result.stdout.hasPrefix("recorded invocation "), "\(result)")
            let line = try finished(result.stderr)
            #expect(line["outcome"]?.stringValue == "failed")
            #expect(line["exit_code"] == .number("77"))
            #expect(line["reason"]?.stringValue == "credentials_rejected")
            #expect(try connection.invocationCounts() == ["pending": 1])
            // The failure itself is a log line of the stream too, as `run` writes it: every
            // line of stderr stays one JSON object.
            let failed = try JSONValue.parse(try #require(logLines(result.stderr, event: "command.failed").last, "\(result.stderr)"))
            #expect(failed["exit_code"] == .number("77"))
            for text in result.stderr.split(separator: "\n") {
                #expect((try? JSONValue.parse(String(text))) != nil, "not JSON: \(text)")
            }
        }
    }
}
