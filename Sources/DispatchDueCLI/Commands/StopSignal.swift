#if canImport(Glibc)
import Glibc
#endif
import DispatchCore
import Synchronization

/// The signal that asked this process to stop (SIGTERM or SIGINT), or 0.
/// Written from a signal handler, so it is a lock-free atomic.
private let receivedSignal = Atomic<Int32>(0)

/// SIGTERM/SIGINT handling for a cycle (contract §2 step 6): the handler only records the signal;
/// the cycle sees it through the `StopCondition` it is given, stops claiming and releases its
/// work; the command then exits with 128 + signal.
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

    /// The stop condition the core is given: SIGTERM/SIGINT, handlers installed here.
    public static func installedCondition() -> StopCondition {
        install()
        return StopCondition { StopSignal.requested }
    }
}

extension CycleDeadline {
    /// The deadline of a command's cycle: max runtime, or SIGTERM/SIGINT.
    static func forCommand(maxRuntimeSeconds: Double) -> CycleDeadline {
        CycleDeadline(maxRuntimeSeconds: maxRuntimeSeconds, stop: StopSignal.installedCondition())
    }
}
