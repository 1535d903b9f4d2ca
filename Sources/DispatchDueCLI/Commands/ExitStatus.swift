import ArgumentParser
import DispatchCore
import Postgres

/// The documented exit codes (contract §5, sysexits(3)). This file is the one place that maps
/// errors to them: the core throws `DispatchFailure`, `PostgresError` or `ManagementError`
/// and never names a code.
public enum ExitStatus {
    /// The command did its job; runs that failed are recorded, not fatal.
    public static let success: Int32 = 0
    /// It could not: schema missing or newer than the binary, internal error; for `status`
    /// lag over --max-lag; for management commands not found or refused.
    public static let failure: Int32 = 1
    /// EX_USAGE: unknown flag, bad value.
    public static let usage: Int32 = 64
    /// EX_UNAVAILABLE: the database cannot be reached or refuses the connection (auth included).
    public static let databaseUnavailable: Int32 = 69
    /// EX_NOPERM: the agents endpoint rejected the credentials (401/403).
    public static let credentialsRejected: Int32 = 77
    /// EX_CONFIG: required configuration missing or unusable.
    public static let configuration: Int32 = 78
    /// Stopped by SIGINT after releasing its work.
    public static let interrupted: Int32 = 130
    /// Stopped by SIGTERM after releasing its work (deploy files treat it as success).
    public static let terminated: Int32 = 143

    /// The exit code and the message for an error that ended a command.
    public static func outcome(for error: any Error) -> (code: Int32, message: String) {
        switch error {
        case let failure as CommandFailure:
            return (failure.code, failure.message)
        case let failure as DispatchFailure:
            return (code(for: failure), "dispatch-due: \(failure)")
        case let error as PostgresError:
            if error.isUndefinedTableOrColumn { return outcome(for: DispatchFailure.schemaMissing(detail: error.message)) }
            return (code(for: error), "dispatch-due: \(error)")
        case let error as ManagementError:
            switch error {
            case .invalid(let message): return (usage, "dispatch-due: \(message)")
            case .notFound(let message), .refused(let message): return (failure, "dispatch-due: \(message)")
            }
        case let error as BackfillError:
            // The window is refused whatever the database holds (too many slots, after now).
            return (usage, "dispatch-due backfill: \(error)")
        case let error as ValidationError:
            return (usage, "dispatch-due: \(error.message)")
        default:
            return (failure, "dispatch-due: \(error)")
        }
    }

    public static func code(for failure: DispatchFailure) -> Int32 {
        switch failure {
        case .schemaMissing, .schemaMismatch, .notFound: return ExitStatus.failure
        case .credentialsRejected: return credentialsRejected
        case .configuration: return configuration
        case .databaseUnavailable(let error): return code(for: error)
        }
    }

    /// A lost or refused connection (SQLSTATE class 08, or the server shutting down: 57P01-57P03)
    /// is "unavailable"; an unparsable connection string is configuration; any other statement
    /// error means the command could not do its job.
    public static func code(for error: PostgresError) -> Int32 {
        switch error.kind {
        case .connection: return databaseUnavailable
        case .badConnectionString: return configuration
        // A statement cut off by its time limit: the cycle's own paths turn a stop into
        // 0/130/143; one that still reaches here could not do its job.
        case .cancelled: return failure
        case .statement:
            if let state = error.sqlState, state.errorClass == PostgresError.SQLState.connectionExceptionClass || [.adminShutdown, .crashShutdown, .cannotConnectNow].contains(state) {
                return databaseUnavailable
            }
            // 28000 invalid authorization, 28P01 wrong password: refused connection.
            if let state = error.sqlState, state.errorClass == PostgresError.SQLState.invalidAuthorizationClass { return databaseUnavailable }
            return failure
        }
    }

    /// An error that ends the command with a specific exit code and a message on stderr.
    public static func fail(_ code: Int32, _ message: String) -> CommandFailure {
        CommandFailure(code: code, message: message)
    }

    // MARK: help texts (each command lists its own codes)

    static let environmentText = """
        ENVIRONMENT:
          DATABASE_URL   libpq conninfo or URI (unset: libpq's PG* defaults);
                         prefer it, or PGPASSFILE, to a password given with
                         --database-url
          PGPASSFILE     libpq password file (default ~/.pgpass)
        """

