import Postgres

/// contract §5/§6: `status` lists the triggers the dispatcher paused (from the partial index on
/// paused_reason: normally few rows).
public struct PausedTriggers: Sendable {
    public struct Entry: Sendable, Equatable {
        public var tenantID: String
        public var triggerID: String
        public var reason: String
    }

    public var entries: [Entry]
    public var total: Int

    public static let listLimit = 100

    static let select = """
        SELECT tenant_id, id, paused_reason, count(*) OVER () AS total
        FROM scheduled_triggers
        WHERE paused_reason IS NOT NULL
        ORDER BY tenant_id, id
        LIMIT $1
        """

    public static func measure(on connection: borrowing Connection) throws(PostgresError) -> PausedTriggers {
        var result = PausedTriggers(entries: [], total: 0)
        for row in try connection.query(select, [listLimit]) {
            result.entries.append(Entry(
                tenantID: try row.string("tenant_id"), triggerID: try row.string("id"),
                reason: try row.string("paused_reason")))
            result.total = try row.int("total")
        }
        return result
    }

    var jsonMembers: [(key: String, value: JSONValue)] {
        [
            ("paused_trigger_count", .number(String(total))),
            ("paused_triggers", .array(entries.map {
                .object([("tenant_id", .string($0.tenantID)), ("id", .string($0.triggerID)), ("reason", .string($0.reason))])
            })),
        ]
    }

    var textLines: [String] {
        var lines = ["paused triggers:       \(total)"]
        for entry in entries {
            lines.append("  \(entry.tenantID)/\(entry.triggerID): \(ManagementOutput.cell(entry.reason, limit: 200))")
        }
        if total > entries.count { lines.append("  … and \(total - entries.count) more") }
        return lines
    }
}
