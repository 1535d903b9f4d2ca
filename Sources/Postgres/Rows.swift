/// Rows of a result, copied out of the `PGresult` so the C result can be freed at once.
/// Values are in PostgreSQL's text format; `nil` is SQL NULL.
public struct Rows: Sendable, Sequence {
    public let columns: [String]
    public let values: [[String?]]
    /// Rows touched by an INSERT/UPDATE/DELETE (PQcmdTuples), 0 otherwise.
    public let affected: Int

    public init(columns: [String], values: [[String?]], affected: Int) {
        self.columns = columns
        self.values = values
        self.affected = affected
    }

    public var count: Int { values.count }
    public var isEmpty: Bool { values.isEmpty }
    public var first: Row? { values.isEmpty ? nil : Row(columns: columns, values: values[0]) }
    public subscript(index: Int) -> Row { Row(columns: columns, values: values[index]) }

    public func makeIterator() -> some IteratorProtocol<Row> {
        values.lazy.map { Row(columns: columns, values: $0) }.makeIterator()
    }
}

/// One row; look values up by column name.
public struct Row: Sendable {
    public let columns: [String]
    public let values: [String?]

    public subscript(column: String) -> String? {
        guard let index = columns.firstIndex(of: column) else {
            preconditionFailure("no column \(column) in \(columns)")
        }
        return values[index]
    }

    public func string(_ column: String) throws(PostgresError) -> String {
        guard let value = self[column] else { throw Row.unexpectedNull(column) }
        return value
    }

    public func int(_ column: String) throws(PostgresError) -> Int {
        guard let value = self[column] else { throw Row.unexpectedNull(column) }
        guard let number = Int(value) else { throw Row.badValue(column, value) }
        return number
    }

    public func optionalInt(_ column: String) throws(PostgresError) -> Int? {
        guard let value = self[column] else { return nil }
        guard let number = Int(value) else { throw Row.badValue(column, value) }
        return number
    }

    public func bool(_ column: String) throws(PostgresError) -> Bool {
        switch self[column] {
        case "t": return true
        case "f": return false
        case nil: throw Row.unexpectedNull(column)
        case let other?: throw Row.badValue(column, other)
        }
    }

    static func unexpectedNull(_ column: String) -> PostgresError {
        PostgresError(kind: .statement, message: "column \(column) is NULL where a value was expected")
    }
    static func badValue(_ column: String, _ value: String) -> PostgresError {
        PostgresError(kind: .statement, message: "column \(column) has unexpected value \(value)")
    }
}
