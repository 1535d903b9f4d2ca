import DispatchCore
import Schedules

/// `dispatch-due next --batch`: one JSON object per stdin line,
/// `{"expr": "...", "tz": "UTC", "after": "2026-03-08T07:00:00Z", "count": 1}`, answered by
/// exactly one line each, in order: `{"next":["..."]}` or `{"error":"..."}`. A bad line gets an
/// error line; it never stops the batch.
enum NextBatch {
    static func run(now: Instant) {
        while let line = readLine(strippingNewline: true) {
            StandardOutput.writeLine(answer(line, now: now))
        }
    }

    static func answer(_ line: String, now: Instant) -> String {
        switch slots(for: line, now: now) {
        case .success(let slots):
            return "{\"next\":[" + slots.map { JSONValue.quoted($0.iso8601) }.joined(separator: ",") + "]}"
        case .failure(let error):
            return "{\"error\":" + JSONValue.quoted(error.message) + "}"
        }
    }

    static func slots(for line: String, now: Instant) -> Result<[Instant], ScheduleError> {
        let object: JSONValue
        do throws(JSONParseError) {
            object = try JSONValue.parse(line)
        } catch {
            return .failure(ScheduleError(error.description))
        }
        guard case .object = object else {
            return .failure(ScheduleError("expected a JSON object like {\"expr\":\"*/5 * * * *\"}"))
        }
        guard case .string(let expr)? = object["expr"] else {
            return .failure(ScheduleError("\"expr\" is required and must be a string"))
        }
        var zone = "UTC"
        switch object["tz"] {
        case nil, .null?: break
        case .string(let name)?: zone = name
        default: return .failure(ScheduleError("\"tz\" must be a string"))
        }
        var after = now
        switch object["after"] {
        case nil, .null?: break
        case .string(let text)?:
            guard let parsed = Instant.parse(text) else {
                return .failure(ScheduleError("\"after\" is not an instant: \"\(text)\"; write e.g. 2026-03-08T07:00:00Z"))
            }
            after = parsed
        default: return .failure(ScheduleError("\"after\" must be a string"))
        }
        var count = 1
        switch object["count"] {
        case nil, .null?: break
        case .number(let text)?:
            guard let value = Int(text), value >= 1, value <= NextCommand.maximumCount else {
                return .failure(ScheduleError("\"count\" must be a whole number from 1 to \(NextCommand.maximumCount)"))
            }
            count = value
        default: return .failure(ScheduleError("\"count\" must be a number"))
        }
        do throws(ScheduleError) {
            return .success(try TriggerSchedule.cron(expr, timeZone: zone).nextSlots(after: after, count: count))
        } catch {
            return .failure(error)
        }
    }
}
