#if canImport(Glibc)
import Glibc
#endif
import DispatchCore

/// What a finished child process left behind.
public struct ProcessResult: Sendable, CustomStringConvertible {
    /// Exit code, when the process exited.
    public var exitCode: Int32?
    /// Signal number, when a signal ended it.
    public var signal: Int32?
    public var stdout: String
    public var stderr: String
    /// The child's peak resident set size in bytes: its VmHWM (/proc/PID/status), sampled
    /// until it exits. Not wait4's ru_maxrss: posix_spawn clones the parent's address space
    /// before exec, and Linux folds the parent's high-water mark into the child's ru_maxrss, so
    /// that figure would be the test runner's. The last sample is at most one poll (2 ms)
    /// before the exit, after the cycle's work.
    public var peakResidentBytes: Int? = nil

    public var description: String {
        "exit=\(exitCode.map(String.init) ?? "-") signal=\(signal.map(String.init) ?? "-")"
            + " peak_rss=\(peakResidentBytes.map { "\($0 / 1024) KiB" } ?? "-")\nstdout:\n\(stdout)\nstderr:\n\(stderr)"
    }
}

/// A real child process started with posix_spawn; its output goes to files in a scratch
/// folder so a test can read it after the process ends (or is killed).
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    let outputPath: String
    let errorPath: String
    private var finished: ProcessResult?

    /// Folder of the built executables (set by `make test`; falls back to .build/debug).
    public static var binDirectory: String {
        if let dir = Environment.get("DISPATCH_DUE_BIN_DIR"), !dir.isEmpty { return dir }
        return repositoryDirectory + "/.build/debug"
    }

    /// The repository checkout (for migrations/, deploy/ and scripts/).
    public static var repositoryDirectory: String {
        if let dir = Environment.get("DISPATCH_DUE_REPO_DIR"), !dir.isEmpty { return dir }
        // Sources/DispatchDueTestSupport/ChildProcess.swift → repository root.
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/")
    }

    /// Starts `executable` (a path, or a name in `binDirectory`) with `arguments`.
    /// `environment` replaces the inherited one when given; `extraEnvironment` is added to it.
    public init(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String]? = nil,
        extraEnvironment: [String: String] = [:],
        standardInput: String? = nil
    ) throws {
        let path = executable.contains("/") ? executable : ChildProcess.binDirectory + "/" + executable
        let scratch = try ChildProcess.makeScratchDirectory()
        outputPath = scratch + "/stdout"
        errorPath = scratch + "/stderr"
        let inputPath = scratch + "/stdin"
        try FileSystem.writeAtomically(standardInput ?? "", to: inputPath)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, inputPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group, so a test can signal it without touching the test runner,
        // and default signal dispositions, whatever the runner set.
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP))

        var env = environment ?? ChildProcess.currentEnvironment()
        for (key, value) in extraEnvironment { env[key] = value }
        let argv = [path] + arguments
        let envp = env.map { "\($0.key)=\($0.value)" }
        var child: pid_t = 0
        let status = withCStrings(argv) { argvPointers in
            withCStrings(envp) { envPointers in
                posix_spawn(&child, path, &actions, &attributes, argvPointers, envPointers)
            }
        }
        guard status == 0 else {
            throw FileSystemError(path: path, reason: "posix_spawn failed: \(String(cString: strerror(status)))")
        }
        pid = child
    }

    /// Runs to completion (killing it with SIGKILL after `timeoutSeconds`) and returns the result.
    public static func run(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String]? = nil,
        extraEnvironment: [String: String] = [:],
        standardInput: String? = nil,
        timeoutSeconds: Double = 120
    ) throws -> ProcessResult {
        let process = try ChildProcess(
            executable, arguments, environment: environment, extraEnvironment: extraEnvironment,
            standardInput: standardInput)
        return process.wait(timeoutSeconds: timeoutSeconds)
    }

    /// Sends a signal (SIGTERM, SIGINT, SIGKILL …).
    public func send(_ signal: Int32) { kill(pid, signal) }

    /// Waits for the process; after `timeoutSeconds` it is killed so a hung child cannot hang the suite.
    public func wait(timeoutSeconds: Double = 120) -> ProcessResult {
        if let finished { return finished }
        var status: Int32 = 0
        var peak: Int?
        let deadline = monotonicSeconds() + timeoutSeconds
        while true {
            // Sampled before reaping: once reaped, the process and its figures are gone.
            if let sample = ChildProcess.highWaterMark(pid) { peak = max(peak ?? 0, sample) }
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { break }
            if result < 0 && errno != EINTR { break }
            if monotonicSeconds() > deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                break
            }
            usleep(2_000)
        }
        let signalled = status & 0x7f
        let result = ProcessResult(
            exitCode: signalled == 0 ? (status >> 8) & 0xff : nil,
            signal: signalled == 0 ? nil : signalled,
            stdout: (try? FileSystem.readText(outputPath)) ?? "",
            stderr: (try? FileSystem.readText(errorPath)) ?? "",
            peakResidentBytes: peak)
        finished = result
        return result
    }

    /// VmHWM of a live process in bytes (nil once it has exited or when unreadable).
    static func highWaterMark(_ pid: pid_t) -> Int? {
        let descriptor = open("/proc/\(pid)/status", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = read(descriptor, &buffer, buffer.count)
        guard count > 0 else { return nil }
        let text = String(decoding: buffer[0..<count], as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return nil }
        let kilobytes = line.dropFirst("VmHWM:".count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first
            .flatMap { Int($0) }
        return kilobytes.map { $0 * 1024 }
    }

    /// Output written so far (the process may still be running).
    public var stderrSoFar: String { (try? FileSystem.readText(errorPath)) ?? "" }
    public var stdoutSoFar: String { (try? FileSystem.readText(outputPath)) ?? "" }

    public static func currentEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        var cursor = environ
        while let entry = cursor.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            cursor += 1
        }
        return result
    }

    /// A new empty folder under /tmp.
    public static func makeScratchDirectory() throws -> String {
        var template = Array("/tmp/dd-test-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw FileSystemError(path: "/tmp", reason: "mkdtemp failed")
        }
        return String(cString: made)
    }
}

/// Seconds on the monotonic clock, for deadlines in tests.
public func monotonicSeconds() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

private func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for pointer in pointers { free(pointer) } }
    return body(pointers)
}
