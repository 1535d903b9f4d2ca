@testable import DispatchCore
import Postgres
import Testing

/// The one percent-encoder (RFC 3986: unreserved `A-Z a-z 0-9 - . _ ~` stay, every other UTF-8
/// byte is `%XX` in upper-case hex), and the Postgres module's password masking held to the same
/// table: redaction only works when every writer encodes byte for byte alike.
@Suite("PercentEncoding: one table for URLs, Pushgateway labels and password masking")
struct PercentEncodingTests {
    // Expected values worked by hand from the UTF-8 bytes.
    static let table: [(input: String, encoded: String)] = [
        ("", ""),
        ("main", "main"),
        ("A-z_0.9~", "A-z_0.9~"),
        ("feature/a b&c", "feature%2Fa%20b%26c"),
        ("a+b=c?d#e", "a%2Bb%3Dc%3Fd%23e"),
        ("100%", "100%25"),
        ("é", "%C3%A9"),
        ("€", "%E2%82%AC"),
        ("\u{1F600}", "%F0%9F%98%80"),
        ("tab\there", "tab%09here"),
        ("\u{7F}", "%7F"),
        ("sk/Zq7-Xv9+Lm2.W~p", "sk%2FZq7-Xv9%2BLm2.W~p"),
    ]

    @Test("encode", arguments: table)
    func encode(_ input: String, _ encoded: String) {
        #expect(PercentEncoding.encode(input) == encoded)
    }

    // A value holding `/` (or an empty one) goes to the Pushgateway in base64 instead.
    @Test("a Pushgateway label value is the same encoding", arguments: table.filter { !$0.input.isEmpty && !$0.input.contains("/") })
    func pushgatewayLabel(_ input: String, _ encoded: String) {
        #expect(MetricsPush.pathSegment(label: "instance", input) == "instance/" + encoded)
    }

    /// Inputs whose raw text is not inside their encoding ("100%" is inside "100%25": the raw
    /// match wins there, as it should, and leaves the "25").
    static let maskable = table.filter { !$0.input.isEmpty && ($0.encoded == $0.input || !$0.encoded.contains($0.input)) }

    @Test("the Postgres module masks a password written with this encoding", arguments: maskable)
    func postgresMasking(_ input: String, _ encoded: String) {
        #expect(ConnectionString.redact("password=" + encoded + ";", secret: input) == "password=****;")
    }

    @Test("redaction finds the key written with this encoding", arguments: maskable.filter { $0.input.count >= 4 })
    func redaction(_ input: String, _ encoded: String) {
        #expect(Redaction.redact("ref=" + encoded, secret: input) == "ref=" + Redaction.marker)
    }
}
