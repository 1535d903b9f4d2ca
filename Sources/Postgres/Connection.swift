import CLibPQ
#if canImport(Glibc)
import Glibc
#endif

/// Owns one `PGconn`. Not copyable, so exactly one owner finishes the connection.
public struct Connection: ~Copyable {
    private let handle: OpaquePointer
    private let limits = StatementLimitBox()
    /// The connection target with any password masked, for messages.
    public let target: String

    /// Connects with a libpq conninfo string or URI; `nil` uses libpq's `PG*` defaults.
    /// Values in `connectionString` override the defaults given here.
    public init(
        connectionString: String?,
        applicationName: String = "dispatch-due",
        connectTimeoutSeconds: Int = 5
    ) throws(PostgresError) {
        let secret = ConnectionString.password(in: connectionString)
        if let connectionString, !ConnectionString.isParsable(connectionString) {
            // libpq could not parse it, so it cannot tell us the password either: the string is
            // not echoed, and the message is redacted with a best-effort guess of the password.
            let guessed = ConnectionString.guessPassword(in: connectionString)
            throw PostgresError(
                kind: .badConnectionString,
                message: ConnectionString.parseError(connectionString).map { ConnectionString.redact($0, secret: guessed) }
                    ?? "cannot parse",
                context: "DATABASE_URL")
        }
        // Our defaults come first: keywords in the expanded dbname override them.
        var keywords = ["application_name", "connect_timeout", "client_encoding"]
        var values = [applicationName, String(connectTimeoutSeconds), "UTF8"]
        if let connectionString {
            keywords.append("dbname")
            values.append(connectionString)
        }
        let conn: OpaquePointer? = withCStringArray(keywords) { keywordPointers in
            withCStringArray(values) { valuePointers in
                PQconnectdbParams(keywordPointers, valuePointers, 1)
            }
        }
        guard let conn else {
            throw PostgresError(kind: .connection, message: "out of memory allocating a connection")
        }
        let described = Connection.describe(conn)
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = ConnectionString.redact(Connection.errorMessage(conn), secret: secret)
            PQfinish(conn)
            // libpq checks option values (a port that is not a number, an unknown sslmode) only
            // when connecting, with no SQLSTATE; its messages for those start with "invalid".
            let kind: PostgresError.Kind = message.hasPrefix("invalid ") ? .badConnectionString : .connection
            throw PostgresError(kind: kind, message: message, context: described)
        }
        dd_pq_silence_notices(conn)
        self.handle = conn
        self.target = described
    }

    deinit { PQfinish(handle) }

    /// Runs one statement with bound parameters (`$1`, `$2`, …) and returns its rows, under
    /// the connection's current limit (`withStatementLimit`).
    @discardableResult
    public func query(_ sql: String, _ parameters: [any PostgresParameter] = []) throws(PostgresError) -> Rows {
        try query(sql, parameters, limit: limits.limit)
    }

    /// Runs one statement under `limit`: when the limit fires, the statement is cancelled on the
    /// server and `PostgresError` of kind `.cancelled` is thrown.
    @discardableResult
    public func query(_ sql: String, _ parameters: [any PostgresParameter], limit: StatementLimit) throws(PostgresError) -> Rows {
        let texts = parameters.map { $0.postgresText }
        let sent = withOptionalCStringArray(texts) { pointers in
            PQsendQueryParams(handle, sql, Int32(texts.count), nil, pointers, nil, nil, 0)
        }
        guard sent == 1 else {
            throw PostgresError(kind: .connection, message: Connection.errorMessage(handle), context: Connection.firstLine(sql))
        }
        return try awaitResult(sql: sql, limit: limit)
    }

    /// Runs a script of several statements without parameters (migration files only:
    /// they come from the repository, never from values).
    public func executeScript(_ sql: String) throws(PostgresError) {
        guard PQsendQuery(handle, sql) == 1 else {
            throw PostgresError(kind: .connection, message: Connection.errorMessage(handle), context: Connection.firstLine(sql))
        }
        _ = try awaitResult(sql: sql, limit: limits.limit)
    }

    /// Runs `body` with every statement on this connection under `limit`, then restores the
    /// limit that was in force before.
    public func withStatementLimit<T>(_ limit: StatementLimit, _ body: () throws -> T) rethrows -> T {
        let previous = limits.limit
        limits.limit = limit
        defer { limits.limit = previous }
        return try body()
    }

    /// Runs `body` inside BEGIN/COMMIT; rolls back and rethrows when it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try query("BEGIN")
        do {
            let value = try body()
            try query("COMMIT")
            return value
        } catch {
            // The original error matters; a failed rollback means the connection is gone anyway.
            // The rollback has its own short bound: it must run even when the limit has fired.
            _ = try? query("ROLLBACK", [], limit: .seconds(Connection.rollbackSeconds))
            throw error
        }
    }

    /// How long a ROLLBACK after an error may take.
    static let rollbackSeconds: Double = 5
    /// How long to wait for the server to end a statement after asking it to cancel.
    static let cancelWaitSeconds: Double = 5
    /// The longest single wait on the socket between two looks at the limit.
    static let sliceMilliseconds: Int32 = 50

    /// Waits for the answer to the statement just sent, in short slices on the socket, asking
    /// `limit` between slices. The last result is returned (or its error thrown), as PQexec does.
    private func awaitResult(sql: String, limit: StatementLimit) throws(PostgresError) -> Rows {
        let check = limit.begin()
        var cancelReason: String?
        var cancelSentAt = 0.0
        var last = ResultHandle(nil)
        while true {
            guard PQconsumeInput(handle) == 1 else {
                throw PostgresError(kind: .connection, message: Connection.errorMessage(handle), context: Connection.firstLine(sql))
            }
            var finished = false
            while PQisBusy(handle) == 0 {
                guard let next = PQgetResult(handle) else {
                    finished = true
                    break
                }
                last = ResultHandle(next)
            }
            if finished { break }
            if cancelReason == nil, let reason = check() {
                cancelReason = reason
                cancelSentAt = StatementLimit.monotonicSeconds()
                cancel()
            } else if cancelReason != nil, StatementLimit.monotonicSeconds() - cancelSentAt >= Connection.cancelWaitSeconds {
                // The server did not end it: this connection cannot be used for anything else.
                throw PostgresError(
                    kind: .connection, message: "the server did not cancel the statement (\(cancelReason!))",
                    context: Connection.firstLine(sql))
            }
            var descriptor = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
            guard descriptor.fd >= 0 else {
                throw PostgresError(kind: .connection, message: Connection.errorMessage(handle), context: Connection.firstLine(sql))
            }
            // EINTR (a stop signal) just ends this slice early.
            _ = poll(&descriptor, 1, Connection.sliceMilliseconds)
        }
        if let cancelReason, let pointer = last.pointer, ResultHandle.field(pointer, "C") == PostgresError.SQLState.queryCanceled.rawValue {
            throw PostgresError(
                kind: .cancelled, sqlState: .queryCanceled, message: "statement cancelled: \(cancelReason)",
                context: Connection.firstLine(sql))
        }
        return try consume(last, sql: sql)
    }

    /// Asks the server to cancel the statement in progress. Whether it did shows in the result.
    private func cancel() {
        let cancel = CancelHandle(PQgetCancel(handle))
        guard let pointer = cancel.pointer else { return }
        var buffer = [CChar](repeating: 0, count: 256)
        _ = PQcancel(pointer, &buffer, Int32(buffer.count))
    }

    /// True while the server connection is usable.
    public var isHealthy: Bool { PQstatus(handle) == CONNECTION_OK }

    private func consume(_ result: consuming ResultHandle, sql: String) throws(PostgresError) -> Rows {
        guard let pointer = result.pointer else {
            throw PostgresError(
                kind: .connection, message: Connection.errorMessage(handle), context: Connection.firstLine(sql))
        }
        switch PQresultStatus(pointer) {
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return Rows(columns: [], values: [], affected: Int(String(cString: PQcmdTuples(pointer))) ?? 0)
        case PGRES_TUPLES_OK:
            return result.copyRows()
        default:
            let sqlState = ResultHandle.field(pointer, "C").map(PostgresError.SQLState.init(rawValue:))
            let primary = ResultHandle.field(pointer, "M") ?? Connection.errorMessage(handle)
            let detail = ResultHandle.field(pointer, "D")
            let lost = PQstatus(handle) != CONNECTION_OK
            throw PostgresError(
                kind: lost ? .connection : .statement,
                sqlState: sqlState,
                message: detail.map { "\(primary) (\($0))" } ?? primary,
                context: Connection.firstLine(sql))
        }
    }

    private static func errorMessage(_ conn: OpaquePointer) -> String {
        guard let raw = PQerrorMessage(conn) else { return "unknown error" }
        let text = String(cString: raw)
        // libpq ends messages with a newline and sometimes prefixes them with "connection to server ...".
        return text.split(whereSeparator: \.isNewline).joined(separator: "; ")
    }

    private static func describe(_ conn: OpaquePointer) -> String {
        func value(_ c: UnsafeMutablePointer<CChar>?) -> String { c.map { String(cString: $0) } ?? "" }
        return "host=\(value(PQhost(conn))) port=\(value(PQport(conn))) dbname=\(value(PQdb(conn))) user=\(value(PQuser(conn)))"
    }

    private static func firstLine(_ sql: String) -> String {
        let trimmed = sql.drop { $0 == " " || $0 == "\n" }
        let line = trimmed.prefix { $0 != "\n" }
        return line.count > 80 ? String(line.prefix(80)) + "…" : String(line)
    }
}

