import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Glibc
import Testing

/// Severity where log platforms read it: `<N>` syslog prefixes when stderr is the journal,
/// `severity` in JSON, one cycle id on every line, and how the cycle ended in `cycle.finished`.
@Suite("logs: severity, journald prefixes and cycle id")
struct LogSeverityTests {
    static let unreachableDatabase = "postgresql://dispatch@127.0.0.1:1/none?connect_timeout=5"

    /// Runs dispatch-due with stderr appended to a file created first, so the test knows the
    /// file's device and inode; `journalStream` computes JOURNAL_STREAM from them (or nil).
    static func runWithStderrFile(
        _ arguments: [String], databaseURL: String, journalStream: (_ device: UInt64, _ inode: UInt64) -> String?
    ) throws -> (exitCode: Int32?, lines: [String]) {
        let folder = try Ops.scratchDirectory()
        defer { Ops.removeTree(folder) }
        let logPath = folder + "/stderr.log"
        try FileSystem.writeAtomically("", to: logPath)
        var info = stat()
        guard stat(logPath, &info) == 0 else { throw FileSystemError(path: logPath, reason: "stat failed") }
        var environment = ["DATABASE_URL": databaseURL, "DD_STDERR_FILE": logPath]
        environment["JOURNAL_STREAM"] = journalStream(UInt64(info.st_dev), UInt64(info.st_ino))
        let binary = ChildProcess.binDirectory + "/dispatch-due"
        let result = try ChildProcess.run(
            "/bin/sh", ["-c", "exec \"$0\" \"$@\" 2>>\"$DD_STDERR_FILE\"", binary] + arguments,
            extraEnvironment: environment)
        let text = try FileSystem.readText(logPath)
        return (result.exitCode, text.split(separator: "\n").map(String.init))
    }

    @Test("stderr is the journal: every line starts with <N>, the syslog priority of its level", .requiresDatabase, arguments: ["json", "text"])
    func journalPrefix(format: String) throws {
        try withTestDatabase { database in
            // A successful cycle: cycle.finished is info, <6>.
            let ok = try Self.runWithStderrFile(
                ["run", "--record-only", "--log-format", format], databaseURL: database.url,
                journalStream: { "\($0):\($1)" })
            #expect(ok.exitCode == 0)
            let finished = try #require(ok.lines.first { $0.contains("cycle.finished") })
            #expect(finished.hasPrefix("<6>"), "\(finished)")
            for line in ok.lines { #expect(line.hasPrefix("<"), "\(line)") }

            // A failed one: cycle.finished and the failure report are errors, <3>.
            let failed = try Self.runWithStderrFile(
                ["run", "--record-only", "--log-format", format], databaseURL: Self.unreachableDatabase,
                journalStream: { "\($0):\($1)" })
            #expect(failed.exitCode == 69)
            #expect(!failed.lines.isEmpty)
            for line in failed.lines { #expect(line.hasPrefix("<3>"), "\(line)") }
        }
    }

    @Test("JOURNAL_STREAM naming another file (inherited, stderr redirected) adds no prefix", .requiresDatabase)
    func otherStream() throws {
        try withTestDatabase { database in
            let run = try Self.runWithStderrFile(
                ["run", "--record-only", "--log-format", "json"], databaseURL: database.url,
                journalStream: { "\($0):\($1 + 1)" })
            #expect(run.exitCode == 0)
            #expect(!run.lines.isEmpty)
            for line in run.lines { #expect(line.hasPrefix("{"), "\(line)") }
        }
    }

    @Test("every JSON line has severity next to level, and the same cycle id", .requiresDatabase)
    func severityAndCycleID() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try connection.insertTrigger(
                id: "due", runAt: .sql("now() - interval '1 minute'"), nextRunAt: .sql("now() - interval '1 minute'"))
            let result = try database.runCycle(["--verbose"])
            #expect(result.exitCode == 0, "\(result)")
            let lines = result.stderr.split(separator: "\n")
            #expect(lines.count >= 2, "\(result.stderr)")
            let expected = ["debug": "DEBUG", "info": "INFO", "warning": "WARNING", "error": "ERROR"]
            var ids: Set<String> = []
            for line in lines {
                let object = try JSONValue.parse(String(line))
                let level = try #require(object["level"]?.stringValue)
                #expect(object["severity"]?.stringValue == expected[level], "\(line)")
                let id = try #require(object["cycle_id"]?.stringValue, "\(line)")
                #expect(id.count == 16 && id.allSatisfy(\.isHexDigit), "\(id)")
                ids.insert(id)
            }
            #expect(ids.count == 1)
            // Another process is another cycle.
            let again = try database.runCycle()
            let other = try JSONValue.parse(String(again.stderr.split(separator: "\n").last ?? ""))
            #expect(other["cycle_id"]?.stringValue.map { !ids.contains($0) } == true)
        }
    }

    @Test("cycle.finished says how the cycle ended, at the level of that ending", arguments: [
        (CycleOutcome.ok, "info", "INFO"),
        (CycleOutcome.stopped(exitCode: 143), "warning", "WARNING"),
        (CycleOutcome.failed(exitCode: 69), "error", "ERROR"),
    ])
    func cycleFinished(outcome: CycleOutcome, level: String, severity: String) throws {
        let lines = LineSink()
        let logger = Logger(format: .json, sink: { lines.append($0) }, clock: { "2026-03-08T07:00:00.000Z" })
        CycleSummary().log(CycleReport(), outcome: outcome, to: logger)
        let object = try JSONValue.parse(try #require(lines.all.first))
        #expect(object["event"]?.stringValue == "cycle.finished")
        #expect(object["level"]?.stringValue == level)
        #expect(object["severity"]?.stringValue == severity)
        #expect(object["outcome"]?.stringValue == outcome.kind.rawValue)
        #expect(object["exit_code"] == .number(String(outcome.exitCode)))
    }

    @Test("a failed cycle logs cycle.finished outcome=failed with its exit code and reason")
    func failedCycleFinished() throws {
        let result = try ChildProcess.run(
            "dispatch-due", ["run", "--log-format", "json"], extraEnvironment: ["DATABASE_URL": Self.unreachableDatabase])
        #expect(result.exitCode == 69)
        let line = try #require(result.stderr.split(separator: "\n").first { $0.contains("\"cycle.finished\"") })
        let object = try JSONValue.parse(String(line))
        #expect(object["outcome"]?.stringValue == "failed")
        #expect(object["exit_code"] == .number("69"))
        #expect(object["reason"]?.stringValue == "database_unavailable")
        #expect(object["severity"]?.stringValue == "ERROR")
    }
}
