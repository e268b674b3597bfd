/* test_pcap_rec.c - unit tests of the runtime's pcap recorder (runtime/pcap_rec.c; hand-written, not generated).
 *
 * Real loopback TCP connections (IPv4, IPv6, IPv4-mapped IPv6) are recorded, the file is read
 * back with libpcap and every frame is decoded here independently of the recorder: link type,
 * packet count, Ethernet/IP/TCP header fields, the IPv4 header and TCP checksums (a correct
 * checksum makes the one's-complement sum over the covered octets 0xffff), sequence and
 * acknowledgement numbers per direction, and the payload against the bytes that were sent.
 * When tshark is on PATH, it must report no bad checksum, malformed packet or expert warning;
 * when $IWDUMP names the iwdump executable, it must decode a recorded MPA Request/Reply.
 *
 * Build by hand (from the repository root):
 *   gcc -std=c11 -Wall -Wextra -Werror -D_DEFAULT_SOURCE -g -fsanitize=address,undefined \
 *       -Iruntime tests/test_pcap_rec.c runtime/pcap_rec.c -lcmocka -lpcap -lpthread -o test_pcap_rec
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pcap_rec.h"

enum { F_FIN = 0x01, F_SYN = 0x02, F_PSH = 0x08, F_ACK = 0x10 };

/* ---- temporary files ---------------------------------------------------------------------- */

struct tmpfile {
    char path[512];
};

static void tmp_make(struct tmpfile *t)
{
    const char *dir = getenv("TMPDIR");
    if (dir == NULL || dir[0] == '\0')
        dir = "/tmp";
    int n = snprintf(t->path, sizeof t->path, "%s/iwk_pcap_rec_XXXXXX.pcap", dir);
    assert_true(n > 0 && (size_t)n < sizeof t->path);
    int fd = mkstemps(t->path, 5);
    assert_true(fd >= 0);
    close(fd);
}

/* IWK_TEST_KEEP_PCAP=1 keeps the files for inspection. */
static void tmp_drop(struct tmpfile *t)
{
    const char *keep = getenv("IWK_TEST_KEEP_PCAP");
    if (keep != NULL && keep[0] == '1')
        fprintf(stderr, "kept %s\n", t->path);
    else
        unlink(t->path);
}

/* ---- loopback connections ----------------------------------------------------------------- */

struct conn {
    int client, server; /* client: the active opener */
};

static void conn_close(struct conn *c)
{
    close(c->client);
    close(c->server);
}

/* Listens on listen_addr port 0, connects a socket of family cfam to connect_addr (the listener's
 * port filled in), accepts.  Returns 0, or -1 when the family is unavailable (test skipped). */
static int conn_open(int lfam, const void *listen_addr, int cfam, const void *connect_addr, struct conn *c)
{
    struct sockaddr_storage la, ca;
    socklen_t llen = lfam == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    socklen_t clen = cfam == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    memset(&la, 0, sizeof la);
    memset(&ca, 0, sizeof ca);
    memcpy(&la, listen_addr, llen);
    memcpy(&ca, connect_addr, clen);
    int l = socket(lfam, SOCK_STREAM, 0);
    if (l < 0)
        return -1;
    if (bind(l, (struct sockaddr *)&la, llen) != 0 || listen(l, 1) != 0) {
        close(l);
        return -1;
    }
    assert_int_equal(getsockname(l, (struct sockaddr *)&la, &llen), 0);
    uint16_t port = lfam == AF_INET ? ((struct sockaddr_in *)&la)->sin_port : ((struct sockaddr_in6 *)&la)->sin6_port;
    if (cfam == AF_INET)
        ((struct sockaddr_in *)&ca)->sin_port = port;
    else
        ((struct sockaddr_in6 *)&ca)->sin6_port = port;
    c->client = socket(cfam, SOCK_STREAM, 0);
    assert_true(c->client >= 0);
    if (connect(c->client, (struct sockaddr *)&ca, clen) != 0) {
        close(c->client);
        close(l);
        return -1;
    }
    c->server = accept(l, NULL, NULL);
    assert_true(c->server >= 0);
    close(l);
    return 0;
}

static void conn_open4(struct conn *c)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(conn_open(AF_INET, &a, AF_INET, &a, c), 0);
}

/* ---- moving bytes over the connection ------------------------------------------------------- */

