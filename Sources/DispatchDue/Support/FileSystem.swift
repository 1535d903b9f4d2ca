#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An I/O failure naming the path and the OS reason.
public struct FileSystemError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var reason: String
    public var description: String { "\(path): \(reason)" }
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
}

/// Small file helpers over libc, so the library needs no Foundation.
public enum FileSystem {
    /// The whole file as UTF-8 text.
    public static func readText(_ path: String) throws(FileSystemError) -> String {
        guard let file = fopen(path, "rb") else { throw error(path) }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count > 0 { bytes.append(contentsOf: chunk[0..<count]) }
            if count < chunk.count {
                if ferror(file) != 0 { throw error(path) }
                break
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Names of the entries of a directory (without `.` and `..`), unsorted.
    public static func listDirectory(_ path: String) throws(FileSystemError) -> [String] {
        guard let directory = opendir(path) else { throw error(path) }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Writes `text` to `path` atomically: a temporary file in the same folder, fsync, rename.
    /// A reader sees the old file or the new one, never a half-written one.
    public static func writeAtomically(_ text: String, to path: String) throws(FileSystemError) {
        let temporary = path + ".tmp.\(getpid())"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw error(temporary) }
        var failed = false
        var text = text
        text.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failed = true
                    return
                }
                offset += written
            }
        }
        if failed || fsync(descriptor) != 0 {
            let failure = error(temporary)
            close(descriptor)
            unlink(temporary)
            throw failure
        }
        close(descriptor)
        guard rename(temporary, path) == 0 else {
            let failure = error(path)
            unlink(temporary)
            throw failure
        }
    }

    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    private static func error(_ path: String) -> FileSystemError {
        FileSystemError(path: path, reason: String(cString: strerror(errno)))
    }
}
