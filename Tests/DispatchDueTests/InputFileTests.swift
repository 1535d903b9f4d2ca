#if canImport(Glibc)
import Glibc
#endif
import DispatchCore
import DispatchDueCLI
import DispatchDueTestSupport
import Postgres
import Testing

/// Input files (issue 11, items 5 and 12): regular files only, read non-blocking with a size
/// limit; the metrics file never replaces a device and never follows a planted symlink.
@Suite("input files")
struct InputFileTests {
    struct PayloadCase: Sendable, CustomTestStringConvertible {
        /// A path; `FILES` is the scratch folder.
        var path: String
        var message: String
        var testDescription: String { path }
    }

    static let payloadCases: [PayloadCase] = [
        PayloadCase(path: "/dev/zero", message: "is a character device, not a regular file"),
        PayloadCase(path: "FILES/fifo", message: "is a FIFO, not a regular file"),
        PayloadCase(path: "FILES", message: "is a directory, not a regular file"),
        PayloadCase(path: "FILES/oversized.json", message: "at most 262144 bytes"),
        PayloadCase(path: "FILES/latin1.json", message: "is not valid UTF-8"),
        PayloadCase(path: "FILES/missing.json", message: "No such file"),
    ]

    static func scratch() throws -> String {
        let folder = try ChildProcess.makeScratchDirectory()
        #expect(mkfifo(folder + "/fifo", 0o600) == 0)
        // 262,145 bytes of valid JSON: one string in an array.
        try FileSystem.writeAtomically("[\"" + String(repeating: "x", count: 262_141) + "\"]", to: folder + "/oversized.json")
        try FileSystem.writeAtomically("[\"" + String(repeating: "x", count: 262_140) + "\"]", to: folder + "/limit.json")
        let descriptor = open(folder + "/latin1.json", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let bytes: [UInt8] = Array("{\"k\": \"caf".utf8) + [0xE9] + Array("\"}".utf8)
        _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
        return folder
    }

    /// A FIFO with no writer must not block: the command answers at once (the child is
    /// killed after 60 s only so a regression cannot hang the suite).
    @Test("--payload-file refuses special, oversized and non-UTF-8 files; nothing is written", .requiresDatabase, arguments: payloadCases)
    func payloadFile(_ example: PayloadCase) throws {
        try withTestDatabase { db in
            let folder = try Self.scratch()
            defer { Ops.removeTree(folder) }
            let path = example.path.replacing("FILES", with: folder)
            let process = try ChildProcess(
                "dispatch-due", baseAdd() + ["--cron", "@daily", "--payload-file", path],
                extraEnvironment: ["DATABASE_URL": db.url])
            let result = process.wait(timeoutSeconds: 60)
            #expect(result.exitCode == 64, "\(result)")
            #expect(result.stderr.contains("--payload-file"), "\(result.stderr)")
            #expect(result.stderr.contains(example.message), "\(result.stderr)")
            #expect(try db.value("SELECT count(*) FROM scheduled_triggers") == "0")
        }
    }

    @Test("a payload file of exactly 262,144 bytes is accepted; --payload and --message have their limits too", .requiresDatabase)
    func limits() throws {
        try withTestDatabase { db in
            let folder = try Self.scratch()
            defer { Ops.removeTree(folder) }
            let atLimit = try db.cli(baseAdd(id: "at-limit") + ["--cron", "@daily", "--payload-file", folder + "/limit.json"])
            #expect(atLimit.exitCode == 0, "\(atLimit)")
            #expect(try db.value("SELECT octet_length(payload::text) FROM scheduled_triggers WHERE id = 'at-limit'") == "262144")

            // jsonb stores {"k": "…"} with a space after the colon: 262,144 bytes given, 262,145 stored.
            let compact = "{\"k\":\"" + String(repeating: "y", count: 262_144 - 8) + "\"}"
            #expect(compact.utf8.count == 262_144)
            // (A file: one argument may hold at most 128 KiB on Linux.)
            try FileSystem.writeAtomically(compact, to: folder + "/compact.json")
            let stored = try db.cli(baseAdd(id: "stored") + ["--cron", "@daily", "--payload-file", folder + "/compact.json"])
            #expect(stored.exitCode == 64, "\(stored)")
            #expect(stored.stderr.contains("262145 bytes as stored"), "\(stored.stderr)")

            let template = try db.cli(baseAdd(id: "template") + ["--cron", "@daily", "--message", String(repeating: "m", count: 65_537)])
            #expect(template.exitCode == 64, "\(template)")
            #expect(template.stderr.contains("--message is 65537 bytes; at most 65536"), "\(template.stderr)")
            #expect(try db.value("SELECT count(*) FROM scheduled_triggers") == "1")
        }
    }

    @Test("--metrics-file never replaces /dev/null or a folder, and refuses a symlink target", .requiresDatabase)
    func metricsTargets() throws {
        try withTestDatabase { database in
            let folder = try ChildProcess.makeScratchDirectory()
            defer { Ops.removeTree(folder) }
            let victim = folder + "/victim"
            try FileSystem.writeAtomically("precious\n", to: victim)
            #expect(symlink(victim, folder + "/link.prom") == 0)
            for target in ["/dev/null", folder, folder + "/link.prom"] {
                let result = try database.dispatchDue(["run", "--record-only", "--metrics-file", target])
                #expect(result.exitCode == 78, "\(result)")
                #expect(result.stderr.contains("--metrics-file"), "\(result.stderr)")
            }
            var info = stat()
            #expect(stat("/dev/null", &info) == 0 && info.st_mode & S_IFMT == S_IFCHR, "/dev/null is no longer a device")
            #expect(try FileSystem.readText(victim) == "precious\n")
            #expect(lstat(folder + "/link.prom", &info) == 0 && info.st_mode & S_IFMT == S_IFLNK)
        }
    }

    /// The old writer used `PATH.tmp.PID`: a symlink planted there was followed. The writer
    /// now creates a randomly named file with O_EXCL|O_NOFOLLOW; the planted link (at the old
    /// name for this process) is left alone, and what it points to is not touched.
    @Test("the metrics writer never follows a symlink planted at the temporary name")
    func plantedSymlink() throws {
        let folder = try ChildProcess.makeScratchDirectory()
        defer { Ops.removeTree(folder) }
        let target = folder + "/dispatch_due.prom"
        let victim = folder + "/root-owned"
        try FileSystem.writeAtomically("do not overwrite\n", to: victim)
        #expect(symlink(victim, target + ".tmp.\(getpid())") == 0)
        try FileSystem.writeAtomically("dispatch_due_build_info 1\n", to: target)
        #expect(try FileSystem.readText(victim) == "do not overwrite\n")
        #expect(try FileSystem.readText(target) == "dispatch_due_build_info 1\n")
        var info = stat()
        #expect(lstat(target, &info) == 0 && info.st_mode & S_IFMT == S_IFREG && info.st_mode & 0o777 == 0o644)
        // Nothing else was left behind: the target, the victim and the planted link.
        #expect(try FileSystem.listDirectory(folder).sorted()
            == ["dispatch_due.prom", "dispatch_due.prom.tmp.\(getpid())", "root-owned"])
    }

