/* pcap_rec.c - records the runtime's TCP streams as Ethernet/IP/TCP frames in a pcap file (hand-written, not generated; see pcap_rec.h). */
#include "pcap_rec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- frame layout ---------------------------------------------------------------------------- */

enum {
    ETH_LEN = 14,
    IP4_LEN = 20,
    IP6_LEN = 40,
    TCP_LEN = 20,
    ETHERTYPE_IP4 = 0x0800,
    ETHERTYPE_IP6 = 0x86dd,
    PROTO_TCP = 6,
    TTL = 64,
    TCP_WINDOW = 65535,
};

enum { TCP_FIN = 0x01, TCP_SYN = 0x02, TCP_PSH = 0x08, TCP_ACK = 0x10 };

#define FRAME_MAX (ETH_LEN + IP6_LEN + TCP_LEN + IWK_PCAP_SEG_MAX)

struct iwk_pcap {
    pthread_mutex_t lock;     /* guards everything below and the seq[] of every flow using this file */
    pcap_t *dead;             /* pcap_open_dead handle: link type and snaplen for the dumper */
    pcap_dumper_t *dumper;
    uint8_t frame[FRAME_MAX]; /* the packet being built (under lock) */
};

/* ---- byte and checksum helpers ------------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Adds n octets as big-endian 16-bit words (a trailing odd octet padded with zero). */
static uint64_t sum_add(uint64_t acc, const uint8_t *p, size_t n)
{
    size_t i = 0;
    for (; i + 1 < n; i += 2)
        acc += (uint32_t)p[i] << 8 | p[i + 1];
    if (i < n)
        acc += (uint32_t)p[i] << 8;
    return acc;
}

/* The Internet checksum (RFC 1071) of an accumulated sum. */
static uint16_t sum_fold(uint64_t acc)
{
    while (acc >> 16)
        acc = (acc & 0xffffu) + (acc >> 16);
    return (uint16_t)~acc;
}

static int is_v4(const struct iwk_pcap_flow *f)
{
    return f->family == AF_INET;
}

static size_t addr_len(const struct iwk_pcap_flow *f)
{
    return is_v4(f) ? 4 : 16;
}

static size_t header_len(const struct iwk_pcap_flow *f)
{
    return ETH_LEN + (is_v4(f) ? IP4_LEN : IP6_LEN) + TCP_LEN;
}

/* Source and destination of direction dir (0: local -> peer, 1: peer -> local). */
static const uint8_t *src_addr(const struct iwk_pcap_flow *f, int dir)
{
    return dir == 0 ? f->local_addr : f->peer_addr;
}

static const uint8_t *dst_addr(const struct iwk_pcap_flow *f, int dir)
{
    return dir == 0 ? f->peer_addr : f->local_addr;
}

static uint16_t src_port(const struct iwk_pcap_flow *f, int dir)
{
    return dir == 0 ? f->local_port : f->peer_port;
}

static uint16_t dst_port(const struct iwk_pcap_flow *f, int dir)
{
    return dir == 0 ? f->peer_port : f->local_port;
}

/* ---- frame building (under p->lock) ------------------------------------------------------- */

/* Locally administered MACs: our end 02:00:00:00:00:01, the peer 02:00:00:00:00:02. */
static uint8_t *put_eth(uint8_t *b, const struct iwk_pcap_flow *f, int dir)
{
    static const uint8_t mac[2][6] = {{2, 0, 0, 0, 0, 1}, {2, 0, 0, 0, 0, 2}};
    memcpy(b, mac[dir == 0 ? 1 : 0], 6);
    memcpy(b + 6, mac[dir == 0 ? 0 : 1], 6);
    put16(b + 12, is_v4(f) ? ETHERTYPE_IP4 : ETHERTYPE_IP6);
    return b + ETH_LEN;
}