/// Owns one `PGresult`; `deinit` clears it, so every result is freed on every path.
struct ResultHandle: ~Copyable {
    let pointer: OpaquePointer?
    init(_ pointer: OpaquePointer?) { self.pointer = pointer }
    deinit { if let pointer { PQclear(pointer) } }

    func copyRows() -> Rows {
        guard let pointer else { return Rows(columns: [], values: [], affected: 0) }
        let columnCount = PQnfields(pointer)
        let rowCount = PQntuples(pointer)
        var columns: [String] = []
        columns.reserveCapacity(Int(columnCount))
        for column in 0..<columnCount { columns.append(String(cString: PQfname(pointer, column))) }
        var values: [[String?]] = []
        values.reserveCapacity(Int(rowCount))
        for row in 0..<rowCount {
            var rowValues: [String?] = []
            rowValues.reserveCapacity(Int(columnCount))
            for column in 0..<columnCount {
                if PQgetisnull(pointer, row, column) == 1 {
                    rowValues.append(nil)
                } else {
                    rowValues.append(String(cString: PQgetvalue(pointer, row, column)))
                }
            }
            values.append(rowValues)
        }
        return Rows(columns: columns, values: values, affected: 0)
    }

    static func field(_ pointer: OpaquePointer, _ code: Character) -> String? {
        guard let raw = PQresultErrorField(pointer, Int32(code.asciiValue!)) else { return nil }
        return String(cString: raw)
    }
}

/// Calls `body` with a NULL-terminated array of C strings valid for the call.
func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    withOptionalCStringArray(strings.map { Optional($0) }) { pointers in
        // Append the terminating NULL that PQconnectdbParams expects.
        var terminated = Array(UnsafeBufferPointer(start: pointers, count: strings.count))
        terminated.append(nil)
        return terminated.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

/// Calls `body` with an array of C strings (nil stays NULL) valid for the call.
func withOptionalCStringArray<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
    var duplicated: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0)! } }
    defer { for pointer in duplicated { free(pointer) } }
    return duplicated.withUnsafeMutableBufferPointer { buffer in
        buffer.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: max(buffer.count, 1)) {
            body(strings.isEmpty ? nil : UnsafePointer($0))
        }
    }
}