    static let endpointEnvironmentText = """
          AGENTS_API_URL         base URL of the agents execution API
          AGENTS_API_KEY_FILE    file holding the API key (at most 4 KiB)
          CREDENTIALS_DIRECTORY  systemd LoadCredential= folder; the key is
                                 read from agents-api-key in it
          AGENTS_API_KEY         the API key itself (prefer a file)
        """

    /// `dispatch-due run`.
    public static let helpText = cycleHelpText(tunables: Tunable.documented.filter { $0 != "--max-lag" })

    /// `dispatch-due backfill`: run's codes; its own --max-runtime and no batch size or push.
    public static let backfillHelpText = cycleHelpText(tunables: [
        "--connect-timeout", "--concurrency", "--request-timeout", "--reconcile-interval", "--cacert",
        "--log-format", "--verbose", "--metrics-file",
    ])

    /// The help of a command that runs a cycle, with the tunables it reads.
    static func cycleHelpText(tunables: [String]) -> String {
        """
        EXIT CODES:
          0    the cycle ran (runs that failed are recorded, not fatal)
          1    could not do its job: schema missing or newer than this
               binary, internal error
          64   usage error: unknown flag, bad or out-of-range value, invalid
               UTF-8 or control characters in an argument
          69   the database cannot be reached or refuses the connection
               (authentication included)
          77   the agents endpoint rejected the credentials (401/403)
          78   configuration missing or unusable: no endpoint URL or key
               when there is something to post; an unreadable --cacert or
               key file; a malformed endpoint or database URL; a
               --metrics-file that is not a regular file or whose folder
               is missing or not writable. Checked before any work is
               claimed.
          130  stopped by SIGINT after releasing its work
          143  stopped by SIGTERM after releasing its work

        \(environmentText)
        \(endpointEnvironmentText)

        TUNABLES FROM THE ENVIRONMENT (the flag wins; same ranges):
        \(Tunable.helpLines(tunables))
        """
    }

    /// `dispatch-due prune`.
    public static let pruneHelpText = """
        EXIT CODES:
          0    pruned (or counted, with --dry-run)
          1    could not: the schema is missing or older than this binary,
               the role may not DELETE, internal error
          64   usage error: unknown flag, bad --retention
          69   the database cannot be reached or refuses the connection
               (authentication included)
          78   the database URL is malformed

        \(environmentText)

        TUNABLES FROM THE ENVIRONMENT (the flag wins; same ranges):
        \(Tunable.helpLines(["--connect-timeout", "--log-format", "--verbose"]))
        """

    /// `dispatch-due triggers run`: the management codes, and --post's endpoint codes.
    public static let triggersRunHelpText = """
        \(managementHelpText)

        WITH --post, AS `run`:
          77   the agents endpoint rejected the credentials (401/403)
          78   no endpoint URL or key, an unreadable --cacert or key file,
               a malformed endpoint URL
        \(endpointEnvironmentText)
        """

    /// The bare `dispatch-due`: every command's codes at a glance.
    public static let rootHelpText = """
        A dispatch cycle needs `dispatch-due run`; without a subcommand this
        help is printed.

        EXIT CODES (each subcommand's --help lists its own):
          0    done (runs that failed are recorded, not fatal)
          1    could not: schema missing or newer than this binary, internal
               error; status: lag over --max-lag; management commands: not
               found or refused
          64   usage error (unknown flag, bad value)
          69   the database cannot be reached or refuses the connection
          77   the agents endpoint rejected the credentials
          78   configuration missing or unusable
          130  stopped by SIGINT after releasing its work
          143  stopped by SIGTERM after releasing its work

        \(environmentText)
        \(endpointEnvironmentText)
        """

    /// `dispatch-due status`.
    public static let statusHelpText = """
        EXIT CODES:
          0    healthy: no lag over --max-lag (or no --max-lag given)
          1    the oldest lag is over --max-lag; or the schema is missing
          64   usage error: unknown flag, bad or out-of-range value
          69   the database cannot be reached or refuses the connection
               (authentication included)
          78   the database URL is malformed

        \(environmentText)
        \(Tunable.helpLines(["--connect-timeout", "--max-lag"]))
        """

