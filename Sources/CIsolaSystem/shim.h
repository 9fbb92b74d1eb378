// System calls the sandbox backend needs that Swift's Glibc module does not expose (GNU extensions), and
// libseccomp (Debian's libseccomp-dev), used once at start-up to compile the sandbox's filter to BPF.
// The GNU prototypes are declared here rather than through _GNU_SOURCE, which would redefine types that other
// modules (Dispatch) already import.
#ifndef ISOLA_SYSTEM_SHIM_H
#define ISOLA_SYSTEM_SHIM_H
#include <fcntl.h>
#include <spawn.h>
#include <sys/socket.h>
#include <seccomp.h>

extern int pipe2(int pipefd[2], int flags);
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);
extern char **environ;

/// pipe2(fds, O_CLOEXEC): both ends close-on-exec from birth, so a concurrent spawn cannot inherit them.
static inline int isola_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

/// socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC): the host's line to one sandbox's agent, whose messages
/// keep their boundaries.
static inline int isola_socketpair_cloexec(int fds[2]) { return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds); }

/// Closes every descriptor >= lowfd in the spawned child (glibc 2.34+).
static inline int isola_spawn_closefrom(posix_spawn_file_actions_t *actions, int lowfd) {
    return posix_spawn_file_actions_addclosefrom_np(actions, lowfd);
}

/// This process's environment, for posix_spawn.
static inline char **isola_environ(void) { return environ; }
#endif
