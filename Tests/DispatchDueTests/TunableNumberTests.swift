import Testing

@testable import DispatchDueCLI

/// One reader for every numeric tunable (`Tunable.number`): the flag wins, then the
/// `DISPATCH_DUE_*` variable (empty counts as unset), then the default; each checked with the
/// flag's range, the message naming whichever was wrong. The messages are the ones PoisonFlagTests
/// and CLIConventionTests see from the real binary.
@Suite("numeric tunables")
struct TunableNumberTests {
    struct Case<Value: TunableNumber & Sendable>: Sendable, CustomTestStringConvertible {
        var given: Value?
        var variable: String?
        /// The value read, or nil when `message` is the refusal.
        var value: Value?
        var message: String?
        var testDescription: String { "flag \(given.map(String.init(describing:)) ?? "-"), variable \(variable ?? "-")" }
    }

    static func read<Value: TunableNumber & Sendable>(
        _ flag: String, _ example: Case<Value>, default fallback: Value, _ range: ClosedRange<Value>, unit: String = ""
    ) -> (value: Value?, message: String?) {
        let name = Tunable.variable(for: flag)
        do {
            let value = try Tunable.number(
                flag, example.given, default: fallback, range, unit: unit, environment: { $0 == name ? example.variable : nil })
            return (value, nil)
        } catch {
            return (nil, String(describing: error))
        }
    }

    /// `--concurrency`: 1-1000, default 4.
    static let whole: [Case<Int>] = [
        Case(given: nil, variable: nil, value: 4),
        Case(given: nil, variable: "", value: 4),
        Case(given: nil, variable: "7", value: 7),
        Case(given: 5, variable: "0", value: 5),
        Case(given: 0, variable: nil, message: "--concurrency 0 is out of range: allowed 1-1000"),
        Case(given: -1, variable: nil, message: "--concurrency -1 is out of range: allowed 1-1000"),
        Case(given: nil, variable: "0", message: "DISPATCH_DUE_CONCURRENCY 0 is out of range: allowed 1-1000"),
        Case(given: nil, variable: "many", message: #"DISPATCH_DUE_CONCURRENCY="many" is not a whole number (for --concurrency)"#),
        Case(given: nil, variable: "1e3", message: #"DISPATCH_DUE_CONCURRENCY="1e3" is not a whole number (for --concurrency)"#),
    ]

    @Test("whole numbers (--concurrency)", arguments: whole)
    func wholeNumber(_ example: Case<Int>) {
        let (value, message) = Self.read("--concurrency", example, default: 4, 1...1000)
        #expect(value == example.value)
        #expect(message == example.message)
    }

    /// `--max-runtime`: 1-86400 seconds, default 50.
    static let fractional: [Case<Double>] = [
        Case(given: nil, variable: nil, value: 50),
        Case(given: nil, variable: "2.5", value: 2.5),
        Case(given: 10, variable: "soon", value: 10),
        Case(given: -5, variable: nil, message: "--max-runtime -5.0 is out of range: allowed 1-86400 seconds"),
        Case(given: .infinity, variable: nil, message: "--max-runtime inf is out of range: a finite number is required"),
        Case(given: nil, variable: "86401", message: "DISPATCH_DUE_MAX_RUNTIME 86401.0 is out of range: allowed 1-86400 seconds"),
        Case(given: nil, variable: "nan", message: "DISPATCH_DUE_MAX_RUNTIME nan is out of range: a finite number is required"),
        Case(given: nil, variable: "soon", message: #"DISPATCH_DUE_MAX_RUNTIME="soon" is not a number (for --max-runtime)"#),
    ]

    @Test("numbers (--max-runtime)", arguments: fractional)
    func number(_ example: Case<Double>) {
        let (value, message) = Self.read("--max-runtime", example, default: 50, 1...86_400, unit: "seconds")
        #expect(value == example.value)
        #expect(message == example.message)
    }
}