struct reader {
    int fd;
    uint8_t *buf;
    size_t len;
    size_t got;
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    while (r->got < r->len) {
        ssize_t n = read(r->fd, r->buf + r->got, r->len - r->got);
        if (n <= 0)
            break;
        r->got += (size_t)n;
    }
    return NULL;
}

/* Sends iov[0..cnt) from `from` (writev, then write for whatever a short writev left) while a
 * thread reads it at `to`; checks the bytes arrived intact and returns their number. */
static size_t xfer(int from, int to, const struct iovec *iov, int cnt)
{
    size_t total = 0;
    for (int i = 0; i < cnt; i++)
        total += iov[i].iov_len;
    uint8_t *tx = malloc(total + 1), *rx = malloc(total + 1);
    assert_non_null(tx);
    assert_non_null(rx);
    for (int i = 0, off = 0; i < cnt; off += (int)iov[i].iov_len, i++)
        memcpy(tx + off, iov[i].iov_base, iov[i].iov_len);
    struct reader r = {to, rx, total, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, reader_main, &r), 0);
    ssize_t w = writev(from, iov, cnt);
    assert_true(w > 0);
    for (size_t sent = (size_t)w; sent < total; sent += (size_t)w) {
        w = write(from, tx + sent, total - sent);
        assert_true(w > 0);
    }
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(r.got, total);
    assert_memory_equal(rx, tx, total);
    free(tx);
    free(rx);
    return total;
}

/* ---- expected streams -------------------------------------------------------------------------- */

struct stream {
    uint8_t *b;
    size_t len, cap;
};

/* Appends the first n octets gathered from iov (what the recorder should have recorded). */
static void stream_add(struct stream *s, const struct iovec *iov, int cnt, size_t n)
{
    if (s->len + n > s->cap) {
        s->cap = (s->len + n) * 2;
        s->b = realloc(s->b, s->cap);
        assert_non_null(s->b);
    }
    for (int i = 0; i < cnt && n > 0; i++) {
        size_t k = iov[i].iov_len < n ? iov[i].iov_len : n;
        memcpy(s->b + s->len, iov[i].iov_base, k);
        s->len += k;
        n -= k;
    }
}

/* Deterministic test bytes. */
static void fill(uint8_t *b, size_t n, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b[i] = (uint8_t)x;
    }
}

/* ---- reading the file back -------------------------------------------------------------------- */

struct pkt {
    int family;
    uint8_t src[16], dst[16];
    uint8_t smac[6], dmac[6];
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint8_t *payload;
    size_t plen;
};

struct capture {
    struct pkt *p;
    size_t n;
};

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* One's-complement sum of 16-bit big-endian words, folded (not inverted). */
static uint32_t ocsum(uint32_t acc, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        acc += (i & 1) ? p[i] : (uint32_t)p[i] << 8;
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
    return acc;
}

static uint32_t ocsum16(uint32_t acc, uint32_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    return ocsum(acc, b, 2);
}

/* Decodes the IP and TCP layers of one frame into *k, asserting every header rule. */
static void decode_ip_tcp(const uint8_t *d, size_t len, struct pkt *k)
{
    size_t ip_len, alen;
    uint32_t pseudo;
    if (k->family == AF_INET) {
        assert_true(len >= 20);
        assert_int_equal(d[0], 0x45);
        assert_int_equal(be16(d + 2), len);        /* total length = the rest of the frame */
        assert_int_equal(d[9], 6);
        assert_int_equal(ocsum(0, d, 20), 0xffff); /* header checksum */
        memcpy(k->src, d + 12, 4);
        memcpy(k->dst, d + 16, 4);
        ip_len = 20;
        alen = 4;
    } else {
        assert_true(len >= 40);
        assert_int_equal(d[0] >> 4, 6);
        assert_int_equal(be16(d + 4), len - 40);   /* payload length */
        assert_int_equal(d[6], 6);
        memcpy(k->src, d + 8, 16);
        memcpy(k->dst, d + 24, 16);
        ip_len = 40;
        alen = 16;
    }
    const uint8_t *t = d + ip_len;
    size_t tcp_len = len - ip_len;
    assert_true(tcp_len >= 20);
    pseudo = ocsum(ocsum(0, k->src, alen), k->dst, alen);
    pseudo = ocsum16(ocsum16(pseudo, 6), (uint32_t)tcp_len);
    assert_int_equal(ocsum(pseudo, t, tcp_len), 0xffff); /* TCP checksum */
    assert_int_equal(t[12], 5 << 4);                     /* data offset 5, no options */
    assert_int_equal(be16(t + 14), 65535);
    k->sport = be16(t);
    k->dport = be16(t + 2);
    k->seq = be32(t + 4);
    k->ack = be32(t + 8);
    k->flags = t[13];
    k->plen = tcp_len - 20;
    assert_true(k->plen <= IWK_PCAP_SEG_MAX);
    k->payload = malloc(k->plen + 1);
    assert_non_null(k->payload);
    memcpy(k->payload, t + 20, k->plen);
}

