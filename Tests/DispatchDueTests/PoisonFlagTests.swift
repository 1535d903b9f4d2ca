#if canImport(Glibc)
import Glibc
#endif
import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// Healthy due work of several tenants, and the files a poison flag can point at.
enum PoisonFlagFixture {
    static let tenants = ["tenant-red", "tenant-green", "tenant-blue"]

    /// Per tenant: a cron trigger due a minute ago, and a pending invocation of a trigger
    /// that is not due (so a cycle would both record and post).
    static func seed(_ database: TestDatabase) throws {
        for tenant in tenants {
            try database.execute(
                """
                INSERT INTO scheduled_triggers (tenant_id, id, project_id, agent_id, name, cron_expression)
                VALUES ($1, 'due', 'proj', 'agent', 'due trigger', '* * * * *'),
                       ($1, 'waiting', 'proj', 'agent', 'waiting trigger', '0 0 1 1 *')
                """, [tenant])
            // Separate UPDATEs: the row trigger leaves a next_run_at set on its own alone.
            try database.execute(
                "UPDATE scheduled_triggers SET next_run_at = now() - interval '1 minute' WHERE tenant_id = $1 AND id = 'due'",
                [tenant])
            try database.execute(
                "UPDATE scheduled_triggers SET next_run_at = '2999-01-01T00:00:00Z' WHERE tenant_id = $1 AND id = 'waiting'",
                [tenant])
            try database.execute(
                """
                INSERT INTO scheduled_trigger_invocations (tenant_id, id, project_id, agent_id, scheduled_trigger_id,
                    ref, status, scheduled_for, idempotency_key)
                VALUES ($1, gen_random_uuid()::text, 'proj', 'agent', 'waiting', 'main', 'pending',
                        '2026-01-01T00:00:00Z', 'sched_waiting_2026-01-01T00:00:00.000Z')
                """, [tenant])
        }
    }

