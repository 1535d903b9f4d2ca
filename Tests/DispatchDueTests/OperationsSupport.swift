import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Glibc
import Postgres
import Testing

/// Helpers of the operations tests (logs, metrics, status, deploy), kept in one namespace
/// so they never collide with other suites' helpers.
enum Ops {
    /// A fresh scratch folder under /tmp.
    static func scratchDirectory() throws -> String { try ChildProcess.makeScratchDirectory() }

    static func removeTree(_ path: String) {
        _ = try? ChildProcess.run("/bin/rm", ["-rf", path])
    }
}

/// A strict reader of the Prometheus text exposition format 0.0.4, as node_exporter's
/// textfile collector reads it: comments, HELP/TYPE before a family's samples, one TYPE per
/// family, `name{label="value",...} value` samples with float values.
struct PrometheusText {
    struct Sample: Equatable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    var types: [String: String] = [:]
    var helps: [String: String] = [:]
    var samples: [Sample] = []

    struct ParseError: Error, CustomStringConvertible {
        var line: Int
        var reason: String
        var description: String { "line \(line): \(reason)" }
    }

    static func isMetricName(_ text: Substring) -> Bool {
        guard let first = text.first, first.isLetter || first == "_" || first == ":" else { return false }
        return text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == ":") }
    }

    static func parse(_ text: String) throws -> PrometheusText {
        var result = PrometheusText()
        guard text.isEmpty || text.hasSuffix("\n") else { throw ParseError(line: 0, reason: "no final newline") }
        var seenSamplesOf: Set<String> = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().enumerated() {
            let number = index + 1
            let line = rawLine
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: true)
                guard parts.count >= 3, parts[1] == "HELP" || parts[1] == "TYPE" else { continue }  // plain comment
                let name = String(parts[2])
                guard isMetricName(parts[2]) else { throw ParseError(line: number, reason: "bad metric name \(name)") }
                guard !seenSamplesOf.contains(name) else {
                    throw ParseError(line: number, reason: "\(parts[1]) for \(name) after its samples")
                }
                if parts[1] == "TYPE" {
                    guard parts.count == 4, ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3]) else {
                        throw ParseError(line: number, reason: "bad TYPE line")
                    }
                    guard result.types[name] == nil else { throw ParseError(line: number, reason: "second TYPE for \(name)") }
                    result.types[name] = String(parts[3])
                } else {
                    result.helps[name] = parts.count == 4 ? String(parts[3]) : ""
                }
                continue
            }
            // name{labels} value
            var rest = line[...]
            let nameEnd = rest.firstIndex { $0 == "{" || $0 == " " } ?? rest.endIndex
            let name = rest[..<nameEnd]
            guard isMetricName(name) else { throw ParseError(line: number, reason: "bad sample name \(name)") }
            rest = rest[nameEnd...]
            var labels: [String: String] = [:]
            if rest.first == "{" {
                rest = rest.dropFirst()
                while rest.first != "}" {
                    guard let equals = rest.firstIndex(of: "=") else { throw ParseError(line: number, reason: "label without =") }
                    let labelName = rest[..<equals]
                    guard isMetricName(labelName), !labelName.contains(":") else {
                        throw ParseError(line: number, reason: "bad label name \(labelName)")
                    }
                    rest = rest[rest.index(after: equals)...]
                    guard rest.first == "\"" else { throw ParseError(line: number, reason: "label value not quoted") }
                    rest = rest.dropFirst()
                    var value = ""
                    while true {
                        guard let character = rest.first else { throw ParseError(line: number, reason: "unterminated label value") }
                        rest = rest.dropFirst()
                        if character == "\"" { break }
                        if character == "\\" {
                            guard let escaped = rest.first else { throw ParseError(line: number, reason: "bad escape") }
                            rest = rest.dropFirst()
                            switch escaped {
                            case "\\": value.append("\\")
                            case "\"": value.append("\"")
                            case "n": value.append("\n")
                            default: throw ParseError(line: number, reason: "bad escape \\\(escaped)")
                            }
                        } else {
                            value.append(character)
                        }
                    }
                    guard labels[String(labelName)] == nil else { throw ParseError(line: number, reason: "repeated label") }
                    labels[String(labelName)] = value
                    if rest.first == "," { rest = rest.dropFirst() }
                }
                rest = rest.dropFirst()
            }
            guard rest.first == " " else { throw ParseError(line: number, reason: "no space before the value") }
            let fields = rest.split(separator: " ")
            guard fields.count == 1 || fields.count == 2 else { throw ParseError(line: number, reason: "bad value field") }
            let valueText = fields[0]
            let value: Double
            switch valueText {
            case "+Inf": value = .infinity
            case "-Inf": value = -.infinity
            case "NaN": value = .nan
            default:
                guard let parsed = Double(valueText) else { throw ParseError(line: number, reason: "bad value \(valueText)") }
                value = parsed
            }
            let family = String(name)
            guard result.types[family] != nil else { throw ParseError(line: number, reason: "sample of \(family) before its TYPE") }
            seenSamplesOf.insert(family)
            result.samples.append(Sample(name: family, labels: labels, value: value))
        }
        return result
    }

    /// The value of the one sample with `name` and exactly `labels`.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        let matching = samples.filter { $0.name == name && $0.labels == labels }
        return matching.count == 1 ? matching[0].value : nil
    }
}