static uint8_t *put_ip4(uint8_t *b, const struct iwk_pcap_flow *f, int dir, size_t tcp_len)
{
    memset(b, 0, IP4_LEN);
    b[0] = 0x45;                                /* version 4, IHL 5 */
    put16(b + 2, (uint16_t)(IP4_LEN + tcp_len)); /* total length */
    put16(b + 6, 0x4000);                       /* DF, fragment offset 0 (identification 0) */
    b[8] = TTL;
    b[9] = PROTO_TCP;
    memcpy(b + 12, src_addr(f, dir), 4);
    memcpy(b + 16, dst_addr(f, dir), 4);
    put16(b + 10, sum_fold(sum_add(0, b, IP4_LEN)));
    return b + IP4_LEN;
}

static uint8_t *put_ip6(uint8_t *b, const struct iwk_pcap_flow *f, int dir, size_t tcp_len)
{
    memset(b, 0, IP6_LEN);
    b[0] = 0x60;                          /* version 6, traffic class 0, flow label 0 */
    put16(b + 4, (uint16_t)tcp_len);      /* payload length */
    b[6] = PROTO_TCP;                     /* next header */
    b[7] = TTL;                           /* hop limit */
    memcpy(b + 8, src_addr(f, dir), 16);
    memcpy(b + 24, dst_addr(f, dir), 16);
    return b + IP6_LEN;
}

/* The pseudo-header sum (RFC 9293 §3.1, RFC 8200 §8.1); the TCP length fits 16 bits here. */
static uint64_t pseudo_sum(const struct iwk_pcap_flow *f, int dir, size_t tcp_len)
{
    uint64_t acc = sum_add(0, src_addr(f, dir), addr_len(f));
    acc = sum_add(acc, dst_addr(f, dir), addr_len(f));
    return acc + PROTO_TCP + tcp_len;
}

/* TCP header at b, payload (plen octets) already in place behind it. */
static void put_tcp(uint8_t *b, const struct iwk_pcap_flow *f, int dir, uint32_t seq, uint32_t ack,
                    uint8_t flags, size_t plen)
{
    memset(b, 0, TCP_LEN);
    put16(b, src_port(f, dir));
    put16(b + 2, dst_port(f, dir));
    put32(b + 4, seq);
    put32(b + 8, (flags & TCP_ACK) ? ack : 0);
    b[12] = 5 << 4; /* data offset 5 words */
    b[13] = flags;
    put16(b + 14, TCP_WINDOW);
    uint64_t acc = pseudo_sum(f, dir, TCP_LEN + plen);
    put16(b + 16, sum_fold(sum_add(acc, b, TCP_LEN + plen)));
}

/* Builds the headers in front of the plen payload octets already at p->frame + header_len(f)
 * and appends the frame to the file. */
static void emit(struct iwk_pcap *p, const struct iwk_pcap_flow *f, int dir, uint32_t seq,
                 uint32_t ack, uint8_t flags, size_t plen)
{
    size_t tcp_len = TCP_LEN + plen;
    uint8_t *b = put_eth(p->frame, f, dir);
    b = is_v4(f) ? put_ip4(b, f, dir, tcp_len) : put_ip6(b, f, dir, tcp_len);
    put_tcp(b, f, dir, seq, ack, flags, plen);

    struct timespec ts = {0, 0};
    (void)clock_gettime(CLOCK_REALTIME, &ts);
    struct pcap_pkthdr h;
    memset(&h, 0, sizeof h);
    h.ts.tv_sec = ts.tv_sec;
    h.ts.tv_usec = (suseconds_t)(ts.tv_nsec / 1000);
    h.caplen = (bpf_u_int32)(header_len(f) + plen);
    h.len = h.caplen;
    pcap_dump((u_char *)p->dumper, &h, p->frame);
}

/* A segment without payload: seq from f->seq[dir], ack f->seq[!dir]. */
static void emit_empty(struct iwk_pcap *p, const struct iwk_pcap_flow *f, int dir, uint8_t flags)
{
    emit(p, f, dir, f->seq[dir], f->seq[!dir], flags, 0);
}

