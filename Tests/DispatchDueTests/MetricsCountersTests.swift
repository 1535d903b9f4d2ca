import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// `_total` counters carried across runs in the metrics file, the last exit code, and the
/// `--metrics-push` PUT to a Pushgateway (the stand-in answers PUT /metrics/job/... with 200).
@Suite("metrics: counters across runs and Pushgateway push")
struct MetricsCountersTests {
    /// Refuses connections at once: nothing listens on port 1 of the loopback.
    static let unreachableDatabase = "postgresql://dispatch@127.0.0.1:1/none?connect_timeout=5"

    @Test("_total counters only grow over several runs with a failure between; gauges describe the last cycle", .requiresDatabase)
    func countersAcrossRuns() throws {
        try withTestDatabase { database in
            let connection = try database.connect()
            let folder = try Ops.scratchDirectory()
            defer { Ops.removeTree(folder) }
            let path = folder + "/dispatch_due.prom"
            func cycle(_ url: String) throws -> (ProcessResult, PrometheusText) {
                let result = try ChildProcess.run(
                    "dispatch-due", ["run", "--record-only", "--metrics-file", path], extraEnvironment: ["DATABASE_URL": url])
                return (result, try PrometheusText.parse(try FileSystem.readText(path)))
            }

            // Run 1: one one-time trigger is due → 1 slot recorded, an ok cycle.
            try connection.insertTrigger(
                id: "first", runAt: .sql("now() - interval '1 minute'"), nextRunAt: .sql("now() - interval '1 minute'"))
            let (first, one) = try cycle(database.url)
            #expect(first.exitCode == 0, "\(first)")
            #expect(one.types["dispatch_due_cycles_total"] == "counter")
            #expect(one.value("dispatch_due_cycles_total", ["outcome": "ok"]) == 1)
            #expect(one.value("dispatch_due_cycles_total", ["outcome": "failed"]) == 0)
            #expect(one.value("dispatch_due_slots_total", ["result": "recorded"]) == 1)
            #expect(one.value("dispatch_due_last_exit_code") == 0)

            // Run 2: the database refuses the connection → exit 69; the counters carry over, the
            // failure is counted with its reason, nothing new was recorded.
            let (second, two) = try cycle(Self.unreachableDatabase)
            #expect(second.exitCode == 69, "\(second)")
            #expect(two.value("dispatch_due_last_cycle_success") == 0)
            #expect(two.value("dispatch_due_last_exit_code") == 69)
            #expect(two.value("dispatch_due_cycles_total", ["outcome": "ok"]) == 1)
            #expect(two.value("dispatch_due_cycles_total", ["outcome": "failed"]) == 1)
            #expect(two.value("dispatch_due_cycle_failures_total", ["reason": "database_unavailable"]) == 1)
            #expect(two.value("dispatch_due_cycle_failures_total", ["reason": "configuration"]) == 0)
            #expect(two.value("dispatch_due_slots_total", ["result": "recorded"]) == 1)
            #expect(two.value("dispatch_due_last_success_timestamp_seconds") == one.value("dispatch_due_last_success_timestamp_seconds"))

            // Runs 3 and 4: two more due triggers, then none → totals 3 recorded, 3 ok cycles; the
            // gauge of the last cycle says 0 recorded.
            try connection.insertTrigger(
                id: "second", runAt: .sql("now() - interval '1 minute'"),
                nextRunAt: .sql("now() - interval '1 minute'"))
            try connection.insertTrigger(
                id: "third", runAt: .sql("now() - interval '1 minute'"), nextRunAt: .sql("now() - interval '1 minute'"))
            let (third, three) = try cycle(database.url)
            #expect(third.exitCode == 0, "\(third)")
            #expect(three.value("dispatch_due_slots_total", ["result": "recorded"]) == 3)
            let (fourth, four) = try cycle(database.url)
            #expect(fourth.exitCode == 0, "\(fourth)")
            #expect(four.value("dispatch_due_last_cycle_slots", ["result": "recorded"]) == 0)
            #expect(four.value("dispatch_due_slots_total", ["result": "recorded"]) == 3)
            #expect(four.value("dispatch_due_cycles_total", ["outcome": "ok"]) == 3)
            #expect(four.value("dispatch_due_cycles_total", ["outcome": "failed"]) == 1)
            #expect(four.value("dispatch_due_cycle_failures_total", ["reason": "database_unavailable"]) == 1)
            #expect(four.value("dispatch_due_last_exit_code") == 0)

            // Monotonic: no counter series ever went down from one file to the next.
            let files = [one, two, three, four]
            for (before, after) in zip(files, files.dropFirst()) {
                for sample in before.samples where sample.name.hasSuffix("_total") {
                    let later = after.value(sample.name, sample.labels)
                    #expect(later.map { $0 >= sample.value } == true, "\(sample.name) \(sample.labels) went from \(sample.value) to \(String(describing: later))")
                }
            }
        }
    }

