import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Testing

/// Release engineering: the binary names its version and commit, and generates the shell
/// completions `make install` installs. (`make install` itself needs a release build, too slow
/// for the suite; it runs these same commands.)
@Suite("release: version, commit and completions")
struct ReleaseTests {
    @Test("--version prints the VERSION file's version and the checkout's commit", .requiresEmbeddedVersion)
    func versionAndCommit() throws {
        let repository = ChildProcess.repositoryDirectory
        let base = try FileSystem.readText(repository + "/VERSION").filter { !$0.isWhitespace }
        let head = try ChildProcess.run("/usr/bin/git", ["-C", repository, "rev-parse", "HEAD"])
        let result = try ChildProcess.run("dispatch-due", ["--version"])
        #expect(result.exitCode == 0, "\(result)")
        let line = result.stdout.filter { $0 != "\n" }
        #expect(line.hasPrefix(base), "\(line)")
        if head.exitCode == 0 {
            let sha = head.stdout.filter { !$0.isWhitespace }
            // Built from this checkout: `0.1.0-dev+g<12 hex> (commit <full sha>)` or, on the
            // tagged commit, `0.1.0 (commit <full sha>)`.
            #expect(line.contains("(commit \(sha)"), "\(line) should name \(sha)")
            #expect(line.hasPrefix(base + " ") || line.hasPrefix(base + "+") || line.hasPrefix(base + "-dev+g" + sha.prefix(12)), "\(line)")
        }
        #expect(DispatchDueVersion.versionLine == line)
    }

    @Test("the binary generates a completion script for each shell", arguments: [
        ("bash", "complete"), ("zsh", "#compdef dispatch-due"), ("fish", "complete -c 'dispatch-due'"),
    ])
    func completions(shell: String, marker: String) throws {
        let result = try ChildProcess.run("dispatch-due", ["--generate-completion-script", shell])
        #expect(result.exitCode == 0, "\(result)")
        #expect(result.stdout.contains(marker), "\(shell): \(result.stdout.prefix(200))")
        for command in ["run", "migrate", "status", "triggers", "invocations"] {
            #expect(result.stdout.contains(command), "\(shell) completion lacks \(command)")
        }
    }

    @Test("the help dump generate-manual reads is produced")
    func helpDump() throws {
        let result = try ChildProcess.run("dispatch-due", ["--experimental-dump-help"])
        #expect(result.exitCode == 0)
        let object = try JSONValue.parse(result.stdout)
        #expect(object["command"]?["commandName"]?.stringValue == "dispatch-due")
    }
}
