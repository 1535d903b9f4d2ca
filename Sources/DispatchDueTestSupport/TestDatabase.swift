import DispatchCore
import Postgres

/// A private, migrated database on the test PostgreSQL (started by `make test`), so tests
/// running in parallel never see each other's rows.
///
/// The test PostgreSQL is found through DISPATCH_DUE_TEST_DATABASE_URL, as postgres-nio's
/// integration tests find theirs. Without it the database suites are skipped (the trait
/// `.requiresDatabase`), so a plain `swift test` runs the pure suites; under `make test`
/// (`TestEnvironment.isStrict`) a missing URL fails every database test instead of skipping it.
public struct TestDatabase: Sendable {
    public let name: String
    /// conninfo for this database; pass it to spawned dispatchers as DATABASE_URL.
    public let url: String
    let adminURL: String

    /// The admin conninfo from DISPATCH_DUE_TEST_DATABASE_URL, or nil when it is not set.
    public static var configuredAdminURL: String? {
        guard let url = Environment.get("DISPATCH_DUE_TEST_DATABASE_URL"), !url.isEmpty else { return nil }
        return url
    }

    /// True when DISPATCH_DUE_TEST_DATABASE_URL names a test PostgreSQL.
    public static var isConfigured: Bool { configuredAdminURL != nil }

    /// Whether the database suites run: a database is configured, or the run is `make test`'s
    /// (then they run, and fail, rather than skip).
    public static var shouldRun: Bool { isConfigured || TestEnvironment.isStrict }

    /// The admin conninfo; throws (never traps) when DISPATCH_DUE_TEST_DATABASE_URL is not set.
    public static func adminURL() throws -> String {
        guard let url = configuredAdminURL else { throw NotConfigured() }
        return url
    }

    /// No test PostgreSQL: said once per failing test, with what to do.
    public struct NotConfigured: Error, CustomStringConvertible {
        public var description: String {
            "DISPATCH_DUE_TEST_DATABASE_URL is not set: run the database tests with `make test`"
                + " (it starts a private PostgreSQL), or point the variable at an admin conninfo"
        }
    }

    /// Creates an empty database; `migrated: true` (the default) applies the built-in migrations.
    public static func create(migrated: Bool = true) throws -> TestDatabase {
        let admin = try adminURL()
        let name = "dd_test_" + randomHex(12)
        let connection = try Connection(connectionString: admin, applicationName: "dispatch-due-tests")
        // Identifiers cannot be bound as parameters; the name is ours (hex only), never input.
        try connection.query("CREATE DATABASE \(name)")
        let database = TestDatabase(name: name, url: admin + " dbname=\(name)", adminURL: admin)
        if migrated {
            let own = try database.connect()
            _ = try Migrator.embedded().apply(on: own)
        }
        return database
    }

    public func connect() throws -> Connection {
        try Connection(connectionString: url, applicationName: "dispatch-due-tests")
    }

    /// Drops the database, ending any session still connected to it.
    public func drop() {
        guard let connection = try? Connection(connectionString: adminURL, applicationName: "dispatch-due-tests")
        else { return }
        _ = try? connection.query("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }
}

/// Runs `body` with a private database (migrated unless `migrated: false`), dropped afterwards
/// whatever `body` does. (The body opens its connections itself: a closure parameter of the
/// non-copyable `Connection` crashes Swift 6.3's SILGen when nested closures capture it.)
public func withTestDatabase<Result>(
    migrated: Bool = true, _ body: (TestDatabase) throws -> Result
) throws -> Result {
    let database = try TestDatabase.create(migrated: migrated)
    defer { database.drop() }
    return try body(database)
}

public func randomHex(_ count: Int) -> String {
    var generator = SystemRandomNumberGenerator()
    let digits = Array("0123456789abcdef")
    return String((0..<count).map { _ in digits[Int(generator.next() % 16)] })
}
