#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Unbuffered writes to stderr: each call is one write(2), so lines from
/// concurrent threads never interleave mid-line.
public enum StandardError {
    public static func writeLine(_ text: String) {
        write(text + "\n", to: 2)
    }

    public static var isTerminal: Bool { isatty(2) == 1 }

    /// stderr is connected to the systemd journal: JOURNAL_STREAM ("device:inode", set by
    /// systemd for StandardError=journal) names the very file stderr is (systemd.exec(5)). A
    /// variable inherited by a process whose stderr was redirected elsewhere does not match.
    public static let isJournal: Bool = {
        guard let value = Environment.get("JOURNAL_STREAM") else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var info = stat()
        guard fstat(2, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }()
}

/// Writes to stdout through one write(2) per call.
public enum StandardOutput {
    public static func writeLine(_ text: String) {
        StandardError.write(text + "\n", to: 1)
    }
}

extension StandardError {
    static func write(_ text: String, to descriptor: Int32) {
        var text = text
        text.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }
}