    @Test("a damaged previous file restarts the counters at zero instead of carrying garbage")
    func damagedPreviousFile() throws {
        let text = CycleMetrics.render(
            CycleReport(), succeeded: true, finishedAt: 1_700_000_000, lastSuccessAt: 1_700_000_000,
            backlog: nil, scheduleErrorTriggers: nil,
            previousTotals: ["dispatch_due_cycles_total{outcome=\"ok\"}": 41])
        let metrics = try PrometheusText.parse(text)
        #expect(metrics.value("dispatch_due_cycles_total", ["outcome": "ok"]) == 42)
        #expect(metrics.value("dispatch_due_build_info", ["version": DispatchDueVersion.current, "commit": DispatchDueVersion.commit]) == 1)
    }

    @Test("--metrics-push PUTs the gauges to the Pushgateway group of job and instance", .requiresDatabase, arguments: [
        ("worker-1", "/metrics/job/dispatch-due/instance/worker-1"),
        ("pod a", "/metrics/job/dispatch-due/instance/pod%20a"),
        // A value holding "/" goes base64url-encoded ("host/a" → aG9zdC9h), as the Pushgateway documents.
        ("host/a", "/metrics/job/dispatch-due/instance@base64/aG9zdC9h"),
    ])
    func push(instance: String, path: String) throws {
        try withTestDatabase { database in
            let gateway = try StandIn()
            defer { gateway.stop() }
            let result = try database.dispatchDue(["run", "--record-only", "--metrics-push", gateway.url + "/", "--metrics-instance", instance, "--verbose"])
            #expect(result.exitCode == 0, "\(result)")
            #expect(!result.stderr.contains("metrics.push_failed"), "\(result.stderr)")
            #expect(result.stderr.contains("metrics.pushed"), "\(result.stderr)")
            let requests = gateway.requests()
            #expect(requests.count == 1)
            let request = try #require(requests.first)
            #expect(request.method == "PUT")
            #expect(request.path == path)
            #expect(request.header("content-type")?.hasPrefix("text/plain; version=0.0.4") == true)
            let body = try PrometheusText.parse(request.body)
            #expect(body.value("dispatch_due_last_cycle_success") == 1)
            #expect(body.value("dispatch_due_last_exit_code") == 0)
            #expect(body.value("dispatch_due_due_triggers") == 0)
            // Counters cannot be carried in a push (no previous value): none is sent.
            #expect(!body.samples.contains { $0.name.hasSuffix("_total") })
        }
    }

    @Test("a push that fails is logged and leaves the exit code alone", .requiresDatabase, arguments: [
        "/elsewhere",  // the gateway answers 404 under another path
        "closed-port",
    ])
    func pushFailure(target: String) throws {
        try withTestDatabase { database in
            let gateway = try StandIn()
            defer { gateway.stop() }
            let url = target == "closed-port" ? "http://127.0.0.1:1" : gateway.url + target
            let result = try database.dispatchDue(["run", "--record-only", "--metrics-push", url, "--log-format", "json"])
            #expect(result.exitCode == 0, "\(result)")
            let failure = result.stderr.split(separator: "\n").first { $0.contains("\"event\":\"metrics.push_failed\"") }
            #expect(failure != nil, "\(result.stderr)")
            #expect(failure?.contains("\"level\":\"warning\"") == true)
        }
    }

    @Test("an unusable --metrics-push URL is a configuration error before any work", arguments: [
        "ftp://gateway:9091", "http://user:secret@gateway:9091", "http://gateway:9091/?x=1", "http:///x",
    ])
    func badPushURL(url: String) throws {
        let result = try ChildProcess.run(
            "dispatch-due", ["run", "--metrics-push", url], extraEnvironment: ["DATABASE_URL": Self.unreachableDatabase])
        #expect(result.exitCode == 78, "\(result)")
        #expect(!result.stderr.contains("secret"))
    }
}
