import DispatchCore
import DispatchDueCLI
import Testing

@Suite("message rendering (contract §4)")
struct MessageRenderingTests {
    // The payload as PostgreSQL's jsonb::text gives it: keys sorted by length then bytes,
    // numbers as jsonb keeps them (1.50 stays 1.50).
    static let payload = """
        {"n": 1.50, "ok": true, "big": 12345678901234567890, "nul": null, "user": {"name": "Ann", "tags": ["x", 2, {"k": "v"}]}, "empty": "", "quote": "say \\"hi\\""}
        """

    @Test(
        "placeholders",
        arguments: [
            // Strings as they are.
            ("Hello {{user.name}}", "Hello Ann"),
            // Spaces around the path are ignored.
            ("Hello {{  user.name }}!", "Hello Ann!"),
            // Numbers exactly as jsonb holds them, even beyond Double precision.
            ("{{n}} {{big}}", "1.50 12345678901234567890"),
            ("{{ok}}", "true"),
            // Numeric segments index arrays.
            ("{{user.tags.0}}-{{user.tags.1}}", "x-2"),
            ("{{user.tags.2.k}}", "v"),
            // Objects and arrays as compact JSON, keys in jsonb order.
            ("{{user}}", #"{"name":"Ann","tags":["x",2,{"k":"v"}]}"#),
            ("{{user.tags}}", #"["x",2,{"k":"v"}]"#),
            // null and missing are empty.
            ("[{{nul}}][{{missing}}][{{user.tags.9}}][{{user.name.first}}][{{user.tags.first}}]", "[][][][][]"),
            ("[{{empty}}]", "[]"),
            // Quotes inside a string value come out raw (the JSON body escapes them once).
            ("{{quote}}", #"say "hi""#),
            // Text around and between placeholders is kept; an unclosed {{ is text.
            ("a {{user.name}} b {{user.name}} c {{ unclosed", "a Ann b Ann c {{ unclosed"),
            ("no placeholders", "no placeholders"),
        ])
    func placeholders(template: String, expected: String) throws {
        let payload = try JSONValue.parse(Self.payload)
        #expect(try MessageRendering.render(template: template, payload: payload) == expected)
    }

    @Test("without a template the message is the payload as compact JSON, {} when there is none")
    func noTemplate() throws {
        let payload = try JSONValue.parse(#"{"b": [1, 2.0], "a": {"c": "d e"}}"#)
        #expect(try MessageRendering.render(template: nil, payload: payload) == #"{"b":[1,2.0],"a":{"c":"d e"}}"#)
        #expect(try MessageRendering.render(template: nil, payload: nil) == "{}")
    }

    @Test("a template with no payload renders every placeholder empty")
    func templateWithoutPayload() throws {
        #expect(try MessageRendering.render(template: "run {{x}} now", payload: nil) == "run  now")
    }
}
