import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// Command-line conventions: "did you mean" for unknown commands, DISPATCH_DUE_* environment
/// fallbacks for every tunable (flag wins, same ranges, messages naming the variable), and
/// --json on the read commands with one time format.
@Suite("CLI conventions")
struct CLIConventionTests {
    static let unreachableDatabase = "postgresql://dispatch@127.0.0.1:1/none?connect_timeout=5"

    @Test("an unknown command is a usage error naming the closest one", arguments: [
        (["statsu"], "status"),
        (["migrat"], "migrate"),
        (["invocatons", "list"], "invocations"),
        (["triggers", "ad"], "add"),
        (["xyzzy"], nil),
    ] as [([String], String?)])
    func didYouMean(arguments: [String], suggestion: String?) throws {
        let result = try ChildProcess.run("dispatch-due", arguments, extraEnvironment: ["DATABASE_URL": Self.unreachableDatabase])
        #expect(result.exitCode == 64, "\(result)")
        #expect(result.stderr.contains("unknown command"), "\(result.stderr)")
        if let suggestion {
            #expect(result.stderr.contains("did you mean '\(suggestion)'?"), "\(result.stderr)")
        } else {
            #expect(!result.stderr.contains("did you mean"), "\(result.stderr)")
        }
    }

    @Test("a bad value in a DISPATCH_DUE_* variable is a usage error naming the variable", arguments: [
        ("DISPATCH_DUE_CONCURRENCY", "0"),
        ("DISPATCH_DUE_CONCURRENCY", "many"),
        ("DISPATCH_DUE_MAX_RUNTIME", "86401"),
        ("DISPATCH_DUE_REQUEST_TIMEOUT", "inf"),
        ("DISPATCH_DUE_RECONCILE_INTERVAL", "0"),
        ("DISPATCH_DUE_BATCH_SIZE", "10001"),
        ("DISPATCH_DUE_CONNECT_TIMEOUT", "0"),
        ("DISPATCH_DUE_LOG_FORMAT", "xml"),
        ("DISPATCH_DUE_VERBOSE", "maybe"),
    ])
    func badEnvironmentValue(name: String, value: String) throws {
        let result = try ChildProcess.run(
            "dispatch-due", ["run"], extraEnvironment: ["DATABASE_URL": Self.unreachableDatabase, name: value])
        #expect(result.exitCode == 64, "\(result)")
        #expect(result.stderr.contains(name), "\(result.stderr)")
    }

    @Test("the flag wins over the variable; the variable wins over the default")
    func precedence() throws {
        // The flag's valid value wins over an out-of-range variable: the run gets to the
        // database (69), not to a usage error.
        let flagWins = try ChildProcess.run(
            "dispatch-due", ["run", "--concurrency", "4"],
            extraEnvironment: ["DATABASE_URL": Self.unreachableDatabase, "DISPATCH_DUE_CONCURRENCY": "0"])
        #expect(flagWins.exitCode == 69, "\(flagWins)")
        // DISPATCH_DUE_LOG_FORMAT=text changes the log of a non-terminal stderr (default json).
        let text = try ChildProcess.run(
            "dispatch-due", ["run"], extraEnvironment: ["DATABASE_URL": Self.unreachableDatabase, "DISPATCH_DUE_LOG_FORMAT": "text"])
        #expect(text.exitCode == 69)
        #expect(!text.stderr.contains("{\"time\""), "\(text.stderr)")
        #expect(text.stderr.contains("cycle.finished"), "\(text.stderr)")
        // DISPATCH_DUE_METRICS_FILE writes the metrics file without the flag.
        let folder = try Ops.scratchDirectory()
        defer { Ops.removeTree(folder) }
        let metrics = try ChildProcess.run(
            "dispatch-due", ["run"],
            extraEnvironment: ["DATABASE_URL": Self.unreachableDatabase, "DISPATCH_DUE_METRICS_FILE": folder + "/m.prom"])
        #expect(metrics.exitCode == 69)
        #expect(FileSystem.exists(folder + "/m.prom"))
        // status reads DISPATCH_DUE_MAX_LAG with --max-lag's range.
        let lag = try ChildProcess.run(
            "dispatch-due", ["status"], extraEnvironment: ["DATABASE_URL": Self.unreachableDatabase, "DISPATCH_DUE_MAX_LAG": "-1"])
        #expect(lag.exitCode == 64, "\(lag)")
        #expect(lag.stderr.contains("DISPATCH_DUE_MAX_LAG"), "\(lag.stderr)")
    }

    @Test("run --help lists the environment variable of every tunable")
    func helpListsVariables() throws {
        let result = try ChildProcess.run("dispatch-due", ["run", "--help"])
        #expect(result.exitCode == 0)
        for name in [
            "DISPATCH_DUE_CONCURRENCY", "DISPATCH_DUE_MAX_RUNTIME", "DISPATCH_DUE_REQUEST_TIMEOUT",
            "DISPATCH_DUE_RECONCILE_INTERVAL", "DISPATCH_DUE_BATCH_SIZE", "DISPATCH_DUE_CONNECT_TIMEOUT",
            "DISPATCH_DUE_CACERT", "DISPATCH_DUE_LOG_FORMAT", "DISPATCH_DUE_VERBOSE", "DISPATCH_DUE_METRICS_FILE",
            "DISPATCH_DUE_METRICS_PUSH", "DISPATCH_DUE_METRICS_INSTANCE",
        ] {
            // Help wraps lines: compare without the line breaks and indentation.
            let flat = result.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            #expect(flat.contains(name), "\(name) missing from run --help")
        }
    }

