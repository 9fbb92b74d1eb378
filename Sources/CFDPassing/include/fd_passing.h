// Handing a socket from the sandbox's agent to the host over their private control socket (SCM_RIGHTS): the
// cmsg macros are C macros Swift cannot call, so both sides use these few lines. Plain libc: the agent links
// statically.
#ifndef ISOLA_FD_PASSING_H
#define ISOLA_FD_PASSING_H
#include <stddef.h>
#include <sys/types.h>

/// Sends `length` bytes with one descriptor attached. Returns the bytes sent, or -1 (errno set).
ssize_t isola_send_fd(int socket, int fd, const void *bytes, size_t length);

/// Receives up to `length` bytes and at most one descriptor, close-on-exec; any further descriptors that came
/// with the message are closed. `*fd` is -1 when none came. Returns the bytes read, 0 at end of stream, -1 on error.
ssize_t isola_recv_fd(int socket, int *fd, void *bytes, size_t length);

/// 1 when `fd` is a listening TCP socket bound to 127.0.0.1:`port`, else 0.
int isola_is_loopback_listener(int fd, unsigned short port);
#endif
