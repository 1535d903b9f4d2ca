import Postgres

/// Why a cycle or a command could not do its job. The core throws these; the command-line
/// layer alone decides how the process ends for each case.
public enum DispatchFailure: Error, CustomStringConvertible, Sendable {
    /// Tables or columns are not there: `dispatch-due migrate` has not run (for this release).
    case schemaMissing(detail: String)
    /// The database holds migrations this binary does not know (a newer release migrated it),
    /// or lacks ones it needs: running would read or write columns wrongly.
    case schemaMismatch(detail: String)
    /// The agents API answered 401/403: every run would be rejected the same way.
    case credentialsRejected(detail: String)
    /// Required configuration is missing or unusable (URL, key, CA bundle, a file).
    case configuration(detail: String)
    /// The database could not be reached or refused the connection.
    case databaseUnavailable(PostgresError)
    /// A management command named a row that does not exist.
    case notFound(detail: String)

    public var description: String {
        switch self {
        case .schemaMissing(let detail):
            // The one wording: every path that finds no tables throws this case.
            return "the schema is missing or older than this binary (\(detail)); run `dispatch-due migrate`"
        case .schemaMismatch(let detail), .credentialsRejected(let detail), .configuration(let detail),
            .notFound(let detail):
            return detail
        case .databaseUnavailable(let error):
            return error.description
        }
    }
}
