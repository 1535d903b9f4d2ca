import DispatchDue
import DispatchDueTestSupport
import Testing

/// A deliberate mistake in one deploy file, and the check that must catch it.
struct DeployBreakage: CustomTestStringConvertible, Sendable {
    var name: String
    var file: String
    var find: String
    var replace: String
    /// Text the failing check prints.
    var reported: String
    var testDescription: String { name }
}

@Suite("deploy files")
struct DeployTests {
    static var repository: String { ChildProcess.repositoryDirectory }

    static func check(_ deployDirectory: String) throws -> ProcessResult {
        try ChildProcess.run("/bin/bash", [repository + "/scripts/check-deploy.sh", deployDirectory], timeoutSeconds: 600)
    }

    @Test("the shipped deploy/ files pass every check")
    func shippedFilesPass() throws {
        let result = try Self.check(Self.repository + "/deploy")
        #expect(result.exitCode == 0, "\(result)")
        for check in ["systemd-analyze verify", "systemd-analyze security", "kubernetes-validate", "hadolint"] {
            #expect(result.stdout.contains("ok   \(check)"), "\(check) did not run:\n\(result)")
        }
    }

    static let breakages: [DeployBreakage] = [
        DeployBreakage(
            name: "a timer with an invalid calendar", file: "systemd/dispatch-due.timer",
            find: "OnCalendar=minutely", replace: "OnCalendar=every minute", reported: "systemd-analyze verify"),
        DeployBreakage(
            name: "a misspelt service key (systemd only warns)", file: "systemd/dispatch-due.service",
            find: "NoNewPrivileges=yes", replace: "NoNewPrivilege=yes", reported: "Unknown key"),
        DeployBreakage(
            name: "hardening loosened: capabilities kept", file: "systemd/dispatch-due.service",
            find: "\nCapabilityBoundingSet=\n", replace: "\nCapabilityBoundingSet=~CAP_SYS_BOOT\n",
            reported: "systemd-analyze security"),
        DeployBreakage(
            name: "a misspelt CronJob field", file: "kubernetes/cronjob.yaml",
            find: "startingDeadlineSeconds: 50", replace: "startingDeadlineSecond: 50",
            reported: "startingDeadlineSecond"),
        DeployBreakage(
            name: "a CronJob field of the wrong type", file: "kubernetes/cronjob.yaml",
            find: "backoffLimit: 0", replace: "backoffLimit: none", reported: "kubernetes-validate"),
        DeployBreakage(
            name: "a Containerfile instruction with a bad flag", file: "container/Containerfile",
            find: "COPY --from=build", replace: "COPY --frm=build", reported: "hadolint"),
    ]

    @Test("a broken copy fails its check", arguments: breakages)
    func brokenCopyFails(_ breakage: DeployBreakage) throws {
        let scratch = try Ops.scratchDirectory()
        defer { Ops.removeTree(scratch) }
        let copy = try ChildProcess.run("/bin/cp", ["-R", Self.repository + "/deploy", scratch + "/deploy"])
        #expect(copy.exitCode == 0, "\(copy)")
        let path = scratch + "/deploy/" + breakage.file
        let original = try FileSystem.readText(path)
        #expect(original.contains(breakage.find), "\(breakage.file) no longer contains \(breakage.find)")
        try FileSystem.writeAtomically(original.replacing(breakage.find, with: breakage.replace), to: path)

        let result = try Self.check(scratch + "/deploy")
        #expect(result.exitCode == 1, "\(result)")
        #expect(result.stderr.contains(breakage.reported), "\(result)")
    }

    /// Every deploy file starts the same command (SPEC §5): the binary's `run`, and `migrate`
    /// for the Kubernetes migration Job; systemd and the container treat 143 as the documented
    /// SIGTERM exit, and wait longer than the cycle's 10 s grace before killing it.
    @Test("deploy files start the same command and respect the exit codes and the grace period")
    func sameCommand() throws {
        let deploy = Self.repository + "/deploy"
        let service = try FileSystem.readText(deploy + "/systemd/dispatch-due.service")
        #expect(service.contains("\nExecStart=/usr/local/bin/dispatch-due run "))
        #expect(service.contains("\nSuccessExitStatus=143\n"))
        #expect(service.contains("\nType=oneshot\n"))
        let stopTimeout = service.split(separator: "\n").first { $0.hasPrefix("TimeoutStopSec=") }
            .flatMap { Int($0.dropFirst("TimeoutStopSec=".count)) }
        #expect((stopTimeout ?? 0) > 10)

        let cronJob = try FileSystem.readText(deploy + "/kubernetes/cronjob.yaml")
        #expect(cronJob.contains("args: [\"run\""))
        #expect(cronJob.contains("values: [143]"))
        let grace = cronJob.split(separator: "\n").first { $0.contains("terminationGracePeriodSeconds:") }
            .flatMap { Int($0.split(separator: ":").last!.trimmingCharacters(in: " ")) }
        #expect((grace ?? 0) > 10)
        let migrate = try FileSystem.readText(deploy + "/kubernetes/migrate-job.yaml")
        #expect(migrate.contains("args: [\"migrate\"]"))

        let containerfile = try FileSystem.readText(deploy + "/container/Containerfile")
        #expect(containerfile.contains("ENTRYPOINT [\"/usr/local/bin/dispatch-due\"]"))
        #expect(containerfile.contains("CMD [\"run\""))

        // The flags the deploy files pass exist: the binary accepts them (it only fails on
        // the database, which is absent here: exit 1, not the usage error 64).
        let result = try ChildProcess.run(
            "dispatch-due", ["run", "--log-format", "json", "--metrics-file", "/nonexistent/dispatch_due.prom",
                             "--database-url", "host=/nonexistent port=1", "--connect-timeout", "2"])
        #expect(result.exitCode == 69, "\(result)")
    }
}

extension Substring {
    func trimmingCharacters(in set: Character) -> String {
        String(drop { $0 == set }.reversed().drop { $0 == set }.reversed())
    }
}
