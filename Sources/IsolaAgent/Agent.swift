// isola-agent: PID 1 of every sandbox. Glibc only, so it links statically and starts in under a millisecond.
//
//   isola-agent [--socket PATH] [--port N] -- RUNTIME [ARGS...]
//
// 1. Binds 127.0.0.1:<port> (9001, AWS_LAMBDA_RUNTIME_API) *before* the runtime starts, so the runtime's first
//    connection never races the listener.
// 2. Starts the runtime, and relays every TCP connection to the environment's own Unix socket (bind-mounted by
//    the host into this sandbox alone): the host knows which environment speaks by the socket it comes in on.
// 3. As PID 1: reaps every child, forwards SIGTERM/SIGINT to the runtime, and exits with the runtime's status
//    (128 + signal number when a signal ended it), which is how the host learns why a runtime died. Just before
//    it exits it tells the host (POST /isola/v1/agent/exit) and waits up to a second for the answer, so the host
//    can read the sandbox's OOM state and peak memory while its cgroup still exists.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

@main
struct Agent {
    static func main() {
        var socketPath = "/run/isola/runtime.sock"
        var port: UInt16 = 9001
        var arguments = Array(CommandLine.arguments.dropFirst())
        while let first = arguments.first, first != "--" {
            arguments.removeFirst()
            guard let value = arguments.first else { fail("missing value for \(first)") }
            arguments.removeFirst()
            switch first {
            case "--socket": socketPath = value
            case "--port": port = UInt16(value) ?? port
            default: fail("unknown option \(first)")
            }
        }
        guard arguments.first == "--", arguments.count > 1 else { fail("usage: isola-agent [--socket PATH] [--port N] -- RUNTIME [ARGS...]") }
        let runtime = Array(arguments.dropFirst())

        signal(SIGPIPE, SIG_IGN)
        // Block the signals PID 1 handles; sigwait below receives them. Threads created after this inherit the mask.
        var handled = sigset_t()
        sigemptyset(&handled)
        for s in [SIGCHLD, SIGTERM, SIGINT, SIGHUP] { sigaddset(&handled, s) }
        pthread_sigmask(SIG_BLOCK, &handled, nil)

        let listener = listen(port: port)
        let child = spawn(runtime)
        startThread { acceptLoop(listener: listener, socketPath: socketPath) }

        var received: Int32 = 0
        while true {
            sigwait(&handled, &received)
            switch received {
            case SIGCHLD:
                var status: Int32 = 0
                while true {
                    let pid = waitpid(-1, &status, WNOHANG)
                    if pid <= 0 { break }
                    if pid == child {
                        let code = exitCode(status)
                        reportExit(code, socketPath: socketPath)
                        exit(code)
                    }
                }
            default:
                kill(child, received)
            }
        }
    }

    /// The runtime's fate as one exit code: its own code, or 128 + the signal that ended it.
    static func exitCode(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    static func reportExit(_ code: Int32, socketPath: String) {
        let fd = connectUnix(socketPath)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let body = "{\"status\":\(code)}"
        let request = "POST /isola/v1/agent/exit HTTP/1.1\r\nHost: agent\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        let sent = request.withCString { write(fd, $0, strlen($0)) }
        guard sent > 0 else { return }
        var buffer = [UInt8](repeating: 0, count: 512)
        _ = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    }

    static func fail(_ message: String) -> Never {
        let line = "isola-agent: \(message)\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
        exit(111)
    }

    static func listen(port: UInt16) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { fail("socket: errno \(errno)") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc.listen(fd, 128) == 0 else { fail("cannot listen on 127.0.0.1:\(port): errno \(errno)") }
        return fd
    }

    static func spawn(_ argv: [String]) -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for s in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var cArgs = argv.map { strdup($0) } + [nil]
        var pid: pid_t = 0
        let result = posix_spawnp(&pid, argv[0], nil, &attributes, &cArgs, environ)
        posix_spawnattr_destroy(&attributes)
        for pointer in cArgs { free(pointer) }
        // 127 is what a shell answers for a command it cannot run; the host reports the runtime's entrypoint missing.
        guard result == 0 else {
            let line = "isola-agent: cannot start \(argv[0]): \(String(cString: strerror(result)))\n"
            _ = line.withCString { write(2, $0, strlen($0)) }
            exit(127)
        }
        return pid
    }

    static func acceptLoop(listener: Int32, socketPath: String) {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                fail("accept: errno \(errno)")
            }
            let upstream = connectUnix(socketPath)
            guard upstream >= 0 else {
                close(client)
                continue
            }
            relay(client, upstream)
        }
    }

    static func connectUnix(_ path: String) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return -1 }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.utf8.count < capacity else {
            close(fd)
            return -1
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if connected != 0 {
            close(fd)
            return -1
        }
        return fd
    }

    /// Copies both directions until each side is done; half-closes so HTTP bodies end cleanly.
    static func relay(_ a: Int32, _ b: Int32) {
        let finished = Counter()
        for (from, to) in [(a, b), (b, a)] {
            startThread {
                var buffer = [UInt8](repeating: 0, count: 65_536)
                while true {
                    let n = buffer.withUnsafeMutableBytes { read(from, $0.baseAddress, $0.count) }
                    if n < 0, errno == EINTR { continue }
                    if n <= 0 { break }
                    var offset = 0
                    while offset < n {
                        let w = buffer.withUnsafeBytes { write(to, $0.baseAddress! + offset, n - offset) }
                        if w < 0, errno == EINTR { continue }
                        if w <= 0 { offset = -1; break }
                        offset += w
                    }
                    if offset < 0 { break }
                }
                shutdown(to, Int32(SHUT_WR))
                if finished.increment() == 2 {
                    close(a)
                    close(b)
                }
            }
        }
    }

    static func startThread(_ body: @escaping () -> Void) {
        let box = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
        var thread = pthread_t()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        pthread_attr_setstacksize(&attributes, 256 * 1024)
        let created = pthread_create(&thread, &attributes, { raw in
            guard let raw else { return nil }
            Unmanaged<ThreadBody>.fromOpaque(raw).takeRetainedValue().body()
            return nil
        }, box)
        pthread_attr_destroy(&attributes)
        if created != 0 { fail("pthread_create: \(created)") }
    }
}

final class ThreadBody {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

/// Two relay threads share one of these to know which of them closes the sockets.
final class Counter: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var value = 0

    init() { pthread_mutex_init(&mutex, nil) }

    func increment() -> Int {
        pthread_mutex_lock(&mutex)
        value += 1
        let now = value
        pthread_mutex_unlock(&mutex)
        return now
    }
}