    /// A scratch folder holding the special and broken files the flags point at.
    static func files() throws -> String {
        let folder = try ChildProcess.makeScratchDirectory()
        #expect(mkfifo(folder + "/fifo", 0o600) == 0)
        try FileSystem.writeAtomically("", to: folder + "/empty")
        try FileSystem.writeAtomically("not a certificate\n", to: folder + "/not-pem")
        try FileSystem.writeAtomically(String(repeating: "k", count: 4097), to: folder + "/big-key")
        try FileSystem.writeAtomically("line one\nline two\n", to: folder + "/two-line-key")
        #expect(mkdir(folder + "/directory", 0o700) == 0)
        // A key file that is not UTF-8: written byte by byte.
        let descriptor = open(folder + "/latin1-key", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let bytes: [UInt8] = [0x6B, 0x65, 0x79, 0xE9, 0x0A]
        _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
        return folder
    }
}

struct PoisonFlag: Sendable, CustomTestStringConvertible {
    /// Arguments after `run`; `FILES` is replaced with the scratch folder of `PoisonFlagFixture.files`.
    var arguments: [String]
    var environment: [String: String] = [:]
    var exitCode: Int32
    /// A fragment the message must hold: it names the flag or the setting.
    var message: String
    var testDescription: String { (arguments + environment.map { "\($0.key)=\($0.value)" }).joined(separator: " ") }
}

/// Each poison flag given to a real `run` over healthy due work of several tenants: the exit
/// code is contract §5's, the message names the flag, and nothing is claimed — both tables are
/// exactly as before — because settings are checked before any work.
@Suite("Poison flags", .requiresDatabase)
struct PoisonFlagTests {
    static let flags: [PoisonFlag] = [
        // Numbers: finite, in range, negative values reported as out of range (64).
        PoisonFlag(arguments: ["--request-timeout", "0.0004"], exitCode: 64, message: "--request-timeout 0.0004 is out of range"),
        PoisonFlag(arguments: ["--request-timeout", "inf"], exitCode: 64, message: "--request-timeout inf is out of range"),
        PoisonFlag(arguments: ["--request-timeout", "3601"], exitCode: 64, message: "--request-timeout 3601.0 is out of range"),
        PoisonFlag(arguments: ["--request-timeout", "nan"], exitCode: 64, message: "--request-timeout nan is out of range"),
        PoisonFlag(arguments: ["--reconcile-interval", "inf"], exitCode: 64, message: "--reconcile-interval inf is out of range"),
        PoisonFlag(arguments: ["--reconcile-interval", "0"], exitCode: 64, message: "--reconcile-interval 0.0 is out of range"),
        PoisonFlag(arguments: ["--reconcile-interval", "86401"], exitCode: 64, message: "--reconcile-interval 86401.0 is out of range"),
        PoisonFlag(arguments: ["--concurrency", "0"], exitCode: 64, message: "--concurrency 0 is out of range"),
        PoisonFlag(arguments: ["--concurrency", "-1"], exitCode: 64, message: "--concurrency -1 is out of range"),
        PoisonFlag(arguments: ["--concurrency", "1001"], exitCode: 64, message: "--concurrency 1001 is out of range"),
        PoisonFlag(arguments: ["--max-runtime", "-5"], exitCode: 64, message: "--max-runtime -5.0 is out of range"),
        PoisonFlag(arguments: ["--max-runtime", "1e400"], exitCode: 64, message: "--max-runtime inf is out of range"),
        PoisonFlag(arguments: ["--connect-timeout", "0"], exitCode: 64, message: "--connect-timeout 0 is out of range"),
        PoisonFlag(arguments: ["--connect-timeout", "-3"], exitCode: 64, message: "--connect-timeout -3 is out of range"),
        PoisonFlag(arguments: ["--batch-size", "0"], exitCode: 64, message: "--batch-size 0 is out of range"),
        PoisonFlag(arguments: ["--batch-size", "10001"], exitCode: 64, message: "--batch-size 10001 is out of range"),
        PoisonFlag(arguments: ["--concurrency", "1e3"], exitCode: 64, message: "--concurrency"),
        // The CA bundle: missing, special, a folder, empty, not PEM (78).
        PoisonFlag(arguments: ["--cacert", "/nonexistent.pem"], exitCode: 78, message: "--cacert"),
        PoisonFlag(arguments: ["--cacert", "/dev/zero"], exitCode: 78, message: "character device"),
        PoisonFlag(arguments: ["--cacert", "FILES/fifo"], exitCode: 78, message: "a FIFO"),
        PoisonFlag(arguments: ["--cacert", "FILES/directory"], exitCode: 78, message: "a directory"),
        PoisonFlag(arguments: ["--cacert", "FILES/empty"], exitCode: 78, message: "no PEM certificate"),
        PoisonFlag(arguments: ["--cacert", "FILES/not-pem"], exitCode: 78, message: "no PEM certificate"),
        // The endpoint URL, by flag or environment (78).
        PoisonFlag(arguments: ["--agents-api-url", "http://exa mple.com"], exitCode: 78, message: "holds spaces"),
        PoisonFlag(arguments: ["--agents-api-url", "ftp://example.com"], exitCode: 78, message: "must start with http"),
        PoisonFlag(arguments: ["--agents-api-url", "http://"], exitCode: 78, message: "has no host"),
        PoisonFlag(arguments: ["--agents-api-url", "http://:8080/x"], exitCode: 78, message: "has no host"),
        PoisonFlag(arguments: ["--agents-api-url", "http://example.com:99999"], exitCode: 78, message: "invalid port"),
        PoisonFlag(arguments: ["--agents-api-url", "http://example.com:0"], exitCode: 78, message: "invalid port"),
        PoisonFlag(arguments: ["--agents-api-url", "http://example.com:80x"], exitCode: 78, message: "invalid port"),
        PoisonFlag(arguments: ["--agents-api-url", "http://exa\u{1B}mple.com"], exitCode: 78, message: "control"),
        PoisonFlag(arguments: ["--agents-api-url", "http://example.com/api?x=1"], exitCode: 78, message: "query"),
        PoisonFlag(arguments: ["--agents-api-url", "http://user:pw@example.com"], exitCode: 78, message: "user information"),
        PoisonFlag(arguments: [], environment: ["AGENTS_API_URL": "http://exa mple.com"], exitCode: 78, message: "AGENTS_API_URL"),
        // The key file, by flag or environment (78).
        PoisonFlag(arguments: ["--api-key-file", "/dev/zero"], exitCode: 78, message: "character device"),
        PoisonFlag(arguments: ["--api-key-file", "FILES/fifo"], exitCode: 78, message: "a FIFO"),
        PoisonFlag(arguments: ["--api-key-file", "FILES/directory"], exitCode: 78, message: "a directory"),
        PoisonFlag(arguments: ["--api-key-file", "FILES/missing"], exitCode: 78, message: "No such file"),
        PoisonFlag(arguments: ["--api-key-file", "FILES/big-key"], exitCode: 78, message: "at most 4096 bytes"),
        PoisonFlag(arguments: ["--api-key-file", "FILES/empty"], exitCode: 78, message: "is empty"),
        PoisonFlag(arguments: ["--api-key-file", "FILES/two-line-key"], exitCode: 78, message: "several lines"),
        PoisonFlag(arguments: ["--api-key-file", "FILES/latin1-key"], exitCode: 78, message: "not valid UTF-8"),
        PoisonFlag(arguments: [], environment: ["AGENTS_API_KEY_FILE": "/dev/zero"], exitCode: 78, message: "AGENTS_API_KEY_FILE"),
        // The metrics file: never /dev/null or a folder (78).
        PoisonFlag(arguments: ["--metrics-file", "/dev/null"], exitCode: 78, message: "--metrics-file"),
        PoisonFlag(arguments: ["--metrics-file", "FILES/directory"], exitCode: 78, message: "a directory"),
        // A malformed database URL is configuration too (78).
        PoisonFlag(arguments: ["--database-url", "port=5432 host"], exitCode: 78, message: "invalid database connection string"),
        // Not UTF-8 text is refused, never repaired (64): see ArgumentSafetyTests for raw bytes.
        PoisonFlag(arguments: ["--log-format", "yaml"], exitCode: 64, message: "--log-format"),
    ]

