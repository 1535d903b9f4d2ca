import Postgres

/// Whether the cycle was asked to stop, as a value: the command line builds it from its
/// signal handler, tests from a flag of their own. The core only ever asks it.
public struct StopCondition: Sendable {
    let requested: @Sendable () -> Bool

    public init(_ requested: @escaping @Sendable () -> Bool) { self.requested = requested }

    /// Never asks to stop (a cycle bounded by its max runtime alone).
    public static let never = StopCondition { false }

    public var isRequested: Bool { requested() }
}

/// When a cycle must stop claiming new work: `--max-runtime` reached or a stop requested.
/// The clock and the stop condition are values given at construction, so the core never
/// reads a signal flag or a clock of its own.
public struct CycleDeadline: Sendable {
    public let startedAt: Double
    public let maxRuntimeSeconds: Double
    let clock: @Sendable () -> Double
    public let stop: StopCondition

    /// Tests pass their own clock and stop; the command line passes its signal handler's.
    public init(
        maxRuntimeSeconds: Double, startedAt: Double? = nil,
        clock: @escaping @Sendable () -> Double = { WallClock.monotonicSeconds() },
        stop: StopCondition = .never
    ) {
        self.clock = clock
        self.startedAt = startedAt ?? clock()
        self.maxRuntimeSeconds = maxRuntimeSeconds
        self.stop = stop
    }

    public var elapsed: Double { clock() - startedAt }
    public var remaining: Double { maxRuntimeSeconds - elapsed }
    /// True once a stop was asked for (a signal, when run from the command line).
    public var isStopRequested: Bool { stop.isRequested }
    public var isMaxRuntimeReached: Bool { elapsed >= maxRuntimeSeconds }
    /// True once claiming must stop.
    public var isPassed: Bool { isStopRequested || isMaxRuntimeReached }

    /// Why claiming stopped, for logs; nil while the cycle runs.
    public var stopReason: String? {
        if isStopRequested { return "stop requested" }
        if isMaxRuntimeReached { return "max runtime of \(maxRuntimeSeconds) s reached" }
        return nil
    }

    /// How long a statement that was running when the cycle stopped may still take before it is
    /// cancelled: a quick one ends on its own, a blocked one does not hold the stop up.
    public static let interruptGraceSeconds: Double = 0.5
    /// The bound of a statement that starts once the cycle is stopping (releasing claimed work,
    /// recording answers already received, the metrics' backlog): it must run, but not forever.
    public static let finishingStatementSeconds: Double = 5

    /// The limit every statement of the cycle runs under (contract §2 step 6: nothing waits without limit).
    /// A statement started while the cycle runs is cancelled once the cycle has been stopped
    /// (signal or max runtime) for `interruptGraceSeconds`; cancelling rolls its transaction
    /// back, so nothing is left half-done. A statement started after the stop has
    /// `finishingStatementSeconds` of its own.
    public func statementLimit(
        interruptGraceSeconds: Double = CycleDeadline.interruptGraceSeconds,
        finishingSeconds: Double = CycleDeadline.finishingStatementSeconds
    ) -> StatementLimit {
        StatementLimit {
            let started = clock()
            if isPassed {
                return { [clock] in
                    clock() - started >= finishingSeconds
                        ? "took longer than \(finishingSeconds) s while the cycle was stopping" : nil
                }
            }
            var stopSeenAt: Double?
            return { [self] in
                let now = clock()
                if stopSeenAt == nil, isPassed {
                    // Max runtime counts from when it passed; a signal from when it was first seen.
                    stopSeenAt = isStopRequested ? now : startedAt + maxRuntimeSeconds
                }
                guard let seen = stopSeenAt, now - seen >= interruptGraceSeconds else { return nil }
                return stopReason
            }
        }
    }
}