    /// Each command's help lists the codes it can exit with and the variables it reads, no
    /// more: backfill has its own --max-runtime and no batch size or push; prune posts nothing
    /// and installs no signal handling; triggers run --post can meet the endpoint's codes.
    @Test("a command's help names its own exit codes and variables", arguments: [
        (["backfill"], ["DISPATCH_DUE_CONCURRENCY", "DISPATCH_DUE_METRICS_FILE", "77 ", "143 "],
         ["DISPATCH_DUE_BATCH_SIZE", "DISPATCH_DUE_MAX_RUNTIME", "DISPATCH_DUE_METRICS_PUSH"]),
        (["prune"], ["DISPATCH_DUE_CONNECT_TIMEOUT", "DISPATCH_DUE_VERBOSE", "69 "],
         ["77 ", "130 ", "143 ", "AGENTS_API_URL", "DISPATCH_DUE_CONCURRENCY"]),
        (["triggers", "run"], ["77 ", "AGENTS_API_KEY_FILE"], ["143 "]),
    ])
    func helpIsPerCommand(_ command: [String], _ present: [String], _ absent: [String]) throws {
        let result = try ChildProcess.run("dispatch-due", command + ["--help"])
        #expect(result.exitCode == 0)
        for text in present { #expect(result.stdout.contains(text), "\(text) missing from \(command) --help") }
        for text in absent { #expect(!result.stdout.contains(text), "\(text) in \(command) --help") }
    }

    /// RFC 3339 UTC with milliseconds: YYYY-MM-DDTHH:MM:SS.sssZ.
    static func isMillisecondInstant(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 24 else { return false }
        let shape = Array("dddd-dd-ddTdd:dd:dd.dddZ".utf8)
        return zip(bytes, shape).allSatisfy { byte, expected in
            expected == UInt8(ascii: "d") ? (0x30...0x39).contains(byte) : byte == expected
        }
    }

    @Test("next --json: one object with the slots in RFC 3339 UTC milliseconds")
    func nextJSON() throws {
        // 07:00 and 07:15 … after 06:59:59 every 15 minutes.
        let result = try ChildProcess.run(
            "dispatch-due", ["next", "--cron", "*/15 * * * *", "--after", "2026-03-08T06:59:59Z", "--count", "2", "--json"])
        #expect(result.exitCode == 0, "\(result)")
        let object = try JSONValue.parse(result.stdout.trimmingNewline)
        #expect(object["next"] == .array([.string("2026-03-08T07:00:00.000Z"), .string("2026-03-08T07:15:00.000Z")]))
    }

    @Test("migrate --status --json: every migration with its state and applied_at in milliseconds", .requiresDatabase)
    func migrateStatusJSON() throws {
        try withTestDatabase { database in
            let result = try database.dispatchDue(["migrate", "--status", "--json"])
            #expect(result.exitCode == 0, "\(result)")
            let object = try JSONValue.parse(result.stdout.trimmingNewline)
            guard case .array(let items)? = object["migrations"] else { Issue.record("no migrations array: \(result.stdout)"); return }
            #expect(!items.isEmpty)
            for item in items {
                #expect(item["state"]?.stringValue == "applied")
                #expect(item["applied_at"]?.stringValue.map(Self.isMillisecondInstant) == true, "\(item)")
            }
            // --json without --status is a usage error.
            let alone = try database.dispatchDue(["migrate", "--json"])
            #expect(alone.exitCode == 64)
        }
    }

    @Test("run --dry-run --json: one JSON object per line, slots in milliseconds, changes nothing", .requiresDatabase)
    func dryRunJSON() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            try connection.insertTrigger(tenant: "tenant-ops", id: "once", runAt: "2026-03-08T07:00:00Z", nextRunAt: "2026-03-08T07:00:00Z")
            let result = try database.dispatchDue(["run", "--dry-run", "--json"])
            #expect(result.exitCode == 0, "\(result)")
            let objects = try result.stdout.split(separator: "\n").map { try JSONValue.parse(String($0)) }
            let record = objects.first { $0["action"]?.stringValue == "record" }
            #expect(record?["trigger"]?.stringValue == "tenant-ops/once", "\(result.stdout)")
            #expect(record?["slot"]?.stringValue == "2026-03-08T07:00:00.000Z", "\(result.stdout)")
            let summary = objects.last
            #expect(summary?["action"]?.stringValue == "summary")
            #expect(summary?["slots"] == .number("1"))
            let recorded = try connection.value("SELECT count(*) FROM scheduled_trigger_invocations")
            #expect(recorded == "0")
            // --json without --dry-run is a usage error.
            let alone = try database.dispatchDue(["run", "--json"])
            #expect(alone.exitCode == 64, "\(alone)")
        }
    }
}

extension String {
    fileprivate var trimmingNewline: String {
        var text = self
        while text.last == "\n" { text.removeLast() }
        return text
    }
}
