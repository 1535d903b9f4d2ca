#if canImport(Glibc)
import Glibc
#endif
import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// contract §5: every given setting is checked at start, before any work is claimed. A
/// `--metrics-file` whose folder is missing, not a folder, or not writable can never be
/// written: `run` and `backfill` refuse it as unusable configuration (78), naming the path,
/// and both tables stay exactly as they were.
@Suite("--metrics-file folder", .requiresDatabase)
struct MetricsFileFolderTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var command: [String]
        /// The path given; `FILES` is the scratch folder of `PoisonFlagFixture.files`.
        var path: String
        /// What the message must say besides the path.
        var reason: String
        /// Only meaningful when the process is not root (root writes anywhere).
        var needsNonRoot = false
        var testDescription: String { (command + [path]).joined(separator: " ") }
    }

    static let commands: [[String]] = [["run"], ["backfill", "--from", "2026-01-01T00:00:00Z", "--to", "2026-01-01T01:00:00Z"]]

    static let cases: [Case] = commands.flatMap { command in
        [
            Case(command: command, path: "/no/such/folder/m.prom", reason: "No such file or directory"),
            Case(command: command, path: "FILES/missing/m.prom", reason: "No such file or directory"),
            // A regular file where the folder should be.
            Case(command: command, path: "FILES/empty/m.prom", reason: "Not a directory"),
            Case(command: command, path: "FILES/read-only/m.prom", reason: "Permission denied", needsNonRoot: true),
        ]
    }

    @Test("a metrics file that cannot be written is refused at start: exit 78, the path named, nothing claimed",
          arguments: cases)
    func refused(_ example: Case) throws {
        if example.needsNonRoot && geteuid() == 0 { return }
        try withTestDatabase { database in
            try PoisonFlagFixture.seed(database)
            let files = try PoisonFlagFixture.files()
            defer { Ops.removeTree(files) }
            #expect(mkdir(files + "/read-only", 0o500) == 0)
            let before = try database.snapshot()
            let path = example.path.replacing("FILES", with: files)

            let environment = ["DATABASE_URL": database.url, "AGENTS_API_URL": "http://127.0.0.1:9", "AGENTS_API_KEY": testAPIKey]
            let result = try ChildProcess.run(
                "dispatch-due", example.command + ["--log-format", "text", "--metrics-file", path],
                environment: ChildProcess.dispatcherEnvironment(environment), timeoutSeconds: 60)

            #expect(result.exitCode == 78, "\(result)")
            #expect(result.stderr.contains("--metrics-file"), "\(result.stderr)")
            #expect(result.stderr.contains(path), "\(result.stderr)")
            #expect(result.stderr.contains(example.reason), "\(result.stderr)")
            #expect(try database.snapshot() == before, "a refused command changed the tables")
        }
    }

    @Test("DISPATCH_DUE_METRICS_FILE in a missing folder is refused the same way")
    func variable() throws {
        try withTestDatabase { database in
            try PoisonFlagFixture.seed(database)
            let before = try database.snapshot()
            let environment = [
                "DATABASE_URL": database.url, "AGENTS_API_URL": "http://127.0.0.1:9", "AGENTS_API_KEY": testAPIKey,
                "DISPATCH_DUE_METRICS_FILE": "/no/such/folder/m.prom",
            ]
            let result = try ChildProcess.run(
                "dispatch-due", ["run", "--log-format", "text"], environment: ChildProcess.dispatcherEnvironment(environment),
                timeoutSeconds: 60)
            #expect(result.exitCode == 78, "\(result)")
            #expect(result.stderr.contains("/no/such/folder/m.prom"), "\(result.stderr)")
            #expect(try database.snapshot() == before)
        }
    }

    @Test("a new file in an existing writable folder is accepted and written (the control)")
    func accepted() throws {
        try withTestDatabase { database in
            try PoisonFlagFixture.seed(database)
            let folder = try Ops.scratchDirectory()
            defer { Ops.removeTree(folder) }
            let standIn = try StandIn(postAnswer: "accept-no-run-id")
            defer { standIn.stop() }
            let result = try database.runCycle(["--metrics-file", folder + "/m.prom"], endpoint: standIn.url)
            #expect(result.exitCode == 0, "\(result)")
            #expect(FileSystem.exists(folder + "/m.prom"))
        }
    }
}
