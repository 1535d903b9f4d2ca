import Schedules
import Testing

/// Cross-check of `next(after:)` against a slow, literal reading of contract §3 that looks at every
/// minute and asks only `utcOffset(at:)`: the hand-worked tables above are the specification,
/// this catches what they do not cover.
@Suite struct ReferenceComparison {
    /// Slots in (from, to] by brute force.
    static func reference(_ expression: String, _ zone: TimeZoneRules, from: Instant, to: Instant) -> [Instant] {
        let fields = expression.split(separator: " ").map(String.init)
        func values(_ field: String, _ low: Int, _ high: Int) -> Set<Int> {
            var result = Set<Int>()
            for part in field.split(separator: ",") {
                let pieces = part.split(separator: "/")
                let step = pieces.count == 2 ? Int(pieces[1])! : 1
                var a = low
                var b = high
                if pieces[0] != "*" {
                    let ends = pieces[0].split(separator: "-")
                    a = Int(ends[0])!
                    b = ends.count == 2 ? Int(ends[1])! : a
                }
                for v in stride(from: a, through: b, by: step) { result.insert(v == 7 && high == 7 ? 0 : v) }
            }
            return result
        }
        let minutes = values(fields[0], 0, 59), hours = values(fields[1], 0, 23)
        let doms = values(fields[2], 1, 31), months = values(fields[3], 1, 12), dows = values(fields[4], 0, 7)
        let and = fields[2].hasPrefix("*") || fields[4].hasPrefix("*")
        let wildcard = fields[0].hasPrefix("*") || fields[1].hasPrefix("*")
        func matches(wall: Int64) -> Bool {
            let days = wall >= 0 ? wall / 86400 : (wall - 86399) / 86400
            let civil = Instant(secondsSinceEpoch: days * 86400).iso8601  // yyyy-mm-ddT...
            let parts = civil.prefix(10).split(separator: "-").map { Int($0)! }
            let second = Int(wall - days * 86400)
            let weekday = Int(((days + 4) % 7 + 7) % 7)
            let dayOK = and
                ? doms.contains(parts[2]) && dows.contains(weekday)
                : doms.contains(parts[2]) || dows.contains(weekday)
            return second % 60 == 0 && minutes.contains(second / 60 % 60) && hours.contains(second / 3600)
                && months.contains(parts[1]) && dayOK
        }
        var result: [Instant] = []
        var x = from.secondsSinceEpoch + 1
        while x <= to.secondsSinceEpoch {
            let offset = Int64(zone.utcOffset(at: Instant(secondsSinceEpoch: x)))
            let before = Int64(zone.utcOffset(at: Instant(secondsSinceEpoch: x - 1)))
            let wall = x + offset
            var fires = matches(wall: wall)
            if !wildcard {
                // Fixed-time: not again in a second pass (the wall time already happened earlier).
                if fires {
                    for back in stride(from: Int64(60), through: 26 * 3600, by: 60) {
                        let y = x - back
                        if y + Int64(zone.utcOffset(at: Instant(secondsSinceEpoch: y))) == wall { fires = false }
                    }
                }
                // Fixed-time: a skipped match fires at the change.
                if offset > before {
                    var w = x + before
                    while w < x + offset {
                        if matches(wall: w) { fires = true }
                        w += 60
                    }
                }
            }
            if fires { result.append(Instant(secondsSinceEpoch: x)) }
            // Step by minute, but visit every transition instant too.
            let nextMinute = x + 60 - (((x % 60) + 60) % 60)
            var probe = x + 1
            var stepTo = nextMinute
            while probe < nextMinute {
                if zone.utcOffset(at: Instant(secondsSinceEpoch: probe)) != Int(offset) { stepTo = probe; break }
                probe += probe % 60 == 0 ? 60 : (nextMinute - probe)
            }
            x = stepTo
        }
        return result
    }

    @Test(arguments: [
        ("*/15 * * * *", "America/New_York"), ("30 1 * * *", "America/New_York"), ("30 2 * * *", "America/New_York"),
        ("15,45 2 * * *", "America/New_York"), ("0 * * * *", "Australia/Lord_Howe"), ("15 2 * * *", "Australia/Lord_Howe"),
        ("45 1 * * *", "Australia/Lord_Howe"), ("0 3 * * *", "Pacific/Chatham"), ("*/30 * * * *", "Pacific/Chatham"),
        ("0 0 * * *", "America/Santiago"), ("0 23 * * *", "America/Santiago"), ("30 1 * * 0", "Europe/London"),
        ("0 2 * * 0", "Europe/Berlin"), ("0,30 2-3 * * *", "Europe/Berlin"),
    ])
    func agreesAroundTransitions(_ expression: String, _ zoneName: String) throws {
        let zone = try TimeZoneRules.named(zoneName)
        let schedule = try CronSchedule(expression: expression, timeZone: zoneName)
        for (from, to) in [("2026-03-01T00:00:00Z", "2026-04-12T00:00:00Z"), ("2026-09-20T00:00:00Z", "2026-11-05T00:00:00Z")] {
            let expected = Self.reference(expression, zone, from: instant(from), to: instant(to))
            let got = schedule.slots(after: instant(from), through: instant(to), limit: 100_000)
            #expect(got.map(\.iso8601) == expected.map(\.iso8601), "\(expression) \(zoneName) \(from)")
        }
    }
}
