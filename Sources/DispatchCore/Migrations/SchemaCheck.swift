import Postgres

/// The schema a cycle finds, against the migrations this binary was built with (contract §1).
/// A database migrated by a newer release (migrations this binary does not know) or not yet
/// migrated to this one (migrations missing) is refused before any work is claimed: the
/// columns this binary reads and writes may not be the ones the database has.
public struct SchemaCheck: Sendable {
    public let migrator: Migrator

    public init(migrator: Migrator) { self.migrator = migrator }

    /// The check the commands use: against the migrations compiled into the binary.
    public static func embedded() throws -> SchemaCheck {
        SchemaCheck(migrator: try Migrator.embedded())
    }

    /// What the database holds, by name, and the highest version on each side.
    public struct Versions: Sendable, Equatable {
        public var database: Int
        public var binary: Int
        /// Recorded in the database, not among this binary's migrations.
        public var unknown: [String]
        /// Among this binary's migrations, not recorded in the database.
        public var missing: [String]

        public var isCurrent: Bool { unknown.isEmpty && missing.isEmpty }

        /// Why a cycle must not run on this schema; nil when it may.
        public var problem: DispatchFailure? {
            if !unknown.isEmpty {
                return .schemaMismatch(detail: """
                    the database schema is version \(database), newer than this binary's \(binary): it holds \
                    migration(s) \(unknown.joined(separator: ", ")) that this binary does not know; \
                    deploy the release that migrated it (or a newer one)
                    """)
            }
            if !missing.isEmpty {
                return .schemaMismatch(detail: """
                    the database schema is version \(database), older than this binary's \(binary): \
                    migration(s) \(missing.joined(separator: ", ")) are not applied; run `dispatch-due migrate`
                    """)
            }
            return nil
        }
    }

    /// One statement: the recorded migration names, plus (when given) the session's
    /// server-side timeouts, a safety net under the client's own limits.
    static let sql = """
        SELECT (SELECT coalesce(string_agg(name, E'\\n' ORDER BY name), '') FROM schema_migrations) AS names,
               CASE WHEN $1::text IS NULL THEN NULL ELSE set_config('statement_timeout', $1, false) END AS statement_timeout,
               CASE WHEN $1::text IS NULL THEN NULL ELSE set_config('lock_timeout', $1, false) END AS lock_timeout
        """

    /// Reads the recorded migrations (one cheap statement) and compares them with this binary's.
    /// Throws `DispatchFailure.schemaMissing` when nothing was ever migrated.
    public func versions(
        on connection: borrowing Connection, serverTimeoutSeconds: Double? = nil
    ) throws -> Versions {
        let timeout = serverTimeoutSeconds.map { "\(Int(($0 * 1000).rounded(.up)))ms" }
        let row: Row
        do {
            guard let first = try connection.query(Self.sql, [timeout]).first else {
                throw PostgresError(kind: .statement, message: "the schema query returned no row")
            }
            row = first
        } catch let error as PostgresError where error.isUndefinedTable {
            throw DispatchFailure.schemaMissing(detail: "no schema_migrations table: \(error.message)")
        }
        let recorded = (row["names"] ?? "").split(separator: "\n").map(String.init)
        if recorded.isEmpty { throw DispatchFailure.schemaMissing(detail: "schema_migrations is empty") }
        let known = Set(migrator.migrations.map(\.name))
        let recordedSet = Set(recorded)
        return Versions(
            database: recorded.compactMap(Self.version).max() ?? 0,
            binary: migrator.migrations.map(\.version).max() ?? 0,
            unknown: recorded.filter { !known.contains($0) }.sorted(),
            missing: migrator.migrations.map(\.name).filter { !recordedSet.contains($0) })
    }

    /// Refuses a schema this binary cannot run on (`schemaMissing` / `schemaMismatch`).
    public func verify(on connection: borrowing Connection, serverTimeoutSeconds: Double? = nil) throws {
        let versions = try versions(on: connection, serverTimeoutSeconds: serverTimeoutSeconds)
        if let problem = versions.problem { throw problem }
    }

    /// `0003_more.sql` → 3.
    static func version(_ name: String) -> Int? {
        let digits = name.prefix { $0.isASCII && $0.isNumber }
        return digits.isEmpty ? nil : Int(digits)
    }
}
