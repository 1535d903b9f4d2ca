#if canImport(Glibc)
import Glibc
#endif
import Postgres

/// Steps 4–6 of contract §2: post runnable invocations, then reconcile running ones, each as a
/// pipeline: claim a batch (one statement), keep as many requests in flight over curl's multi
/// interface as `AdaptiveConcurrency` allows (up to the `--concurrency` ceiling), record answers
/// in batches (one statement each), repeat.
/// Stops claiming at the deadline (max runtime or a stop signal), gives requests in flight a
/// short grace, and puts what was never sent back.
public struct ExecutionStage {
    let endpoint: EndpointResolver
    let settings: ExecutionSettings
    let logger: Logger

    /// `endpoint` is called only when there is work, so a cycle with nothing to post needs none.
    public init(endpoint: EndpointResolver, settings: ExecutionSettings, logger: Logger) {
        self.endpoint = endpoint
        self.settings = settings
        self.logger = logger
    }

    public func run(on connection: borrowing Connection, deadline: CycleDeadline, report: inout CycleReport) throws {
        guard !deadline.isPassed, try ExecutionStore.hasWork(on: connection) else { return }
        let endpoint = try endpoint.resolve()
        try ExecutionEngine(endpoint: endpoint, settings: settings, logger: logger)
            .run(on: connection, deadline: deadline, report: &report)
    }
}

/// The execution stage with its endpoint resolved. Public so tests and benchmarks can drive it
/// in-process with explicit settings.
public struct ExecutionEngine {
    let endpoint: Endpoint
    let settings: ExecutionSettings
    let logger: Logger
    let requests: ExecutionRequests
    let rules: OutcomeRules

    public init(endpoint: Endpoint, settings: ExecutionSettings, logger: Logger) {
        self.endpoint = endpoint
        self.settings = settings
        self.logger = logger
        requests = ExecutionRequests(endpoint: endpoint)
        rules = OutcomeRules(settings: settings, secret: endpoint.apiKey)
    }

    /// Posts, then reconciles. Throws `DispatchFailure.credentialsRejected` when the endpoint
    /// rejects the credentials (after putting the claimed runs back). Both phases share one
    /// `AdaptiveConcurrency`: it describes the endpoint, whatever the request.
    public func run(on connection: borrowing Connection, deadline: CycleDeadline, report: inout CycleReport) throws {
        let client = try HTTPClient(
            settings: HTTPSettings(
                requestTimeoutSeconds: settings.requestTimeoutSeconds,
                connectTimeoutSeconds: settings.connectTimeoutSeconds,
                caFile: endpoint.caFile),
            maxConnections: settings.concurrency)
        var pacing = Pacing(controller: AdaptiveConcurrency(ceiling: settings.concurrency))
        defer { if pacing.started > 0 { report.concurrency = pacing.controller.limit } }
        var rejected = try drive(
            PostPhase(engine: self), client: client, pacing: &pacing, on: connection, deadline: deadline, report: &report)
        if !rejected {
            rejected = try drive(
                CheckPhase(engine: self), client: client, pacing: &pacing, on: connection, deadline: deadline,
                report: &report)
        }
        if rejected {
            throw DispatchFailure.credentialsRejected(
                detail: "the agents API at \(endpoint.baseURL) rejected the credentials (HTTP 401/403); "
                    + "claimed runs were put back. Check the API key.")
        }
    }

    /// The adaptive limit and what the cycle did with it.
    struct Pacing {
        var controller: AdaptiveConcurrency
        /// Requests started this cycle (the settled limit is reported only when there were some).
        var started = 0
        /// A Retry-After pause reaching past the cycle's end was logged.
        var pauseLogged = false
    }

    /// What a finished request says about the endpoint's load (Retry-After on 429/503 only,
    /// dates read against the host clock: it only paces this process, nothing is stored).
    static func signal(_ result: HTTPResult) -> AdaptiveConcurrency.Signal {
        switch result {
        case .transportFailure(let failure):
            return AdaptiveConcurrency.signal(status: nil, timedOut: failure.timedOut)
        case .response(let response):
            var retryAfter: Double?
            if response.status == 429 || response.status == 503, let header = response.header("retry-after") {
                retryAfter = RetryAfter.parse(header)?.delay(now: Double(WallClock.nowMilliseconds()) / 1000).seconds
            }
            return AdaptiveConcurrency.signal(status: response.status, timedOut: false, retryAfterSeconds: retryAfter)
        }
    }