    @Test("a poison flag exits as contract §5 says and claims nothing", arguments: flags)
    func poisonFlag(_ flag: PoisonFlag) throws {
        try withTestDatabase { database in
            try PoisonFlagFixture.seed(database)
            let files = try PoisonFlagFixture.files()
            defer { Ops.removeTree(files) }
            let before = try database.snapshot()

            var environment = ["DATABASE_URL": database.url, "AGENTS_API_URL": "http://127.0.0.1:9", "AGENTS_API_KEY": testAPIKey]
            for (key, value) in flag.environment { environment[key] = value }
            let arguments = ["run", "--log-format", "text"] + flag.arguments.map { $0.replacing("FILES", with: files) }
            let result = try ChildProcess.run(
                "dispatch-due", arguments, environment: ChildProcess.dispatcherEnvironment(environment), timeoutSeconds: 60)

            #expect(result.exitCode == flag.exitCode, "\(result)")
            #expect(result.stderr.contains(flag.message), "\(result.stderr)")
            #expect(!result.stderr.contains(testAPIKey) && !result.stdout.contains(testAPIKey))
            #expect(try database.snapshot() == before, "a refused run changed the tables")
            // /dev/null is still the character device it was.
            var info = stat()
            #expect(stat("/dev/null", &info) == 0 && info.st_mode & S_IFMT == S_IFCHR)
        }
    }

