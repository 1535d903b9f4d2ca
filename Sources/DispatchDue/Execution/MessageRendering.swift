/// The user message of a run (SPEC §4): `message_template` with each `{{ path }}` replaced by
/// the payload value at that dot path, or the payload as compact JSON without a template.
public enum MessageRendering {
    /// `payload` is nil when the column is SQL NULL.
    public static func render(template: String?, payload: JSONValue?) -> String {
        guard let template else { return payload?.compactText ?? "{}" }
        var output = ""
        var rest = Substring(template)
        while let open = rest.firstRange(of: "{{") {
            guard let close = rest[open.upperBound...].firstRange(of: "}}") else { break }
            output += rest[..<open.lowerBound]
            let path = rest[open.upperBound..<close.lowerBound].trimmingSpaces
            output += text(of: value(at: path, in: payload))
            rest = rest[close.upperBound...]
        }
        output += rest
        return output
    }

    /// The value at a dot path: object members by name, array elements by a numeric segment.
    public static func value(at path: String, in payload: JSONValue?) -> JSONValue? {
        var current = payload
        for segment in path.split(separator: ".", omittingEmptySubsequences: false) {
            switch current {
            case .object(let members)?:
                current = members.first { $0.key == segment }?.value
            case .array(let elements)?:
                guard !segment.isEmpty, segment.allSatisfy({ $0.isASCII && $0.isNumber }),
                    let index = Int(segment), index < elements.count
                else { return nil }
                current = elements[index]
            default:
                return nil
            }
        }
        return current
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