    /// One pipeline. Returns true when the endpoint rejected the credentials.
    ///
    /// Requests in flight follow `pacing.controller`; a claim is sized from its current limit
    /// (two rounds, asked for once less than one round waits), so claimed-but-unsent work stays
    /// within about three rounds. A job whose lease would no longer cover a whole request is
    /// put back rather than sent (a halving or a Retry-After pause can stretch its wait), and a
    /// Retry-After pause reaching past the cycle's end puts back what waits and claims no more.
    /// A claim or recording statement cancelled at a stop (`PostgresError.cancelled`) is a
    /// stop: what was not sent is put back, requests whose answers were not recorded stay under
    /// their lease (a later cycle recovers them, contract §2 step 6).
    private func drive<Phase: ExecutionPhase>(
        _ phase: Phase, client: HTTPClient, pacing: inout Pacing, on connection: borrowing Connection,
        deadline: CycleDeadline, report: inout CycleReport
    ) throws -> Bool {
        var queue: [(job: Phase.Job, claimedAt: Double)] = []
        var head = 0
        var inFlight: [Int: (job: Phase.Job, sentAt: Double)] = [:]
        var nextTag = 0
        var outcomes: [Phase.Outcome] = []
        var exhausted = false
        var rejected = false
        var interrupted = false
        var graceEnds: Double?
        var lastFlush = WallClock.monotonicSeconds()
        // Latest time a queued job may start: its lease must outlast a whole request.
        let sendWindow = settings.leaseSeconds - settings.requestTimeoutSeconds - 5

        func flush(_ connection: borrowing Connection, _ report: inout CycleReport) throws {
            guard !outcomes.isEmpty else { return }
            defer {
                outcomes.removeAll(keepingCapacity: true)
                lastFlush = WallClock.monotonicSeconds()
            }
            do {
                try phase.record(outcomes, on: connection, report: &report)
            } catch let error as PostgresError where error.kind == .cancelled {
                // Rolled back: these rows keep the lease they were claimed with.
                interrupted = true
                logger.log(.warning, "execution.record_interrupted", fields: [
                    ("unrecorded", .int(outcomes.count)), ("error", .string(error.description)),
                ])
                for outcome in outcomes { phase.cutOff(phase.job(of: outcome)) }
            }
        }

        func putBack(from index: Int) {
            guard index < queue.count else { return }
            outcomes.append(contentsOf: queue[index...].map { phase.notSent($0.job) })
            head = queue.count
        }

        while true {
            var now = WallClock.monotonicSeconds()
            let stopping = rejected || interrupted || deadline.isPassed
            if stopping {
                putBack(from: head)
                if graceEnds == nil { graceEnds = now + settings.stopGraceSeconds }
            } else if let pausedUntil = pacing.controller.pausedUntil, pausedUntil - now > deadline.remaining {
                // The endpoint asked for a pause longer than this cycle has left: waiting would
                // only hold leases. What waits goes back; requests in flight finish.
                if !pacing.pauseLogged {
                    pacing.pauseLogged = true
                    logger.log(.warning, "execution.paused", fields: [
                        ("retry_after_seconds", .double((pausedUntil - now).rounded())),
                        ("hint", "the agents API asked for a pause past this cycle's end; the next cycle goes on"),
                    ])
                }
                putBack(from: head)
                exhausted = true
            } else if !exhausted, queue.count - head < pacing.controller.limit {
                queue.removeFirst(head)
                head = 0
                let size = settings.claimSize(limit: pacing.controller.limit)
                do {
                    let claimedAt = WallClock.monotonicSeconds()
                    let claimed = try phase.claim(limit: size, on: connection, report: &report)
                    exhausted = claimed.rowCount < size
                    queue.append(contentsOf: claimed.jobs.map { ($0, claimedAt) })
                } catch let error as PostgresError where error.kind == .cancelled {
                    // Rolled back: nothing was claimed. Stop as on any stop.
                    interrupted = true
                    logger.log(.warning, "execution.claim_interrupted", fields: [("error", .string(error.description))])
                    continue
                }
                now = WallClock.monotonicSeconds()
            }

            while !stopping, head < queue.count, pacing.controller.mayStart(inFlight: inFlight.count, now: now) {
                let (job, claimedAt) = queue[head]
                head += 1
                if now - claimedAt > sendWindow {
                    outcomes.append(phase.notSent(job))
                    continue
                }
                switch phase.request(for: job) {
                case .success(let request):
                    nextTag += 1
                    try client.start(request, tag: nextTag)
                    inFlight[nextTag] = (job, now)
                    pacing.started += 1
                    phase.sent(job, report: &report)
                case .failure(let error):
                    outcomes.append(phase.unsendable(job, error))
                }
            }

            if inFlight.isEmpty, head >= queue.count, exhausted || stopping { break }
            if let graceEnds, WallClock.monotonicSeconds() >= graceEnds {
                // Cut off: these keep their lease and a later cycle recovers them (contract §2 step 6).
                for tag in client.abandonAll() {
                    if let entry = inFlight.removeValue(forKey: tag) { phase.cutOff(entry.job) }
                }
                break
            }

            if !inFlight.isEmpty {
                let finished = client.poll(timeoutMilliseconds: 100)
                let answeredAt = WallClock.monotonicSeconds()
                // Growth only while work waits for the limit: answers at the tail (or after a
                // stop) did not test a larger limit, so they do not raise it.
                let demand = !stopping && !(exhausted && head >= queue.count)
                for (tag, result) in finished {
                    guard let entry = inFlight.removeValue(forKey: tag) else { continue }
                    let signal = Self.signal(result)
                    if signal != .healthy || demand {
                        pacing.controller.record(signal, sentAt: entry.sentAt, now: answeredAt)
                    }
                    let outcome = phase.outcome(for: entry.job, result)
                    if phase.rejectsCredentials(outcome) { rejected = true }
                    outcomes.append(outcome)
                }
            } else if !stopping, head < queue.count, let pausedUntil = pacing.controller.pausedUntil {
                // Paused by Retry-After with nothing in flight: wait in short steps (a stop still
                // ends the wait promptly).
                let wait = min(0.1, max(0.001, pausedUntil - WallClock.monotonicSeconds()))
                usleep(UInt32(wait * 1_000_000))
            }
            let due = outcomes.count >= pacing.controller.limit
                || (inFlight.isEmpty && head >= queue.count)
                || WallClock.monotonicSeconds() - lastFlush >= 0.05
            if due { try flush(connection, &report) }
        }
        try flush(connection, &report)
        return rejected
    }

