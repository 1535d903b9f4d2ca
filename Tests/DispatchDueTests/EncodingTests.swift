import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// The two hand-written encoders every request and batch goes through.
@Suite("encoding")
struct EncodingTests {
    @Test("JSON strings are escaped per RFC 8259 (and U+2028/2029 for JavaScript readers)", arguments: [
        ("plain id-123", #""plain id-123""#),
        (#"say "hi""#, #""say \"hi\"""#),
        (#"C:\path"#, #""C:\\path""#),
        ("line\nbreak\ttab\r", #""line\nbreak\ttab\r""#),
        ("bell\u{7}", #""bell\u0007""#),
        ("Grüße, 東京 ✓", #""Grüße, 東京 ✓""#),
        ("sep\u{2028}arator", #""sep\u2028arator""#),
        ("", #""""#),
    ])
    func jsonStrings(input: String, expected: String) throws {
        #expect(JSONValue.quoted(input) == expected)
        // And it reads back to the same string.
        #expect(try JSONValue.parse(expected) == .string(input))
    }

    @Test("a batch bound as a text[] arrives element for element", .requiresDatabase)
    func arraysRoundTrip() throws {
        try withTestDatabase(migrated: false) { database in
            let connection = try database.connect()
            let elements: [String?] = [
                "plain", #"quote " inside"#, #"back\slash"#, "{braces,commas}", "NULL", nil, "", " spaced ", "東京", "\u{1F600}",
            ]
            let rows = try connection.query(
                "SELECT value, value IS NULL AS missing FROM unnest($1::text[]) WITH ORDINALITY AS u(value, n) ORDER BY n",
                [PostgresArray(elements)])
            #expect(rows.count == elements.count)
            for (row, element) in zip(rows, elements) {
                #expect(row["value"] == element)
                #expect(try row.bool("missing") == (element == nil))
            }
        }
    }
}
