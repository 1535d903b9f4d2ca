/// A value bound to a `$n` placeholder, sent in PostgreSQL's text format.
/// SQL is never assembled from values: every value travels as a parameter.
public protocol PostgresParameter {
    /// The text representation, or nil for SQL NULL.
    var postgresText: String? { get }
}

extension String: PostgresParameter { public var postgresText: String? { self } }
extension Int: PostgresParameter { public var postgresText: String? { String(self) } }
extension Int64: PostgresParameter { public var postgresText: String? { String(self) } }
extension Int32: PostgresParameter { public var postgresText: String? { String(self) } }
extension Bool: PostgresParameter { public var postgresText: String? { self ? "t" : "f" } }
extension Optional: PostgresParameter where Wrapped: PostgresParameter {
    public var postgresText: String? { self?.postgresText }
}

/// A one-dimensional array literal (`{"a","b",NULL}`), for `unnest($1::text[])` and `= ANY($1)`:
/// a whole batch binds as one parameter, so a batch costs one round trip.
public struct PostgresArray: PostgresParameter, Sendable {
    public var elements: [String?]

    public init(_ elements: [String?]) { self.elements = elements }
    public init<S: Sequence>(_ elements: S) where S.Element: PostgresParameter {
        self.elements = elements.map { $0.postgresText }
    }

    public var postgresText: String? {
        var text = "{"
        for (index, element) in elements.enumerated() {
            if index > 0 { text += "," }
            guard let element else { text += "NULL"; continue }
            // Quote every element; inside quotes only `"` and `\` need escaping.
            text += "\""
            if element.utf8.contains(where: { $0 == 0x22 || $0 == 0x5C }) {
                for scalar in element.unicodeScalars {
                    if scalar == "\"" || scalar == "\\" { text += "\\" }
                    text.unicodeScalars.append(scalar)
                }
            } else {
                text += element
            }
            text += "\""
        }
        return text + "}"
    }
}
