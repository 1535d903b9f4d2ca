@testable import DispatchCore
@testable import DispatchDueCLI
import Testing

@Suite("Redaction: the key in every encoding an endpoint may echo it in")
struct RedactionTests {
    /// A key with reserved characters (`/`, `+`), unreserved punctuation (`-`, `.`, `~`) and
    /// letters of both cases, so each escape form has something to escape.
    static let key = "sk/Zq7-Xv9+Lm2.W~p"

    // Each expected text worked by hand: the whole echo, escapes included, becomes ****.
    @Test(
        "echoes are replaced, whole span",
        arguments: [
            ("raw", "key=sk/Zq7-Xv9+Lm2.W~p;", "key=****;"),
            ("percent, upper-case hex", "key=sk%2FZq7-Xv9%2BLm2.W~p", "key=****"),
            ("percent, lower-case hex", "key=sk%2fZq7-Xv9%2bLm2.W~p", "key=****"),
            ("percent of unreserved characters", "sk%2FZq7%2DXv9%2BLm2%2EW%7Ep", "****"),
            ("percent of every byte", "%73%6B%2F%5A%71%37%2D%58%76%39%2B%4C%6D%32%2E%57%7E%70", "****"),
            ("percent of every byte, lower case", "%73%6b%2f%5a%71%37%2d%58%76%39%2b%4c%6d%32%2e%57%7e%70", "****"),
            ("JSON \\u escapes", #"sk\/Zq7\u002dXv9\u002BLm2.W\u007ep"#, "****"),
            ("JSON \\u for every byte",
             #"\u0073\u006b\u002f\u005a\u0071\u0037\u002d\u0058\u0076\u0039\u002b\u004c\u006d\u0032\u002e\u0057\u007e\u0070"#,
             "****"),
            ("mixed forms", #"s%6b\u002FZ&#113;7%2dXv9+Lm2&#x2E;W%7ep"#, "****"),
            ("percent-encoded twice", "sk%252FZq7%252DXv9%252BLm2.W~p", "****"),
            ("percent sign JSON-escaped", #"sk\u00252FZq7-Xv9\u00252BLm2.W~p"#, "****"),
            ("\\x escapes", #"sk\x2fZq7\x2DXv9+Lm2.W~p"#, "****"),
            ("HTML references", "sk&#47;Zq7&#x2d;Xv9&#43;Lm2.W&#126;p", "****"),
            ("twice, in different forms", "a sk/Zq7-Xv9+Lm2.W~p b sk%2fZq7-Xv9%2bLm2.W~p c", "a **** b **** c"),
            ("inside a Bearer header echo", "Bearer sk/Zq7-Xv9+Lm2.W~p\"}", "Bearer ****\"}"),
        ])
    func redacted(_ form: String, _ text: String, _ expected: String) {
        #expect(Redaction.redact(text, secret: Self.key) == expected, "\(form)")
        #expect(Redaction.echoes(text, secret: Self.key), "\(form)")
    }

    @Test(
        "text that is not the key is left alone",
        arguments: [
            "sk/Zq7-Xv9+Lm2.W~q",  // last character differs
            "sk/Zq7-Xv9+Lm2.W~",  // cut short
            "SK/ZQ7-XV9+LM2.W~P",  // another case is another key
            "sk%2GZq7-Xv9+Lm2.W~p",  // %2G is no escape
            "sk/Zq7 Xv9+Lm2.W~p",  // a space is not a '-'
            "100% sure, \\u00 and &#; are plain text",
            "",
        ])
    func untouched(_ text: String) {
        #expect(Redaction.redact(text, secret: Self.key) == text)
        #expect(!Redaction.echoes(text, secret: Self.key))
    }

    @Test("'+' read as a space matches a key with a space; an empty key redacts nothing")
    func edges() {
        #expect(Redaction.redact("a+b", secret: "a b") == "****")
        #expect(Redaction.redact("anything", secret: "") == "anything")
    }

    @Test("the request's ?ref= encoder: unreserved characters stay, every other byte is %XX")
    func percentEncoder() {
        #expect(PercentEncoding.encode("feature/a b&c") == "feature%2Fa%20b%26c")
        #expect(PercentEncoding.encode("A-z_0.9~") == "A-z_0.9~")
        #expect(PercentEncoding.encode("é") == "%C3%A9")
        // What the encoder writes, the redaction finds.
        #expect(Redaction.redact("ref=" + PercentEncoding.encode(Self.key), secret: Self.key) == "ref=****")
    }

    @Test("an echo cut by the body limit never leaves the key: the limit has room for its longest form")
    func cutEcho() {
        let requests = ExecutionRequests(endpoint: Endpoint(baseURL: "http://x", apiKey: Self.key))
        // Every byte as \u00XX is 6 bytes; the nested forms take up to 18.
        #expect(requests.errorBodyLimit == 1024 + Self.key.utf8.count * 18)
        let echo = String(repeating: "x", count: 1000) + #"\u0073\u006b\u002f\u005a\u0071\u0037\u002d\u0058\u0076\u0039\u002b\u004c\u006d\u0032\u002e\u0057\u007e\u0070"#
        let rules = OutcomeRules(settings: ExecutionSettings(), secret: Self.key)
        let kept = Array(echo.utf8.prefix(requests.errorBodyLimit))
        let error = rules.describe(HTTPResponse(status: 400, headers: [], body: kept))
        #expect(!error.contains("\\u0073\\u006b"))
        #expect(error.hasSuffix("…") || error.hasSuffix("****"))
    }
}
