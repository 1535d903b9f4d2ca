/// How many POSTs may be in flight, adapted to what the endpoint says (issue 14). Pure: it
/// reads no clock; every time is a parameter (seconds on one monotonic scale). The execution
/// engine (`ExecutionEngine.drive`) holds one per cycle with `--concurrency` as `ceiling`.
///
/// Against a remote API the limit is concurrency × latency, not CPU, so a fixed small
/// concurrency drains a burst slowly and a fixed large one floods an endpoint that sheds load.
/// The controller is TCP's congestion control (slow start, then AIMD) applied to requests:
///
/// - **Start modest**: `limit` starts at `initial` (default 8), never above `ceiling`.
/// - **Grow while healthy**: every healthy answer (any HTTP answer other than 429/503) adds one
///   while `limit` is below `threshold` (slow start: the limit doubles per round of answers);
///   at or above it, `limit` grows by one per round, i.e. once `limit` healthy answers have come
///   back (additive increase). `threshold` starts at `ceiling`, so without trouble the limit
///   doubles up to the ceiling.
/// - **Halve on overload**: a 429, a 503 or a timed-out request halves `limit` (rounded down,
///   never below 1) and sets `threshold` to the new limit, so growth after it is additive.
/// - **Once per window**: a signal about a request *started before the last halving* describes
///   the load that halving already answered, so it does not halve again: a burst of 429s from
///   one round-trip window halves once.
/// - **Retry-After**: a 429/503 carrying Retry-After pauses every new start until then (the
///   latest such time wins, capped at `maxPauseSeconds`, SPEC's 3,600 s); requests in flight go on.
/// - **Neutral**: other failures (500, 502, refused connections …) say nothing about load and
///   change nothing; neither do answers after the ceiling is reached.
///
/// Not modelled: growth while the queue is too short to fill the limit (the limit may then
/// grow without having been tried; the ceiling bounds it).
public struct AdaptiveConcurrency: Sendable, Equatable {
    public static let defaultInitial = 8
    public static let maxPauseSeconds = 3600.0

    /// What one finished request says about the endpoint's load.
    public enum Signal: Sendable, Equatable {
        case healthy
        case overloaded(retryAfterSeconds: Double?)
        case timedOut
        case neutral
    }

    public let ceiling: Int
    /// Requests allowed in flight now (1...ceiling).
    public private(set) var limit: Int
    /// Below it the limit grows by one per healthy answer, above by one per round.
    public private(set) var threshold: Int
    /// Healthy answers counted towards the next additive step.
    private var credit = 0
    /// When the limit was last halved; signals about requests started before it are stale.
    public private(set) var lastDecreaseAt: Double?
    /// No new start before this time (Retry-After).
    public private(set) var pausedUntil: Double?
    /// Halvings so far (for the cycle's log line and metrics).
    public private(set) var decreases = 0
    /// The highest limit reached.
    public private(set) var peak: Int

    public init(ceiling: Int, initial: Int = AdaptiveConcurrency.defaultInitial) {
        self.ceiling = max(1, ceiling)
        limit = min(max(1, initial), self.ceiling)
        threshold = self.ceiling
        peak = limit
    }

    /// The signal of one answer: `status` nil means no HTTP answer (a transport failure).
    public static func signal(status: Int?, timedOut: Bool, retryAfterSeconds: Double? = nil) -> Signal {
        if timedOut { return .timedOut }
        guard let status else { return .neutral }
        switch status {
        case 429, 503: return .overloaded(retryAfterSeconds: retryAfterSeconds)
        case 500...599: return .neutral
        default: return .healthy
        }
    }

    /// Whether one more request may start now, with `inFlight` already running.
    public func mayStart(inFlight: Int, now: Double) -> Bool {
        if let pausedUntil, now < pausedUntil { return false }
        return inFlight < limit
    }

    /// Takes in the answer to a request started at `sentAt`, arriving at `now`.
    public mutating func record(_ signal: Signal, sentAt: Double, now: Double) {
        switch signal {
        case .neutral:
            return
        case .healthy:
            grow()
        case .overloaded(let retryAfter):
            if let retryAfter, retryAfter > 0 {
                let until = now + min(retryAfter, Self.maxPauseSeconds)
                pausedUntil = max(pausedUntil ?? until, until)
            }
            decrease(sentAt: sentAt, now: now)
        case .timedOut:
            decrease(sentAt: sentAt, now: now)
        }
    }

    private mutating func grow() {
        guard limit < ceiling else { return }
        if limit < threshold {
            limit += 1
        } else {
            credit += 1
            if credit >= limit {
                credit = 0
                limit += 1
            }
        }
        peak = max(peak, limit)
    }

    private mutating func decrease(sentAt: Double, now: Double) {
        if let lastDecreaseAt, sentAt < lastDecreaseAt { return }
        limit = max(1, limit / 2)
        threshold = limit
        credit = 0
        lastDecreaseAt = now
        decreases += 1
    }
}