static void decode_frame(const struct pcap_pkthdr *h, const uint8_t *d, struct pkt *k)
{
    memset(k, 0, sizeof *k);
    assert_int_equal(h->caplen, h->len);
    assert_true(h->caplen >= 14);
    assert_true(h->ts.tv_sec > 0);
    memcpy(k->dmac, d, 6);
    memcpy(k->smac, d + 6, 6);
    uint16_t et = be16(d + 12);
    assert_true(et == 0x0800 || et == 0x86dd);
    k->family = et == 0x0800 ? AF_INET : AF_INET6;
    decode_ip_tcp(d + 14, h->caplen - 14, k);
}

static void capture_load(const char *path, struct capture *c)
{
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *pc = pcap_open_offline(path, err);
    if (pc == NULL)
        fail_msg("pcap_open_offline(%s): %s", path, err);
    assert_int_equal(pcap_datalink(pc), DLT_EN10MB);
    assert_int_equal(pcap_snapshot(pc), IWK_PCAP_SNAPLEN);
    memset(c, 0, sizeof *c);
    size_t cap = 0;
    struct pcap_pkthdr *h;
    const u_char *d;
    int rc;
    while ((rc = pcap_next_ex(pc, &h, &d)) == 1) {
        if (c->n == cap) {
            cap = cap ? cap * 2 : 64;
            c->p = realloc(c->p, cap * sizeof *c->p);
            assert_non_null(c->p);
        }
        decode_frame(h, d, &c->p[c->n++]);
    }
    assert_int_equal(rc, PCAP_ERROR_BREAK); /* end of file, not an error */
    pcap_close(pc);
}

static void capture_free(struct capture *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->p[i].payload);
    free(c->p);
}

/* ---- checking one flow in a capture --------------------------------------------------------- */

/* Direction of k in flow f: 0 local -> peer, 1 peer -> local, -1 another flow. */
static int pkt_dir(const struct iwk_pcap_flow *f, const struct pkt *k)
{
    size_t alen = f->family == AF_INET ? 4 : 16;
    if (k->family != f->family)
        return -1;
    if (k->sport == f->local_port && k->dport == f->peer_port &&
        memcmp(k->src, f->local_addr, alen) == 0 && memcmp(k->dst, f->peer_addr, alen) == 0)
        return 0;
    if (k->sport == f->peer_port && k->dport == f->local_port &&
        memcmp(k->src, f->peer_addr, alen) == 0 && memcmp(k->dst, f->local_addr, alen) == 0)
        return 1;
    return -1;
}

struct expect {
    const struct stream *s[2]; /* expected bytes per direction */
    int fins[2];               /* FINs per direction */
    size_t packets;            /* this flow's packets */
};

/* The first three packets of the flow: SYN, SYN-ACK, ACK with the opener's and the other's ISN. */
static void check_handshake(const struct pkt *k[3], const int dir[3], int opener, uint32_t next[2])
{
    int other = !opener;
    assert_int_equal(dir[0], opener);
    assert_int_equal(k[0]->flags, F_SYN);
    assert_int_equal(k[0]->ack, 0);
    assert_int_equal(dir[1], other);
    assert_int_equal(k[1]->flags, F_SYN | F_ACK);
    assert_int_equal(k[1]->ack, k[0]->seq + 1);
    assert_int_equal(dir[2], opener);
    assert_int_equal(k[2]->flags, F_ACK);
    assert_int_equal(k[2]->seq, k[0]->seq + 1);
    assert_int_equal(k[2]->ack, k[1]->seq + 1);
    next[opener] = k[0]->seq + 1;
    next[other] = k[1]->seq + 1;
}

