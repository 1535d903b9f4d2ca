import CLibPQ

/// Helpers to show a connection string without its password.
public enum ConnectionString {
    /// The connection string with any password replaced by `****`, for logs and errors.
    public static func masked(_ text: String) -> String {
        guard let secret = password(in: text) else { return text }
        return redact(text, secret: secret)
    }

    /// Replaces every occurrence of `secret` (raw and percent-encoded) in `text`.
    public static func redact(_ text: String, secret: String?) -> String {
        guard let secret, !secret.isEmpty else { return text }
        var result = text.replacing(secret, with: "****")
        let encoded = percentEncoded(secret)
        if encoded != secret { result = result.replacing(encoded, with: "****") }
        return result
    }

    /// The password in a conninfo string or URI, as libpq parses it.
    static func password(in text: String?) -> String? {
        guard let text else { return nil }
        var found: String?
        withParsed(text) { options in
            guard let options else { return }
            var cursor = options
            while let keyword = cursor.pointee.keyword {
                if String(cString: keyword) == "password", let value = cursor.pointee.val {
                    found = String(cString: value)
                }
                cursor += 1
            }
        }
        return found
    }

    /// The password of a string libpq cannot parse: `scheme://user:PASSWORD@…`, `password=…`.
    static func guessPassword(in text: String) -> String? {
        if let scheme = text.firstRange(of: "://") {
            let rest = text[scheme.upperBound...]
            if let at = rest.firstIndex(of: "@"), let colon = rest[..<at].firstIndex(of: ":") {
                return String(rest[rest.index(after: colon)..<at])
            }
        }
        if let key = text.firstRange(of: "password=") {
            let value = text[key.upperBound...]
            if value.hasPrefix("'") {
                return String(value.dropFirst().prefix { $0 != "'" })
            }
            return String(value.prefix { $0 != " " && $0 != "&" })
        }
        return nil
    }

    static func isParsable(_ text: String) -> Bool { parseError(text) == nil }

    /// libpq's own message for a string it cannot parse, or nil when it parses.
    static func parseError(_ text: String) -> String? {
        var errorPointer: UnsafeMutablePointer<CChar>?
        let options = PQconninfoParse(text, &errorPointer)
        defer {
            if let options { PQconninfoFree(options) }
            if let errorPointer { PQfreemem(errorPointer) }
        }
        if options != nil { return nil }
        guard let errorPointer else { return "cannot parse" }
        return String(cString: errorPointer).split(whereSeparator: \.isNewline).joined(separator: "; ")
    }

    private static func withParsed(_ text: String, _ body: (UnsafeMutablePointer<PQconninfoOption>?) -> Void) {
        var errorPointer: UnsafeMutablePointer<CChar>?
        let options = PQconninfoParse(text, &errorPointer)
        defer {
            if let options { PQconninfoFree(options) }
            if let errorPointer { PQfreemem(errorPointer) }
        }
        body(options)
    }

    private static func percentEncoded(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            let unreserved = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A)
                || (byte >= 0x61 && byte <= 0x7A) || byte == 0x2D || byte == 0x2E || byte == 0x5F || byte == 0x7E
            if unreserved {
                result.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = Array("0123456789ABCDEF")
                result += "%" + String(hex[Int(byte >> 4)]) + String(hex[Int(byte & 0xF)])
            }
        }
        return result
    }
}
