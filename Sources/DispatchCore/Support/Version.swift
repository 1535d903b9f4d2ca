import CBuildInfo

/// The build's version and commit, generated at build time by scripts/embed-version.sh
/// (VERSION file + git describe): `0.1.0` for the tagged commit, `0.1.0-dev+g<sha>` otherwise.
public enum DispatchDueVersion {
    public static let current = String(cString: dd_build_version())
    /// The full commit hash (`-dirty` when built with uncommitted changes), or `unknown`.
    public static let commit = String(cString: dd_build_commit())
    /// What `--version` prints: one line, version then commit.
    public static let versionLine = "\(current) (commit \(commit))"
}

