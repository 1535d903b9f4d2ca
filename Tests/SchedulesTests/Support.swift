import Schedules
import Testing

/// One row of a next-slot table: an expression in a zone, a start, and the slots that follow,
/// worked out by hand from contract §3 and the zone's real rules (see the comment on each row).
struct SlotCase: Sendable, CustomTestStringConvertible {
    var expression: String
    var zone: String
    var after: String
    var expected: [String]
    var why: String

    init(_ expression: String, _ zone: String, after: String, _ expected: [String], _ why: String) {
        self.expression = expression
        self.zone = zone
        self.after = after
        self.expected = expected
        self.why = why
    }

    var testDescription: String { "\(expression) in \(zone) after \(after)" }

    /// Runs `next(after:)` repeatedly and compares with `expected`.
    func check(sourceLocation: SourceLocation = #_sourceLocation) throws {
        let schedule = try CronSchedule(expression: expression, timeZone: zone)
        var cursor = try #require(Instant.parse(after))
        var got: [String] = []
        for _ in expected {
            guard let slot = schedule.next(after: cursor) else { break }
            got.append(slot.iso8601)
            cursor = slot
        }
        let want = expected.map { Instant.parse($0)?.iso8601 ?? "unparsable \($0)" }
        #expect(got == want, "\(why)", sourceLocation: sourceLocation)
    }
}

func instant(_ text: String) -> Instant {
    guard let value = Instant.parse(text) else { fatalError("bad instant in test: \(text)") }
    return value
}
