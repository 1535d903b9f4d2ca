/// SQL that reads timestamps any writer may have set (plain SQL included): `infinity`,
/// `-infinity` or a year outside 1–9999. Such a value is never converted to epoch seconds —
/// `extract(epoch …)::int8` of an infinity fails the whole statement, and with it every
/// tenant's batch — it comes back as NULL, with a `problem` column saying what it was.
enum TimestampSQL {
    static let lowest = "'0001-01-01 00:00:00Z'::timestamptz"
    static let beyond = "'10000-01-01 00:00:00Z'::timestamptz"

    /// True when `expression` is a timestamp in the years 1–9999 (UTC).
    static func inRange(_ expression: String) -> String {
        "(\(expression) >= \(lowest) AND \(expression) < \(beyond))"
    }

    /// Whole epoch seconds of `expression`; NULL when it is NULL or outside the years 1–9999.
    static func epoch(_ expression: String) -> String {
        "CASE WHEN \(inRange(expression)) THEN floor(extract(epoch FROM \(expression)))::int8 END"
    }

    /// NULL when `expression` is NULL or usable; otherwise `infinity`, `-infinity`, or the
    /// year (astronomical numbering, as the rest of the product prints years: 4713 BC is -4712).
    static func problem(_ expression: String) -> String {
        let year = "extract(year FROM \(expression) AT TIME ZONE 'UTC')"
        return """
            CASE WHEN \(expression) IS NULL OR \(inRange(expression)) THEN NULL \
            WHEN NOT isfinite(\(expression)) THEN \(expression)::text \
            ELSE (CASE WHEN \(year) < 0 THEN \(year) + 1 ELSE \(year) END)::int8::text END
            """
    }

    /// PostgreSQL's own text of an unusable `expression` in UTC (`infinity`,
    /// `4713-01-01 00:00:00 BC UTC`), for people; NULL when it is NULL or usable.
    static func display(_ expression: String) -> String {
        """
        CASE WHEN \(expression) IS NULL OR \(inRange(expression)) THEN NULL \
        WHEN NOT isfinite(\(expression)) THEN \(expression)::text \
        ELSE (\(expression) AT TIME ZONE 'UTC')::text || ' UTC' END
        """
    }

    /// The schedule error for a `problem` value of `column`.
    static func message(column: String, problem: String) -> String {
        if problem == "infinity" || problem == "-infinity" {
            return "\(column) is \(problem): not a time this dispatcher can fire"
        }
        return "\(column) year \(problem) is outside 1–9999"
    }
}