/* ---- gathering from iovecs ------------------------------------------------------------------ */

struct gather {
    const struct iovec *iov;
    int left;   /* iovecs from iov on */
    size_t off; /* octets of iov[0] already taken */
};

/* Octets in iov[0..iovcnt), at most limit. */
static size_t iov_total(const struct iovec *iov, int iovcnt, size_t limit)
{
    size_t n = 0;
    for (int i = 0; i < iovcnt && n < limit; i++)
        n += iov[i].iov_len < limit - n ? iov[i].iov_len : limit - n;
    return n;
}

/* Copies the next n octets (n must be available). */
static void gather_copy(struct gather *g, uint8_t *dst, size_t n)
{
    while (n > 0 && g->left > 0) {
        size_t avail = g->iov->iov_len - g->off;
        size_t k = avail < n ? avail : n;
        if (k > 0)
            memcpy(dst, (const uint8_t *)g->iov->iov_base + g->off, k);
        dst += k;
        n -= k;
        g->off += k;
        if (g->off == g->iov->iov_len) {
            g->iov++;
            g->left--;
            g->off = 0;
        }
    }
}

/* ---- the file -------------------------------------------------------------------------------- */

/* Opens path ourselves (precise errno, O_CLOEXEC, "-" is a file name) and hands the stream to libpcap. */
static int open_stream(const char *path, FILE **out)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    FILE *fp = fdopen(fd, "wb");
    if (fp == NULL) {
        int e = errno;
        close(fd);
        return -e;
    }
    *out = fp;
    return 0;
}

int iwk_pcap_open(const char *path, struct iwk_pcap **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (path == NULL)
        return -EINVAL;
    struct iwk_pcap *p = calloc(1, sizeof *p);
    if (p == NULL)
        return -ENOMEM;
    int rc = pthread_mutex_init(&p->lock, NULL);
    if (rc != 0) {
        free(p);
        return -rc;
    }
    p->dead = pcap_open_dead(DLT_EN10MB, (int)IWK_PCAP_SNAPLEN);
    if (p->dead == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    FILE *fp = NULL;
    rc = open_stream(path, &fp);
    if (rc != 0)
        goto fail;
    errno = 0;
    p->dumper = pcap_dump_fopen(p->dead, fp); /* writes the file header */
    if (p->dumper == NULL) {
        rc = errno != 0 ? -errno : -EIO;
        fclose(fp);
        goto fail;
    }
    *out = p;
    return 0;
fail:
    if (p->dead != NULL)
        pcap_close(p->dead);
    pthread_mutex_destroy(&p->lock);
    free(p);
    return rc;
}

int iwk_pcap_flush(struct iwk_pcap *p)
{
    if (p == NULL)
        return 0;
    if (pthread_mutex_lock(&p->lock) != 0)
        return -EDEADLK;
    errno = 0;
    int rc = 0;
    if (pcap_dump_flush(p->dumper) != 0 || ferror(pcap_dump_file(p->dumper)))
        rc = errno != 0 ? -errno : -EIO;
    pthread_mutex_unlock(&p->lock);
    return rc;
}

void iwk_pcap_close(struct iwk_pcap *p)
{
    if (p == NULL)
        return;
    pcap_dump_close(p->dumper); /* fflush + fclose */
    pcap_close(p->dead);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* ---- flows ----------------------------------------------------------------------------------- */

/* Copies one socket address into addr/port; IPv4-mapped IPv6 addresses become IPv4. */
static int endpoint(const struct sockaddr_storage *ss, uint8_t *family, uint8_t addr[16], uint16_t *port)
{
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    memset(addr, 0, 16);
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        memcpy(addr, &s4->sin_addr, 4);
        *port = ntohs(s4->sin_port);
        *family = AF_INET;
        return 0;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        const uint8_t *a = s6->sin6_addr.s6_addr;
        int mapped = memcmp(a, v4mapped, sizeof v4mapped) == 0;
        memcpy(addr, mapped ? a + 12 : a, mapped ? 4 : 16);
        *port = ntohs(s6->sin6_port);
        *family = mapped ? AF_INET : AF_INET6;
        return 0;
    }
    return -EAFNOSUPPORT;
}

static int socket_is_tcp(int fd)
{
#ifdef SO_PROTOCOL
    int proto = 0;
    socklen_t len = sizeof proto;
    if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) != 0)
        return -errno;
    return proto == IPPROTO_TCP ? 0 : -EPROTOTYPE;
