import DispatchDueTestSupport
import Testing

/// Conditions for suites that need more than the package: a plain `swift test` skips them when
/// it is missing; `make test` (DISPATCH_DUE_TEST_STRICT=1) runs them, so a missing piece fails loudly.
extension Trait where Self == ConditionTrait {
    /// The test PostgreSQL of DISPATCH_DUE_TEST_DATABASE_URL (`make test` starts one).
    static var requiresDatabase: Self {
        .enabled(
            if: TestDatabase.shouldRun,
            "needs the test PostgreSQL: DISPATCH_DUE_TEST_DATABASE_URL is not set (run `make test`)")
    }

    /// The deploy-file validators (`make check-deploy` installs them).
    static var requiresDeployTools: Self {
        .enabled(
            if: TestEnvironment.isStrict || TestEnvironment.hasDeployTools,
            "needs the deploy validators: run `make check-deploy` once (or `make test`)")
    }

    /// A build with VERSION and the commit embedded (`make build`, `make test`).
    static var requiresEmbeddedVersion: Self {
        .enabled(
            if: TestEnvironment.isStrict || TestEnvironment.hasEmbeddedVersion,
            "needs a build with this commit's version embedded: run `make build` or `make test`")
    }
}
