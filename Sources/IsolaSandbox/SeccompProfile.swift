import CIsolaSystem
import Foundation

/// The sandbox's system-call filter, compiled once to BPF with libseccomp and handed to crun as the
/// `run.oci.seccomp_bpf_data` annotation (compiling a JSON profile at every start costs 15-20 ms).
///
/// An allow-list, like the container engines' default profile, minus what that profile only permits because
/// it relies on capabilities: no `unshare`, `setns`, `mount` family, `bpf`, `perf_event_open`, `userfaultfd`,
/// `io_uring`, `keyctl`, `ptrace`; `clone` only without `CLONE_NEW*` flags; `clone3` answers ENOSYS so that glibc
/// falls back to `clone`, whose flags the filter can see. Everything else gets EPERM.
public enum SeccompProfile {
    /// System calls a Linux userland (python, a static binary, a shell) needs, none of which changes namespaces,
    /// mounts, kernel state, or other processes' memory.
    static let allowed: [String] = [
        "accept", "accept4", "access", "alarm", "arch_prctl", "bind", "brk", "capget", "chdir", "chmod", "chown",
        "clock_getres", "clock_gettime", "clock_nanosleep", "close", "close_range", "connect", "copy_file_range",
        "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_pwait", "epoll_pwait2",
        "epoll_wait", "eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2",
        "fadvise64", "fallocate", "fchdir", "fchmod", "fchmodat", "fchown", "fchownat", "fcntl", "fdatasync",
        "fgetxattr", "flistxattr", "flock", "fork", "fstat", "fstatfs", "fsync", "ftruncate", "futex", "futex_waitv",
        "futimesat", "get_robust_list", "get_thread_area", "getcpu", "getcwd", "getdents", "getdents64", "getegid",
        "geteuid", "getgid", "getgroups", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid",
        "getpriority", "getrandom", "getresgid", "getresuid", "getrlimit", "getrusage", "getsid", "getsockname",
        "getsockopt", "gettid", "gettimeofday", "getuid", "getxattr", "inotify_add_watch", "inotify_init",
        "inotify_init1", "inotify_rm_watch", "ioctl", "kill", "lchown", "lgetxattr", "link", "linkat", "listen",
        "listxattr", "llistxattr", "lseek", "lstat", "madvise", "membarrier", "memfd_create", "mincore", "mkdir",
        "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mprotect", "mremap", "msgctl",
        "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap", "nanosleep", "newfstatat", "open",
        "openat", "openat2", "pause", "pipe", "pipe2", "poll", "ppoll", "prctl", "pread64", "preadv", "preadv2",
        "prlimit64", "pselect6", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat",
        "readv", "recvfrom", "recvmmsg", "recvmsg", "remap_file_pages", "rename", "renameat", "renameat2",
        "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
        "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_tgsigqueueinfo", "sched_get_priority_max",
        "sched_get_priority_min", "sched_getaffinity", "sched_getattr", "sched_getparam", "sched_getscheduler",
        "sched_rr_get_interval", "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler",
        "sched_yield", "select", "semctl", "semget", "semop", "semtimedop", "sendfile", "sendmmsg", "sendmsg",
        "sendto", "set_robust_list", "set_thread_area", "set_tid_address", "setfsgid", "setfsuid", "setgid",
        "setgroups", "setitimer", "setpgid", "setpriority", "setregid", "setresgid", "setresuid", "setreuid",
        "setrlimit", "setsid", "setsockopt", "setuid", "shmat", "shmctl", "shmdt", "shmget", "shutdown",
        "sigaltstack", "signalfd", "signalfd4", "socket", "socketpair", "splice", "stat", "statfs", "statx",
        "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time",
        "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime", "timer_settime", "timerfd_create",
        "timerfd_gettime", "timerfd_settime", "times", "tkill", "truncate", "umask", "uname", "unlink", "unlinkat",
        "utime", "utimensat", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write", "writev",
        "pidfd_open", "pidfd_send_signal", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
    ]

    /// The `CLONE_NEW*` flags: a `clone` carrying any of them is refused.
    static let namespaceFlags: UInt64 = 0x0000_0080 /* NEWTIME */ | 0x0002_0000 /* NEWNS */ | 0x0200_0000 /* NEWCGROUP */
        | 0x0400_0000 /* NEWUTS */ | 0x0800_0000 /* NEWIPC */ | 0x1000_0000 /* NEWUSER */ | 0x2000_0000 /* NEWPID */
        | 0x4000_0000 /* NEWNET */

    public struct CompileError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Compiles the profile for the host's architecture; returns the BPF program's bytes.
    public static func compileBPF() throws -> Data {
        guard let filter = seccomp_init(scmpErrno(EPERM)) else { throw CompileError(description: "seccomp_init failed") }
        defer { seccomp_release(filter) }
        // A binary search over system call numbers instead of one comparison per allowed call in a row: every
        // system call the runtime makes runs this program, and the allow-list is long.
        guard seccomp_attr_set(filter, SCMP_FLTATR_CTL_OPTIMIZE, 2) == 0 else {
            throw CompileError(description: "libseccomp cannot optimize filters (it must be 2.5 or later)")
        }
        for name in allowed {
            let number = seccomp_syscall_resolve_name(name)
            guard number != __NR_SCMP_ERROR else { continue }  // not a system call on this architecture
            guard seccomp_rule_add_array(filter, SCMP_ACT_ALLOW, number, 0, nil) == 0 else {
                throw CompileError(description: "cannot allow \(name)")
            }
        }
        // clone: allowed only when no namespace flag is set (argument 0 is the flags on x86_64 and arm64).
        let clone = seccomp_syscall_resolve_name("clone")
        var condition = scmp_arg_cmp(arg: 0, op: SCMP_CMP_MASKED_EQ, datum_a: namespaceFlags, datum_b: 0)
        guard seccomp_rule_add_array(filter, SCMP_ACT_ALLOW, clone, 1, &condition) == 0 else {
            throw CompileError(description: "cannot add the clone rule")
        }
        let clone3 = seccomp_syscall_resolve_name("clone3")
        if clone3 != __NR_SCMP_ERROR, seccomp_rule_add_array(filter, scmpErrno(ENOSYS), clone3, 0, nil) != 0 {
            throw CompileError(description: "cannot add the clone3 rule")
        }
        var template = Array("/tmp/isola-seccomp-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw CompileError(description: "cannot create a temporary file: errno \(errno)") }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        defer { close(fd) }
        guard seccomp_export_bpf(filter, fd) == 0 else { throw CompileError(description: "seccomp_export_bpf failed") }
        let size = lseek(fd, 0, SEEK_END)
        lseek(fd, 0, SEEK_SET)
        var bytes = [UInt8](repeating: 0, count: Int(size))
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, Int(size)) }
        guard n == Int(size), size > 0 else { throw CompileError(description: "short read of the BPF program") }
        return Data(bytes)
    }

    /// SCMP_ACT_ERRNO(x) is a C macro: 0x00050000 | (x & 0xffff).
    static func scmpErrno(_ code: Int32) -> UInt32 {
        0x0005_0000 | (UInt32(code) & 0xffff)
    }
}
