/// Why a `triggers …` or `invocations …` command changed nothing. `invalid` is wrong input
/// whatever the database holds; `notFound` and `refused` depend on what it holds.
public enum ManagementError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The input is wrong whatever the database holds: a bad cron, zone, JSON or range.
    case invalid(String)
    /// No row with that id for that tenant (another tenant's row is never found).
    case notFound(String)
    /// The row exists, but its state does not allow the change (e.g. cancelling a completed run).
    case refused(String)

    public var description: String {
        switch self {
        case .invalid(let message), .notFound(let message), .refused(let message): return message
        }
    }
}
