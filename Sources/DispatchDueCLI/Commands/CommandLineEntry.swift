import ArgumentParser
import DispatchCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The executable's entry point: check the raw arguments, parse them, hide the database
/// password from the process's command line, check every given setting, then run.
public enum CommandLineEntry {
    public static func main() {
        let arguments: [String]
        do {
            arguments = try RawArguments.decoded()
        } catch {
            StandardError.writeLine(error.message)
            exit(ExitStatus.usage)
        }
        if let message = CommandSuggestion.message(for: arguments) {
            StandardError.writeLine(message)
            exit(ExitStatus.usage)
        }
        var command: any ParsableCommand
        do {
            command = try DispatchDueCommand.parseAsRoot(arguments)
        } catch {
            DispatchDueCommand.exit(withError: error)
        }
        // Parsed: the values are copied, so the password can go from /proc/PID/cmdline
        // before any connection is attempted (contract §5: no secret in process titles).
        DatabaseURLMasking.maskProcessArguments()
        do {
            if let checked = command as? any StartupChecked {
                // A bad setting is found before any work is claimed (exit 78).
                do {
                    try checked.checkSettings()
                } catch {
                    let (code, message) = ExitStatus.outcome(for: error)
                    ExitStatus.report(message, code: code, logging: checked.startupLogging)
                    throw ExitCode(code)
                }
            }
            try command.run()
        } catch {
            DispatchDueCommand.exit(withError: error)
        }
    }
}

/// A command whose given settings are all checked before it does any work (contract §5: "like
/// every given setting it is checked at start, before any work is claimed").
protocol StartupChecked {
    func checkSettings() throws
    /// How the command logs, so a failed check is reported in its log format.
    var startupLogging: LogOptions? { get }
}

extension RunCommand: StartupChecked {
    func checkSettings() throws {
        try execution.checkGivenSettings()
        if json && !dryRun {
            throw ValidationError("--json goes with --dry-run (a cycle's log is JSON with --log-format json)")
        }
        if let metricsPath { try CycleMetrics.checkTarget(metricsPath) }
        _ = try metricsPush.push(caFile: execution.caCertificate)
    }
    var startupLogging: LogOptions? { logging }
}

extension BackfillCommand: StartupChecked {
    func checkSettings() throws {
        try execution.checkGivenSettings()
        if let metricsPath { try CycleMetrics.checkTarget(metricsPath) }
    }
    var startupLogging: LogOptions? { logging }
}

/// The process arguments as the kernel gave them. Swift's `CommandLine.arguments` repairs
/// invalid UTF-8 with U+FFFD, which would silently store a different tenant or id than the
/// one typed; here invalid UTF-8 is refused instead.
enum RawArguments {
    struct InvalidArgument: Error {
        var message: String
    }

    static func decoded() throws(InvalidArgument) -> [String] {
        var result: [String] = []
        let count = Int(CommandLine.argc)
        for index in 1..<max(count, 1) {
            guard let pointer = CommandLine.unsafeArgv[index] else { continue }
            let length = strlen(pointer)
            let bytes = UnsafeRawBufferPointer(start: pointer, count: length).bindMemory(to: UInt8.self)
            guard let text = String(validating: bytes, as: UTF8.self) else {
                // Show the argument with its undecodable bytes as \xNN, never the raw bytes.
                var shown = ""
                var rest = bytes[...]
                while !rest.isEmpty {
                    if let scalarEnd = (1...min(4, rest.count)).first(where: {
                        String(validating: rest.prefix($0), as: UTF8.self) != nil
                    }) {
                        shown += String(validating: rest.prefix(scalarEnd), as: UTF8.self)!
                        rest = rest.dropFirst(scalarEnd)
                    } else {
                        shown += "\\x" + String(rest.first!, radix: 16)
                        rest = rest.dropFirst()
                    }
                }
                throw InvalidArgument(
                    message: "dispatch-due: argument \(index) is not valid UTF-8: \(ManagementOutput.escaped(shown))")
            }
            result.append(text)
        }
        return result
    }
}

/// Overwrites the password of `--database-url VALUE` / `--database-url=VALUE` in the
/// process's own argv with `*`, so `ps` and /proc/PID/cmdline never show it. The parsed
/// copy keeps working; only the kernel-visible bytes change (same length, in place).
enum DatabaseURLMasking {
    static let flag = Array("--database-url".utf8)

    static func maskProcessArguments() {
        let count = Int(CommandLine.argc)
        var index = 1
        while index < count {
            guard let pointer = CommandLine.unsafeArgv[index] else { break }
            let bytes = UnsafeMutableRawBufferPointer(start: pointer, count: strlen(pointer))
                .bindMemory(to: UInt8.self)
            if Array(bytes) == Array("--".utf8) { break }  // what follows is positional
            if Array(bytes) == flag, index + 1 < count, let value = CommandLine.unsafeArgv[index + 1] {
                mask(UnsafeMutableRawBufferPointer(start: value, count: strlen(value)).bindMemory(to: UInt8.self))
                index += 2
                continue
            }
            if bytes.count > flag.count, Array(bytes.prefix(flag.count)) == flag, bytes[flag.count] == UInt8(ascii: "=") {
                mask(UnsafeMutableBufferPointer(rebasing: bytes[(flag.count + 1)...]))
            }
            index += 1
        }
    }

