import Postgres

/// One numbered schema change: `0001_name.sql`.
public struct Migration: Sendable, Equatable {
    public var version: Int
    public var name: String
    public var sql: String
}

/// What `migrate --status` reports per file.
public struct MigrationState: Sendable, Equatable {
    /// `unknown`: recorded in the database, but not among these migrations (a newer release's).
    public enum State: String, Sendable { case applied, pending, modified, unknown }
    public var name: String
    public var state: State
    public var appliedAt: String?
}

public struct MigrationError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}

/// Applies numbered migrations in order, each in its own transaction, under an advisory
/// lock so that concurrent `migrate` runs serialise: the second waits, then finds nothing to do.
public struct Migrator: Sendable {
    /// pg_advisory_lock key shared by every dispatch-due version ("dd-migr" in ASCII).
    static let lockKey: Int64 = 0x6464_2D6D_6967_72
    public let migrations: [Migration]

    public init(migrations: [Migration]) { self.migrations = migrations }

    /// The migrations compiled into the binary.
    public static func embedded() throws(MigrationError) -> Migrator {
        try Migrator(migrations: parse(EmbeddedMigrations.files.map { ($0.name, $0.sql) }))
    }

    /// The `NNNN_*.sql` files of a folder.
    public static func directory(_ path: String) throws(MigrationError) -> Migrator {
        do {
            let names = try FileSystem.listDirectory(path).filter { $0.hasSuffix(".sql") }
            var files: [(String, String)] = []
            for name in names { files.append((name, try FileSystem.readText(path + "/" + name))) }
            return try Migrator(migrations: parse(files))
        } catch let error as FileSystemError {
            throw MigrationError(message: "cannot read migrations: \(error)")
        } catch let error as MigrationError {
            throw error
        } catch {
            throw MigrationError(message: "cannot read migrations: \(error)")
        }
    }

    static func parse(_ files: [(String, String)]) throws(MigrationError) -> [Migration] {
        var migrations: [Migration] = []
        for (name, sql) in files {
            let digits = name.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, let version = Int(digits), name.dropFirst(digits.count).hasPrefix("_") else {
                throw MigrationError(message: "migration file \(name) must be named NNNN_description.sql")
            }
            if let clash = migrations.first(where: { $0.version == version }) {
                throw MigrationError(message: "migration files \(clash.name) and \(name) share number \(version)")
            }
            migrations.append(Migration(version: version, name: name, sql: sql))
        }
        return migrations.sorted { $0.version < $1.version }
    }

    /// Applies what is pending; returns the names applied now (empty when up to date).
    public func apply(on connection: borrowing Connection) throws -> [String] {
        try connection.query("SELECT pg_advisory_lock($1)", [Self.lockKey])
        defer { _ = try? connection.query("SELECT pg_advisory_unlock($1)", [Self.lockKey]) }
        try ensureLedger(on: connection)
        let recorded = try recordedChecksums(on: connection)
        let checksums = try computeChecksums(on: connection)
        // Refuse before applying anything: a migration this binary does not know means a newer
        // release migrated the database, and applying older files on top could undo its work.
        let known = Set(migrations.map(\.name))
        let unknown = recorded.keys.filter { !known.contains($0) }.sorted()
        if !unknown.isEmpty {
            let newest = unknown.compactMap(SchemaCheck.version).max() ?? 0
            throw MigrationError(message: """
                the database holds migration(s) \(unknown.joined(separator: ", ")) that this binary does not know \
                (database schema version \(newest), this binary's \(migrations.map(\.version).max() ?? 0)): \
                it was migrated by a newer release; use that release (or a newer one), nothing was applied
                """)
        }
        // An edited applied file means the database and the files disagree about what the schema is.
        for migration in migrations {
            if let stored = recorded[migration.name], stored.checksum != checksums[migration.name] {
                throw MigrationError(message: """
                    migration \(migration.name) was applied with checksum \(stored.checksum) but the file now has \
                    \(checksums[migration.name] ?? "?"); applied migrations must not be edited — add a new numbered file instead
                    """)
            }
        }
        var applied: [String] = []
        for migration in migrations where recorded[migration.name] == nil {
            do {
                try connection.transaction {
                    try connection.executeScript(migration.sql)
                    try connection.query(
                        "INSERT INTO schema_migrations (name, version, checksum) VALUES ($1, $2, $3)",
                        [migration.name, migration.version, checksums[migration.name]!])
                }
            } catch let error as PostgresError {
                throw MigrationError(message: "migration \(migration.name) failed and was rolled back: \(error)")
            }
            applied.append(migration.name)
        }
        return applied
    }

    /// Each known file's state, without changing anything.
    public func status(on connection: borrowing Connection) throws -> [MigrationState] {
        let exists = try connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL AS present")
        let recorded = try exists.first!.bool("present") ? try recordedChecksums(on: connection) : [:]
        let checksums = try computeChecksums(on: connection)
        let known = Set(migrations.map(\.name))
        var states = migrations.map { migration in
            guard let stored = recorded[migration.name] else {
                return MigrationState(name: migration.name, state: .pending, appliedAt: nil)
            }
            let state: MigrationState.State = stored.checksum == checksums[migration.name] ? .applied : .modified
            return MigrationState(name: migration.name, state: state, appliedAt: stored.appliedAt)
        }
        // Recorded by a release this binary does not know: listed, so the operator sees it.
        for name in recorded.keys.filter({ !known.contains($0) }).sorted() {
            states.append(MigrationState(name: name, state: .unknown, appliedAt: recorded[name]?.appliedAt))
        }
        return states
    }

    private func ensureLedger(on connection: borrowing Connection) throws {
        try connection.query("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                name       text PRIMARY KEY,
                version    integer NOT NULL,
                checksum   text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """)
    }

    private func recordedChecksums(on connection: borrowing Connection) throws
        -> [String: (checksum: String, appliedAt: String)]
    {
        var result: [String: (checksum: String, appliedAt: String)] = [:]
        for row in try connection.query("SELECT name, checksum, applied_at::text AS applied_at FROM schema_migrations") {
            result[try row.string("name")] = (try row.string("checksum"), try row.string("applied_at"))
        }
        return result
    }

    /// SHA-256 of each file, computed by the server so the binary needs no crypto code.
    private func computeChecksums(on connection: borrowing Connection) throws -> [String: String] {
        let rows = try connection.query("""
            SELECT name, encode(sha256(convert_to(sql, 'UTF8')), 'hex') AS checksum
            FROM unnest($1::text[], $2::text[]) AS m(name, sql)
            """, [PostgresArray(migrations.map(\.name)), PostgresArray(migrations.map(\.sql))])
        var result: [String: String] = [:]
        for row in rows { result[try row.string("name")] = try row.string("checksum") }
        return result
    }
}
