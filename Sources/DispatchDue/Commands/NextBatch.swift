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
            return "{\"next\":[" + slots.map { BatchJSONText.quoted($0.iso8601) }.joined(separator: ",") + "]}"
        case .failure(let error):
            return "{\"error\":" + BatchJSONText.quoted(error.message) + "}"
        }
    }

    static func slots(for line: String, now: Instant) -> Result<[Instant], ScheduleError> {
        let object: [String: BatchJSON]
        switch BatchJSON.parse(line) {
        case .success(.object(let fields)): object = fields
        case .success: return .failure(ScheduleError("expected a JSON object like {\"expr\":\"*/5 * * * *\"}"))
        case .failure(let error): return .failure(error)
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
        case .number(let value)?:
            guard value == value.rounded(), value >= 1, value <= Double(NextCommand.maximumCount) else {
                return .failure(ScheduleError("\"count\" must be a whole number from 1 to \(NextCommand.maximumCount)"))
            }
            count = Int(value)
        default: return .failure(ScheduleError("\"count\" must be a number"))
        }
        let schedule: CronSchedule
        do throws(ScheduleError) {
            schedule = try CronSchedule(expression: expr, timeZone: zone)
        } catch {
            return .failure(error)
        }
        var slots: [Instant] = []
        var cursor = after
        while slots.count < count, let slot = schedule.next(after: cursor) {
            slots.append(slot)
            cursor = slot
        }
        return .success(slots)
    }
}

/// The JSON values a batch line may hold. A small reader, enough for one object per line.
fileprivate enum BatchJSON: Equatable {
    case object([String: BatchJSON])
    case array([BatchJSON])
    case string(String)
    case number(Double)
    case bool(Bool)
    case null

    static func parse(_ text: String) -> Result<BatchJSON, ScheduleError> {
        var reader = BatchJSONReader(bytes: Array(text.utf8))
        do throws(ScheduleError) {
            reader.skipSpace()
            let value = try reader.value(depth: 0)
            reader.skipSpace()
            guard reader.index == reader.bytes.count else { throw reader.error("unexpected text after the value") }
            return .success(value)
        } catch {
            return .failure(error)
        }
    }
}

private struct BatchJSONReader {
    let bytes: [UInt8]
    var index = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    func error(_ problem: String) -> ScheduleError {
        ScheduleError("invalid JSON at byte \(index + 1): \(problem)")
    }

    mutating func skipSpace() {
        while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
    }

    mutating func expect(_ literal: String, _ value: BatchJSON) throws(ScheduleError) -> BatchJSON {
        let utf8 = Array(literal.utf8)
        guard index + utf8.count <= bytes.count, Array(bytes[index..<(index + utf8.count)]) == utf8 else {
            throw error("unexpected character")
        }
        index += utf8.count
        return value
    }

    mutating func value(depth: Int) throws(ScheduleError) -> BatchJSON {
        guard depth < 64 else { throw error("nested too deeply") }
        guard index < bytes.count else { throw error(bytes.isEmpty ? "empty line" : "unexpected end") }
        switch bytes[index] {
        case 0x7B: return try object(depth: depth)
        case 0x5B: return try array(depth: depth)
        case 0x22: return .string(try string())
        case 0x74: return try expect("true", .bool(true))
        case 0x66: return try expect("false", .bool(false))
        case 0x6E: return try expect("null", .null)
        case 0x2D, 0x30...0x39: return try number()
        default: throw error("unexpected character")
        }
    }

    mutating func object(depth: Int) throws(ScheduleError) -> BatchJSON {
        index += 1
        var fields: [String: BatchJSON] = [:]
        skipSpace()
        if index < bytes.count, bytes[index] == 0x7D {
            index += 1
            return .object(fields)
        }
        while true {
            skipSpace()
            guard index < bytes.count, bytes[index] == 0x22 else { throw error("expected a string key") }
            let key = try string()
            skipSpace()
            guard index < bytes.count, bytes[index] == 0x3A else { throw error("expected ':'") }
            index += 1
            skipSpace()
            fields[key] = try value(depth: depth + 1)
            skipSpace()
            guard index < bytes.count else { throw error("unexpected end") }
            if bytes[index] == 0x2C {
                index += 1
                continue
            }
            guard bytes[index] == 0x7D else { throw error("expected ',' or '}'") }
            index += 1
            return .object(fields)
        }
    }

    mutating func array(depth: Int) throws(ScheduleError) -> BatchJSON {
        index += 1
        var items: [BatchJSON] = []
        skipSpace()
        if index < bytes.count, bytes[index] == 0x5D {
            index += 1
            return .array(items)
        }
        while true {
            skipSpace()
            items.append(try value(depth: depth + 1))
            skipSpace()
            guard index < bytes.count else { throw error("unexpected end") }
            if bytes[index] == 0x2C {
                index += 1
                continue
            }
            guard bytes[index] == 0x5D else { throw error("expected ',' or ']'") }
            index += 1
            return .array(items)
        }
    }

    mutating func number() throws(ScheduleError) -> BatchJSON {
        let start = index
        while index < bytes.count, [0x2B, 0x2D, 0x2E, 0x45, 0x65].contains(bytes[index]) || (0x30...0x39).contains(bytes[index]) {
            index += 1
        }
        guard let value = Double(String(decoding: bytes[start..<index], as: UTF8.self)) else {
            index = start
            throw error("invalid number")
        }
        return .number(value)
    }

    mutating func hex4() throws(ScheduleError) -> UInt32 {
        guard index + 4 <= bytes.count,
            let value = UInt32(String(decoding: bytes[index..<(index + 4)], as: UTF8.self), radix: 16)
        else { throw error("invalid \\u escape") }
        index += 4
        return value
    }

    mutating func string() throws(ScheduleError) -> String {
        index += 1
        var scalars = String.UnicodeScalarView()
        var run = index
        var text = ""
        while true {
            guard index < bytes.count else { throw error("unterminated string") }
            let byte = bytes[index]
            if byte == 0x22 {
                text += String(decoding: bytes[run..<index], as: UTF8.self)
                index += 1
                return text
            }
            if byte < 0x20 { throw error("control character in string") }
            if byte != 0x5C {
                index += 1
                continue
            }
            text += String(decoding: bytes[run..<index], as: UTF8.self)
            index += 1
            guard index < bytes.count else { throw error("unterminated string") }
            let escape = bytes[index]
            index += 1
            scalars.removeAll()
            switch escape {
            case 0x22: text += "\""
            case 0x5C: text += "\\"
            case 0x2F: text += "/"
            case 0x62: text += "\u{8}"
            case 0x66: text += "\u{C}"
            case 0x6E: text += "\n"
            case 0x72: text += "\r"
            case 0x74: text += "\t"
            case 0x75:
                var code = try hex4()
                if (0xD800...0xDBFF).contains(code), index + 6 <= bytes.count, bytes[index] == 0x5C, bytes[index + 1] == 0x75 {
                    index += 2
                    let low = try hex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw error("invalid surrogate pair") }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let scalar = Unicode.Scalar(code) else { throw error("invalid \\u escape") }
                text.unicodeScalars.append(scalar)
            default: throw error("invalid escape")
            }
            run = index
        }
    }
}

/// JSON string writing.
fileprivate enum BatchJSONText {
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
