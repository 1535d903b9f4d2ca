#if canImport(Glibc)
import Glibc
#endif
import Postgres
import Synchronization

/// The signal that asked this process to stop (SIGTERM or SIGINT), or 0.
/// Written from a signal handler, so it is a lock-free atomic.
private let receivedSignal = Atomic<Int32>(0)

/// SIGTERM/SIGINT handling for a cycle (contract §2 step 6): the handler only records the signal;
/// the cycle checks `requested` between steps, stops claiming, releases its work and exits
/// with 128 + signal.
public enum StopSignal {
    /// Installs handlers for SIGTERM and SIGINT. Call once, before the cycle starts.
    public static func install() {
        for signalNumber in [SIGTERM, SIGINT] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { number in
                receivedSignal.store(number, ordering: .relaxed)
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0  // no SA_RESTART: a blocking poll returns EINTR and sees the flag
            sigaction(signalNumber, &action, nil)
        }
    }

    /// The signal received so far, or nil.
    public static var received: Int32? {
        let value = receivedSignal.load(ordering: .relaxed)
        return value == 0 ? nil : value
    }

    public static var requested: Bool { received != nil }

    /// The documented exit code for the received signal (130 for SIGINT, 143 for SIGTERM).
    public static var exitCode: Int32? {
        switch received {
        case SIGINT?: return ExitStatus.interrupted
        case SIGTERM?: return ExitStatus.terminated
        default: return nil
        }
    }

    /// For tests in the same process.
    public static func simulate(_ signal: Int32) { receivedSignal.store(signal, ordering: .relaxed) }
    public static func reset() { receivedSignal.store(0, ordering: .relaxed) }
}

/// When a cycle must stop claiming new work: `--max-runtime` reached or a stop requested.
/// The clock and the stop condition are values given at construction (the command passes
/// `StopSignal.requested`), so the core never reads a signal flag or a clock of its own.
public struct CycleDeadline: Sendable {
    public let startedAt: Double
    public let maxRuntimeSeconds: Double
    let clock: @Sendable () -> Double
    let stopCondition: @Sendable () -> Bool

    /// `stopRequested` is the stop condition the cycle is given; by default the process's
    /// SIGTERM/SIGINT flag (handlers installed by `StopSignal.install()`), which is false
    /// until a signal comes. Tests pass their own clock and condition.
    public init(
        maxRuntimeSeconds: Double, startedAt: Double? = nil,
        clock: @escaping @Sendable () -> Double = { WallClock.monotonicSeconds() },
        stopRequested: @escaping @Sendable () -> Bool = { StopSignal.requested }
    ) {
        self.clock = clock
        self.startedAt = startedAt ?? clock()
        self.maxRuntimeSeconds = maxRuntimeSeconds
        self.stopCondition = stopRequested
    }

    /// The deadline of a command's cycle: max runtime, or SIGTERM/SIGINT (handlers installed here).
    public static func forCommand(maxRuntimeSeconds: Double) -> CycleDeadline {
        StopSignal.install()
        return CycleDeadline(maxRuntimeSeconds: maxRuntimeSeconds, stopRequested: { StopSignal.requested })
    }

    public var elapsed: Double { clock() - startedAt }
    public var remaining: Double { maxRuntimeSeconds - elapsed }
    /// True once a stop was asked for (a signal, in a command).
    public var isStopRequested: Bool { stopCondition() }
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