static void check_flow(const struct capture *c, const struct iwk_pcap_flow *f, int opener, const struct expect *e)
{
    const struct pkt *hs[3];
    int hsdir[3];
    size_t nhs = 0, count = 0, got[2] = {0, 0};
    int fins[2] = {0, 0};
    uint32_t next[2] = {0, 0};
    for (size_t i = 0; i < c->n; i++) {
        const struct pkt *k = &c->p[i];
        int d = pkt_dir(f, k);
        if (d < 0)
            continue;
        count++;
        assert_int_equal(k->smac[5], d == 0 ? 1 : 2);
        assert_int_equal(k->dmac[5], d == 0 ? 2 : 1);
        if (nhs < 3) {
            hs[nhs] = k;
            hsdir[nhs++] = d;
            if (nhs == 3)
                check_handshake(hs, hsdir, opener, next);
            continue;
        }
        assert_int_equal(fins[d], 0);          /* nothing after our FIN */
        assert_int_equal(k->seq, next[d]);     /* contiguous */
        assert_int_equal(k->ack, next[!d]);    /* acknowledges everything recorded before */
        assert_true(k->flags == (F_PSH | F_ACK) || k->flags == (F_FIN | F_ACK));
        if (k->flags & F_FIN) {
            assert_int_equal(k->plen, 0);
            fins[d]++;
            next[d]++;
            continue;
        }
        assert_true(k->plen > 0);
        assert_true(got[d] + k->plen <= e->s[d]->len);
        assert_memory_equal(k->payload, e->s[d]->b + got[d], k->plen);
        got[d] += k->plen;
        next[d] += (uint32_t)k->plen;
    }
    assert_int_equal(count, e->packets);
    for (int d = 0; d < 2; d++) {
        assert_int_equal(got[d], e->s[d]->len);
        assert_int_equal(fins[d], e->fins[d]);
        assert_int_equal(next[d], f->seq[d]); /* the flow's counters agree with the file */
    }
}

/* ---- external decoders ------------------------------------------------------------------------ */

/* Runs cmd through the shell; returns its exit status and the number of stdout lines (with
 * echo, the first lines are copied to stderr for the log). */
