/// Keeps the API key out of anything the endpoint sends back (bodies, headers, ids) before it
/// is logged or stored, however the endpoint escaped it.
enum Redaction {
    static let marker = "****"

    /// The text with every echo of `secret` replaced by `****`, the whole span of an escaped echo
    /// included. Redact before cutting, so a cut never leaves half a key behind.
    static func redact(_ text: String, secret: String) -> String {
        guard !secret.isEmpty else { return text }
        let bytes = Array(text.utf8)
        let spans = SecretMatcher(secret).matches(in: bytes)
        guard !spans.isEmpty else { return text }
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count)
        var position = 0
        for span in spans {
            result += bytes[position..<span.lowerBound]
            result += Array(marker.utf8)
            position = span.upperBound
        }
        result += bytes[position...]
        return String(decoding: result, as: UTF8.self)
    }

    /// True when `text` echoes `secret` in any encoding the matcher knows.
    static func echoes(_ text: String, secret: String) -> Bool {
        guard !secret.isEmpty else { return false }
        return !SecretMatcher(secret).matches(in: Array(text.utf8), first: true).isEmpty
    }

    /// At most `maxBytes` of UTF-8, cut on a character boundary (an ellipsis marks the cut).
    static func clip(_ text: String, maxBytes: Int) -> String {
        guard text.utf8.count > maxBytes else { return text }
        var result = ""
        var used = 0
        for character in text {
            let size = character.utf8.count
            if used + size > maxBytes - 3 { break }
            result.append(character)
            used += size
        }
        return result + "…"
    }

    /// Text safe to bind into a statement: no NUL (it would cut the C string, and with it a
    /// whole batch's array literal) and no other control characters than tab and line breaks.
    static func storable(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return text }
        var scalars = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            let value = scalar.value
            let control = value < 0x20 || value == 0x7F || (0x80..<0xA0).contains(value)
            if control && scalar != "\t" && scalar != "\n" && scalar != "\r" {
                scalars.append("\u{FFFD}")
            } else {
                scalars.append(scalar)
            }
        }
        return String(scalars)
    }
}

/// Finds the key in text where each of its bytes may be written raw or escaped, independently:
/// percent-encoding in either case (`%2f`, `%2F`, `%2D` for an unreserved `-`, `+` for a space),
/// JSON escapes (`\u002d`, `\/`, `\\`, `\"`, surrogate pairs), `\x2d`, HTML character references
/// (`&#45;`, `&#x2D;`, `&amp;` …), and these nested once more (`%252F`, `\u0025 2F`).
struct SecretMatcher {
    let key: [UInt8]
    /// Nesting of escapes followed (2: `%252F` is found, a third layer is not).
    static let maximumLayers = 2
    /// The longest text one key byte can take in the encodings above (`\u0025\u0032\u0046`).
    static let maximumBytesPerKeyByte = 18

    init(_ secret: String) { key = Array(secret.utf8) }

    /// The spans of the key's echoes, left to right, not overlapping.
    func matches(in bytes: [UInt8], first: Bool = false) -> [Range<Int>] {
        guard !key.isEmpty else { return [] }
        var spans: [Range<Int>] = []
        var start = 0
        while start < bytes.count {
            // An echo starts with the key's first byte or an escape's first byte; skipping other
            // positions keeps the common case (no echo, short ids) a plain scan.
            let byte = bytes[start]
            let candidate = byte == key[0] || byte == UInt8(ascii: "%") || byte == UInt8(ascii: "\\")
                || byte == UInt8(ascii: "&") || (byte == UInt8(ascii: "+") && key[0] == 0x20)
            if candidate, let end = match(bytes, at: start) {
                spans.append(start..<end)
                if first { break }
                start = end
            } else {
                start += 1
            }
        }
        return spans
    }

    /// The end of an echo starting at `start`, or nil.
    private func match(_ bytes: [UInt8], at start: Int) -> Int? {
        // Depth-first over the readings of each unit; (key index, text position) pairs already
        // known to fail are not tried again, so the search is at most key × text long.
        var failed = Set<Int>()
        func search(_ keyIndex: Int, _ position: Int) -> Int? {
            if keyIndex == key.count { return position }
            let state = keyIndex &* (bytes.count + 1) &+ position
            if failed.contains(state) { return nil }
            for unit in SecretMatcher.units(bytes, at: position, layers: SecretMatcher.maximumLayers) {
                let count = unit.decoded.count
                guard count > 0, keyIndex + count <= key.count,
                    key[keyIndex..<(keyIndex + count)].elementsEqual(unit.decoded)
                else { continue }
                if let end = search(keyIndex + count, unit.end) { return end }
            }
            failed.insert(state)
            return nil
        }
        return search(0, start)
    }