    // MARK: logging

    func log(_ level: LogLevel, _ event: String, ids: [(String, LogValue)], extra: [(String, LogValue)]) {
        logger.log(level, event, fields: ids + extra)
    }

    static func fields(_ run: ClaimedRun) -> [(String, LogValue)] {
        [
            ("tenant", .string(run.tenantId)), ("project", .string(run.projectId)), ("agent", .string(run.agentId)),
            ("trigger", .string(run.triggerId)), ("invocation", .string(run.id)), ("slot", .string(run.slot)),
            ("attempt", .int(run.attempt)),
        ]
    }

    static func fields(_ check: ClaimedCheck) -> [(String, LogValue)] {
        [
            ("tenant", .string(check.tenantId)), ("project", .string(check.projectId)),
            ("agent", .string(check.agentId)), ("trigger", .string(check.triggerId)),
            ("invocation", .string(check.id)), ("slot", .string(check.slot)), ("attempt", .int(check.attempt)),
            ("execution", .string(check.executionId)),
        ]
    }

    /// Why an answer was not recorded: the row's lease ran out and another dispatcher owns it now.
    static let leaseLostHint: [(String, LogValue)] = [("hint", "another dispatcher took over after the lease ran out")]

    static func answerFields(httpStatus: Int?, error: String?) -> [(String, LogValue)] {
        var fields: [(String, LogValue)] = []
        if let httpStatus { fields.append(("http_status", .int(httpStatus))) }
        if let error { fields.append(("error", .string(error))) }
        return fields
    }
}

