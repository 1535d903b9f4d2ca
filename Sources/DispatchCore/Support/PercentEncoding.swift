/// The one percent-encoder of the dispatcher: the request's `?ref=` value, the execution id in a
/// status URL and the Pushgateway's grouping labels are written with it, and redaction decodes
/// what it (or anyone) writes. (The `Postgres` module, which sees nothing of this target, masks a
/// percent-encoded password with its own copy of these rules; PercentEncodingTests holds both to
/// the same table.)
public enum PercentEncoding {
    /// RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`) stay; every other byte is `%XX`.
    public static func encode(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if isUnreserved(byte) {
                bytes.append(byte)
            } else {
                bytes += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func isUnreserved(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
            || byte == 0x2D || byte == 0x2E || byte == 0x5F || byte == 0x7E
    }
}
