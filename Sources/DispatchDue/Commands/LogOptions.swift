import ArgumentParser

extension LogFormat: ExpressibleByArgument {}

/// Logging options shared by the commands that do work.
public struct LogOptions: ParsableArguments {
    @Option(help: "Log format on stderr: json or text (default: text on a terminal, json otherwise).")
    public var logFormat: LogFormat?

    @Flag(help: "Also log debug events.")
    public var verbose = false

    public init() {}

    public func makeLogger() -> Logger {
        Logger(format: logFormat, minimumLevel: verbose ? .debug : .info)
    }
}
