import ArgumentParser

/// The documented exit codes (SPEC §5). Every command maps its outcome to one of these.
public enum ExitStatus {
    /// The cycle ran; failed runs are recorded, not fatal.
    public static let success: Int32 = 0
    /// The dispatcher could not do its job: database unreachable, schema missing, internal error.
    public static let failure: Int32 = 1
    /// The agents endpoint rejected the credentials (401/403).
    public static let credentialsRejected: Int32 = 3
    /// Usage error, including missing required configuration.
    public static let usage: Int32 = 64
    /// Stopped by SIGINT after releasing its work.
    public static let interrupted: Int32 = 130
    /// Stopped by SIGTERM after releasing its work (deploy files treat it as success).
    public static let terminated: Int32 = 143

    public static let helpText = """
        EXIT CODES:
          0    the cycle ran (runs that failed are recorded, not fatal)
          1    could not do its job: database unreachable, schema missing, internal error
          3    the agents endpoint rejected the credentials (401/403)
          64   usage error, including missing configuration (no endpoint URL or key)
          130  stopped by SIGINT after releasing its work
          143  stopped by SIGTERM after releasing its work

        ENVIRONMENT:
          DATABASE_URL          libpq conninfo or URI (unset: libpq's PG* defaults)
          AGENTS_API_URL        base URL of the agents execution API
          AGENTS_API_KEY_FILE   file holding the API key
          CREDENTIALS_DIRECTORY systemd LoadCredential= folder; the key is read from agents-api-key
          AGENTS_API_KEY        the API key itself (prefer a file)
        """

    /// An error that ends the command with a specific exit code and a message on stderr.
    public static func fail(_ code: Int32, _ message: String) -> CommandFailure {
        CommandFailure(code: code, message: message)
    }
}

/// Thrown by commands to exit with a documented code after printing `message`.
public struct CommandFailure: Error, CustomStringConvertible {
    public var code: Int32
    public var message: String
    public var description: String { message }
}

extension ParsableCommand {
    /// Runs `body`; a `CommandFailure` prints its message to stderr and exits with its code,
    /// any other error exits 1. Keeps every command's exit code within the documented table.
    /// Commands that log (`logging` given) report the failure as a log line in their format,
    /// so a JSON log stream stays one JSON object per line even when the command fails.
    public func reportingFailures(logging: LogOptions? = nil, _ body: () throws -> Void) throws {
        do {
            try body()
        } catch let failure as CommandFailure {
            report(failure.message, code: failure.code, logging: logging)
            throw ExitCode(failure.code)
        } catch let exit as ExitCode {
            throw exit
        } catch {
            report("dispatch-due: \(error)", code: ExitStatus.failure, logging: logging)
            throw ExitCode(ExitStatus.failure)
        }
    }

    private func report(_ message: String, code: Int32, logging: LogOptions?) {
        guard let logging, logging.makeLogger().format == .json else {
            StandardError.writeLine(message)
            return
        }
        logging.makeLogger().error("command.failed", ["exit_code": .int(Int(code)), "message": .string(message)])
    }
}
