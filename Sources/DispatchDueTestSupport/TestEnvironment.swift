import DispatchCore

/// What the run provides beyond the package itself, for the test traits that skip a suite when
/// it is missing (`.requiresDatabase` and friends, Tests/DispatchDueTests/TestTraits.swift).
///
/// A plain `swift test` skips what it cannot run; `make test` sets DISPATCH_DUE_TEST_STRICT=1,
/// and then nothing skips: a missing database, validator or embedded version fails its tests.
public enum TestEnvironment {
    /// Set by `make test`: every suite must run.
    public static var isStrict: Bool { Environment.get("DISPATCH_DUE_TEST_STRICT") == "1" }

    /// The deploy-file validators of scripts/check-deploy.sh are installed (by `make check-deploy`
    /// or `scripts/check-deploy.sh install`); installing them takes minutes and the network.
    public static var hasDeployTools: Bool {
        let tools = Environment.get("DEPLOY_TOOLS_DIR").flatMap { $0.isEmpty ? nil : $0 }
            ?? ChildProcess.repositoryDirectory + "/.local/deploy-tools"
        return (try? FileSystem.readText(tools + "/venv/.packages")) != nil
    }

    /// The build embedded VERSION and this checkout's commit (`make build` runs
    /// scripts/embed-version.sh; a plain `swift build` says 0.0.0-unknown, and a header embedded
    /// by an earlier `make build` names an older commit until the next one).
    public static var hasEmbeddedVersion: Bool {
        let commit = DispatchDueVersion.commit
        guard commit != "unknown" else { return false }
        guard let head = try? ChildProcess.run("/usr/bin/git", ["-C", ChildProcess.repositoryDirectory, "rev-parse", "HEAD"]),
            head.exitCode == 0
        else { return true }
        return commit.hasPrefix(head.stdout.filter { !$0.isWhitespace })
    }
}
