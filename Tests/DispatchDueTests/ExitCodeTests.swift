#if canImport(Glibc)
import Glibc
#endif
@testable import DispatchCore
@testable import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// contract §5: sysexits codes, mapped in one place (`ExitStatus.outcome(for:)`), listed in each
/// command's --help; a bare `dispatch-due` prints help and runs nothing.
@Suite("exit codes")
struct ExitCodeTests {
    struct Mapping: Sendable, CustomTestStringConvertible {
        var name: String
        var error: any Error & Sendable
        var code: Int32
        var testDescription: String { name }
    }

    static let mappings: [Mapping] = [
        Mapping(name: "schema missing", error: DispatchFailure.schemaMissing(detail: "x"), code: 1),
        Mapping(name: "schema newer", error: DispatchFailure.schemaMismatch(detail: "x"), code: 1),
        Mapping(name: "not found", error: DispatchFailure.notFound(detail: "x"), code: 1),
        Mapping(name: "credentials rejected", error: DispatchFailure.credentialsRejected(detail: "401"), code: 77),
        Mapping(name: "configuration", error: DispatchFailure.configuration(detail: "no URL"), code: 78),
        Mapping(
            name: "database unavailable",
            error: DispatchFailure.databaseUnavailable(PostgresError(kind: .connection, message: "refused")), code: 69),
        Mapping(name: "connection lost", error: PostgresError(kind: .connection, message: "lost"), code: 69),
        Mapping(name: "server shutting down", error: PostgresError(kind: .statement, sqlState: "57P01", message: "x"), code: 69),
        Mapping(name: "connection exception", error: PostgresError(kind: .statement, sqlState: "08006", message: "x"), code: 69),
        Mapping(name: "bad connection string", error: PostgresError(kind: .badConnectionString, message: "x"), code: 78),
        Mapping(name: "undefined table", error: PostgresError(kind: .statement, sqlState: "42P01", message: "x"), code: 1),
        Mapping(name: "other statement error", error: PostgresError(kind: .statement, sqlState: "23505", message: "x"), code: 1),
        Mapping(name: "invalid input", error: ManagementError.invalid("bad cron"), code: 64),
        Mapping(name: "row not found", error: ManagementError.notFound("no such trigger"), code: 1),
        Mapping(name: "row refused", error: ManagementError.refused("completed"), code: 1),
        Mapping(name: "command failure", error: ExitStatus.fail(64, "usage"), code: 64),
    ]

    @Test("each error maps to its contract §5 code", arguments: mappings)
    func mapping(_ mapping: Mapping) {
        #expect(ExitStatus.outcome(for: mapping.error).code == mapping.code)
    }

    @Test("a bare dispatch-due prints help, exits 0 and runs no cycle", .requiresDatabase)
    func bareCommandPrintsHelp() throws {
        try withTestDatabase { database in
            try PoisonFlagFixture.seed(database)
            let before = try database.snapshot()
            let result = try ChildProcess.run(
                "dispatch-due", [],
                environment: ChildProcess.dispatcherEnvironment([
                    "DATABASE_URL": database.url, "AGENTS_API_URL": "http://127.0.0.1:9", "AGENTS_API_KEY": "unused",
                ]))
            #expect(result.exitCode == 0, "\(result)")
            #expect(result.stdout.contains("SUBCOMMANDS:") && result.stdout.contains("run"), "\(result.stdout)")
            #expect(result.stdout.contains("dispatch-due run"))
            #expect(try database.snapshot() == before, "a bare dispatch-due changed the tables")
        }
    }

    struct HelpCase: Sendable, CustomTestStringConvertible {
        var arguments: [String]
        var listed: [String]
        var absent: [String]
        var testDescription: String { arguments.joined(separator: " ") }
    }

    static let helpCases: [HelpCase] = [
        HelpCase(arguments: ["run", "--help"], listed: ["0 ", "1 ", "64 ", "69 ", "77 ", "78 ", "130 ", "143 "], absent: []),
        HelpCase(arguments: ["backfill", "--help"], listed: ["64 ", "69 ", "77 ", "78 "], absent: []),
        HelpCase(arguments: ["status", "--help"], listed: ["0 ", "1 ", "64 ", "69 ", "78 "], absent: ["77 ", "130 "]),
        HelpCase(arguments: ["migrate", "--help"], listed: ["0 ", "1 ", "64 ", "69 ", "78 "], absent: ["77 ", "130 "]),
        HelpCase(arguments: ["triggers", "add", "--help"], listed: ["0 ", "1 ", "64 ", "69 "], absent: ["77 ", "130 "]),
        HelpCase(arguments: ["invocations", "list", "--help"], listed: ["0 ", "1 ", "64 ", "69 "], absent: ["77 ", "130 "]),
        HelpCase(arguments: ["--help"], listed: ["64 ", "69 ", "77 ", "78 "], absent: []),
    ]

    @Test("each command's --help lists its own exit codes", arguments: helpCases)
    func helpListsCodes(_ example: HelpCase) throws {
        let result = try ChildProcess.run("dispatch-due", example.arguments)
        #expect(result.exitCode == 0, "\(result)")
        let section = result.stdout.split(separator: "EXIT CODES").dropFirst().joined()
        #expect(!section.isEmpty, "\(result.stdout)")
        let codes = section.split(separator: "\n").map { $0.drop { $0 == " " } }
        for code in example.listed {
            #expect(codes.contains { $0.hasPrefix(code) }, "\(code) missing: \(result.stdout)")
        }
        for code in example.absent {
            #expect(!codes.contains { $0.hasPrefix(code) }, "\(code) listed: \(result.stdout)")
        }
    }

    @Test("an unreachable database is 69, a malformed database URL 78, for every command", arguments: [
        ["run"], ["status"], ["migrate"], ["triggers", "list"], ["invocations", "list"],
    ])
    func databaseCodes(_ command: [String]) throws {
        let refused = try ChildProcess.run(
            "dispatch-due", command + ["--connect-timeout", "2"],
            extraEnvironment: ["DATABASE_URL": "postgresql://ops:pw-7Hq2@127.0.0.1:1/db?sslmode=disable"])
        #expect(refused.exitCode == 69, "\(refused)")
        #expect(!refused.stderr.contains("pw-7Hq2"))
        let malformed = try ChildProcess.run(
            "dispatch-due", command, extraEnvironment: ["DATABASE_URL": "host=127.0.0.1 password=pw-7Hq2 port"])
        #expect(malformed.exitCode == 78, "\(malformed)")
        #expect(!malformed.stderr.contains("pw-7Hq2"))
    }
}