static int run_count(const char *cmd, size_t *lines, int echo)
{
    FILE *fp = popen(cmd, "r");
    assert_non_null(fp);
    char line[1024];
    *lines = 0;
    while (fgets(line, sizeof line, fp) != NULL) {
        if ((*lines)++ < 20 && echo)
            fprintf(stderr, "  | %s", line);
    }
    int st = pclose(fp);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int have_program(const char *name)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

/* tshark (checksum validation on) must flag nothing, and must see `packets` TCP packets whose
 * checksums it verified as good.  Skipped when tshark is missing. */
static void tshark_check(const char *path, size_t packets)
{
    if (!have_program("tshark")) {
        fprintf(stderr, "tshark not on PATH: tshark check skipped\n");
        return;
    }
    static const char opts[] = "-n -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE";
    /* Wireshark 4 checksum status: 0 bad, 1 good, 2 unverified. */
    static const char bad[] = "tcp.checksum.status != 1 || ip.checksum.status != 1 || _ws.malformed"
                              " || _ws.expert.severity >= warning";
    static const char good[] = "tcp.checksum.status == 1 && (ipv6 || ip.checksum.status == 1)";
    char cmd[1024];
    size_t n;
    snprintf(cmd, sizeof cmd, "tshark -r '%s' %s -Y '%s' 2>/dev/null", path, opts, bad);
    assert_int_equal(run_count(cmd, &n, 1), 0);
    assert_int_equal(n, 0);
    snprintf(cmd, sizeof cmd, "tshark -r '%s' %s -Y '%s' 2>/dev/null", path, opts, good);
    assert_int_equal(run_count(cmd, &n, 0), 0);
    assert_int_equal(n, packets);
}

/* ---- tests ------------------------------------------------------------------------------------ */

static const uint8_t loop4[4] = {127, 0, 0, 1};

/* The brief's scenario: IPv4, handshake, data both ways (one write > 65000 octets over several
 * iovecs, a short write), FIN both ways; then everything checked from the file. */
static void test_ipv4_active(void **state)
{
    (void)state;
    struct tmpfile tf;
    tmp_make(&tf);
    struct iwk_pcap *p = NULL;
    assert_int_equal(iwk_pcap_open(tf.path, &p), 0);
    assert_non_null(p);
    struct conn c;
    conn_open4(&c);
    struct iwk_pcap_flow f;
    assert_int_equal(iwk_pcap_flow_start(p, &f, c.client, 1), 0);
    assert_ptr_equal(f.pcap, p);
    assert_int_equal(f.family, AF_INET);
    assert_memory_equal(f.local_addr, loop4, 4);
    assert_memory_equal(f.peer_addr, loop4, 4);
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    assert_int_equal(getsockname(c.client, (struct sockaddr *)&sa, &sl), 0);
    assert_int_equal(f.local_port, ntohs(sa.sin_port));
    assert_int_equal(getsockname(c.server, (struct sockaddr *)&sa, &sl), 0);
    assert_int_equal(f.peer_port, ntohs(sa.sin_port));

    struct stream s[2] = {{0}, {0}};
    size_t big = 3 * IWK_PCAP_SEG_MAX + 5001; /* 4 segments */
    uint8_t *buf = malloc(big);
    assert_non_null(buf);
    fill(buf, big, 1);

    /* 17 octets sent (odd length: the checksum's padding). */
    struct iovec v1 = {buf, 17};
    size_t n = xfer(c.client, c.server, &v1, 1);
    iwk_pcap_flow_data(&f, 0, &v1, 1, n);
    stream_add(&s[0], &v1, 1, n);
    /* 1000 octets received. */
    struct iovec v2 = {buf + 100, 1000};
    n = xfer(c.server, c.client, &v2, 1);
    iwk_pcap_flow_data(&f, 1, &v2, 1, n);
    stream_add(&s[1], &v2, 1, n);
    /* big sent over four iovecs, one empty, segment boundaries inside iovecs. */
    struct iovec v3[4] = {{buf, 70001}, {buf + 70001, 0}, {buf + 70001, 3}, {buf + 70004, big - 70004}};
    n = xfer(c.client, c.server, v3, 4);
    assert_int_equal(n, big);
    iwk_pcap_flow_data(&f, 0, v3, 4, n);
    stream_add(&s[0], v3, 4, n);
    /* a len shorter than the iovecs: only len octets are recorded. */
    struct iovec v4[2] = {{buf + 7, 100}, {buf + 300, 200}};
    iwk_pcap_flow_data(&f, 1, v4, 2, 123);
    stream_add(&s[1], v4, 2, 123);
    /* a len longer than the iovecs: clamped to what they hold. */
    struct iovec v5 = {buf + 9, 10};
    iwk_pcap_flow_data(&f, 1, &v5, 1, 1000);
    stream_add(&s[1], &v5, 1, 10);
    /* no-ops: nothing recorded, nothing consumed */
    uint32_t before[2] = {f.seq[0], f.seq[1]};
    iwk_pcap_flow_data(&f, 0, &v5, 1, 0);
    iwk_pcap_flow_data(&f, 2, &v5, 1, 10);
    iwk_pcap_flow_data(&f, 0, NULL, 1, 10);
    iwk_pcap_flow_data(&f, 0, &v5, 0, 10);
    iwk_pcap_flow_fin(&f, -1);
    assert_int_equal(f.seq[0], before[0]);
    assert_int_equal(f.seq[1], before[1]);

    assert_int_equal(shutdown(c.client, SHUT_WR), 0);
    iwk_pcap_flow_fin(&f, 0);
    assert_int_equal(shutdown(c.server, SHUT_WR), 0);
    uint8_t eof;
    assert_int_equal(read(c.client, &eof, 1), 0);
    iwk_pcap_flow_fin(&f, 1);
    assert_int_equal(iwk_pcap_flush(p), 0);
    iwk_pcap_close(p);
    conn_close(&c);

    struct capture cap;
    capture_load(tf.path, &cap);
    /* handshake, 17, 1000, 65000 x 3 + 5001, 123, 10, FIN x 2 */
    assert_int_equal(cap.n, 3 + 1 + 1 + 4 + 1 + 1 + 2);
    for (size_t i = 0; i < cap.n; i++)
        assert_int_equal(cap.p[i].family, AF_INET);
    for (size_t i = 5; i < 8; i++)
        assert_int_equal(cap.p[i].plen, IWK_PCAP_SEG_MAX);
    assert_int_equal(cap.p[8].plen, 5001);
    struct expect e = {{&s[0], &s[1]}, {1, 1}, cap.n};
    check_flow(&cap, &f, 0, &e);
    tshark_check(tf.path, cap.n);
    capture_free(&cap);
    tmp_drop(&tf);
    free(s[0].b);
    free(s[1].b);
    free(buf);
}

/* The accepting side: the SYN comes from the peer. */
static void test_ipv4_passive(void **state)
{
    (void)state;
    struct tmpfile tf;
    tmp_make(&tf);
    struct iwk_pcap *p = NULL;
    assert_int_equal(iwk_pcap_open(tf.path, &p), 0);
    struct conn c;
    conn_open4(&c);
    struct iwk_pcap_flow f;
    assert_int_equal(iwk_pcap_flow_start(p, &f, c.server, 0), 0);
    uint8_t msg[64];
    fill(msg, sizeof msg, 2);
    struct iovec v = {msg, sizeof msg};
    struct stream s[2] = {{0}, {0}};
    iwk_pcap_flow_data(&f, 1, &v, 1, 40);
    stream_add(&s[1], &v, 1, 40);
    iwk_pcap_flow_data(&f, 0, &v, 1, 64);
    stream_add(&s[0], &v, 1, 64);
    iwk_pcap_flow_fin(&f, 1);
    iwk_pcap_flow_fin(&f, 0);
    iwk_pcap_close(p);

    struct capture cap;
    capture_load(tf.path, &cap);
    assert_int_equal(cap.n, 3 + 2 + 2);
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    assert_int_equal(getsockname(c.client, (struct sockaddr *)&sa, &sl), 0);
    assert_int_equal(cap.p[0].sport, ntohs(sa.sin_port)); /* SYN from the client */
    struct expect e = {{&s[0], &s[1]}, {1, 1}, 7};
    check_flow(&cap, &f, 1, &e);
    tshark_check(tf.path, cap.n);
    capture_free(&cap);
    conn_close(&c);
    tmp_drop(&tf);
    free(s[0].b);
    free(s[1].b);
}

/* Records a short exchange on a connected client socket into a fresh file and checks it. */
static void record_small(struct conn *c, int family, const uint8_t *addr)
{
    struct tmpfile tf;
    tmp_make(&tf);
    struct iwk_pcap *p = NULL;
    assert_int_equal(iwk_pcap_open(tf.path, &p), 0);
    struct iwk_pcap_flow f;
    assert_int_equal(iwk_pcap_flow_start(p, &f, c->client, 1), 0);
    assert_int_equal(f.family, family);
    size_t alen = family == AF_INET ? 4 : 16;
    assert_memory_equal(f.local_addr, addr, alen);
    assert_memory_equal(f.peer_addr, addr, alen);
    size_t big = IWK_PCAP_SEG_MAX + 3;
    uint8_t *buf = malloc(big);
    assert_non_null(buf);
    fill(buf, big, 3);
    struct iovec v[2] = {{buf, 5}, {buf + 5, big - 5}};
    struct stream s[2] = {{0}, {0}};
    iwk_pcap_flow_data(&f, 0, v, 2, big);
    stream_add(&s[0], v, 2, big);
    iwk_pcap_flow_data(&f, 1, v, 1, 5);
    stream_add(&s[1], v, 1, 5);
    iwk_pcap_flow_fin(&f, 0);
    iwk_pcap_flow_fin(&f, 1);
    iwk_pcap_close(p);

    struct capture cap;
    capture_load(tf.path, &cap);
    assert_int_equal(cap.n, 3 + 2 + 1 + 2);
    for (size_t i = 0; i < cap.n; i++)
        assert_int_equal(cap.p[i].family, family);
    struct expect e = {{&s[0], &s[1]}, {1, 1}, cap.n};
    check_flow(&cap, &f, 0, &e);
    tshark_check(tf.path, cap.n);
    capture_free(&cap);
    tmp_drop(&tf);
    free(s[0].b);
    free(s[1].b);
    free(buf);
}

static void test_ipv6(void **state)
{
    (void)state;
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    struct conn c;
    if (conn_open(AF_INET6, &a, AF_INET6, &a, &c) != 0) {
        fprintf(stderr, "no IPv6 loopback: skipped\n");
        skip();
    }
    record_small(&c, AF_INET6, a.sin6_addr.s6_addr);
    conn_close(&c);
}

/* An AF_INET6 socket connected to ::ffff:127.0.0.1 is recorded as IPv4. */
static void test_v4_mapped(void **state)
{
    (void)state;
    struct sockaddr_in l = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct sockaddr_in6 m = {.sin6_family = AF_INET6};
    static const uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
    memcpy(m.sin6_addr.s6_addr, mapped, 16);
    struct conn c;
    if (conn_open(AF_INET, &l, AF_INET6, &m, &c) != 0) {
        fprintf(stderr, "no IPv4-mapped IPv6: skipped\n");
        skip();
    }
    struct sockaddr_in6 sn;
    socklen_t sl = sizeof sn;
    assert_int_equal(getsockname(c.client, (struct sockaddr *)&sn, &sl), 0);
    assert_int_equal(sn.sin6_family, AF_INET6); /* the kernel really reports a mapped address */
    assert_memory_equal(sn.sin6_addr.s6_addr, mapped, 16);
    record_small(&c, AF_INET, loop4);
    conn_close(&c);
}

/* Recording off, bad arguments and sockets: clean errors, no packets, no crash. */
static void test_off_and_errors(void **state)
{
    (void)state;
    struct iwk_pcap *p = (struct iwk_pcap *)&p;
    assert_int_equal(iwk_pcap_open("/nonexistent-dir/x.pcap", &p), -ENOENT);
    assert_null(p);
    assert_int_equal(iwk_pcap_open(NULL, &p), -EINVAL);
    assert_int_equal(iwk_pcap_open("x", NULL), -EINVAL);
    iwk_pcap_close(NULL);
    assert_int_equal(iwk_pcap_flush(NULL), 0);

    struct conn c;
    conn_open4(&c);
    struct iwk_pcap_flow f;
    memset(&f, 0xa5, sizeof f);
    assert_int_equal(iwk_pcap_flow_start(NULL, &f, c.client, 1), 0); /* recording off */
    assert_null(f.pcap);
    struct iovec v = {"abc", 3};
    iwk_pcap_flow_data(&f, 0, &v, 1, 3);
    iwk_pcap_flow_fin(&f, 0);
    iwk_pcap_flow_data(NULL, 0, &v, 1, 3);
    iwk_pcap_flow_fin(NULL, 1);
    assert_int_equal(f.seq[0], 0);

    struct tmpfile tf;
    tmp_make(&tf);
    assert_int_equal(iwk_pcap_open(tf.path, &p), 0);
    assert_int_equal(iwk_pcap_flow_start(p, NULL, c.client, 1), -EINVAL);
    assert_int_equal(iwk_pcap_flow_start(p, &f, -1, 1), -EBADF);
    assert_null(f.pcap);
    int udp = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(udp >= 0);
    assert_int_equal(iwk_pcap_flow_start(p, &f, udp, 1), -EPROTOTYPE);
    close(udp);
    int tcp = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(tcp >= 0);
    assert_int_equal(iwk_pcap_flow_start(p, &f, tcp, 1), -ENOTCONN);
    close(tcp);
    int sp[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    int rc = iwk_pcap_flow_start(p, &f, sp[0], 1);
    assert_true(rc == -EPROTOTYPE || rc == -EAFNOSUPPORT);
    close(sp[0]);
    close(sp[1]);
    assert_null(f.pcap);
    iwk_pcap_flow_data(&f, 0, &v, 1, 3); /* after a failed start: no-op */
    assert_int_equal(iwk_pcap_flush(p), 0);
    iwk_pcap_close(p);
    conn_close(&c);

    struct capture cap;
    capture_load(tf.path, &cap);
    assert_int_equal(cap.n, 0);
    capture_free(&cap);
    tmp_drop(&tf);
}

/* Two connections, four threads (each flow's two directions recorded concurrently) into one file. */
enum { THREAD_MSGS = 400 };

struct worker {
    pthread_barrier_t *go;
    struct iwk_pcap_flow *f;
    int dir;
    uint32_t seed;
    struct stream s;
};

static size_t msg_len(uint32_t seed, int i)
{
    if (i % 50 == 49)
        return IWK_PCAP_SEG_MAX + 1000 + (size_t)i; /* split in two */
    return 1 + (seed * 7919u + (uint32_t)i * 104729u) % 3000u;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    uint8_t *buf = malloc(IWK_PCAP_SEG_MAX + 2000);
    pthread_barrier_wait(w->go);
    if (buf == NULL)
        return NULL;
    for (int i = 0; i < THREAD_MSGS; i++) {
        size_t n = msg_len(w->seed, i);
        fill(buf, n, w->seed * 1000u + (uint32_t)i);
        struct iovec v[2] = {{buf, n / 3}, {buf + n / 3, n - n / 3}};
        iwk_pcap_flow_data(w->f, w->dir, v, 2, n);
        w->s.b = realloc(w->s.b, w->s.len + n);
        if (w->s.b == NULL)
            break;
        memcpy(w->s.b + w->s.len, buf, n);
        w->s.len += n;
    }
    free(buf);
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    struct tmpfile tf;
    tmp_make(&tf);
    struct iwk_pcap *p = NULL;
    assert_int_equal(iwk_pcap_open(tf.path, &p), 0);
    struct conn c[2];
    struct iwk_pcap_flow f[2];
    struct worker w[4];
    pthread_t t[4];
    pthread_barrier_t go;
    assert_int_equal(pthread_barrier_init(&go, NULL, 4), 0);
    for (int i = 0; i < 2; i++) {
        conn_open4(&c[i]);
        assert_int_equal(iwk_pcap_flow_start(p, &f[i], c[i].client, 1), 0);
    }
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){&go, &f[i / 2], i % 2, (uint32_t)i + 10, {0}};
        assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_non_null(w[i].s.b);
    }
    pthread_barrier_destroy(&go);
    for (int i = 0; i < 2; i++) {
        iwk_pcap_flow_fin(&f[i], 0);
        iwk_pcap_flow_fin(&f[i], 1);
    }
    iwk_pcap_close(p);

    struct capture cap;
    capture_load(tf.path, &cap);
    size_t per_dir = THREAD_MSGS + THREAD_MSGS / 50; /* every 50th message takes two segments */
    size_t per_flow = 3 + 2 * per_dir + 2;
    assert_int_equal(cap.n, 2 * per_flow);
    for (int i = 0; i < 2; i++) {
        struct expect e = {{&w[2 * i].s, &w[2 * i + 1].s}, {1, 1}, per_flow};
        check_flow(&cap, &f[i], 0, &e);
        conn_close(&c[i]);
    }
    tshark_check(tf.path, cap.n);
    capture_free(&cap);
    tmp_drop(&tf);
    for (int i = 0; i < 4; i++)
        free(w[i].s.b);
}

