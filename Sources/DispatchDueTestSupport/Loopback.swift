#if canImport(Glibc)
import Glibc
#endif

/// Loopback TCP sockets for tests that need an endpoint that refuses or never answers.
public enum Loopback {
    /// A TCP socket bound to 127.0.0.1 on a port the kernel picks, listening (backlog 16) when
    /// asked: connections then wait in its backlog, never accepted. The caller closes it.
    public static func boundSocket(listening: Bool) -> (descriptor: Int32, port: Int) {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if listening { listen(descriptor, 16) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return (descriptor, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// A loopback port nobody listens on (bound, then closed): connecting is refused.
    public static func closedPort() -> Int {
        let (descriptor, port) = boundSocket(listening: false)
        close(descriptor)
        return port
    }
}
