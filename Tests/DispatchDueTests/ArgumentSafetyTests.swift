#if canImport(Glibc)
import Glibc
#endif
@testable import DispatchCore
@testable import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// Untrusted command-line input (issue 11, items 11 and 14): ids with control characters or
/// invalid UTF-8 are refused, output never carries raw terminal escapes, and the database
/// password does not stay in /proc/PID/cmdline.
@Suite("argument safety")
struct ArgumentSafetyTests {
    struct BadID: Sendable, CustomTestStringConvertible {
        var flag: String
        var value: String
        var message: String
        var testDescription: String { "\(flag) \(ManagementOutput.escaped(value))" }
    }

    static let badIDs: [BadID] = [
        BadID(flag: "--tenant", value: "acme\r\nX-Injected: 1", message: "--tenant contains the control character \\r"),
        BadID(flag: "--id", value: "t\u{1B}[31m", message: "--id contains the control character \\x1b"),
        BadID(flag: "--project", value: "p\u{7F}", message: "--project contains the control character \\x7f"),
        BadID(flag: "--agent", value: "a\u{85}b", message: "--agent contains the control character \\u{85}"),
        BadID(flag: "--run-as", value: "user\n", message: "--run-as contains the control character \\n"),
        BadID(flag: "--created-by", value: "ops\t", message: "--created-by contains the control character \\t"),
        BadID(flag: "--ref", value: "feature x", message: "--ref \"feature x\" contains whitespace"),
        BadID(flag: "--ref", value: "main\u{A0}", message: "contains whitespace"),
        BadID(flag: "--ref", value: "a\u{1}b", message: "--ref contains the control character \\x01"),
        BadID(flag: "--tenant", value: String(repeating: "t", count: 257), message: "--tenant is 257 characters long; at most 256"),
        BadID(flag: "--id", value: "", message: "--id must not be empty"),
        BadID(flag: "--name", value: "nightly\u{1B}]0;pwned\u{7}", message: "--name contains the control character \\x1b"),
        BadID(flag: "--description", value: "a\u{9B}31m", message: "--description contains the control character \\u{9B}"),
    ]

    @Test("triggers add refuses ids with control characters, whitespace in a ref, or bad lengths", .requiresDatabase, arguments: badIDs)
    func badIdentifier(_ bad: BadID) throws {
        try withTestDatabase { db in
            var arguments = ["triggers", "add", "--cron", "@daily"]
            let defaults = ["--tenant": "acme", "--id": "t1", "--project": "proj", "--agent": "agent", "--name": "nightly"]
            for (flag, value) in defaults where flag != bad.flag { arguments += [flag, value] }
            arguments += [bad.flag, bad.value]
            let result = try db.cli(arguments)
            #expect(result.exitCode == 64, "\(result)")
            #expect(result.stderr.contains(bad.message), "\(result.stderr)")
            #expect(!result.stderr.unicodeScalars.contains("\u{1B}"), "raw escape in the message")
            #expect(try db.value("SELECT count(*) FROM scheduled_triggers") == "0")
        }
    }

    @Test("update, show and invocations refuse the same ids", .requiresDatabase, arguments: [
        ["triggers", "update", "t1", "--tenant", "acme", "--ref", "a b"],
        ["triggers", "update", "t1", "--tenant", "acme", "--project", "p\r\n"],
        ["triggers", "show", "t\u{1B}1", "--tenant", "acme"],
        ["triggers", "list", "--tenant", "ac\u{1}me"],
        ["invocations", "list", "--tenant", "acme", "--trigger", "x\u{7F}"],
        ["invocations", "cancel", "id", "--tenant", "a\u{9B}"],
    ])
    func otherCommands(_ arguments: [String]) throws {
        try withTestDatabase { db in
            #expect(try db.cli(baseAdd() + ["--cron", "@daily"]).exitCode == 0)
            let before = try db.snapshot()
            let result = try db.cli(arguments)
            #expect(result.exitCode == 64, "\(result)")
            #expect(try db.snapshot() == before)
        }
    }