/* iwdump ($IWDUMP) decodes a recorded MPA Request/Reply exchange (RFC 5044 §7.1). */
static void test_iwdump_mpa(void **state)
{
    (void)state;
    const char *iwdump = getenv("IWDUMP");
    if (iwdump == NULL || iwdump[0] == '\0') {
        fprintf(stderr, "IWDUMP not set: skipped\n");
        skip();
    }
    struct tmpfile tf;
    tmp_make(&tf);
    struct iwk_pcap *p = NULL;
    assert_int_equal(iwk_pcap_open(tf.path, &p), 0);
    struct conn c;
    conn_open4(&c);
    struct iwk_pcap_flow f;
    assert_int_equal(iwk_pcap_flow_start(p, &f, c.client, 1), 0);
    /* key, M=C=R=0, Rev 1, PD_Length 0 */
    static const uint8_t req[20] = "MPA ID Req Frame\0\1\0\0";
    static const uint8_t rep[20] = "MPA ID Rep Frame\0\1\0\0";
    struct iovec vq = {(void *)req, sizeof req}, vr = {(void *)rep, sizeof rep};
    iwk_pcap_flow_data(&f, 0, &vq, 1, xfer(c.client, c.server, &vq, 1));
    iwk_pcap_flow_data(&f, 1, &vr, 1, xfer(c.server, c.client, &vr, 1));
    iwk_pcap_flow_fin(&f, 0);
    iwk_pcap_flow_fin(&f, 1);
    iwk_pcap_close(p);
    conn_close(&c);

    char cmd[1200];
    size_t n;
    snprintf(cmd, sizeof cmd, "'%s' --strict '%s' 2>&1", iwdump, tf.path);
    assert_int_equal(run_count(cmd, &n, 1), 0);
    snprintf(cmd, sizeof cmd, "'%s' --strict '%s' 2>&1 | grep -E '^flow 0 (c2s|s2c) .*MPA-Re(quest|ply) .*rev=1'",
             iwdump, tf.path);
    assert_int_equal(run_count(cmd, &n, 0), 0);
    assert_int_equal(n, 2);
    tshark_check(tf.path, 3 + 2 + 2);
    tmp_drop(&tf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4_active),
        cmocka_unit_test(test_ipv4_passive),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_v4_mapped),
        cmocka_unit_test(test_off_and_errors),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_iwdump_mpa),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
