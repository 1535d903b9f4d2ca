import ArgumentParser
import DispatchCore

extension LogFormat: ExpressibleByArgument {}

/// Logging options shared by the commands that do work.
public struct LogOptions: ParsableArguments {
    @Option(name: .customLong("log-format"), help: "Log format on stderr: json or text (default: text on a terminal, json otherwise; env DISPATCH_DUE_LOG_FORMAT).")
    var logFormatFlag: LogFormat?
    public var logFormat: LogFormat? { (try? Tunable.choice("--log-format", logFormatFlag)) ?? logFormatFlag }

    @Flag(name: .customLong("verbose"), help: "Also log debug events (env DISPATCH_DUE_VERBOSE=1).")
    var verboseFlag = false
    public var verbose: Bool { (try? Tunable.flag("--verbose", verboseFlag)) ?? verboseFlag }

    public init() {}

    public func validate() throws {
        _ = try Tunable.choice("--log-format", logFormatFlag)
        _ = try Tunable.flag("--verbose", verboseFlag)
    }

    /// Every line of the process carries the same cycle id; lines get the syslog `<N>` prefix
    /// when stderr is the journal.
    public func makeLogger() -> Logger {
        Logger(
            format: logFormat, minimumLevel: verbose ? .debug : .info,
            context: [("cycle_id", .string(CycleID.current))],
            syslogPrefix: StandardError.isJournal)
    }
}

/// The id of this process's cycle: 16 random hex digits, made once and shared by every
/// logger of the process (a failure reported after the cycle carries it too).
public enum CycleID {
    public static let current: String = {
        var generator = SystemRandomNumberGenerator()
        let value = generator.next() as UInt64
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }()
}
