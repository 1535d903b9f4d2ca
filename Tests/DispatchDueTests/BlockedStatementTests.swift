#if canImport(Glibc)
import Glibc
#endif
import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// Issue 11, item 6: no statement waits without limit. A table locked by another session holds
/// a cycle only until its deadline (max runtime) or a stop signal; the statement is cancelled on
/// the server, its transaction rolls back, and the work stays for the next cycle.
@Suite("blocked statements")
struct BlockedStatementTests {
    /// Waits until a dispatcher's session of `database` waits for a lock (or `process` ended).
    static func waitUntilBlocked(_ database: TestDatabase, _ process: ChildProcess) throws -> Bool {
        let observer = try database.connect()
        let giveUp = monotonicSeconds() + 60
        while monotonicSeconds() < giveUp {
            let waiting = try observer.query("""
                SELECT count(*) AS n FROM pg_stat_activity
                WHERE datname = current_database() AND application_name = 'dispatch-due' AND wait_event_type = 'Lock'
                """).first!.int("n")
            if waiting > 0 { return true }
            usleep(20_000)
        }
        return false
    }

    /// Due triggers of two tenants, then `scheduled_triggers` locked by a transaction of
    /// `locker` (released when the test rolls it back).
    static func seedAndLock(_ database: TestDatabase, _ locker: borrowing Connection) throws {
        let connection = try database.connect()
        for tenant in ["tenant-a", "tenant-b"] {
            try connection.insertTrigger(
                tenant: tenant, id: "yearly", cron: "0 0 1 1 *", nextRunAt: "2020-01-01T00:00:00Z")
        }
        try locker.query("BEGIN")
        try locker.query("LOCK TABLE scheduled_triggers IN ACCESS EXCLUSIVE MODE")
    }

    static func invocationCount(_ database: TestDatabase) throws -> String? {
        try database.connect().value("SELECT count(*) FROM scheduled_trigger_invocations")
    }

