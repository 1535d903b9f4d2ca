import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Glibc
import Postgres
import Synchronization
import Testing

@Suite("operations: metrics file")
struct OperationsMetricsTests {
    @Test("a cycle writes Prometheus text: that cycle's counts, success, and the backlog it left", .requiresDatabase)
    func cycleMetrics() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            // Fires once (one-time, an hour late): recorded 1, lag ≈ 3600 s, then nothing due.
            try connection.insertTrigger(
                id: "once", runAt: .sql("date_trunc('second', now()) - interval '1 hour'"),
                nextRunAt: .sql("date_trunc('second', now()) - interval '1 hour'"))
            // Not touched by a record-only cycle: a runnable invocation waiting 5 minutes, one
            // waiting for its retry time (not runnable), a running one with an expired lease, and
            // a finished one (not in the backlog).
            try connection.insertInvocation(
                id: "waiting", trigger: "t", slot: .sql("now() - interval '5 minutes'"), key: "key-waiting",
                createdAt: .sql("now() - interval '5 minutes'"), payload: nil)
            try connection.insertInvocation(
                id: "retry-later", trigger: "t", slot: .sql("now() - interval '2 hours'"), key: "key-retry-later",
                createdAt: .sql("now() - interval '2 hours'"), nextAttemptAt: .sql("now() + interval '10 minutes'"),
                payload: nil)
            try connection.insertInvocation(
                id: "crashed", trigger: "t", slot: .sql("now() - interval '3 minutes'"), status: "running",
                key: "key-crashed", createdAt: .sql("now() - interval '3 minutes'"),
                leaseExpiresAt: .sql("now() - interval '1 minute'"), payload: nil)
            try connection.insertInvocation(
                id: "done", trigger: "t", slot: .sql("now() - interval '1 day'"), status: "completed", key: "key-done",
                createdAt: .sql("now() - interval '1 day'"), completedAt: .null, payload: nil)
            try connection.insertTrigger(
                id: "broken", cron: "0 24 * * *", scheduleError: "cron field 2 (hour): 24 is out of range 0-23")

            let folder = try Ops.scratchDirectory()
            defer { Ops.removeTree(folder) }
            let path = folder + "/dispatch_due.prom"
            let result = try database.dispatchDue(["run", "--record-only", "--metrics-file", path])
            #expect(result.exitCode == 0, "\(result)")

            let metrics = try PrometheusText.parse(try FileSystem.readText(path))
            for sample in metrics.samples {
                #expect(sample.name.hasPrefix("dispatch_due_"), "\(sample.name)")
                #expect(metrics.helps[sample.name].map { !$0.isEmpty } == true, "no HELP for \(sample.name)")
            }
            #expect(metrics.value("dispatch_due_last_cycle_success") == 1)
            #expect(metrics.value("dispatch_due_last_cycle_slots", ["result": "recorded"]) == 1)
            #expect(metrics.value("dispatch_due_last_cycle_slots", ["result": "skipped"]) == 0)
            #expect(metrics.value("dispatch_due_last_cycle_invocations", ["result": "posted"]) == 0)
            let lag = try #require(metrics.value("dispatch_due_last_cycle_slot_lag_seconds"))
            #expect(lag >= 3600 && lag < 3600 + 120)
            // Backlog after the cycle: the new invocation, "waiting" and "crashed" (running, no
            // execution, lease passed: contract §2 step 4) are runnable; the oldest runnable waited 5
            // minutes; "retry-later" is pending but not runnable.
            #expect(metrics.value("dispatch_due_due_triggers") == 0)
            #expect(metrics.value("dispatch_due_oldest_due_lag_seconds") == 0)
            #expect(metrics.value("dispatch_due_runnable_invocations") == 3)
            let runnableLag = try #require(metrics.value("dispatch_due_oldest_runnable_lag_seconds"))
            #expect(runnableLag >= 300 && runnableLag < 300 + 120)
            #expect(metrics.value("dispatch_due_invocations", ["status": "pending"]) == 3)
            #expect(metrics.value("dispatch_due_invocations", ["status": "running"]) == 1)
            #expect(metrics.value("dispatch_due_expired_leases") == 1)
            #expect(metrics.value("dispatch_due_schedule_error_triggers") == 1)
            // The success time is the cycle's time, on the database clock.
            let finished = try #require(metrics.value("dispatch_due_last_cycle_timestamp_seconds"))
            #expect(metrics.value("dispatch_due_last_success_timestamp_seconds") == finished)
            let databaseNow = try #require(Double(try connection.value("SELECT extract(epoch FROM now())") ?? ""))
            #expect(finished <= databaseNow && finished > databaseNow - 120)

