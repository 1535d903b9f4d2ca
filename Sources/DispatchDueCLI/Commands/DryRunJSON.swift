import DispatchCore
import Schedules

/// `run --dry-run --json`: each preview line as one JSON object, instants in RFC 3339 UTC
/// with milliseconds. The preview's lines have five shapes (DispatchStage.preview); a line of
/// any other shape is passed on as {"message": ...} rather than lost.
enum DryRunJSON {
    static func line(_ text: String) -> String {
        object(text).compactText
    }

    static func object(_ text: String) -> JSONValue {
        func instant(_ value: Substring) -> JSONValue {
            Instant.parse(String(value)).map { .string($0.iso8601Milliseconds) } ?? .string(String(value))
        }
        func trigger(_ name: Substring) -> JSONValue { .string(String(name)) }
        if let rest = text.dropPrefix("would schedule "), let at = rest.lastRange(of: " at ") {
            return .object([
                ("action", .string("schedule")), ("trigger", trigger(rest[..<at.lowerBound])),
                ("next_run_at", instant(rest[at.upperBound...])),
            ])
        }
        if let rest = text.dropPrefix("would mark "), let marker = rest.firstRange(of: " with schedule_error: ") {
            return .object([
                ("action", .string("schedule_error")), ("trigger", trigger(rest[..<marker.lowerBound])),
                ("error", .string(String(rest[marker.upperBound...]))),
            ])
        }
        if let rest = text.dropPrefix("would record "), let slot = rest.lastRange(of: " slot ") {
            return .object([
                ("action", .string("record")), ("trigger", trigger(rest[..<slot.lowerBound])),
                ("slot", instant(rest[slot.upperBound...])),
            ])
        }
        if let rest = text.dropPrefix("would skip "), let of = rest.firstRange(of: " missed slot(s) of "),
            let count = Int(rest[..<of.lowerBound]), rest.hasSuffix(")"), let open = rest.lastRange(of: " (")
        {
            return .object([
                ("action", .string("skip")), ("trigger", trigger(rest[of.upperBound..<open.lowerBound])),
                ("slots", .number(String(count))),
                ("policy", .string(String(rest[open.upperBound..<rest.index(before: rest.endIndex)]))),
            ])
        }
        let words = text.split(separator: " ")
        if text.hasSuffix("would be recorded; nothing was changed"), words.count >= 5,
            let due = Int(words[0]), let slots = Int(words[3])
        {
            return .object([
                ("action", .string("summary")), ("due_triggers", .number(String(due))), ("slots", .number(String(slots))),
            ])
        }
        return .object([("message", .string(text))])
    }
}

extension String {
    fileprivate func dropPrefix(_ prefix: String) -> Substring? {
        hasPrefix(prefix) ? self[index(startIndex, offsetBy: prefix.count)...] : nil
    }
}

extension Substring {
    fileprivate func lastRange(of needle: String) -> Range<Index>? {
        var found: Range<Index>?
        var cursor = startIndex
        while let range = self[cursor...].firstRange(of: needle) {
            found = range
            cursor = index(after: range.lowerBound)
        }
        return found
    }
}
