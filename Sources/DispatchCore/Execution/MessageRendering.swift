/// The user message of a run (contract §4): `message_template` with each `{{ path }}` replaced by
/// the payload value at that dot path, or the payload as compact JSON without a template.
///
/// Bounded: a template of 64 KiB over a payload of 256 KiB could ask for gigabytes
/// (`{{b}}` × 13,000 over a 100 KB string), so rendering stops as soon as the output passes
/// `maximumBytes`, and lookups cost the same however often a path repeats.
public enum MessageRendering {
    /// The largest message sent (262,144 bytes, 256 KiB).
    public static let maximumBytes = 262_144

    /// The output passed the limit; what was rendered so far is dropped.
    public struct TooLarge: Error, CustomStringConvertible, Sendable, Equatable {
        public var limit: Int
        public init(limit: Int) { self.limit = limit }
        public var description: String { "rendered message exceeds \(limit) bytes" }
    }

    /// `payload` is nil when the column is SQL NULL.
    public static func render(template: String?, payload: JSONValue?, maximumBytes: Int = maximumBytes)
        throws(TooLarge) -> String
    {
        guard let template else {
            let text = payload?.compactText ?? "{}"
            guard text.utf8.count <= maximumBytes else { throw TooLarge(limit: maximumBytes) }
            return text
        }
        var output = BoundedText(limit: maximumBytes)
        var resolver = Resolver(payload: payload)
        var rest = Substring(template)
        while let open = rest.firstRange(of: "{{") {
            guard let close = rest[open.upperBound...].firstRange(of: "}}") else { break }
            try output.append(rest[..<open.lowerBound])
            let path = rest[open.upperBound..<close.lowerBound].trimmingSpaces
            try output.append(resolver.text(at: path, limit: maximumBytes))
            rest = rest[close.upperBound...]
        }
        try output.append(rest)
        return output.text
    }

    /// The value at a dot path: object members by name, array elements by a numeric segment.
    public static func value(at path: String, in payload: JSONValue?) -> JSONValue? {
        var resolver = Resolver(payload: payload)
        return resolver.value(at: path)
    }

    /// Strings as they are, numbers as jsonb wrote them, booleans, compact JSON for objects and
    /// arrays, nothing for null or missing.
    public static func text(of value: JSONValue?) -> String {
        switch value {
        case nil, .null?: return ""
        case .string(let text)?: return text
        case .number(let text)?: return text
        case .bool(let flag)?: return flag ? "true" : "false"
        case let other?: return other.compactText
        }
    }
}

/// A string that refuses to grow past `limit` bytes of UTF-8.
private struct BoundedText {
    let limit: Int
    var text = ""
    var bytes = 0

    mutating func append<S: StringProtocol>(_ piece: S) throws(MessageRendering.TooLarge) {
        let size = piece.utf8.count
        guard size <= limit - bytes else { throw MessageRendering.TooLarge(limit: limit) }
        text += piece
        bytes += size
    }
}

/// Path lookups for one rendering. Each distinct path is resolved and turned into text once;
/// objects with many members get a name index the first time a path goes through them, so a
/// template of thousands of placeholders over an object of thousands of members costs
/// O(template + payload), not their product.
private struct Resolver {
    let payload: JSONValue?
    /// Rendered text per trimmed path (a path repeated 20,000 times is resolved once).
    var texts: [String: String] = [:]
    /// Member name → position, per object reached, keyed by the canonical path to the object.
    var indexes: [String: [Substring: Int]] = [:]

    init(payload: JSONValue?) { self.payload = payload }

    mutating func text(at path: String, limit: Int) throws(MessageRendering.TooLarge) -> String {
        if let known = texts[path] { return known }
        let value = value(at: path)
        // A whole object or array is serialised only when it can still fit.
        switch value {
        case .object?, .array?:
            if Resolver.compactSizeExceeds(value!, limit) { throw MessageRendering.TooLarge(limit: limit) }
        default: break
        }
        let text = MessageRendering.text(of: value)
        texts[path] = text
        return text
    }

    mutating func value(at path: String) -> JSONValue? {
        var current = payload
        // "." cannot occur inside a segment, so joined segments name one object unambiguously;
        // array indexes are written canonically (0 and 00 reach the same element).
        var canonical = ""
        for segment in path.split(separator: ".", omittingEmptySubsequences: false) {
            switch current {
            case .object(let members)?:
                if members.count <= 8 {
                    current = members.first { $0.key == segment }?.value
                } else {
                    if indexes[canonical] == nil {
                        var index: [Substring: Int] = [:]
                        index.reserveCapacity(members.count)
                        for (position, member) in members.enumerated() where index[Substring(member.key)] == nil {
                            index[Substring(member.key)] = position
                        }
                        indexes[canonical] = index
                    }
                    current = indexes[canonical]![segment].map { members[$0].value }
                }
                canonical += "." + segment
            case .array(let elements)?:
                guard !segment.isEmpty, segment.allSatisfy({ $0.isASCII && $0.isNumber }),
                    let index = Int(segment), index < elements.count
                else { return nil }
                current = elements[index]
                canonical += "." + String(index)
            default:
                return nil
            }
        }
        return current
    }

    /// True when the compact text of `value` is certainly longer than `limit` bytes, found by
    /// counting (each count below is at most the bytes `compactText` writes), not by building it.
    static func compactSizeExceeds(_ value: JSONValue, _ limit: Int) -> Bool {
        var total = 0
        var stack = [value]
        while let next = stack.popLast() {
            switch next {
            case .null: total += 4
            case .bool(let flag): total += flag ? 4 : 5
            case .number(let text): total += text.utf8.count
            case .string(let text): total += text.utf8.count + 2
            case .array(let elements):
                total += 1 + max(elements.count, 1)
                stack.append(contentsOf: elements)
            case .object(let members):
                total += 1 + max(members.count, 1)
                for member in members {
                    total += member.key.utf8.count + 3
                    stack.append(member.value)
                }
            }
            if total > limit { return true }
        }
        return false
    }
}
