import DispatchCore
import Postgres

/// A private, migrated database on the test PostgreSQL (started by `make test`), so tests
/// running in parallel never see each other's rows.
public struct TestDatabase: Sendable {
    public let name: String
    /// conninfo for this database; pass it to spawned dispatchers as DATABASE_URL.
    public let url: String
    let adminURL: String

    /// The admin conninfo from DISPATCH_DUE_TEST_DATABASE_URL (set by `make test`).
    public static var adminURL: String {
        guard let url = Environment.get("DISPATCH_DUE_TEST_DATABASE_URL"), !url.isEmpty else {
            fatalError("DISPATCH_DUE_TEST_DATABASE_URL is not set: run the tests with `make test`")
        }
        return url
    }

    /// Creates an empty database; `migrated: true` (the default) applies the built-in migrations.
    public static func create(migrated: Bool = true) throws -> TestDatabase {
        let admin = adminURL
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

public func randomHex(_ count: Int) -> String {
    var generator = SystemRandomNumberGenerator()
    let digits = Array("0123456789abcdef")
    return String((0..<count).map { _ in digits[Int(generator.next() % 16)] })
}