/// What `drive` needs from a phase (posting, or asking about running executions).
protocol ExecutionPhase {
    associatedtype Job
    associatedtype Outcome
    func claim(limit: Int, on connection: borrowing Connection, report: inout CycleReport) throws
        -> (jobs: [Job], rowCount: Int)
    func request(for job: Job) -> Result<HTTPRequest, RequestError>
    func sent(_ job: Job, report: inout CycleReport)
    func outcome(for job: Job, _ result: HTTPResult) -> Outcome
    func unsendable(_ job: Job, _ error: RequestError) -> Outcome
    func notSent(_ job: Job) -> Outcome
    func cutOff(_ job: Job)
    func job(of outcome: Outcome) -> Job
    func rejectsCredentials(_ outcome: Outcome) -> Bool
    func record(_ outcomes: [Outcome], on connection: borrowing Connection, report: inout CycleReport) throws
}

/// Step 4: POST runnable invocations.
struct PostPhase: ExecutionPhase {
    let engine: ExecutionEngine

    func claim(limit: Int, on connection: borrowing Connection, report: inout CycleReport) throws
        -> (jobs: [ClaimedRun], rowCount: Int)
    {
        try OverlapGate.release(limit: limit, on: connection)
        let claimed = try ExecutionStore.claimRuns(
            limit: limit, leaseSeconds: engine.settings.leaseSeconds, on: connection)
        var jobs: [ClaimedRun] = []
        jobs.reserveCapacity(claimed.count)
        for (run, cancelReason) in claimed {
            if let cancelReason {
                report.cancelled += 1
                engine.log(.info, "invocation.cancelled", ids: ExecutionEngine.fields(run), extra: [("reason", .string(cancelReason))])
            } else {
                jobs.append(run)
            }
        }
        return (jobs, claimed.count)
    }

    func request(for run: ClaimedRun) -> Result<HTTPRequest, RequestError> {
        Result { () throws(RequestError) in try engine.requests.post(run) }
    }

    func sent(_ run: ClaimedRun, report: inout CycleReport) { report.posted += 1 }

    func outcome(for run: ClaimedRun, _ result: HTTPResult) -> PostOutcome { engine.rules.outcome(for: run, result) }

    func unsendable(_ run: ClaimedRun, _ error: RequestError) -> PostOutcome {
        PostOutcome(run: run, action: .failed, error: error.message)
    }

    func notSent(_ run: ClaimedRun) -> PostOutcome { PostOutcome(run: run, action: .release) }

    func cutOff(_ run: ClaimedRun) {
        engine.log(.warning, "invocation.cut_off", ids: ExecutionEngine.fields(run), extra: [])
    }

    func job(of outcome: PostOutcome) -> ClaimedRun { outcome.run }

    func rejectsCredentials(_ outcome: PostOutcome) -> Bool { outcome.action == .rejected }

    func record(_ outcomes: [PostOutcome], on connection: borrowing Connection, report: inout CycleReport) throws {
        let failed = outcomes.filter { $0.status == "failed" }.map { ($0.run.tenantId, $0.run.id, $0.run.triggerId) }
        let updated = try PauseOnFailure.recording(failed: failed, logger: engine.logger, report: &report, on: connection) {
            try ExecutionStore.record(outcomes, on: connection)
        }
        for outcome in outcomes {
            let answer = ExecutionEngine.answerFields(httpStatus: outcome.httpStatus, error: outcome.error)
            let ids = ExecutionEngine.fields(outcome.run)
            guard updated.contains(ExecutionStore.recordKey(tenant: outcome.run.tenantId, id: outcome.run.id)) else {
                engine.log(.warning, "invocation.lease_lost", ids: ids, extra: answer + ExecutionEngine.leaseLostHint)
                continue
            }
            switch outcome.action {
            case .accepted:
                report.accepted += 1
                engine.log(.info, "invocation.accepted", ids: ids, extra: answer + [("execution", .string(outcome.executionId ?? ""))])
            case .completed:
                report.completed += 1
                engine.log(.info, "invocation.completed", ids: ids, extra: answer)
            case .retry:
                report.retried += 1
                engine.log(.warning, "invocation.retry", ids: ids, extra: answer + [("delay_seconds", .double(outcome.delaySeconds ?? 0))])
            case .failed:
                report.failed += 1
                engine.log(.warning, "invocation.failed", ids: ids, extra: answer)
            case .rejected:
                report.released += 1
                engine.log(.error, "invocation.credentials_rejected", ids: ids, extra: answer)
            case .release:
                report.released += 1
                engine.log(.info, "invocation.released", ids: ids, extra: [])
            }
        }
    }
}