#else
    int type = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0)
        return -errno;
    return type == SOCK_STREAM ? 0 : -EPROTOTYPE;
#endif
}

static int read_endpoints(int fd, struct iwk_pcap_flow *f)
{
    struct sockaddr_storage local, peer;
    socklen_t llen = sizeof local, plen = sizeof peer;
    memset(&local, 0, sizeof local);
    memset(&peer, 0, sizeof peer);
    if (getsockname(fd, (struct sockaddr *)&local, &llen) != 0)
        return -errno;
    if (getpeername(fd, (struct sockaddr *)&peer, &plen) != 0)
        return -errno;
    uint8_t lfam = 0, pfam = 0;
    int rc = endpoint(&local, &lfam, f->local_addr, &f->local_port);
    if (rc == 0)
        rc = endpoint(&peer, &pfam, f->peer_addr, &f->peer_port);
    if (rc == 0 && lfam != pfam)
        rc = -EAFNOSUPPORT; /* one side mapped, the other not: cannot happen on a connected socket */
    f->family = lfam;
    return rc;
}

/* Initial sequence number of direction dir: FNV-1a of its source and destination. */
static uint32_t isn(const struct iwk_pcap_flow *f, int dir)
{
    uint8_t key[36];
    size_t n = addr_len(f);
    memcpy(key, src_addr(f, dir), n);
    put16(key + n, src_port(f, dir));
    memcpy(key + n + 2, dst_addr(f, dir), n);
    put16(key + 2 * n + 2, dst_port(f, dir));
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < 2 * n + 4; i++)
        h = (h ^ key[i]) * 16777619u;
    return h;
}

/* SYN from `opener`, SYN-ACK back, ACK; leaves f->seq[] at the first data octet. */
static void emit_handshake(struct iwk_pcap *p, struct iwk_pcap_flow *f, int opener)
{
    int other = !opener;
    emit_empty(p, f, opener, TCP_SYN);
    f->seq[opener]++;
    emit_empty(p, f, other, TCP_SYN | TCP_ACK);
    f->seq[other]++;
    emit_empty(p, f, opener, TCP_ACK);
}

int iwk_pcap_flow_start(struct iwk_pcap *p, struct iwk_pcap_flow *f, int fd, int active)
{
    if (f == NULL)
        return -EINVAL;
    memset(f, 0, sizeof *f);
    if (p == NULL)
        return 0;
    int rc = socket_is_tcp(fd);
    if (rc == 0)
        rc = read_endpoints(fd, f);
    if (rc != 0) {
        memset(f, 0, sizeof *f);
        return rc;
    }
    f->seq[0] = isn(f, 0);
    f->seq[1] = isn(f, 1);
    if (pthread_mutex_lock(&p->lock) != 0) {
        memset(f, 0, sizeof *f);
        return -EDEADLK;
    }
    emit_handshake(p, f, active ? 0 : 1);
    pthread_mutex_unlock(&p->lock);
    f->pcap = p;
    return 0;
}

static int flow_usable(const struct iwk_pcap_flow *f, int dir)
{
    return f != NULL && f->pcap != NULL && (dir == 0 || dir == 1);
}