    /// Every reading of the text at `position` as one unit: the raw byte, and each escape that
    /// starts there with the bytes it stands for.
    static func units(_ bytes: [UInt8], at position: Int, layers: Int) -> [(decoded: [UInt8], end: Int)] {
        guard position < bytes.count else { return [] }
        let byte = bytes[position]
        var readings: [(decoded: [UInt8], end: Int)] = [([byte], position + 1)]
        if byte == UInt8(ascii: "+") { readings.append(([0x20], position + 1)) }
        guard layers > 0 else { return readings }
        // Percent-encoding, where the `%` and the digits may themselves be escaped.
        for percent in units(bytes, at: position, layers: layers - 1) where percent.decoded == [0x25] {
            for high in units(bytes, at: percent.end, layers: layers - 1) where high.decoded.count == 1 {
                guard let h = hexValue(high.decoded[0]) else { continue }
                for low in units(bytes, at: high.end, layers: layers - 1) where low.decoded.count == 1 {
                    guard let l = hexValue(low.decoded[0]) else { continue }
                    readings.append(([h << 4 | l], low.end))
                }
            }
        }
        if byte == UInt8(ascii: "\\") { readings += backslashEscape(bytes, at: position) }
        if byte == UInt8(ascii: "&") { readings += characterReference(bytes, at: position) }
        return readings
    }

    private static func backslashEscape(_ bytes: [UInt8], at position: Int) -> [(decoded: [UInt8], end: Int)] {
        guard position + 1 < bytes.count else { return [] }
        switch bytes[position + 1] {
        case UInt8(ascii: "u"):
            guard let code = hex(bytes, from: position + 2, count: 4) else { return [] }
            if (0xD800..<0xDC00).contains(code), position + 11 < bytes.count,
                bytes[position + 6] == UInt8(ascii: "\\"), bytes[position + 7] == UInt8(ascii: "u"),
                let low = hex(bytes, from: position + 8, count: 4), (0xDC00..<0xE000).contains(low)
            {
                let combined = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                return utf8(combined).map { [($0, position + 12)] } ?? []
            }
            return utf8(code).map { [($0, position + 6)] } ?? []
        case UInt8(ascii: "x"):
            guard let value = hex(bytes, from: position + 2, count: 2) else { return [] }
            return [([UInt8(value)], position + 4)]
        case UInt8(ascii: "/"), UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: "'"):
            return [([bytes[position + 1]], position + 2)]
        case UInt8(ascii: "b"): return [([0x08], position + 2)]
        case UInt8(ascii: "f"): return [([0x0C], position + 2)]
        case UInt8(ascii: "n"): return [([0x0A], position + 2)]
        case UInt8(ascii: "r"): return [([0x0D], position + 2)]
        case UInt8(ascii: "t"): return [([0x09], position + 2)]
        default: return []
        }
    }

    /// `&#45;`, `&#x2d;`, and the named references of the characters HTML escapes.
    private static func characterReference(_ bytes: [UInt8], at position: Int) -> [(decoded: [UInt8], end: Int)] {
        guard let semicolon = bytes[position..<min(bytes.count, position + 12)].firstIndex(of: UInt8(ascii: ";"))
        else { return [] }
        let name = bytes[(position + 1)..<semicolon]
        let end = semicolon + 1
        if name.first == UInt8(ascii: "#") {
            let digits = name.dropFirst()
            var code: UInt32 = 0
            if digits.first == UInt8(ascii: "x") || digits.first == UInt8(ascii: "X") {
                guard digits.count > 1, digits.count <= 7 else { return [] }
                for digit in digits.dropFirst() {
                    guard let value = hexValue(digit) else { return [] }
                    code = code << 4 | UInt32(value)
                }
            } else {
                guard !digits.isEmpty, digits.count <= 7 else { return [] }
                for digit in digits {
                    guard digit >= 0x30, digit <= 0x39 else { return [] }
                    code = code * 10 + UInt32(digit - 0x30)
                }
            }
            return utf8(code).map { [($0, end)] } ?? []
        }
        let named: [String: UInt8] = ["amp": 0x26, "lt": 0x3C, "gt": 0x3E, "quot": 0x22, "apos": 0x27]
        guard let value = named[String(decoding: name, as: UTF8.self).lowercased()] else { return [] }
        return [([value], end)]
    }

    private static func hex(_ bytes: [UInt8], from start: Int, count: Int) -> UInt32? {
        guard start + count <= bytes.count else { return nil }
        var value: UInt32 = 0
        for byte in bytes[start..<(start + count)] {
            guard let digit = hexValue(byte) else { return nil }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x41...0x46: return byte - 0x41 + 10
        case 0x61...0x66: return byte - 0x61 + 10
        default: return nil
        }
    }

    private static func utf8(_ code: UInt32) -> [UInt8]? {
        guard let scalar = Unicode.Scalar(code) else { return nil }
        return Array(String(scalar).utf8)
    }
}
