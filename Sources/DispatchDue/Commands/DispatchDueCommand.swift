import ArgumentParser
import CBuildInfo

/// The `dispatch-due` command line. Each subcommand only parses and reports;
/// the work is done by the types it calls.
public struct DispatchDueCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dispatch-due",
        abstract: "Fire scheduled agent runs: one dispatch cycle against PostgreSQL, then exit.",
        discussion: ExitStatus.rootHelpText,
        version: DispatchDueVersion.versionLine,
        subcommands: [
            RunCommand.self,
            MigrateCommand.self,
            NextCommand.self,
            BackfillCommand.self,
            StatusCommand.self,
            TriggersCommand.self,
            InvocationsCommand.self,
            PruneCommand.self,
        ])
    // No default subcommand: a bare `dispatch-due` prints help (contract §5), so a typo or a
    // forgotten argument never starts a dispatch cycle.

    public init() {}
}

/// The build's version and commit, generated at build time by scripts/embed-version.sh
/// (VERSION file + git describe): `0.1.0` for the tagged commit, `0.1.0-dev+g<sha>` otherwise.
public enum DispatchDueVersion {
    public static let current = String(cString: dd_build_version())
    /// The full commit hash (`-dirty` when built with uncommitted changes), or `unknown`.
    public static let commit = String(cString: dd_build_commit())
    /// What `--version` prints: one line, version then commit.
    public static let versionLine = "\(current) (commit \(commit))"
}

