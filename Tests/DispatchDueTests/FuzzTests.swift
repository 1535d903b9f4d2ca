@testable import DispatchCore
@testable import DispatchDueCLI
import Testing

/// SplitMix64: a tiny seeded generator, so a failing input can be reproduced from its seed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Fuzz: JSON reader, template renderer, redaction")
struct FuzzTests {
    static let seeds: [String] = [
        #"{"a": 1, "b": [true, false, null], "c": {"d": "e\n\"f\"", "g": -1.5e+10}}"#,
        #"[[[[[]]]], {}, "\ud83d\ude00", "\u0000", 0, -0, 1E5]"#,
        #""plain""#,
        #"{"user": {"name": "Ann", "tags": ["x", 2, {"k": "v"}]}, "n": 12345678901234567890}"#,
    ]

    /// Pieces that stress the parser: structure, escapes, numbers, broken UTF-8.
    static let fragments: [[UInt8]] = [
        "[", "]", "{", "}", ",", ":", "\"", "\\", "\\u", "\\ud800", "\\udc00", "\\uZZZZ", "-", "0", "1e", ".", "e+",
        "true", "tru", "null", "nul", " ", "\n", "\t",
    ].map { Array($0.utf8) } + [[0xFF], [0xC3], [0xE2, 0x80], [0x00], [0xF0, 0x9F, 0x98]]

    static func mutate(_ bytes: [UInt8], _ random: inout SeededGenerator) -> [UInt8] {
        var bytes = bytes
        for _ in 0..<Int.random(in: 1...6, using: &random) {
            let position = bytes.isEmpty ? 0 : Int.random(in: 0...bytes.count, using: &random)
            switch Int.random(in: 0..<5, using: &random) {
            case 0 where position < bytes.count:
                bytes[position] = UInt8.random(in: 0...255, using: &random)
            case 1:
                bytes.insert(contentsOf: fragments.randomElement(using: &random)!, at: position)
            case 2 where position < bytes.count:
                bytes.removeSubrange(position..<min(bytes.count, position + Int.random(in: 1...8, using: &random)))
            case 3:
                bytes = Array(bytes.prefix(position))
            default:
                let piece = bytes.prefix(Int.random(in: 0...bytes.count, using: &random))
                bytes.insert(contentsOf: piece, at: position)
            }
        }
        return bytes
    }

    @Test("the JSON reader never crashes on mutated documents; what it reads survives a round trip", arguments: [1, 2, 3, 4] as [UInt64])
    func jsonReader(seed: UInt64) throws {
        var random = SeededGenerator(seed: seed)
        var accepted = 0
        for round in 0..<2_000 {
            let base = Array(Self.seeds.randomElement(using: &random)!.utf8)
            let input = String(decoding: Self.mutate(base, &random), as: UTF8.self)
            guard let value = try? JSONValue.parse(input) else { continue }
            accepted += 1
            // Compact text reads back as the same value (numbers keep their text).
            let again = try JSONValue.parse(value.compactText)
            #expect(again == value, "seed \(seed) round \(round): \(input)")
        }
        #expect(accepted > 0)
    }

    @Test("the JSON reader refuses deep or random input without recursing on it")
    func hostileShapes() {
        var random = SeededGenerator(seed: 99)
        for _ in 0..<200 {
            let depth = Int.random(in: 65...100_000, using: &random)
            let opener = Bool.random(using: &random) ? "[" : "{\"k\":"
            #expect(throws: JSONParseError.self) { try JSONValue.parse(String(repeating: opener, count: depth)) }
        }
        for _ in 0..<500 {
            let bytes = (0..<Int.random(in: 0...512, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            _ = try? JSONValue.parse(String(decoding: bytes, as: UTF8.self))
        }
    }

    static let templatePieces = ["{{", "}}", "{", "}", "a", "b", ".", "0", "1", " ", "x", "{{ a }}", "{{b.0}}", "{{a.b.c}}", "é", "\\"]

    @Test("the renderer never crashes and never passes its limit on random templates and payloads", arguments: [7, 8, 9] as [UInt64])
    func renderer(seed: UInt64) throws {
        var random = SeededGenerator(seed: seed)
        let payloads: [JSONValue?] = [
            nil,
            try JSONValue.parse(#"{"a": {"b": {"c": "deep"}}, "b": ["x", {"y": 1}], "0": "zero"}"#),
            try JSONValue.parse("{\"a\": \"" + String(repeating: "a", count: 3000) + "\", \"b\": [\"" + String(repeating: "b", count: 900) + "\"]}"),
            try JSONValue.parse("[1, [2, [3]], \"s\"]"),
        ]
        for round in 0..<1_500 {
            let limit = Int.random(in: 0...8192, using: &random)
            let template = (0..<Int.random(in: 0...300, using: &random))
                .map { _ in Self.templatePieces.randomElement(using: &random)! }.joined()
            let payload = payloads.randomElement(using: &random)!
            do {
                let output = try MessageRendering.render(
                    template: Bool.random(using: &random) ? template : nil, payload: payload, maximumBytes: limit)
                #expect(output.utf8.count <= limit, "seed \(seed) round \(round)")
            } catch {
                #expect(error.limit == limit)
            }
        }
    }

    @Test("redaction never crashes and always removes a planted key", arguments: [11, 12] as [UInt64])
    func redaction(seed: UInt64) {
        var random = SeededGenerator(seed: seed)
        let key = "sk/Zq7-Xv9+Lm2"
        for _ in 0..<500 {
            var noise = (0..<Int.random(in: 0...200, using: &random)).map { _ in
                ["%", "\\", "&", "#", "u", "0", "2", "f", "x", ";", "s", "k", "/", "a", " "].randomElement(using: &random)!
            }.joined()
            _ = Redaction.redact(noise, secret: key)
            noise.insert(contentsOf: key, at: noise.index(noise.startIndex, offsetBy: Int.random(in: 0...noise.count, using: &random)))
            #expect(!Redaction.redact(noise, secret: key).contains(key))
        }
    }
}