/* Emits `len` octets of iov as segments of direction `dir`; p->lock held. */
static void flow_emit(struct iwk_pcap_flow *f, int dir, const struct iovec *iov, int iovcnt, size_t len)
{
    struct iwk_pcap *p = f->pcap;
    struct gather g = {iov, iovcnt, 0};
    uint8_t *payload = p->frame + header_len(f);
    while (len > 0) {
        size_t n = len < IWK_PCAP_SEG_MAX ? len : IWK_PCAP_SEG_MAX;
        gather_copy(&g, payload, n);
        emit(p, f, dir, f->seq[dir], f->seq[!dir], TCP_PSH | TCP_ACK, n);
        f->seq[dir] += (uint32_t)n;
        len -= n;
    }
}

void iwk_pcap_flow_data(struct iwk_pcap_flow *f, int dir, const struct iovec *iov, int iovcnt, size_t len)
{
    if (!flow_usable(f, dir) || iov == NULL || iovcnt <= 0)
        return;
    len = iov_total(iov, iovcnt, len);
    if (len == 0)
        return;
    if (pthread_mutex_lock(&f->pcap->lock) != 0)
        return;
    flow_emit(f, dir, iov, iovcnt, len);
    pthread_mutex_unlock(&f->pcap->lock);
}

ssize_t iwk_pcap_sendmsg(struct iwk_pcap_flow *f, int fd, const struct msghdr *mh, int flags)
{
    if (!flow_usable(f, 0))
        return sendmsg(fd, mh, flags);
    if (pthread_mutex_lock(&f->pcap->lock) != 0)
        return sendmsg(fd, mh, flags);
    ssize_t w = sendmsg(fd, mh, flags);
    int e = errno;
    if (w > 0)
        flow_emit(f, 0, mh->msg_iov, (int)mh->msg_iovlen, iov_total(mh->msg_iov, (int)mh->msg_iovlen, (size_t)w));
    pthread_mutex_unlock(&f->pcap->lock);
    errno = e;
    return w;
}

void iwk_pcap_flow_fin(struct iwk_pcap_flow *f, int dir)
{
    if (!flow_usable(f, dir))
        return;
    struct iwk_pcap *p = f->pcap;
    if (pthread_mutex_lock(&p->lock) != 0)
        return;
    emit_empty(p, f, dir, TCP_FIN | TCP_ACK);
    f->seq[dir]++;
    pthread_mutex_unlock(&p->lock);
}

/* ---- receive-side coalescing ---------------------------------------------------------------- */

void iwk_pcap_rx_flush(struct iwk_pcap_rxrec *r)
{
    if (r->len == 0 || r->flow == NULL)
        return;
    struct iovec v = { .iov_base = r->buf, .iov_len = r->len };
    iwk_pcap_flow_data(r->flow, 1, &v, 1, r->len);
    r->len = 0;
}

void iwk_pcap_rx_append(struct iwk_pcap_rxrec *r, const struct iovec *iov, int iovcnt, size_t len)
{
    if (r->flow == NULL || r->flow->pcap == NULL || iov == NULL)
        return;
    if (r->buf == NULL) {
        r->buf = malloc(IWK_PCAP_SEG_MAX);
        if (r->buf == NULL)
            return;
        r->cap = IWK_PCAP_SEG_MAX;
    }
    for (int i = 0; i < iovcnt && len > 0; i++) {
        const uint8_t *p = iov[i].iov_base;
        size_t k = iov[i].iov_len < len ? iov[i].iov_len : len;
        len -= k;
        while (k > 0) {
            size_t room = r->cap - r->len;
            size_t n = k < room ? k : room;
            memcpy(r->buf + r->len, p, n);
            r->len += n;
            p += n;
            k -= n;
            if (r->len == r->cap)
                iwk_pcap_rx_flush(r);
        }
    }
}

void iwk_pcap_rx_free(struct iwk_pcap_rxrec *r)
{
    iwk_pcap_rx_flush(r);
    free(r->buf);
    r->buf = NULL;
    r->cap = r->len = 0;
}