    /// The same work and settings without a poison flag: every tenant's work is recorded and
    /// posted exactly once, so the refusals above are not vacuous.
    @Test("without a poison flag the same cycle records and posts every tenant's work once")
    func healthyControl() throws {
        try withTestDatabase { database in
            try PoisonFlagFixture.seed(database)
            let standIn = try StandIn(postAnswer: "accept-no-run-id")
            let result = try database.runCycle(endpoint: standIn.url)
            #expect(result.exitCode == 0, "\(result)")
            let posts = standIn.posts()
            // Per tenant: the due slot recorded now, and the waiting invocation.
            #expect(posts.count == PoisonFlagFixture.tenants.count * 2, "\(posts.map(\.path))")
            for tenant in PoisonFlagFixture.tenants {
                #expect(posts.filter { $0.header("x-inkeep-tenant-id") == tenant }.count == 2)
            }
            // Exactly once: no (tenant, Idempotency-Key) pair was posted twice.
            let pairs = posts.map { "\($0.header("x-inkeep-tenant-id") ?? "")|\($0.header("idempotency-key") ?? "")" }
            #expect(Set(pairs).count == posts.count)
            #expect(try database.value("SELECT count(*) FROM scheduled_trigger_invocations WHERE status = 'completed'") == "6")
        }
    }

    /// The other commands' numeric flags: finite, in range, and a negative value is "out of
    /// range", never "Missing value" (exit 64, nothing written, no crash).
    @Test("status, triggers and invocations refuse out-of-range numbers naming the flag", arguments: [
        (["status", "--max-lag", "inf"], "--max-lag inf is out of range"),
        (["status", "--max-lag", "-1"], "--max-lag -1.0 is out of range"),
        (["status", "--max-lag", "31536001"], "--max-lag 31536001.0 is out of range"),
        (["status", "--max-lag", "nan"], "--max-lag nan is out of range"),
        (["status", "--connect-timeout", "301"], "--connect-timeout 301 is out of range"),
        (baseAdd(id: "n1") + ["--cron", "@daily", "--max-retries", "-1"], "--max-retries -1 is out of range"),
        (baseAdd(id: "n2") + ["--cron", "@daily", "--max-retries", "11"], "--max-retries 11 is out of range"),
        (baseAdd(id: "n3") + ["--cron", "@daily", "--retry-delay", "-60"], "--retry-delay -60 is out of range"),
        (baseAdd(id: "n4") + ["--cron", "@daily", "--timeout", "-1"], "--timeout -1 is out of range"),
        (["triggers", "update", "t1", "--tenant", "acme", "--timeout", "86401"], "--timeout 86401 is out of range"),
        (["triggers", "list", "--limit", "-1"], "--limit -1 is out of range"),
        (["triggers", "list", "--limit", "0"], "--limit 0 is out of range"),
        (["invocations", "list", "--limit", "100001"], "--limit 100001 is out of range"),
        // The policy flags (added after --max-retries was fixed) and next --count had the same
        // "Missing value" answer for a negative number.
        (baseAdd(id: "n5") + ["--cron", "@daily", "--jitter", "-5"], "--jitter -5 is out of range"),
        (baseAdd(id: "n6") + ["--cron", "@daily", "--pause-after-failures", "-1"], "--pause-after-failures -1 is out of range"),
        (["triggers", "update", "t1", "--tenant", "acme", "--jitter", "-1"], "--jitter -1 is out of range"),
        (["next", "--cron", "@daily", "--count", "-1"], "--count must be between 1 and 100000, got -1"),
    ])
    func managementNumbers(arguments: [String], message: String) throws {
        try withTestDatabase { db in
            try PoisonFlagFixture.seed(db)
            let before = try db.snapshot()
            let result = try db.cli(arguments)
            #expect(result.exitCode == 64, "\(result)")
            #expect(result.stderr.contains(message), "\(result.stderr)")
            #expect(!result.stderr.contains("Missing value"))
            #expect(try db.snapshot() == before)
        }
    }
}