    /// Swift decodes argv with U+FFFD repair; the raw bytes are checked instead. A shell
    /// passes the byte 0xFF, which no Swift String can hold.
    @Test("invalid UTF-8 in an argument is refused, never stored as U+FFFD", .requiresDatabase, arguments: ["--tenant", "--name", "--payload"])
    func invalidUTF8Argument(_ flag: String) throws {
        try withTestDatabase { db in
            var arguments = ["triggers", "add", "--cron", "@daily", "--id", "t1"]
            for (name, value) in ["--tenant": "acme", "--project": "proj", "--agent": "agent", "--name": "n"] where name != flag {
                arguments += [name, value]
            }
            let quoted = arguments.map { "'\($0)'" }.joined(separator: " ")
            let value = flag == "--payload" ? "\"{\\\"k\\\": \\\"$(printf 'v\\377')\\\"}\"" : "\"$(printf 'ab\\377c')\""
            let script = "exec \"$0\" \(quoted) \(flag) \(value)"
            let result = try ChildProcess.run(
                "/bin/sh", ["-c", script, ChildProcess.binDirectory + "/dispatch-due"],
                extraEnvironment: ["DATABASE_URL": db.url])
            #expect(result.exitCode == 64, "\(result)")
            #expect(result.stderr.contains("is not valid UTF-8"), "\(result.stderr)")
            #expect(result.stderr.contains("\\xff"), "\(result.stderr)")
            #expect(try db.value("SELECT count(*) FROM scheduled_triggers") == "0")
        }
    }

    /// Rows written by SQL may hold anything; what the commands print never drives the terminal.
    @Test("triggers and invocations output escapes control characters, in text and JSON", .requiresDatabase)
    func outputEscapes() throws {
        try withTestDatabase { db in
            try db.execute(
                """
                INSERT INTO scheduled_triggers (tenant_id, id, project_id, agent_id, name, description, cron_expression, next_run_at)
                VALUES ('acme', 'evil', 'proj', 'agent', $1, $2, '@daily', '2999-01-01T00:00:00Z')
                """, ["clear\u{1B}[2Jscreen", "line\u{9B}31m\u{7}bell\u{202E}"])
            try db.connect().insertInvocation(
                tenant: "acme", id: "inv1", trigger: "evil", slot: "2026-01-01T00:00:00Z", status: "failed",
                key: "key_inv1", attempt: 2, completedAt: .null)
            try db.execute("UPDATE scheduled_trigger_invocations SET last_error = $1", ["boom\u{1B}]0;title\u{7}"])
            let commands: [[String]] = [
                ["triggers", "list"], ["triggers", "list", "--json"], ["triggers", "show", "evil", "--tenant", "acme"],
                ["triggers", "show", "evil", "--tenant", "acme", "--json"], ["invocations", "list"],
                ["invocations", "list", "--json"],
            ]
            for command in commands {
                let result = try db.cli(command)
                #expect(result.exitCode == 0, "\(result)")
                let raw = result.stdout.unicodeScalars.filter {
                    ($0.value < 0x20 && $0 != "\n") || (0x7F...0x9F).contains($0.value) || $0.value == 0x202E
                }
                #expect(raw.isEmpty, "\(command): raw control characters \(raw.map { String($0.value, radix: 16) })")
            }
            let text = try db.cli(["triggers", "show", "evil", "--tenant", "acme"])
            #expect(text.stdout.contains("clear\\x1b[2Jscreen"), "\(text.stdout)")
            #expect(text.stdout.contains("line\\u{9B}31m\\x07bell\\u{202E}"), "\(text.stdout)")
            // JSON still reads back to the stored text.
            let json = try db.cli(["triggers", "show", "evil", "--tenant", "acme", "--json"])
            let parsed = try JSONValue.parse(json.stdout[...].trimmingCharacters(in: "\n"))
            #expect(parsed["name"]?.stringValue == "clear\u{1B}[2Jscreen")
            #expect(parsed["description"]?.stringValue == "line\u{9B}31m\u{7}bell\u{202E}")
            let invocations = try db.cli(["invocations", "list", "--json"])
            let list = try JSONValue.parse(invocations.stdout[...].trimmingCharacters(in: "\n"))
            guard case .array(let rows) = list else { Issue.record("not an array"); return }
            #expect(rows.first?["last_error"]?.stringValue == "boom\u{1B}]0;title\u{7}")
        }
    }

