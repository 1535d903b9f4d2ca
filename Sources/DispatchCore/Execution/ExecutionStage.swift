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
        try ExecutionEngine(self, endpoint: try endpoint.resolve()).run(on: connection, deadline: deadline, report: &report)
    }
}

/// The execution stage with its endpoint resolved: what every request of the cycle shares.
struct ExecutionEngine {
    let stage: ExecutionStage
    let endpoint: Endpoint
    let requests: ExecutionRequests
    let rules: OutcomeRules
    var settings: ExecutionSettings { stage.settings }
    var logger: Logger { stage.logger }

    init(_ stage: ExecutionStage, endpoint: Endpoint) {
        self.stage = stage
        self.endpoint = endpoint
        requests = ExecutionRequests(endpoint: endpoint)
        rules = OutcomeRules(settings: stage.settings, secret: endpoint.apiKey)
    }

    /// Posts, then reconciles. Throws `DispatchFailure.credentialsRejected` when the endpoint
    /// rejects the credentials (after putting the claimed runs back). Both phases share one
    /// `AdaptiveConcurrency`: it describes the endpoint, whatever the request.
    func run(on connection: borrowing Connection, deadline: CycleDeadline, report: inout CycleReport) throws {
        let client = try HTTPClient(
            settings: HTTPSettings(
                requestTimeoutSeconds: settings.requestTimeoutSeconds,
                connectTimeoutSeconds: settings.connectTimeoutSeconds,
                caFile: endpoint.caFile),
            maxConnections: settings.concurrency)
        var pacing = Pacing(controller: AdaptiveConcurrency(ceiling: settings.concurrency))
        defer { if pacing.started > 0 { report.concurrency = pacing.controller.limit } }
        var rejected = try drive(.post, client: client, pacing: &pacing, on: connection, deadline: deadline, report: &report)
        if !rejected {
            rejected = try drive(.check, client: client, pacing: &pacing, on: connection, deadline: deadline, report: &report)
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
    private func drive(
        _ kind: ExecutionKind, client: HTTPClient, pacing: inout Pacing, on connection: borrowing Connection,
        deadline: CycleDeadline, report: inout CycleReport
    ) throws -> Bool {
        var queue: [(job: ClaimedInvocation, claimedAt: Double)] = []
        var head = 0
        var inFlight: [Int: (job: ClaimedInvocation, sentAt: Double)] = [:]
        var nextTag = 0
        var outcomes: [ExecutionOutcome] = []
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
                try record(outcomes, on: connection, report: &report)
            } catch let error as PostgresError where error.kind == .cancelled {
                // Rolled back: these rows keep the lease they were claimed with.
                interrupted = true
                logger.log(.warning, "execution.record_interrupted", fields: [
                    ("unrecorded", .int(outcomes.count)), ("error", .string(error.description)),
                ])
                for outcome in outcomes { cutOff(outcome.invocation) }
            }
        }

        func putBack(from index: Int) {
            guard index < queue.count else { return }
            outcomes.append(contentsOf: queue[index...].map { ExecutionOutcome(invocation: $0.job, action: .release) })
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
                    let claimed = try claim(kind, limit: size, on: connection, report: &report)
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
                    outcomes.append(ExecutionOutcome(invocation: job, action: .release))
                    continue
                }
                let request: HTTPRequest
                do {
                    request = try requests.request(for: job)
                } catch {
                    // This one cannot be sent (its row holds what no request may carry): it fails alone.
                    outcomes.append(ExecutionOutcome(invocation: job, action: .failed, error: error.message))
                    continue
                }
                nextTag += 1
                try client.start(request, tag: nextTag)
                inFlight[nextTag] = (job, now)
                pacing.started += 1
                if let sent = kind.sentCounter { report[keyPath: sent] += 1 }
            }

            if inFlight.isEmpty, head >= queue.count, exhausted || stopping { break }
            if let graceEnds, WallClock.monotonicSeconds() >= graceEnds {
                // Cut off: these keep their lease and a later cycle recovers them (contract §2 step 6).
                for tag in client.abandonAll() {
                    if let entry = inFlight.removeValue(forKey: tag) { cutOff(entry.job) }
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
                    let outcome = rules.outcome(for: entry.job, result)
                    if outcome.action == .rejected { rejected = true }
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

    /// Claims a batch of the kind. A POST claim first releases `buffer_one` invocations whose
    /// blocker finished (contract §6), and logs the invocations it cancelled instead of claiming.
    private func claim(_ kind: ExecutionKind, limit: Int, on connection: borrowing Connection, report: inout CycleReport)
        throws -> (jobs: [ClaimedInvocation], rowCount: Int)
    {
        switch kind {
        case .post:
            try OverlapGate.release(limit: limit, on: connection)
            let claimed = try ExecutionStore.claimRuns(limit: limit, leaseSeconds: settings.leaseSeconds, on: connection)
            var jobs: [ClaimedInvocation] = []
            jobs.reserveCapacity(claimed.count)
            for (run, cancelReason) in claimed {
                if let cancelReason {
                    report.cancelled += 1
                    logger.with(run.identity).log(
                        .info, "invocation.cancelled", fields: run.attemptFields + [("reason", .string(cancelReason))])
                } else {
                    jobs.append(run)
                }
            }
            return (jobs, claimed.count)
        case .check:
            let checks = try ExecutionStore.claimChecks(limit: limit, leaseSeconds: settings.leaseSeconds, on: connection)
            return (checks, checks.count)
        }
    }

    /// A request cut off at the stop keeps its lease; a later cycle recovers it.
    private func cutOff(_ invocation: ClaimedInvocation) {
        logger.with(invocation.identity).log(.warning, invocation.kind.cutOffEvent, fields: invocation.attemptFields)
    }

    /// Records a batch in one statement (with the pause of triggers whose runs keep failing,
    /// contract §6), then counts and logs each outcome by `ExecutionAction.effect`.
    private func record(_ outcomes: [ExecutionOutcome], on connection: borrowing Connection, report: inout CycleReport) throws {
        let failed = outcomes.filter { $0.status == "failed" }.map {
            ($0.invocation.tenantId, $0.invocation.id, $0.invocation.triggerId)
        }
        let updated = try PauseOnFailure.recording(failed: failed, logger: logger, report: &report, on: connection) {
            try ExecutionStore.record(outcomes, on: connection)
        }
        for outcome in outcomes {
            let logger = logger.with(outcome.invocation.identity)
            let attempt = outcome.invocation.attemptFields
            guard updated.contains(ExecutionStore.recordKey(tenant: outcome.invocation.tenantId, id: outcome.invocation.id))
            else {
                // The lease ran out and another dispatcher owns the row now: this answer is not recorded.
                logger.log(.warning, "invocation.lease_lost", fields: attempt + outcome.answerFields + [
                    ("hint", "another dispatcher took over after the lease ran out"),
                ])
                continue
            }
            for counter in outcome.counters { report[keyPath: counter] += 1 }
            if let reason = outcome.droppedConversation {
                logger.log(.warning, "invocation.conversation_id_dropped", fields: attempt + [("reason", .string(reason))])
            }
            let effect = outcome.action.effect
            logger.log(effect.level, effect.event, fields: attempt + outcome.answerFields + outcome.actionFields)
        }
    }
}