    /// `dispatch-due migrate`.
    public static let migrateHelpText = """
        EXIT CODES:
          0    applied, or already up to date
          1    a migration failed (rolled back), an applied file was edited,
               or the database holds migrations this binary does not know
          64   --migrations-dir unreadable, or a file not named
               NNNN_description.sql
          69   the database cannot be reached or refuses the connection
               (authentication included)
          78   the database URL is malformed

        \(environmentText)
        """

    /// `dispatch-due triggers …` and `invocations …`.
    public static let managementHelpText = """
        EXIT CODES:
          0    done (also when there was nothing to change)
          1    not found: no such id for that tenant (another tenant's id
               included); refused by the row's state (a taken trigger id,
               cancelling a finished invocation); schema missing
          64   usage error: bad cron, zone, JSON, instant or number, missing
               or conflicting options, control characters or invalid UTF-8,
               an unreadable or oversized --payload-file; nothing is written
          69   the database cannot be reached or refuses the connection
          78   the database URL is malformed

        \(environmentText)
        """
}

/// Thrown by commands to exit with a documented code after printing `message`.
public struct CommandFailure: Error, CustomStringConvertible, Sendable {
    public var code: Int32
    public var message: String
    public var description: String { message }
}

extension ParsableCommand {
    /// Runs `body`; an error prints its message to stderr and exits with the code
    /// `ExitStatus.outcome(for:)` gives it, so every command's exit code stays within the
    /// documented table. Commands that log (`logging` given) report the failure as a log
    /// line in their format, so a JSON log stream stays one JSON object per line.
    public func reportingFailures(logging: LogOptions? = nil, _ body: () throws -> Void) throws {
        do {
            try body()
        } catch let exit as ExitCode {
            throw exit
        } catch {
            let (code, message) = ExitStatus.outcome(for: error)
            ExitStatus.report(message, code: code, logging: logging)
            throw ExitCode(code)
        }
    }
}

extension ExitStatus {
    static func report(_ message: String, code: Int32, logging: LogOptions?) {
        guard let logging, logging.makeLogger().format == .json else {
            // Messages may quote what an operator typed: no raw control characters on a terminal.
            // In the journal the line is an error (`<3>`), not info.
            StandardError.writeLine(
                (StandardError.isJournal ? "<3>" : "") + ManagementOutput.escaped(message.replacing("\t", with: " ")))
            return
        }
        logging.makeLogger().error("command.failed", ["exit_code": .int(Int(code)), "message": .string(message)])
    }
}

// MARK: cycles

extension ExitStatus {
    /// How a cycle ended, from the error that ended it (nil: it finished its work, or stopped).
    static func cycleOutcome(of error: (any Error)?) -> CycleOutcome {
        if let error {
            if let exit = error as? ExitCode {
                let code = exit.rawValue
                return code == interrupted || code == terminated ? .stopped(exitCode: code) : .failed(exitCode: code)
            }
            return .failed(exitCode: outcome(for: error).code)
        }
        if let code = StopSignal.exitCode { return .stopped(exitCode: code) }
        return .ok
    }

    /// After a cycle: a stop signal ends the command with 128 + signal, said once in the log.
    static func exitIfStopped(logger: Logger) throws {
        guard let code = StopSignal.exitCode else { return }
        logger.warning("cycle.stopped", ["signal": .int(Int(StopSignal.received ?? 0))])
        throw ExitCode(code)
    }
}

extension CycleOutcome {
    /// The reason a failed cycle is counted under, by the exit code it ends with.
    static let reasons: [Int32: String] = [
        ExitStatus.failure: "error", ExitStatus.usage: "usage", ExitStatus.databaseUnavailable: "database_unavailable",
        ExitStatus.credentialsRejected: "credentials_rejected", ExitStatus.configuration: "configuration",
    ]

    public static func failed(exitCode: Int32) -> CycleOutcome {
        CycleOutcome(kind: .failed, status: exitCode, reason: reasons[exitCode] ?? "error")
    }

    public static func stopped(exitCode: Int32) -> CycleOutcome { CycleOutcome(kind: .stopped, status: exitCode) }

    public var exitCode: Int32 { status }
}
