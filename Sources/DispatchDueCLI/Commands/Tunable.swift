import ArgumentParser
import DispatchCore

/// Every tunable flag can also come from the environment, so a systemd drop-in or a
/// ConfigMap changes it without editing the command line. One naming rule:
/// `DISPATCH_DUE_` + the flag's name in upper case with `_` for `-`
/// (`--max-runtime` → `DISPATCH_DUE_MAX_RUNTIME`). The flag wins over the variable; an empty
/// variable counts as unset; a variable's value is checked with the flag's range, and the
/// message names the variable.
enum Tunable {
    static func variable(for flag: String) -> String {
        "DISPATCH_DUE_" + String(flag.drop { $0 == "-" }).uppercased().replacing("-", with: "_")
    }

    /// The flags whose variables `--help` and the README list.
    static let documented: [String] = [
        "--connect-timeout", "--batch-size", "--max-runtime", "--concurrency", "--request-timeout",
        "--reconcile-interval", "--cacert", "--log-format", "--verbose", "--metrics-file", "--metrics-push",
        "--metrics-instance", "--max-lag",
    ]

    static func raw(_ flag: String, environment: (String) -> String? = Environment.get) -> (name: String, value: String)? {
        let name = variable(for: flag)
        guard let value = environment(name), !value.isEmpty else { return nil }
        return (name, value)
    }

    /// The flag's value, else the variable's, else `fallback`; checked against `range` with
    /// the flag's own check (`NumericFlag`), the message naming the variable when it came from
    /// there. One reader for every numeric tunable (`Int` and `Double`).
    static func number<Value: TunableNumber>(
        _ flag: String, _ given: Value?, default fallback: Value, _ range: ClosedRange<Value>, unit: String = "",
        environment: (String) -> String? = Environment.get
    ) throws(ValidationError) -> Value {
        if let given {
            try Value.check(flag, given, range, unit: unit)
            return given
        }
        guard let (name, text) = raw(flag, environment: environment) else { return fallback }
        guard let value = Value(text) else {
            throw ValidationError("\(name)=\(ManagementOutput.quotedForMessage(text)) is not \(Value.expected) (for \(flag))")
        }
        try Value.check(name, value, range, unit: unit)
        return value
    }

    static func string(_ flag: String, _ given: String?, environment: (String) -> String? = Environment.get) -> String? {
        given ?? raw(flag, environment: environment)?.value
    }

    static func flag(_ flag: String, _ given: Bool, environment: (String) -> String? = Environment.get) throws(ValidationError) -> Bool {
        if given { return true }
        guard let (name, text) = raw(flag, environment: environment) else { return false }
        switch text.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw ValidationError("\(name)=\(ManagementOutput.quotedForMessage(text)) is not a boolean (1/0, true/false, yes/no)")
        }
    }

    static func choice<T: RawRepresentable>(
        _ flag: String, _ given: T?, environment: (String) -> String? = Environment.get
    ) throws(ValidationError) -> T? where T.RawValue == String, T: CaseIterable {
        if let given { return given }
        guard let (name, text) = raw(flag, environment: environment) else { return nil }
        guard let value = T(rawValue: text.lowercased()) else {
            throw ValidationError(
                "\(name)=\(ManagementOutput.quotedForMessage(text)) is not one of "
                    + T.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return value
    }

    /// The ENVIRONMENT lines of `--help` for the given flags.
    static func helpLines(_ flags: [String]) -> String {
        let rows = documented.filter { flags.contains($0) }
        let width = rows.map { variable(for: $0).count }.max() ?? 0
        return rows.map { flag in
            let name = variable(for: flag)
            return "  " + name + String(repeating: " ", count: width - name.count + 2) + flag
        }.joined(separator: "\n")
    }
}

/// A number a tunable flag holds: how its variable's text is read (`init?(_:)`), what the
/// message calls a value that is not one, and its range check.
protocol TunableNumber: LosslessStringConvertible, Comparable {
    static var expected: String { get }
    static func check(_ flag: String, _ value: Self, _ range: ClosedRange<Self>, unit: String) throws(ValidationError)
}

extension Int: TunableNumber {
    static var expected: String { "a whole number" }
    static func check(_ flag: String, _ value: Int, _ range: ClosedRange<Int>, unit: String) throws(ValidationError) {
        try NumericFlag.check(flag, value, range, unit: unit)
    }
}

extension Double: TunableNumber {
    static var expected: String { "a number" }
    static func check(_ flag: String, _ value: Double, _ range: ClosedRange<Double>, unit: String) throws(ValidationError) {
        try NumericFlag.check(flag, value, range, unit: unit)
    }
}