    struct MaskCase: Sendable, CustomTestStringConvertible {
        /// Arguments with PORT replaced by the silent listener's port.
        var arguments: [String]
        var secret: String
        var testDescription: String { arguments.joined(separator: " ") }
    }

    static let maskCases: [MaskCase] = [
        MaskCase(arguments: ["--database-url", "postgresql://ops:Pw-URI-9x@127.0.0.1:PORT/db?sslmode=disable"], secret: "Pw-URI-9x"),
        MaskCase(arguments: ["--database-url=postgresql://ops:Pw-EQ-9x@127.0.0.1:PORT/db"], secret: "Pw-EQ-9x"),
        MaskCase(arguments: ["--database-url", "postgres://ops@127.0.0.1:PORT/db?password=Pw-Query-9x&sslmode=disable"], secret: "Pw-Query-9x"),
        MaskCase(arguments: ["--database-url", "host=127.0.0.1 port=PORT user=ops password=Pw-KV-9x dbname=db"], secret: "Pw-KV-9x"),
        MaskCase(arguments: ["--database-url=host=127.0.0.1 port=PORT password='Pw Quoted 9x' dbname=db"], secret: "Pw Quoted 9x"),
    ]

    /// The dispatcher connects to a listener that accepts and never answers, so it lives until
    /// its connect timeout; once the listener sees the connection, parsing (and masking) is done.
    @Test("the database password given with --database-url is not left in /proc/PID/cmdline", arguments: maskCases)
    func passwordMasked(_ example: MaskCase) throws {
        let (listener, port) = Loopback.boundSocket(listening: true)
        defer { close(listener) }
        let arguments = ["run", "--connect-timeout", "60"] + example.arguments.map { $0.replacing("PORT", with: String(port)) }
        let process = try ChildProcess("dispatch-due", arguments, environment: ChildProcess.dispatcherEnvironment([:]))
        defer {
            process.send(SIGKILL)
            _ = process.wait()
        }
        var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        #expect(poll(&poller, 1, 60_000) == 1, "the dispatcher never connected")
        let connection = accept(listener, nil, nil)
        defer { if connection >= 0 { close(connection) } }
        let commandLine = Self.commandLine(of: process.pid)
        #expect(!commandLine.isEmpty)
        #expect(!commandLine.contains(example.secret), "\(commandLine)")
        #expect(commandLine.contains("127.0.0.1"), "only the password is masked: \(commandLine)")
        #expect(commandLine.contains(String(repeating: "*", count: example.secret.utf8.count)), "\(commandLine)")
    }

    @Test("password ranges in URIs and conninfo strings", arguments: [
        ("postgresql://u:pw@h/db", "postgresql://u:**@h/db"),
        ("postgresql://u:p%40w@h:5432,h2/db?password=x&a=b", "postgresql://u:*****@h:5432,h2/db?password=*&a=b"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("host=h password=pw dbname=d", "host=h password=** dbname=d"),
        ("host=h password = 'a b\\' c' dbname=d", "host=h password = '*******' dbname=d"),
        ("dbname='host=h password=secret'", "dbname='host=h password=******'"),
        ("dbname=postgresql://u:pw@h/db", "dbname=postgresql://u:**@h/db"),
        ("host=h", "host=h"),
    ])
    func passwordRanges(input: String, expected: String) {
        var bytes = Array(input.utf8)
        for range in DatabaseURLMasking.passwordRanges(in: bytes) {
            for index in range { bytes[index] = UInt8(ascii: "*") }
        }
        #expect(String(decoding: bytes, as: UTF8.self) == expected)
    }

    static func commandLine(of pid: pid_t) -> String {
        let descriptor = open("/proc/\(pid)/cmdline", O_RDONLY)
        guard descriptor >= 0 else { return "" }
        defer { close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: 65_536)
        let count = bytes.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        guard count > 0 else { return "" }
        return String(decoding: bytes[..<count].map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
    }
}