            // A failed cycle (no schema) says so, keeps the last success time, and has no backlog.
            try withTestDatabase(migrated: false) { empty in
                let failed = try empty.dispatchDue(["run", "--record-only", "--metrics-file", path])
                #expect(failed.exitCode == 1, "\(failed)")
                let after = try PrometheusText.parse(try FileSystem.readText(path))
                #expect(after.value("dispatch_due_last_cycle_success") == 0)
                #expect(after.value("dispatch_due_last_success_timestamp_seconds") == finished)
                #expect(after.value("dispatch_due_due_triggers") == nil)
                #expect(after.value("dispatch_due_runnable_invocations") == nil)
            }
        }
    }

    @Test("a file that never saw a success has no last-success sample (so an absent() alert fires)")
    func neverSucceeded() throws {
        let text = CycleMetrics.render(
            CycleReport(), succeeded: false, finishedAt: 1_700_000_000, lastSuccessAt: nil,
            backlog: nil, scheduleErrorTriggers: nil)
        let metrics = try PrometheusText.parse(text)
        #expect(metrics.value("dispatch_due_last_cycle_success") == 0)
        #expect(metrics.value("dispatch_due_last_cycle_timestamp_seconds") == 1_700_000_000)
        #expect(metrics.types["dispatch_due_last_success_timestamp_seconds"] == nil)
        #expect(!metrics.samples.contains { $0.name == "dispatch_due_last_success_timestamp_seconds" })
    }

    @Test("a reader never sees a half-written file while writes replace it")
    func atomicReplacement() throws {
        let folder = try Ops.scratchDirectory()
        defer { Ops.removeTree(folder) }
        let path = folder + "/dispatch_due.prom"
        // Two different contents, the second ~40 KB so a write takes many write(2) calls'
        // worth of time: a torn read would be neither.
        var big = CycleReport()
        big.recorded = 123
        let backlog = Backlog(
            measuredAt: 1_700_000_000.5, dueTriggers: 4, oldestDueLagSeconds: 61.5, runnableInvocations: 7,
            oldestRunnableLagSeconds: 12.25, pendingInvocations: 9, runningInvocations: 2, expiredLeases: 1)
        let small = CycleMetrics.render(
            CycleReport(), succeeded: true, finishedAt: 1_700_000_000, lastSuccessAt: 1_700_000_000,
            backlog: nil, scheduleErrorTriggers: nil)
        let large = String(repeating: "# padding comment line to make the file large\n", count: 800)
            + CycleMetrics.render(
                big, succeeded: true, finishedAt: 1_700_000_060, lastSuccessAt: 1_700_000_060,
                backlog: backlog, scheduleErrorTriggers: 3)
        try FileSystem.writeAtomically(small, to: path)

        let writes = 400
        let done = DoneFlag()
        let failures = Mutex<[String]>([])
        // A real thread, so the writer runs while this loop reads, whatever the test pool does.
        let writer = try OSThread {
            defer { done.set() }
            for index in 0..<writes {
                do {
                    try FileSystem.writeAtomically(index % 2 == 0 ? large : small, to: path)
                } catch {
                    failures.withLock { $0.append(String(describing: error)) }
                }
            }
        }
        var reads = 0
        var torn = 0
        while !done.isSet {
            let text = try FileSystem.readText(path)
            reads += 1
            if text != small && text != large { torn += 1 }
        }
        writer.join()
        #expect(failures.withLock { $0 } == [])
        #expect(torn == 0, "\(torn) of \(reads) reads saw a partial file")
        #expect(reads > 1)
        // Every content that was written parses.
        #expect(try PrometheusText.parse(small).samples.count > 0)
        #expect(try PrometheusText.parse(large).value("dispatch_due_runnable_invocations") == 7)
        // No temporary files are left behind.
        #expect(try FileSystem.listDirectory(folder) == ["dispatch_due.prom"])
    }

}

/// Set once by a writer task, read by the test's loop.
final class DoneFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

/// A POSIX thread running `body`; `join()` waits for it.
final class OSThread {
    private var thread = pthread_t()

    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    init(_ body: @escaping @Sendable () -> Void) throws {
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        let status = pthread_create(&thread, nil, { context in
            Unmanaged<Body>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, context)
        guard status == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            throw FileSystemError(path: "pthread_create", reason: String(cString: strerror(status)))
        }
    }

    func join() { pthread_join(thread, nil) }
}
