/// An error from libpq or the server, with the SQLSTATE when the server sent one.
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// The connection could not be opened or was lost.
        case connection
        /// The server rejected a statement; `sqlState` says why.
        case statement
        /// The connection string could not be parsed, or libpq refused one of its values.
        case badConnectionString
        /// The caller's limit fired while the statement ran (a stop, a deadline, its own bound):
        /// the statement was cancelled on the server, so its transaction did nothing.
        case cancelled
    }

    public var kind: Kind
    /// The SQLSTATE (e.g. `.uniqueViolation`, 23505), when the server reported one.
    public var sqlState: SQLState?
    /// libpq's primary message, with any password in the connection string masked.
    public var message: String
    /// Where it happened: the masked connection target, or the first line of the statement.
    public var context: String?

    public init(kind: Kind, sqlState: SQLState? = nil, message: String, context: String? = nil) {
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
    public var isRetryableConflict: Bool { sqlState == .serializationFailure || sqlState == .deadlockDetected }
    /// True when the relation does not exist (schema not migrated).
    public var isUndefinedTable: Bool { sqlState == .undefinedTable }
    /// A table or column the statement names is not there: the schema is missing or older than
    /// the statement (a command that runs without the schema-version check meets this).
    public var isUndefinedTableOrColumn: Bool { sqlState == .undefinedTable || sqlState == .undefinedColumn }
}

extension PostgresError {
    /// A five-character SQLSTATE (PostgreSQL manual, appendix A). The codes the package branches
    /// on have names here, so no caller compares raw strings; any other code the server sends is
    /// kept as it came.
    public struct SQLState: RawRepresentable, Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
        public let rawValue: String

        public init(rawValue: String) { self.rawValue = rawValue }
        public init(stringLiteral value: String) { self.rawValue = value }

        public var description: String { rawValue }

        /// The first two characters: the class (`08` connection exception, `22` data exception, …).
        public var errorClass: String { String(rawValue.prefix(2)) }

        // Class 08, connection exception: branched on as a whole class.
        public static let connectionExceptionClass = "08"
        // Class 22, data exception (a value out of range or of the wrong form): branched on as a class.
        public static let dataExceptionClass = "22"
        public static let divisionByZero: SQLState = "22012"
        // Class 23, integrity constraint violation.
        public static let uniqueViolation: SQLState = "23505"
        public static let checkViolation: SQLState = "23514"
        // Class 28, invalid authorization specification (28000, 28P01 wrong password): as a class.
        public static let invalidAuthorizationClass = "28"
        // Class 40, transaction rollback: the caller may retry.
        public static let serializationFailure: SQLState = "40001"
        public static let deadlockDetected: SQLState = "40P01"
        // Class 42, access rule violation: a missing grant, or a schema older than the statement.
        public static let insufficientPrivilege: SQLState = "42501"
        public static let undefinedColumn: SQLState = "42703"
        public static let undefinedTable: SQLState = "42P01"
        // Class 55, object not in prerequisite state: a lock not granted under NOWAIT or lock_timeout.
        public static let lockNotAvailable: SQLState = "55P03"
        // Class 57, operator intervention: a cancelled statement, a server shutting down or starting.
        public static let queryCanceled: SQLState = "57014"
        public static let adminShutdown: SQLState = "57P01"
        public static let crashShutdown: SQLState = "57P02"
        public static let cannotConnectNow: SQLState = "57P03"
    }
}
