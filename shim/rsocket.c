/* librdmacm.so.1 over iwkit: the rsocket interface. rsockets (streams over RDMA) are not in this
 * version: rsocket() fails with ENOSYS, so no descriptor is ever an rsocket, and the calls that
 * take a descriptor act on ordinary ones as rdma-core's do for a descriptor that is not an rsocket
 * (rpoll and rselect poll, the rest of the data calls go to the socket itself). rping uses rpoll
 * on its event channel's descriptor. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <fcntl.h>
#include <unistd.h>

#include <rdma/rsocket.h>

int rsocket(int domain, int type, int protocol)
{
    (void)domain, (void)type, (void)protocol;
    errno = ENOSYS;
    return -1;
}

int rbind(int s, const struct sockaddr *addr, socklen_t len) { return bind(s, addr, len); }
int rlisten(int s, int backlog) { return listen(s, backlog); }
int raccept(int s, struct sockaddr *addr, socklen_t *len) { return accept(s, addr, len); }
int rconnect(int s, const struct sockaddr *addr, socklen_t len) { return connect(s, addr, len); }
int rshutdown(int s, int how) { return shutdown(s, how); }
int rclose(int s) { return close(s); }
ssize_t rrecv(int s, void *buf, size_t len, int flags) { return recv(s, buf, len, flags); }
ssize_t rrecvfrom(int s, void *buf, size_t len, int flags, struct sockaddr *src, socklen_t *slen)
{
    return recvfrom(s, buf, len, flags, src, slen);
}
ssize_t rrecvmsg(int s, struct msghdr *msg, int flags) { return recvmsg(s, msg, flags); }
ssize_t rsend(int s, const void *buf, size_t len, int flags) { return send(s, buf, len, flags); }
ssize_t rsendto(int s, const void *buf, size_t len, int flags, const struct sockaddr *to, socklen_t tolen)
{
    return sendto(s, buf, len, flags, to, tolen);
}
ssize_t rsendmsg(int s, const struct msghdr *msg, int flags) { return sendmsg(s, msg, flags); }
ssize_t rread(int s, void *buf, size_t count) { return read(s, buf, count); }
ssize_t rreadv(int s, const struct iovec *iov, int iovcnt) { return readv(s, iov, iovcnt); }
ssize_t rwrite(int s, const void *buf, size_t count) { return write(s, buf, count); }
ssize_t rwritev(int s, const struct iovec *iov, int iovcnt) { return writev(s, iov, iovcnt); }
int rpoll(struct pollfd *fds, nfds_t nfds, int timeout) { return poll(fds, nfds, timeout); }
int rselect(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *timeout)
{
    return select(nfds, r, w, e, timeout);
}
int rgetpeername(int s, struct sockaddr *addr, socklen_t *len) { return getpeername(s, addr, len); }
int rgetsockname(int s, struct sockaddr *addr, socklen_t *len) { return getsockname(s, addr, len); }
int rsetsockopt(int s, int level, int name, const void *val, socklen_t len)
{
    return setsockopt(s, level, name, val, len);
}
int rgetsockopt(int s, int level, int name, void *val, socklen_t *len) { return getsockopt(s, level, name, val, len); }
int rfcntl(int s, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    long arg = va_arg(ap, long);
    va_end(ap);
    return fcntl(s, cmd, arg);
}
off_t riomap(int s, void *buf, size_t len, int prot, int flags, off_t offset)
{
    (void)s, (void)buf, (void)len, (void)prot, (void)flags, (void)offset;
    errno = ENOSYS;
    return -1;
}
int riounmap(int s, void *buf, size_t len)
{
    (void)s, (void)buf, (void)len;
    errno = ENOSYS;
    return -1;
}
size_t riowrite(int s, const void *buf, size_t count, off_t offset, int flags)
{
    (void)s, (void)buf, (void)count, (void)offset, (void)flags;
    errno = ENOSYS;
    return 0;
}
