import CLibPQ
#if canImport(Glibc)
import Glibc
#endif

/// When a statement in progress is given up. A connection asks its limit as each statement
/// starts, then keeps asking the check it got back while it waits for the server (in short
/// slices); a reason means: cancel the statement on the server now (`PQcancel`) and throw
/// `PostgresError` of kind `.cancelled` with that reason.
///
/// The limit is a value the caller hands in (a cycle's deadline, a stop condition), so
/// nothing deep inside reads a clock or a signal flag of its own.
public struct StatementLimit {
    /// Called as a statement starts; the closure it returns is asked while the statement runs.
    public let begin: () -> () -> String?

    public init(begin: @escaping () -> () -> String?) { self.begin = begin }

    /// Statements run until they end (the server's own timeouts still apply).
    public static var none: StatementLimit { StatementLimit { { nil } } }

    /// Each statement may run at most `seconds` on the monotonic clock.
    public static func seconds(_ seconds: Double, clock: @escaping () -> Double = monotonicSeconds) -> StatementLimit {
        StatementLimit {
            let started = clock()
            return { clock() - started >= seconds ? "took longer than \(seconds) s" : nil }
        }
    }

    /// Seconds on the monotonic clock.
    public static func monotonicSeconds() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }
}

/// The limit a connection currently applies; a class so a borrowed connection can change it
/// for a scope (`Connection.withStatementLimit`).
final class StatementLimitBox {
    var limit: StatementLimit = .none
}

/// Owns one `PGcancel`; freed on every path.
struct CancelHandle: ~Copyable {
    let pointer: OpaquePointer?
    init(_ pointer: OpaquePointer?) { self.pointer = pointer }
    deinit { if let pointer { PQfreeCancel(pointer) } }
}
