// isola-agent: PID 1 of every sandbox. Glibc only, so it links statically and starts in under a millisecond.
//
//   isola-agent [--control-fd N] [--port N] -- RUNTIME [ARGS...]
//
// 1. Takes its control socket (fd 3: one end of a socket pair the host made for this sandbox alone, passed in by
//    crun's --preserve-fds) and marks it close-on-exec, so the runtime never holds it.
// 2. Binds 127.0.0.1:<port> (9001, AWS_LAMBDA_RUNTIME_API) *before* the runtime starts, and hands the listening
//    socket to the host over the control socket (SCM_RIGHTS). The host accepts and serves the runtime's
//    connections itself, with no relay in between; the listener lives in this sandbox's network namespace, so
//    only this sandbox can reach it, and the host knows whose it is by the control socket it came on.
// 3. As PID 1: reaps every child, forwards SIGTERM/SIGINT to the runtime, and exits with the runtime's status
//    (128 + signal number when a signal ended it), which is how the host learns why a runtime died. Just before
//    it exits it writes `exit <status>` on the control socket and waits up to a second for the host's answer, so
//    the host can read the sandbox's OOM state and peak memory while its cgroup still exists.
import CFDPassing
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

@main
struct Agent {
    static func main() {
        var control: Int32 = 3
        var port: UInt16 = 9001
        var arguments = Array(CommandLine.arguments.dropFirst())
        while let first = arguments.first, first != "--" {
            arguments.removeFirst()
            guard let value = arguments.first else { fail("missing value for \(first)") }
            arguments.removeFirst()
            switch first {
            case "--control-fd": control = Int32(value) ?? control
            case "--port": port = UInt16(value) ?? port
            default: fail("unknown option \(first)")
            }
        }
        guard arguments.first == "--", arguments.count > 1 else { fail("usage: isola-agent [--control-fd N] [--port N] -- RUNTIME [ARGS...]") }
        let runtime = Array(arguments.dropFirst())

        signal(SIGPIPE, SIG_IGN)
        // Block the signals PID 1 handles; sigwait below receives them.
        var handled = sigset_t()
        sigemptyset(&handled)
        for s in [SIGCHLD, SIGTERM, SIGINT, SIGHUP] { sigaddset(&handled, s) }
        pthread_sigmask(SIG_BLOCK, &handled, nil)

        guard fcntl(control, F_SETFD, FD_CLOEXEC) == 0 else { fail("no control socket on fd \(control)") }
        let listener = listen(port: port)
        let handed = "listener".withCString { isola_send_fd(control, listener, $0, strlen($0)) }
        guard handed > 0 else { fail("cannot hand the Runtime API listener to the host: errno \(errno)") }
        // The host holds it now; the runtime must not inherit a copy.
        close(listener)
        let child = spawn(runtime)

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
                        reportExit(code, control: control)
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

    static func reportExit(_ code: Int32, control: Int32) {
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(control, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let line = "exit \(code)\n"
        guard line.withCString({ send(control, $0, strlen($0), Int32(MSG_NOSIGNAL)) }) > 0 else { return }
        var answer: UInt8 = 0
        _ = recv(control, &answer, 1, 0)
    }

    static func fail(_ message: String) -> Never {
        let line = "isola-agent: \(message)\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
        exit(111)
    }

    static func listen(port: UInt16) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
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
}