    @Test("a real cycle writes the metrics file with mode 0644 and no temporary file left", .requiresDatabase)
    func realCycleWrites() throws {
        try withTestDatabase { database in
            let folder = try ChildProcess.makeScratchDirectory()
            defer { Ops.removeTree(folder) }
            let target = folder + "/dispatch_due.prom"
            for _ in 0..<2 {
                let result = try database.dispatchDue(["run", "--record-only", "--metrics-file", target])
                #expect(result.exitCode == 0, "\(result)")
            }
            #expect(try FileSystem.listDirectory(folder) == ["dispatch_due.prom"])
            #expect(try FileSystem.readText(target).contains("dispatch_due_last_cycle_success 1"))
        }
    }

    @Test("--message-file refuses a FIFO, /dev/zero and a file over 64 KiB; a file at the limit is accepted", .requiresDatabase)
    func messageFile() throws {
        try withTestDatabase { db in
            let folder = try Self.scratch()
            defer { Ops.removeTree(folder) }
            try FileSystem.writeAtomically(String(repeating: "m", count: 65_537), to: folder + "/big.txt")
            try FileSystem.writeAtomically(String(repeating: "m", count: 65_536), to: folder + "/limit.txt")
            for (path, message) in [
                (folder + "/fifo", "is a FIFO"), ("/dev/zero", "is a character device"), (folder + "/big.txt", "at most 65536 bytes"),
            ] {
                let result = try db.cli(baseAdd() + ["--cron", "@daily", "--message-file", path])
                #expect(result.exitCode == 64, "\(result)")
                #expect(result.stderr.contains("--message-file: cannot use") && result.stderr.contains(message), "\(result.stderr)")
            }
            #expect(try db.value("SELECT count(*) FROM scheduled_triggers") == "0")
            let accepted = try db.cli(baseAdd() + ["--cron", "@daily", "--message-file", folder + "/limit.txt"])
            #expect(accepted.exitCode == 0, "\(accepted)")
            #expect(try db.value("SELECT octet_length(message_template) FROM scheduled_triggers") == "65536")
        }
    }
}
