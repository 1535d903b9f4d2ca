import DispatchCore
import DispatchDueCLI
import Testing

@Suite("Rendering limits: output bounded, lookups linear")
struct RenderingLimitTests {
    static func payload(b size: Int) throws -> JSONValue {
        try JSONValue.parse("{\"b\": \"" + String(repeating: "y", count: size) + "\"}")
    }

    @Test("{{b}} × 20,000 over a 100 KB string stops at 262,144 bytes instead of rendering 2 GB")
    func giantTemplate() throws {
        let payload = try Self.payload(b: 100_000)
        #expect(throws: MessageRendering.TooLarge(limit: 262_144)) {
            try MessageRendering.render(template: String(repeating: "{{b}}", count: 20_000), payload: payload)
        }
    }

    @Test(
        "exactly at the limit is sent, one byte over is not",
        arguments: [
            // (text before the placeholder, string length, fits)
            ("", 262_144, true),
            ("", 262_145, false),
            ("x", 262_143, true),
            ("x", 262_144, false),
        ])
    func boundary(prefix: String, size: Int, fits: Bool) throws {
        let payload = try Self.payload(b: size)
        let rendered = try? MessageRendering.render(template: prefix + "{{b}}", payload: payload)
        #expect((rendered != nil) == fits)
        if let rendered { #expect(rendered.utf8.count == prefix.utf8.count + size) }
    }

    @Test("the limit counts bytes, not characters")
    func multibyte() throws {
        // 100,000 × "é" (2 bytes) rendered twice is 400,000 bytes but 200,000 characters.
        let payload = try JSONValue.parse("{\"b\": \"" + String(repeating: "é", count: 100_000) + "\"}")
        #expect(throws: MessageRendering.TooLarge.self) {
            try MessageRendering.render(template: "{{b}}{{b}}", payload: payload)
        }
        #expect(try MessageRendering.render(template: "{{b}}", payload: payload).utf8.count == 200_000)
    }

    @Test("an object or array placeholder larger than the limit is refused without being serialised")
    func largeObject() throws {
        let members = (0..<40_000).map { "\"k\($0)\": \"vvvvvvvv\"" }.joined(separator: ", ")
        let payload = try JSONValue.parse("{\"o\": {\(members)}}")
        #expect(throws: MessageRendering.TooLarge.self) {
            try MessageRendering.render(template: "{{o}}{{o}}", payload: payload)
        }
        // Without a template the payload itself is the message: the same bound applies.
        #expect(throws: MessageRendering.TooLarge.self) {
            try MessageRendering.render(template: nil, payload: payload, maximumBytes: 100_000)
        }
    }

    @Test("thousands of distinct paths into an object of 40,000 members: each lookup by index")
    func manyPaths() throws {
        let members = (0..<40_000).map { "\"k\($0)\": \($0)" }.joined(separator: ", ")
        let payload = try JSONValue.parse("{\"o\": {\(members)}}")
        // The last members, so a linear search would walk the whole object each time
        // (13,000 × 40,000 comparisons); the expected text comes from the member values.
        let indexes = Array(27_000..<40_000)
        let template = indexes.map { "{{o.k\($0)}}" }.joined(separator: ",")
        let rendered = try MessageRendering.render(template: template, payload: payload)
        #expect(rendered == indexes.map(String.init).joined(separator: ","))
    }

    @Test("array indexes 0, 00 and 000 reach the same element")
    func canonicalIndexes() throws {
        let payload = try JSONValue.parse(#"{"a": ["x", "y"]}"#)
        #expect(try MessageRendering.render(template: "{{a.0}}{{a.00}}{{a.001}}{{a.2}}", payload: payload) == "xxy")
    }
}

@Suite("JSON reader limits: depth 64, size bound")
struct JSONLimitTests {
    @Test("64 levels of nesting are read, 65 are an error", arguments: [64, 65])
    func depth(_ levels: Int) {
        let text = String(repeating: "[", count: levels) + "1" + String(repeating: "]", count: levels)
        let parsed = try? JSONValue.parse(text)
        #expect((parsed != nil) == (levels <= 64))
        let objects = String(repeating: "{\"a\":", count: levels) + "1" + String(repeating: "}", count: levels)
        #expect(((try? JSONValue.parse(objects)) != nil) == (levels <= 64))
    }

    @Test("100,000 '[' is an error, not a stack overflow")
    func deepInput() {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(String(repeating: "[", count: 100_000)) }
        #expect(throws: JSONParseError.self) {
            try JSONValue.parse(String(repeating: "{\"a\":[", count: 50_000))
        }
    }

    @Test("a document over the size bound is refused before it is read")
    func size() throws {
        #expect(throws: JSONParseError.self) { try JSONValue.parse("[1,2,3]", maximumBytes: 6) }
        #expect(try JSONValue.parse("[1,2,3]", maximumBytes: 7) == .array([.number("1"), .number("2"), .number("3")]))
    }
}