    static func mask(_ value: UnsafeMutableBufferPointer<UInt8>) {
        for range in passwordRanges(in: Array(value)) {
            for offset in range { value[offset] = UInt8(ascii: "*") }
        }
    }

    /// Where the password is in a libpq URI (`postgresql://user:PW@host/db`, `?password=PW`)
    /// or conninfo string (`password=PW`, `password = 'P W'`, a URI or conninfo as `dbname`).
    static func passwordRanges(in text: [UInt8]) -> [Range<Int>] {
        passwordRanges(in: text[...])
    }

    static func passwordRanges(in text: ArraySlice<UInt8>) -> [Range<Int>] {
        for scheme in ["postgresql://", "postgres://"] {
            let prefix = Array(scheme.utf8)
            if text.count >= prefix.count && Array(text.prefix(prefix.count)) == prefix {
                return uriPasswordRanges(text, from: text.startIndex + prefix.count)
            }
        }
        return conninfoPasswordRanges(text)
    }

    private static func uriPasswordRanges(_ text: ArraySlice<UInt8>, from start: Int) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        // libpq: user information ends at the first '@' before any '/'.
        var cursor = start
        while cursor < text.endIndex && text[cursor] != UInt8(ascii: "@") && text[cursor] != UInt8(ascii: "/") {
            cursor += 1
        }
        if cursor < text.endIndex && text[cursor] == UInt8(ascii: "@"),
            let colon = text[start..<cursor].firstIndex(of: UInt8(ascii: ":")), colon + 1 < cursor
        {
            ranges.append((colon + 1)..<cursor)
        }
        if let question = text[start...].firstIndex(of: UInt8(ascii: "?")) {
            var parameterStart = question + 1
            while parameterStart < text.endIndex {
                let parameterEnd = text[parameterStart...].firstIndex(of: UInt8(ascii: "&")) ?? text.endIndex
                let parameter = text[parameterStart..<parameterEnd]
                if let equals = parameter.firstIndex(of: UInt8(ascii: "=")),
                    Array(parameter[..<equals]) == Array("password".utf8), equals + 1 < parameterEnd
                {
                    ranges.append((equals + 1)..<parameterEnd)
                }
                parameterStart = parameterEnd + 1
            }
        }
        return ranges
    }

    /// libpq's conninfo grammar: `keyword = value` pairs; a value is quoted with `'` (with
    /// backslash escapes) or runs to the next whitespace.
    private static func conninfoPasswordRanges(_ text: ArraySlice<UInt8>) -> [Range<Int>] {
        func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }
        var ranges: [Range<Int>] = []
        var cursor = text.startIndex
        while cursor < text.endIndex {
            while cursor < text.endIndex && isSpace(text[cursor]) { cursor += 1 }
            let keywordStart = cursor
            while cursor < text.endIndex && text[cursor] != UInt8(ascii: "=") && !isSpace(text[cursor]) { cursor += 1 }
            let keyword = Array(text[keywordStart..<cursor])
            while cursor < text.endIndex && isSpace(text[cursor]) { cursor += 1 }
            guard cursor < text.endIndex, text[cursor] == UInt8(ascii: "=") else { break }
            cursor += 1
            while cursor < text.endIndex && isSpace(text[cursor]) { cursor += 1 }
            var valueStart = cursor
            var valueEnd: Int
            if cursor < text.endIndex && text[cursor] == UInt8(ascii: "'") {
                cursor += 1
                valueStart = cursor
                while cursor < text.endIndex && text[cursor] != UInt8(ascii: "'") {
                    cursor += text[cursor] == UInt8(ascii: "\\") ? 2 : 1
                }
                valueEnd = min(cursor, text.endIndex)
                cursor = min(cursor + 1, text.endIndex)
            } else {
                while cursor < text.endIndex && !isSpace(text[cursor]) {
                    cursor += text[cursor] == UInt8(ascii: "\\") ? 2 : 1
                }
                cursor = min(cursor, text.endIndex)
                valueEnd = cursor
            }
            if valueStart < valueEnd {
                if keyword == Array("password".utf8) {
                    ranges.append(valueStart..<valueEnd)
                } else if keyword == Array("dbname".utf8) {
                    // libpq expands a dbname that is itself a URI or a conninfo string.
                    let value = text[valueStart..<valueEnd]
                    if value.contains(UInt8(ascii: "=")) || value.starts(with: Array("postgres".utf8)) {
                        ranges += passwordRanges(in: value)
                    }
                }
            }
        }
        return ranges
    }
}