/// Step 5: ask about running executions.
struct CheckPhase: ExecutionPhase {
    let engine: ExecutionEngine

    func claim(limit: Int, on connection: borrowing Connection, report: inout CycleReport) throws
        -> (jobs: [ClaimedCheck], rowCount: Int)
    {
        let checks = try ExecutionStore.claimChecks(
            limit: limit, leaseSeconds: engine.settings.leaseSeconds, on: connection)
        return (checks, checks.count)
    }

    func request(for check: ClaimedCheck) -> Result<HTTPRequest, RequestError> {
        Result { () throws(RequestError) in try engine.requests.status(check) }
    }

    func sent(_ check: ClaimedCheck, report: inout CycleReport) {}

    func outcome(for check: ClaimedCheck, _ result: HTTPResult) -> CheckOutcome { engine.rules.outcome(for: check, result) }

    func unsendable(_ check: ClaimedCheck, _ error: RequestError) -> CheckOutcome {
        CheckOutcome(check: check, action: .failed, error: error.message)
    }

    func notSent(_ check: ClaimedCheck) -> CheckOutcome { CheckOutcome(check: check, action: .release) }

    func cutOff(_ check: ClaimedCheck) {
        engine.log(.warning, "invocation.check_cut_off", ids: ExecutionEngine.fields(check), extra: [])
    }

    func job(of outcome: CheckOutcome) -> ClaimedCheck { outcome.check }

    func rejectsCredentials(_ outcome: CheckOutcome) -> Bool { outcome.action == .rejected }

    func record(_ outcomes: [CheckOutcome], on connection: borrowing Connection, report: inout CycleReport) throws {
        let failed = outcomes.filter { $0.status == "failed" }.map { ($0.check.tenantId, $0.check.id, $0.check.triggerId) }
        let updated = try PauseOnFailure.recording(failed: failed, logger: engine.logger, report: &report, on: connection) {
            try ExecutionStore.record(outcomes, on: connection)
        }
        for outcome in outcomes {
            let answer = ExecutionEngine.answerFields(httpStatus: outcome.httpStatus, error: outcome.error)
            let ids = ExecutionEngine.fields(outcome.check)
            guard updated.contains(ExecutionStore.recordKey(tenant: outcome.check.tenantId, id: outcome.check.id)) else {
                engine.log(.warning, "invocation.lease_lost", ids: ids, extra: answer + ExecutionEngine.leaseLostHint)
                continue
            }
            if outcome.action != .release { report.reconciled += 1 }
            if let reason = outcome.droppedConversation {
                engine.log(.warning, "invocation.conversation_id_dropped", ids: ids, extra: [("reason", .string(reason))])
            }
            switch outcome.action {
            case .completed:
                report.completed += 1
                engine.log(.info, "invocation.completed", ids: ids, extra: answer)
            case .retry:
                report.retried += 1
                engine.log(.warning, "invocation.retry", ids: ids, extra: answer + [("delay_seconds", .double(outcome.delaySeconds ?? 0))])
            case .failed:
                report.failed += 1
                engine.log(.warning, "invocation.failed", ids: ids, extra: answer)
            case .wait:
                engine.log(.debug, "invocation.still_running", ids: ids, extra: answer)
            case .rejected:
                engine.log(.error, "invocation.credentials_rejected", ids: ids, extra: answer)
            case .release:
                report.released += 1
                engine.log(.info, "invocation.released", ids: ids, extra: [])
            }
        }
    }
}
