/// An error from libpq or the server, with the SQLSTATE when the server sent one.
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// The connection could not be opened or was lost.
        case connection
        /// The server rejected a statement; `sqlState` says why.
        case statement
        /// The connection string itself could not be parsed.
        case badConnectionString
        /// The caller's limit fired while the statement ran (a stop, a deadline, its own bound):
        /// the statement was cancelled on the server, so its transaction did nothing.
        case cancelled
    }

    public var kind: Kind
    /// Five-character SQLSTATE (e.g. `23505` unique violation), when the server reported one.
    public var sqlState: String?
    /// libpq's primary message, with any password in the connection string masked.
    public var message: String
    /// Where it happened: the masked connection target, or the first line of the statement.
    public var context: String?

    public init(kind: Kind, sqlState: String? = nil, message: String, context: String? = nil) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.context = context
    }

    public var description: String {
        var text: String
        switch kind {
        case .connection: text = "database connection failed"
        case .statement: text = "database statement failed"
        case .badConnectionString: text = "invalid database connection string"
        case .cancelled: text = "database statement cancelled"
        }
        if let context { text += " (\(context))" }
        if let sqlState { text += " [SQLSTATE \(sqlState)]" }
        text += ": " + message
        return text
    }

    /// True for serialization failures and deadlocks, which a caller may retry.
    public var isRetryableConflict: Bool { sqlState == "40001" || sqlState == "40P01" }
    /// True when the relation does not exist (schema not migrated).
    public var isUndefinedTable: Bool { sqlState == "42P01" }
}
