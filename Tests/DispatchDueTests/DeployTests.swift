import DispatchCore
import DispatchDueCLI
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

    @Test("the shipped deploy/ files pass every check", .requiresDeployTools)
    func shippedFilesPass() throws {
        let result = try Self.check(Self.repository + "/deploy")
        #expect(result.exitCode == 0, "\(result)")
        for check in [
            "systemd-analyze verify", "systemd-analyze security", "kubernetes-validate", "hadolint",
            "kustomization structure", "alert rules structure and metric names", "roles.sql present",
        ] {
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
        DeployBreakage(
            name: "an alert on a metric the binary does not write", file: "prometheus/alerts.yaml",
            find: "expr: dispatch_due_oldest_due_lag_seconds > 300", replace: "expr: dispatch_due_oldest_due_lag > 300",
            reported: "metric dispatch_due_oldest_due_lag is not written by dispatch-due"),
        DeployBreakage(
            name: "an alert with a duration Prometheus cannot parse", file: "prometheus/alerts.yaml",
            find: "for: 2m", replace: "for: 2 minutes", reported: "is not a duration"),
        DeployBreakage(
            name: "an alert expression with an unclosed bracket", file: "prometheus/alerts.yaml",
            find: "expr: dispatch_due_last_cycle_success == 0", replace: "expr: (dispatch_due_last_cycle_success == 0",
            reported: "unbalanced brackets"),
        DeployBreakage(
            name: "an alert without a severity", file: "prometheus/alerts.yaml",
            find: "severity: warning", replace: "priority: warning", reported: "labels.severity"),
        DeployBreakage(
            name: "a rules file that is not YAML", file: "prometheus/alerts.yaml",
            find: "groups:\n", replace: "groups:\n\t- broken\n", reported: "alert rules"),
        DeployBreakage(
            name: "a kustomization naming a file that does not exist", file: "kubernetes/kustomization.yaml",
            find: "  - lag-check-cronjob.yaml", replace: "  - lag-check.yaml",
            reported: "resource lag-check.yaml does not exist"),
        DeployBreakage(
            name: "a manifest left out of the kustomization", file: "kubernetes/kustomization.yaml",
            find: "  - configmap.yaml\n", replace: "", reported: "configmap.yaml is not listed in resources"),
        DeployBreakage(
            name: "an image pinned by tag instead of digest", file: "kubernetes/cronjob.yaml",
            find: "dispatch-due@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            replace: "dispatch-due:0.1.0", reported: "is not pinned by digest"),
        DeployBreakage(
            name: "a kustomize image entry with a tag", file: "kubernetes/kustomization.yaml",
            find: "    digest: sha256:", replace: "    newTag: \"0.1.0\"\n    digest: sha256:",
            reported: "pin by digest, not newTag"),
        DeployBreakage(
            name: "a patch for a Job that does not exist", file: "kubernetes/kustomization.yaml",
            find: "      name: dispatch-due-migrate\n", replace: "      name: dispatch-due-migration\n",
            reported: "patch target Job dispatch-due-migration"),
    ]

    @Test("a broken copy fails its check", .requiresDeployTools, arguments: breakages)
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

    /// Every deploy file starts the same command (docs/contract.md §5): the binary's `run`, and `migrate`
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
        // docs/exit-codes.md: 143 ignored, configuration/credentials/usage fail the Job at
        // once, an unreachable database is counted; podFailurePolicy needs restartPolicy Never.
        #expect(cronJob.contains("values: [143]"))
        #expect(cronJob.contains("- action: FailJob\n            onExitCodes:\n              containerName: dispatch-due\n              operator: In\n              values: [64, 77, 78]\n"))
        #expect(cronJob.contains("- action: Count\n            onExitCodes:\n              containerName: dispatch-due\n              operator: In\n              values: [69]\n"))
        #expect(cronJob.contains("restartPolicy: Never"))
        #expect(!cronJob.contains("values: [3]"))
        let grace = cronJob.split(separator: "\n").first { $0.contains("terminationGracePeriodSeconds:") }
            .flatMap { Int($0.split(separator: ":").last!.trimmingCharacters(in: " ")) }
        #expect((grace ?? 0) > 10)
        let migrate = try FileSystem.readText(deploy + "/kubernetes/migrate-job.yaml")
        #expect(migrate.contains("args: [\"migrate\"]"))
        #expect(migrate.contains("restartPolicy: Never"))
        // The migrate Job connects as the migrator role, the CronJobs as the dispatcher.
        #expect(migrate.contains("key: migrate-database-url"))
        #expect(cronJob.contains("key: database-url"))
        let lagCheck = try FileSystem.readText(deploy + "/kubernetes/lag-check-cronjob.yaml")
        #expect(lagCheck.contains("args: [\"status\", \"--max-lag\", \"300\""))
        // The lag limit is the same in the check and in the alert rules.
        let alerts = try FileSystem.readText(deploy + "/prometheus/alerts.yaml")
        #expect(alerts.contains("dispatch_due_oldest_due_lag_seconds > 300"))
        #expect(alerts.contains("dispatch_due_oldest_runnable_lag_seconds > 300"))

        let containerfile = try FileSystem.readText(deploy + "/container/Containerfile")
        #expect(containerfile.contains("ENTRYPOINT [\"/usr/local/bin/dispatch-due\"]"))
        #expect(containerfile.contains("CMD [\"run\""))

        // The flags the deploy files pass exist: the binary accepts them and fails only on the
        // database, which is absent here. That is 69 (docs/exit-codes.md); never the usage error 64 or the configuration
        // error 78, which would mean a deploy file passes something the binary refuses.
        let scratch = try Ops.scratchDirectory()
        defer { Ops.removeTree(scratch) }
        let result = try ChildProcess.run(
            "dispatch-due", ["run", "--log-format", "json", "--metrics-file", scratch + "/dispatch_due.prom",
                             "--database-url", "host=/nonexistent port=1", "--connect-timeout", "2"])
        #expect(result.exitCode == 69, "\(result)")
    }
}

extension Substring {
    func trimmingCharacters(in set: Character) -> String {
        String(drop { $0 == set }.reversed().drop { $0 == set }.reversed())
    }
}
