import DispatchDue
import DispatchDueTestSupport
import Postgres
import Testing

@Suite("migrate")
struct MigrationTests {
    @Test("applying twice is a no-op the second time")
    func migrateTwice() throws {
        let database = try TestDatabase.create(migrated: false)
        defer { database.drop() }
        let first = try ChildProcess.run("dispatch-due", ["migrate"], extraEnvironment: ["DATABASE_URL": database.url])
        #expect(first.exitCode == 0, "\(first)")
        #expect(first.stdout.contains("applied 0001_scheduled_triggers.sql"))
        let second = try ChildProcess.run("dispatch-due", ["migrate"], extraEnvironment: ["DATABASE_URL": database.url])
        #expect(second.exitCode == 0, "\(second)")
        #expect(second.stdout.contains("schema is up to date"))
        let connection = try database.connect()
        let count = try connection.query("SELECT count(*) AS n FROM schema_migrations").first!.int("n")
        #expect(count == Migrator.embeddedCount)
    }
}

extension Migrator {
    static var embeddedCount: Int { (try? Migrator.embedded().migrations.count) ?? -1 }
}
