import ArgumentParser
import DispatchCore

/// Range checks for numeric flags (exit 64 with a message naming the flag). Every numeric
/// option is declared with `parsing: .unconditional`, so `--max-retries -1` reaches these
/// checks and is reported as out of range, not as a missing value.
enum NumericFlag {
    static func check(_ flag: String, _ value: Int, _ range: ClosedRange<Int>, unit: String = "") throws(ValidationError) {
        guard range.contains(value) else {
            throw ValidationError(
                "\(flag) \(value) is out of range: allowed \(range.lowerBound)-\(range.upperBound)\(unit.isEmpty ? "" : " " + unit)")
        }
    }

    /// Finite and within `range`: `inf`, `nan` and `1e400` are refused like any value outside it.
    static func check(_ flag: String, _ value: Double, _ range: ClosedRange<Double>, unit: String = "") throws(ValidationError) {
        guard value.isFinite else {
            throw ValidationError("\(flag) \(value) is out of range: a finite number is required")
        }
        guard range.contains(value) else {
            throw ValidationError(
                "\(flag) \(value) is out of range: allowed \(format(range.lowerBound))-\(format(range.upperBound))"
                    + (unit.isEmpty ? "" : " " + unit))
        }
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}

extension CLIIdentifier {
    /// `check` for a command's `validate()`: a usage error ArgumentParser exits 64 with.
    static func validated(_ flag: String, _ value: String?) throws(ValidationError) {
        do {
            try check(flag, value)
        } catch {
            throw ValidationError(error.description)
        }
    }
}
