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
    ///
    /// The target must be a regular file or absent (never /dev/null or a directory), and the
    /// temporary file gets a random name and is created with O_EXCL|O_NOFOLLOW, so a symlink
    /// planted in a shared folder is never followed (mode 0644).
    public static func writeAtomically(_ text: String, to path: String) throws(FileSystemError) {
        try requireRegularOrAbsent(path)
        let folderEnd = path.lastIndex(of: "/")
        let folder = folderEnd.map { String(path[...$0]) } ?? ""
        let base = folderEnd.map { String(path[path.index(after: $0)...]) } ?? path
        var descriptor: Int32 = -1
        var temporary = ""
        for _ in 0..<16 {
            var generator = SystemRandomNumberGenerator()
            let suffix = String(generator.next() as UInt64, radix: 36)
            temporary = folder + "." + base + ".tmp-" + suffix
            descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
            if descriptor >= 0 || errno != EEXIST { break }
        }
        guard descriptor >= 0 else { throw error(temporary) }
        // The mode is exact whatever the umask (node_exporter reads as another user).
        _ = fchmod(descriptor, 0o644)
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
        // Checked again just before the rename: the target may have changed since.
        do {
            try requireRegularOrAbsent(path)
        } catch {
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let failure = error(path)
            unlink(temporary)
            throw failure
        }
    }

    /// Refuses a path that exists and is not a regular file (lstat: a symlink is refused
    /// too, since a rename would replace the link rather than what it names).
    public static func requireRegularOrAbsent(_ path: String) throws(FileSystemError) {
        var info = stat()
        if lstat(path, &info) != 0 {
            if errno == ENOENT { return }
            throw error(path)
        }
        let kind = info.st_mode & S_IFMT
        guard kind == S_IFREG else {
            throw FileSystemError(path: path, reason: "exists and is \(describe(kind)), not a regular file")
        }
    }

    /// Refuses a path whose folder cannot take a new file: the folder is missing, is not a
    /// folder, or this process may not create files in it (access(2), W_OK|X_OK). An atomic
    /// write creates its temporary file there, so such a target could never be written.
    public static func requireWritableFolder(of path: String) throws(FileSystemError) {
        let folder: String
        if let end = path.lastIndex(of: "/") {
            folder = end == path.startIndex ? "/" : String(path[..<end])
        } else {
            folder = "."
        }
        var info = stat()
        guard stat(folder, &info) == 0 else {
            throw FileSystemError(path: path, reason: "its folder \(folder) is unusable: \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw FileSystemError(path: path, reason: "its folder \(folder) is \(describe(info.st_mode & S_IFMT)), not a folder")
        }
        guard access(folder, W_OK | X_OK) == 0 else {
            throw FileSystemError(path: path, reason: "its folder \(folder) is not writable: \(String(cString: strerror(errno)))")
        }
    }

    /// Reads a regular file (symlinks followed) of at most `limit` bytes as UTF-8 text.
    /// Opened non-blocking, so a FIFO never blocks; /dev/zero, a directory, a FIFO, an
    /// oversized file and invalid UTF-8 are refused with a message that says which.
    public static func readRegularFile(_ path: String, limit: Int, utf8: Bool = true) throws(FileSystemError) -> String {
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { throw error(path) }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw error(path) }
        let kind = info.st_mode & S_IFMT
        guard kind == S_IFREG else {
            throw FileSystemError(path: path, reason: "is \(describe(kind)), not a regular file")
        }
        guard Int(info.st_size) <= limit else {
            throw FileSystemError(path: path, reason: "is \(info.st_size) bytes; at most \(limit) bytes are allowed")
        }
        // Read at most limit + 1 bytes: a file that grows meanwhile is still refused, never read forever.
        var bytes = [UInt8](repeating: 0, count: limit + 1)
        var total = 0
        while total < bytes.count {
            let count = bytes.withUnsafeMutableBytes { read(descriptor, $0.baseAddress! + total, $0.count - total) }
            if count < 0 {
                if errno == EINTR { continue }
                throw error(path)
            }
            if count == 0 { break }
            total += count
        }
        guard total <= limit else {
            throw FileSystemError(path: path, reason: "is more than \(limit) bytes; at most \(limit) bytes are allowed")
        }
        bytes.removeSubrange(total...)
        if !utf8 { return String(decoding: bytes, as: UTF8.self) }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw FileSystemError(path: path, reason: "is not valid UTF-8 text")
        }
        return text
    }

    private static func describe(_ kind: mode_t) -> String {
        switch kind {
        case S_IFDIR: return "a directory"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFIFO: return "a FIFO"
        case S_IFSOCK: return "a socket"
        case S_IFLNK: return "a symbolic link"
        default: return "a special file"
        }
    }

    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    private static func error(_ path: String) -> FileSystemError {
        FileSystemError(path: path, reason: String(cString: strerror(errno)))
    }
}