    @Test("SIGTERM while a statement waits for a locked table: exit 143 before the lock is released, nothing half-done", .requiresDatabase)
    func sigtermWhileBlocked() throws {
        try withTestDatabase { database in
            let locker = try database.connect()
            try Self.seedAndLock(database, locker)
            let dispatcher = try ChildProcess(
                "dispatch-due", ["run", "--record-only", "--log-format", "json", "--max-runtime", "120"],
                extraEnvironment: ["DATABASE_URL": database.url])
            #expect(try Self.waitUntilBlocked(database, dispatcher))
            dispatcher.send(SIGTERM)
            // The lock is held until this returns: the dispatcher ended while still blocked.
            let result = dispatcher.wait(timeoutSeconds: 60)
            let stillLocked = try database.connect().value("""
                SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                WHERE c.relname = 'scheduled_triggers' AND l.mode = 'AccessExclusiveLock' AND l.granted
                """)
            try locker.query("ROLLBACK")
            #expect(result.exitCode == 143, "\(result)")
            #expect(stillLocked == "1")
            // Its transaction was rolled back: nothing recorded, next_run_at unchanged.
            #expect(try Self.invocationCount(database) == "0")
            #expect(try database.connect().value("SELECT count(*) FROM scheduled_triggers WHERE next_run_at = '2020-01-01T00:00:00Z'") == "2")
            // Its session is gone, not left waiting on the server.
            #expect(try database.connect().value("""
                SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'dispatch-due'
                """) == "0")
            // The next cycle does the work.
            #expect(try database.runCycle().exitCode == 0)
            #expect(try Self.invocationCount(database) == "2")
        }
    }

    @Test("max runtime passes while a statement waits for a locked table: a warning, exit 0, the work left for the next cycle", .requiresDatabase)
    func maxRuntimeWhileBlocked() throws {
        try withTestDatabase { database in
            let locker = try database.connect()
            try Self.seedAndLock(database, locker)
            let dispatcher = try ChildProcess(
                "dispatch-due", ["run", "--record-only", "--log-format", "json", "--max-runtime", "2"],
                extraEnvironment: ["DATABASE_URL": database.url])
            let result = dispatcher.wait(timeoutSeconds: 60)
            let lockHolder = try database.connect().value("""
                SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                WHERE c.relname = 'scheduled_triggers' AND l.mode = 'AccessExclusiveLock' AND l.granted
                """)
            try locker.query("ROLLBACK")
            #expect(result.exitCode == 0, "\(result)")
            #expect(lockHolder == "1", "the dispatcher must end while the lock is still held")
            #expect(!logLines(result.stderr, event: "dispatch.interrupted").isEmpty, "\(result.stderr)")
            #expect(try Self.invocationCount(database) == "0")
            #expect(try database.runCycle().exitCode == 0)
            #expect(try Self.invocationCount(database) == "2")
        }
    }

    @Test("a statement under a limit is cancelled on the server when the limit fires; the connection stays usable", .requiresDatabase)
    func limitCancelsStatement() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            var caught: PostgresError?
            do {
                try connection.withStatementLimit(.seconds(0.2)) {
                    try connection.transaction {
                        try connection.query("CREATE TABLE scratch (n int)")
                        try connection.query("SELECT pg_sleep(60)")
                    }
                }
            } catch let error as PostgresError {
                caught = error
            }
            #expect(caught?.kind == .cancelled, "\(String(describing: caught))")
            #expect(caught?.sqlState == "57014")
            // Rolled back whole, and the same connection answers at once.
            #expect(try connection.value("SELECT to_regclass('scratch') IS NULL") == "t")
            #expect(try connection.value("SELECT 1") == "1")
        }
    }

    @Test("a limit that never fires changes nothing: statements end on their own", .requiresDatabase)
    func limitThatDoesNotFire() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            let rows = try connection.withStatementLimit(.seconds(600)) {
                try connection.query("SELECT n FROM generate_series(1, 3) AS n")
            }
            #expect(rows.map { $0["n"] ?? "" } == ["1", "2", "3"])
        }
    }

    @Test("a cycle's limit: a statement running at the stop gets the grace, one started after it its own bound")
    func cycleLimitRules() throws {
        // A clock the test moves, and a stop the test requests: no real time involved.
        final class Fake: @unchecked Sendable {
            var now = 100.0
            var stop = false
        }
        let fake = Fake()
        let deadline = CycleDeadline(
            maxRuntimeSeconds: 50, startedAt: 100, clock: { fake.now }, stop: StopCondition { fake.stop })
        let limit = deadline.statementLimit(interruptGraceSeconds: 0.5, finishingSeconds: 5)

        let running = limit.begin()
        fake.now = 120
        #expect(running() == nil)
        fake.stop = true
        #expect(running() == nil, "the grace starts when the stop is first seen")
        fake.now = 120.4
        #expect(running() == nil)
        fake.now = 120.6
        #expect(running() == "stop requested")

        // Started after the stop (a release): not cancelled by the stop, only by its own bound.
        let finishing = limit.begin()
        fake.now = 125.5
        #expect(finishing() == nil)
        fake.now = 125.7
        #expect(finishing() != nil)

        // Max runtime: cut at 50 s + the grace, counted from the deadline itself.
        fake.stop = false
        fake.now = 149
        let late = limit.begin()
        fake.now = 150.3
        #expect(late() == nil)
        fake.now = 150.6
        #expect(late()?.contains("max runtime") == true)
    }
}

@Suite("Poison flags: status while a table is locked", .requiresDatabase)
struct PoisonStatusLockTests {
    @Test("status while scheduled_triggers is locked by another session: it gives up (exit 1) before the lock is released")
    func statusWhileLocked() throws {
        try withTestDatabase { database in
            let locker = try database.connect()
            try BlockedStatementTests.seedAndLock(database, locker)
            let status = try ChildProcess("dispatch-due", ["status", "--max-lag", "3600"], extraEnvironment: ["DATABASE_URL": database.url])
            // The lock stays held until status ended on its own (its statement limit, 30 s).
            let result = status.wait(timeoutSeconds: 120)
            let stillLocked = try database.connect().value("""
                SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                WHERE c.relname = 'scheduled_triggers' AND l.mode = 'AccessExclusiveLock' AND l.granted
                """)
            try locker.query("ROLLBACK")
            #expect(stillLocked == "1")
            #expect(result.exitCode == 1, "\(result)")
            #expect(result.stderr.contains("took longer than 30"), "\(result.stderr)")
            // Once the lock is gone it reports again.
            #expect(try database.cli(["status"]).exitCode == 0)
        }
    }
}
