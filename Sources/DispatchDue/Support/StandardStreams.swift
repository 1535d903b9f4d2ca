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
