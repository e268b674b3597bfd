/* tools/iwperf/iwperf.c - iwperf: bandwidth and latency of the iwkit stack, like perftest's
 * ib_write_bw / ib_read_lat, with same-run baselines (a plain TCP stream and ping-pong, and
 * ucx_perftest over TCP when it is installed).
 *   iwperf --loopback [--op write|read|send|atomic|write_imm] [--size N | --sweep | --sizes a,b]
 *   iwperf --server [--port P]        iwperf --client HOST [--port P]
 * Every number, the exchange and how the baselines are measured: docs/iwperf.md. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "iwkit/verbs.h"

extern char **environ;

#define IWPERF_MAGIC 0x49575046u   /* "IWPF" */
#define IWPERF_VERSION 1u
#define DEFAULT_TIMEOUT_MS 30000
#define MAX_SIZES 64u
#define MAX_SIZE (64u << 20)
#define MAX_QPS 4096u             /* --qps; each QP is a TCP connection (an fd on each side) */
#define FD_SPARE 64u               /* fds besides the QPs' sockets: listener, epoll, eventfds, baselines */
#define MAX_DEPTH 240u             /* + control messages stays within the 255 of the rdmap_qp machine */
#define SRV_RQ 512u                /* receives the server keeps posted per QP: the client's credits */
#define CREDIT_EVERY 64u           /* the server reports the receives it consumed this often */
#define CREDIT_RESERVE 8u          /* server receives kept free for control messages */
#define CLI_RQ 256u                /* receives the client keeps posted per QP (control, echoes) */
#define CQ_DEPTH 65536u            /* at least; more with many QPs (cq_depth) */
#define CQ_DEPTH_MAX (1u << 20)    /* the runtime's limit */
#define WARMUP 16u                 /* latency iterations run before the timed ones */
#define MAX_SAMPLES (8u << 20)
#define DEFAULT_SPIN 0u
#define DEFAULT_ITERS 1000u
#define DEFAULT_DEPTH 64u
#define CTL_TAG 0xC1u              /* top octet of the Immediate Data of a control message */
#define CTL_WRID UINT64_MAX
#define STOP_BYTE 0xFFu            /* write latency: the last ping */
#define UCX_TIMEOUT_S 60u
#define UCX_MAX_BYTES (256ull << 20)
#define UCX_MAX_LAT_ITERS 1000u     /* UCX get over TCP takes ~1 ms at depth 1 */

enum op { OP_WRITE, OP_READ, OP_SEND, OP_ATOMIC, OP_WRITE_IMM, OP_COUNT };
static const char *const op_names[OP_COUNT] = { "write", "read", "send", "atomic", "write_imm" };

enum mode { MODE_IDLE, MODE_BW, MODE_LAT };
enum cmd { CMD_CREDIT = 1, CMD_PHASE, CMD_PHASE_ACK, CMD_SYNC, CMD_SYNC_ACK, CMD_DONE };

/* How a side waits (--spin, --cq-wait, --timeout, --progress) and sizes its sockets (--sockbuf). */
struct waitcfg {
    uint32_t spin;
    int wait;                   /* enum wait_mode */
    int timeout_ms;
    int app_progress;           /* --progress app: IWK_CTX_APP_PROGRESS, the app thread receives */
    uint32_t sockbuf;           /* --sockbuf: iwk_conn_param.socket_buffer (0: autotuning) */
};

struct opts {
    enum op op;
    uint32_t sizes[MAX_SIZES];
    uint32_t nsizes;
    uint32_t iters;
    double duration;            /* > 0: each measurement runs this long instead of --iters */
    uint32_t depth, qps;
    struct waitcfg wc;
    int crc, markers;
    int server, client, loopback;
    const char *host;
    uint16_t port;
    int json, base_tcp, base_ucx;
    int base_1qp;               /* --baseline 1qp: the bandwidth run on QP 0 alone first */
    int do_bw, do_lat;          /* --test bw|lat|both */
    const char *pcap;           /* record the client's connections */
};

/* ---- wire helpers (big-endian) ------------------------------------------------------------ */

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { for (int i = 3; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; } }
static void put64(uint8_t *p, uint64_t v) { for (int i = 7; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; } }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { uint32_t v = 0; for (int i = 0; i < 4; i++) v = v << 8 | p[i]; return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v = 0; for (int i = 0; i < 8; i++) v = v << 8 | p[i]; return v; }

/* Client -> server in the MPA Request: the run's parameters and the client's buffer. */
struct params {
    uint8_t op;
    uint16_t qp_index, nqps, depth;
    uint32_t iters, duration_ms;
    uint64_t buf_addr;
    uint32_t buf_rkey;
    uint16_t nsizes;
    uint32_t sizes[MAX_SIZES];
};
#define PARAMS_FIXED 34u

static uint16_t params_put(uint8_t *p, const struct params *a)
{
    put32(p, IWPERF_MAGIC); p[4] = IWPERF_VERSION; p[5] = a->op; put16(p + 6, a->qp_index);
    put16(p + 8, a->nqps); put16(p + 10, a->depth); put32(p + 12, a->iters); put32(p + 16, a->duration_ms);
    put64(p + 20, a->buf_addr); put32(p + 28, a->buf_rkey); put16(p + 32, a->nsizes);
    for (uint32_t i = 0; i < a->nsizes; i++)
        put32(p + PARAMS_FIXED + 4u * i, a->sizes[i]);
    return (uint16_t)(PARAMS_FIXED + 4u * a->nsizes);
}

static int params_get(const uint8_t *p, size_t len, struct params *a)
{
    if (len < PARAMS_FIXED || get32(p) != IWPERF_MAGIC || p[4] != IWPERF_VERSION)
        return -1;
    a->op = p[5]; a->qp_index = get16(p + 6); a->nqps = get16(p + 8); a->depth = get16(p + 10);
    a->iters = get32(p + 12); a->duration_ms = get32(p + 16); a->buf_addr = get64(p + 20);
    a->buf_rkey = get32(p + 28); a->nsizes = get16(p + 32);
    if (a->op >= OP_COUNT || a->nsizes == 0 || a->nsizes > MAX_SIZES || a->nqps == 0 || a->nqps > MAX_QPS ||
        a->qp_index >= a->nqps || len < PARAMS_FIXED + 4u * a->nsizes)
        return -1;
    for (uint32_t i = 0; i < a->nsizes; i++) {
        a->sizes[i] = get32(p + PARAMS_FIXED + 4u * i);
        if (a->sizes[i] == 0 || a->sizes[i] > MAX_SIZE)
            return -1;
    }
    return 0;
}

/* Server -> client in the MPA Reply: the server's buffer, atomic word and receive credits. */
struct peer {
    uint64_t buf_addr, atom_addr;
    uint32_t buf_rkey, atom_rkey, rq;
};
#define ADV_LEN 32u

static void adv_put(uint8_t *p, const struct peer *a)
{
    put32(p, IWPERF_MAGIC); put64(p + 4, a->buf_addr); put32(p + 12, a->buf_rkey);
    put64(p + 16, a->atom_addr); put32(p + 24, a->atom_rkey); put32(p + 28, a->rq);
}

static int adv_get(const uint8_t *p, size_t len, struct peer *a)
{
    if (len < ADV_LEN || get32(p) != IWPERF_MAGIC)
        return -1;
    a->buf_addr = get64(p + 4); a->buf_rkey = get32(p + 12); a->atom_addr = get64(p + 16);
    a->atom_rkey = get32(p + 24); a->rq = get32(p + 28);
    return a->rq > CREDIT_RESERVE ? 0 : -1;
}

/* Control messages are Immediate Data (RFC 7306 §6): tag, command, 48-bit argument. */
static uint64_t imm_encode(uint64_t v)
{
    uint8_t b[8];
    uint64_t imm;
    put64(b, v);
    memcpy(&imm, b, 8);
    return imm;
}

static uint64_t imm_decode(uint64_t imm)
{
    uint8_t b[8];
    memcpy(b, &imm, 8);
    return get64(b);
}

static uint64_t ctl_word(enum cmd c, uint64_t arg)
{
    return (uint64_t)CTL_TAG << 56 | (uint64_t)c << 48 | (arg & 0xFFFFFFFFFFFFull);
}

/* ---- time, samples -------------------------------------------------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ __volatile__("pause");
#endif
}

struct samples {
    uint64_t *ns;
    size_t n, cap;
};

static int samples_add(struct samples *s, uint64_t v)
{
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2u : 4096u;
        if (ncap > MAX_SAMPLES)
            return 0; /* enough: further samples are dropped */
        uint64_t *n = realloc(s->ns, ncap * sizeof *n);
        if (n == NULL)
            return -1;
        s->ns = n;
        s->cap = ncap;
    }
    s->ns[s->n++] = v;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile in microseconds (the samples are sorted first). */
static double percentile_us(struct samples *s, uint32_t pct)
{
    if (s->n == 0)
        return 0.0;
    qsort(s->ns, s->n, sizeof *s->ns, cmp_u64);
    size_t rank = (s->n * pct + 99u) / 100u;
    return (double)s->ns[rank > 0 ? rank - 1u : 0u] / 1000.0;
}

/* Whether iteration i (warm-up first) runs: a count, or until the duration has passed. */
static int more_iters(const struct opts *o, uint64_t i, uint64_t t_start)
{
    if (i <= WARMUP)
        return 1; /* the warm-up, and at least one timed iteration (t_start is set at WARMUP) */
    if (o->duration > 0.0)
        return now_ns() - t_start < (uint64_t)(o->duration * 1e9);
    return i < WARMUP + (uint64_t)o->iters;
}

/* ---- memory of idle QPs ------------------------------------------------------------------- */

/* What the process holds: malloc'd octets in use (mallinfo2 uordblks, every arena) plus malloc's
 * own mmap()ed blocks (hblkhd); resident set (/proc/self/statm); the kernel's TCP socket-buffer
 * pages of the whole network namespace (/proc/net/sockstat "TCP: ... mem N"). */
struct memsnap {
    int64_t heap, rss, sock;
};

static int64_t sockstat_tcp_pages(void)
{
    FILE *f = fopen("/proc/net/sockstat", "r");
    char line[256];
    long long mem = 0;
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof line, f) != NULL) {
        const char *m = strstr(line, " mem ");
        if (strncmp(line, "TCP:", 4) == 0 && m != NULL)
            mem = atoll(m + 5);
    }
    fclose(f);
    return mem;
}

static void mem_snap(struct memsnap *m)
{
    struct mallinfo2 mi = mallinfo2();
    long pg = sysconf(_SC_PAGESIZE);
    long size = 0, res = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    m->heap = (int64_t)(mi.uordblks + mi.hblkhd);
    m->rss = (int64_t)res * pg;
    m->sock = sockstat_tcp_pages() * pg;
}

static struct memsnap mem_sub(struct memsnap a, struct memsnap b)
{
    return (struct memsnap){ a.heap - b.heap, a.rss - b.rss, a.sock - b.sock };
}

/* Kernel objects of one TCP socket (struct tcp_sock and its inode), from /proc/slabinfo's object
 * sizes; 0 when it cannot be read. A fixed size, not a measurement. */
static int64_t kernel_sock_obj_bytes(void)
{
    FILE *f = fopen("/proc/slabinfo", "r");
    char line[512];
    int64_t sum = 0;
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof line, f) != NULL) {
        char name[64];
        long act = 0, num = 0, objsize = 0;
        if (sscanf(line, "%63s %ld %ld %ld", name, &act, &num, &objsize) == 4 &&
            (strcmp(name, "TCP") == 0 || strcmp(name, "sock_inode_cache") == 0))
            sum += objsize;
    }
    fclose(f);
    return sum;
}

/* Per idle QP: heap+mmap and RSS growth divided by the QPs created (both sides on loopback). */
struct idle_mem {
    int valid;
    uint32_t nqps, sides;          /* QPs per side; sides counted (2 on loopback, 1 otherwise) */
    double heap, rss, sock;        /* iwperf's QPs with their posted receives */
    double connect_s;              /* connecting every QP took this long */
    int min_valid;
    double min_heap, min_rss, min_created; /* the probe: default attributes, nothing posted */
    int64_t kobj;                  /* kernel objects of one TCP socket (slab sizes) */
};

/* Loopback: the server thread tells the client what its one-time setup took (buffers, MRs, CQ:
 * not a QP's) and when it has accepted every QP. */
static struct memsnap g_srv_setup;
static atomic_uint g_srv_ready;

/* ---- one side of an iwkit run ------------------------------------------------------------- */

struct qstate {
    struct iwk_qp *qp;
    uint64_t posted, done;     /* this phase's work requests, and how many are known complete */
    uint64_t sent_rx;          /* messages sent that consume one of the peer's receives */
    uint64_t credit;           /* peer's receives consumed, as last reported */
    uint64_t consumed;         /* our receives consumed */
    uint64_t data_in;          /* data messages received (latency echoes) */
    uint64_t ctl_done;         /* signaled control messages completed */
    uint32_t acked, synced;
    uint32_t want_ack;         /* cli_sync: the answer awaited */
    uint64_t want_done;        /* cli_sync: the completion awaited */
    uint8_t closed;            /* server: the client said DONE on this QP */
};

struct ep {
    const char *name;
    struct iwk_context *ctx;
    struct iwk_pd *pd;
    struct iwk_cq *cq;
    struct qstate *q;             /* nqp of them */
    uint32_t nqp;
    uint32_t *qmap;               /* open addressing: hash of a QP's address -> index + 1 (0: empty) */
    uint32_t qmap_mask;
    /* send source, receive target, remote access (Write target, Read source/sink). rbuf, buf and
     * atom have one lane per QP (QP i: octet i * len on): the receiving threads of different QPs
     * never place into the same memory at once (that would be a data race, docs/runtime.md) */
    uint8_t *sbuf, *rbuf, *buf;
    uint64_t *atom;               /* server: the atomic counter (lane 0); client: FetchAdd results */
    uint64_t len;
    uint32_t lanes;
    struct iwk_mr *smr, *rmr, *bmr, *amr;
    uint32_t rq;                  /* receives kept posted per QP */
    struct waitcfg wc;
    struct peer peer;
    struct params par;            /* server: the client's parameters */
    enum mode mode;               /* server: what the client runs now */
    uint32_t cur_size;
    uint32_t done_qps;
    struct memsnap idle;          /* server: growth from after its setup to every QP connected */
    char err[256];
};

static int fail(struct ep *e, const char *what)
{
    struct iwk_qp_info qi;
    if (e->err[0] != '\0')
        return -1;
    if (e->nqp > 0 && e->q[0].qp != NULL && iwk_qp_info(e->q[0].qp, &qi) == 0 && qi.reason[0] != '\0')
        snprintf(e->err, sizeof e->err, "%s: %s (%s)", e->name, what, qi.reason);
    else
        snprintf(e->err, sizeof e->err, "%s: %s", e->name, what);
    return -1;
}

static void *alloc_buf(uint64_t n)
{
    void *p = NULL;
    if (posix_memalign(&p, 4096, (size_t)n) != 0)
        return NULL;
    memset(p, 0, (size_t)n); /* no page faults while measuring */
    return p;
}

/* Completions that can be waiting at once: every QP's outstanding work requests and receives
 * (depth + control messages), at least CQ_DEPTH. */
static uint32_t cq_depth(uint32_t nqps, uint32_t depth)
{
    uint64_t n = (uint64_t)nqps * (depth + 32u);
    return n < CQ_DEPTH ? CQ_DEPTH : n > CQ_DEPTH_MAX ? CQ_DEPTH_MAX : (uint32_t)n;
}

static int ep_setup(struct ep *e, uint64_t len, uint32_t lanes, uint32_t rq, uint32_t ncq, const struct waitcfg *wc,
                    const char *pcap)
{
    struct iwk_context_attr ca = { .pcap_path = pcap, .flags = wc->app_progress ? IWK_CTX_APP_PROGRESS : 0u };
    const uint32_t rw = IWK_ACCESS_LOCAL_WRITE | IWK_ACCESS_REMOTE_WRITE | IWK_ACCESS_REMOTE_READ;
    e->len = len < 8u ? 8u : len;
    e->lanes = lanes;
    const uint64_t all = e->len * lanes;
    e->rq = rq;
    e->wc = *wc;
    if (iwk_context_open(&ca, &e->ctx) != 0 || iwk_pd_alloc(e->ctx, &e->pd) != 0 ||
        iwk_cq_create(e->ctx, ncq, &e->cq) != 0)
        return fail(e, "cannot create the context");
    e->sbuf = alloc_buf(e->len);
    e->rbuf = alloc_buf(all);
    e->buf = alloc_buf(all);
    e->atom = alloc_buf(8u * (uint64_t)lanes);
    if (e->sbuf == NULL || e->rbuf == NULL || e->buf == NULL || e->atom == NULL)
        return fail(e, "out of memory");
    if (iwk_mr_reg(e->pd, e->sbuf, e->len, 0, &e->smr) != 0 ||
        iwk_mr_reg(e->pd, e->rbuf, all, IWK_ACCESS_LOCAL_WRITE, &e->rmr) != 0 ||
        iwk_mr_reg(e->pd, e->buf, all, rw, &e->bmr) != 0 ||
        iwk_mr_reg(e->pd, e->atom, 8u * (size_t)lanes, IWK_ACCESS_LOCAL_WRITE | IWK_ACCESS_REMOTE_ATOMIC, &e->amr) != 0)
        return fail(e, "cannot register memory");
    return 0;
}

static uint32_t qp_hash(const struct iwk_qp *qp, uint32_t mask)
{
    uint64_t h = (uint64_t)(uintptr_t)qp * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(h >> 40) & mask;
}

static int ep_add_qps(struct ep *e, uint32_t n)
{
    struct iwk_qp_attr qa = { .send_cq = e->cq, .recv_cq = e->cq, .max_send_wr = MAX_DEPTH + 8u,
                              .max_recv_wr = e->rq, .max_sge = 1 };
    uint32_t cap = 4;
    while (cap < 2u * n)
        cap <<= 1;
    e->q = calloc(n, sizeof *e->q);
    e->qmap = calloc(cap, sizeof *e->qmap);
    e->qmap_mask = cap - 1u;
    if (e->q == NULL || e->qmap == NULL)
        return fail(e, "out of memory");
    for (uint32_t i = 0; i < n; i++) {
        if (iwk_qp_create(e->pd, &qa, &e->q[i].qp) != 0)
            return fail(e, "cannot create a queue pair");
        e->nqp = i + 1u;
        uint32_t h = qp_hash(e->q[i].qp, e->qmap_mask);
        while (e->qmap[h] != 0)
            h = (h + 1u) & e->qmap_mask;
        e->qmap[h] = i + 1u;
    }
    return 0;
}

static void ep_teardown(struct ep *e)
{
    for (uint32_t i = 0; i < e->nqp; i++)
        if (e->q[i].qp != NULL)
            iwk_qp_destroy(e->q[i].qp);
    free(e->q);
    free(e->qmap);
    struct iwk_mr *mrs[] = { e->smr, e->rmr, e->bmr, e->amr };
    for (size_t i = 0; i < sizeof mrs / sizeof mrs[0]; i++)
        if (mrs[i] != NULL)
            iwk_mr_dereg(mrs[i]);
    if (e->cq != NULL)
        iwk_cq_destroy(e->cq);
    if (e->pd != NULL)
        iwk_pd_free(e->pd);
    if (e->ctx != NULL)
        iwk_context_close(e->ctx);
    free(e->sbuf); free(e->rbuf); free(e->buf); free(e->atom);
}

static uint32_t qp_index(const struct ep *e, const struct iwk_qp *qp)
{
    if (e->qmap == NULL)
        return 0;
    for (uint32_t h = qp_hash(qp, e->qmap_mask); e->qmap[h] != 0; h = (h + 1u) & e->qmap_mask)
        if (e->q[e->qmap[h] - 1u].qp == qp)
            return e->qmap[h] - 1u;
    return 0;
}

static int post_recv(struct ep *e, uint32_t qi)
{
    struct iwk_sge sg = { .addr = (uintptr_t)e->rbuf + qi * e->len, .length = (uint32_t)e->len, .lkey = e->rmr->lkey };
    struct iwk_recv_wr wr = { .wr_id = qi, .sg_list = &sg, .num_sge = 1 };
    return iwk_post_recv(e->q[qi].qp, &wr) == 0 ? 0 : fail(e, "cannot post a receive");
}

/* Posts; a full send queue drains by itself (the progress thread), so it is retried. */
static int post_send(struct ep *e, uint32_t qi, const struct iwk_send_wr *wr)
{
    uint64_t t0 = 0;
    for (;;) {
        int rc = iwk_post_send(e->q[qi].qp, wr);
        if (rc == 0)
            return 0;
        if (rc != -ENOMEM)
            return fail(e, "cannot post a work request");
        if (t0 == 0)
            t0 = now_ns();
        else if (now_ns() - t0 > (uint64_t)e->wc.timeout_ms * 1000000u)
            return fail(e, "send queue stays full");
        sched_yield();
    }
}

static int send_ctl(struct ep *e, uint32_t qi, enum cmd c, uint64_t arg, int signaled)
{
    struct iwk_send_wr wr = { .wr_id = CTL_WRID, .opcode = IWK_WR_IMM,
                              .flags = signaled ? IWK_SEND_SIGNALED : 0u, .imm_data = imm_encode(ctl_word(c, arg)) };
    e->q[qi].sent_rx++;
    return post_send(e, qi, &wr);
}

/* The data work request of op for size octets; bandwidth and latency runs post the same ones. */
static int post_op(struct ep *e, enum op op, uint32_t qi, uint32_t size, uint64_t seq, int signaled)
{
    int sink = op == OP_READ;
    const uint64_t lane = qi * e->len; /* the peer's buffers have as many lanes (one per QP) */
    struct iwk_sge sg = { .addr = sink ? (uintptr_t)e->buf + lane : (uintptr_t)e->sbuf, .length = size,
                          .lkey = sink ? e->bmr->lkey : e->smr->lkey };
    struct iwk_send_wr wr = { .wr_id = seq, .flags = signaled ? IWK_SEND_SIGNALED : 0u, .sg_list = &sg,
                              .num_sge = 1, .remote_addr = e->peer.buf_addr + lane, .rkey = e->peer.buf_rkey };
    switch (op) {
    case OP_WRITE: wr.opcode = IWK_WR_RDMA_WRITE; break;
    case OP_READ: wr.opcode = IWK_WR_RDMA_READ; break;
    case OP_SEND: wr.opcode = IWK_WR_SEND; e->q[qi].sent_rx++; break;
    case OP_WRITE_IMM:
        wr.opcode = IWK_WR_WRITE_IMM;
        wr.imm_data = imm_encode(seq & 0xFFFFFFFFFFFFull);
        e->q[qi].sent_rx++;
        break;
    default: /* atomic: FetchAdd 1 on the server's counter, the old value into our word */
        wr.opcode = IWK_WR_FETCH_ADD;
        sg.addr = (uintptr_t)(e->atom + qi);
        sg.length = 8;
        sg.lkey = e->amr->lkey;
        wr.remote_addr = e->peer.atom_addr;
        wr.rkey = e->peer.atom_rkey;
        wr.compare_add = 1;
        break;
    }
    return post_send(e, qi, &wr);
}

typedef int (*wc_handler)(struct ep *e, const struct iwk_wc *wc);

/* How a thread that found its CQ empty gives up the CPU (--cq-wait): */
enum wait_mode {
    WAIT_BLOCK, /* iwk_cq_wait */
    WAIT_POLL,  /* sched_yield() between polls; after IDLE_NS without a completion, as WAIT_EVENT */
    WAIT_EVENT, /* the completion channel: iwk_cq_req_notify, poll() on iwk_cq_fd, iwk_cq_ack */
};
static const char *const wait_names[] = { "block", "poll", "event" };
#define IDLE_NS 1000000u

struct waiter {
    uint64_t t0;   /* when the CQ was first found empty */
    int armed;
};

/* Sleeps on the completion channel (armed before the last poll found the CQ empty). */
static int cq_sleep(struct ep *e)
{
    struct pollfd pfd = { .fd = iwk_cq_fd(e->cq), .events = POLLIN };
    int r = poll(&pfd, 1, 100);
    if (r > 0)
        iwk_cq_ack(e->cq);
    return r < 0 && errno != EINTR ? -1 : 0;
}

/* One step of waiting after a poll found nothing; the caller polls again after it. */
static int cq_block(struct ep *e, struct waiter *w)
{
    if (e->wc.wait == WAIT_BLOCK)
        return iwk_cq_wait(e->cq, e->wc.timeout_ms);
    uint64_t t = now_ns();
    if (w->t0 == 0)
        w->t0 = t;
    if (t - w->t0 > (uint64_t)e->wc.timeout_ms * 1000000u)
        return -ETIMEDOUT;
    if (w->armed) {
        w->armed = 0;
        return cq_sleep(e);
    }
    if (e->wc.app_progress) { /* no completion channel: poll is where receiving happens */
        sched_yield();
        return 0;
    }
    if (e->wc.wait == WAIT_EVENT || t - w->t0 > IDLE_NS) {
        iwk_cq_req_notify(e->cq, 0); /* then poll once more before sleeping: no lost wake-up */
        w->armed = 1;
        return 0;
    }
    sched_yield();
    return 0;
}

/* Takes completions; when block, waits for at least one: --spin polls, then cq_block. */
static int pump_cq(struct ep *e, int block, wc_handler h)
{
    struct iwk_wc wc[32];
    uint32_t spins = 0;
    struct waiter w = { 0, 0 };
    for (;;) {
        int n = iwk_cq_poll(e->cq, 32, wc);
        if (n < 0)
            return fail(e, "completion queue overflow");
        for (int i = 0; i < n; i++)
            if (h(e, &wc[i]) != 0)
                return -1;
        if (n > 0 || !block)
            return n;
        if (spins++ < e->wc.spin) {
            cpu_relax();
            continue;
        }
        if (cq_block(e, &w) != 0)
            return fail(e, "timed out waiting for a completion");
    }
}

static int wc_failed(struct ep *e, const struct iwk_wc *wc)
{
    char m[96];
    snprintf(m, sizeof m, "work request %" PRIu64 " completed with status %d", wc->wr_id, (int)wc->status);
    return fail(e, m);
}

/* A receive completed: repost it; 1 and the command when it was a control message. */
static int take_recv(struct ep *e, const struct iwk_wc *wc, uint32_t qi, enum cmd *c, uint64_t *arg)
{
    e->q[qi].consumed++;
    uint64_t v = wc->opcode == IWK_WC_RECV_IMM ? imm_decode(wc->imm_data) : 0u;
    int ctl = (v >> 56) == CTL_TAG;
    if (ctl) {
        *c = (enum cmd)((v >> 48) & 0xFFu);
        *arg = v & 0xFFFFFFFFFFFFull;
        if (*c == CMD_DONE)
            return 1; /* the peer closes next: nothing more to receive */
    }
    if (post_recv(e, qi) != 0)
        return -1;
    return ctl;
}

/* Waits until byte *p, the last octet of an RDMA Write, is a or b: a bounded spin, then
 * sched_yield() between looks (the progress thread that places the data needs a core too). The
 * runtime stores that octet last with a release store (docs/runtime.md), so an acquire load sees
 * the whole Write. With --progress app this thread receives itself: iwk_cq_progress without
 * waiting while it spins, then waiting in it (block) or yielding between tries (poll). Returns
 * the value, -1 on timeout. */
static int wait_byte(const struct ep *e, const uint8_t *p, uint8_t a, uint8_t b)
{
    uint64_t t0 = 0;
    for (uint32_t k = 0;; k++) {
        uint8_t x = __atomic_load_n(p, __ATOMIC_ACQUIRE);
        if (x == a || x == b)
            return x;
        int app = e->wc.app_progress;
        if (k < e->wc.spin) {
            if (app)
                (void)iwk_cq_progress(e->cq, 0);
            else
                cpu_relax();
            continue;
        }
        if (app && e->wc.wait == WAIT_BLOCK)
            (void)iwk_cq_progress(e->cq, 100);
        else if (app)
            (void)iwk_cq_progress(e->cq, 0);
        if (!app || e->wc.wait != WAIT_BLOCK)
            sched_yield();
        if ((k & 255u) == 0) {
            if (t0 == 0)
                t0 = now_ns();
            else if (now_ns() - t0 > (uint64_t)e->wc.timeout_ms * 1000000u)
                return -1;
        }
    }
}

/* ---- server ----------------------------------------------------------------------------------- */

/* Write latency, server side: wait for each ping's last octet, answer with a Write of the same
 * size into the client's buffer; ends after echoing the stop octet. */
static int srv_write_lat(struct ep *s)
{
    uint32_t n = s->cur_size;
    const uint8_t *last = s->buf + n - 1u;
    for (uint64_t i = 0;; i++) {
        uint8_t v = (uint8_t)(i % 254u + 1u);
        int got = wait_byte(s, last, v, STOP_BYTE);
        if (got < 0)
            return fail(s, "write latency: the client's Write did not arrive");
        s->sbuf[n - 1u] = (uint8_t)got;
        if (post_op(s, OP_WRITE, 0, n, i, 0) != 0)
            return -1;
        if (got == STOP_BYTE)
            return 0;
    }
}

static int srv_phase(struct ep *s, uint32_t qi, uint64_t arg)
{
    uint32_t idx = (uint32_t)(arg & 0xFFFFu);
    if (idx >= s->par.nsizes)
        return fail(s, "phase names an unknown size");
    s->mode = (enum mode)(arg >> 16);
    s->cur_size = s->par.sizes[idx];
    int wlat = s->mode == MODE_LAT && s->par.op == OP_WRITE;
    if (wlat)
        s->buf[s->cur_size - 1u] = 0;
    if (send_ctl(s, qi, CMD_PHASE_ACK, arg, 0) != 0)
        return -1;
    return wlat ? srv_write_lat(s) : 0;
}

static int srv_ctl(struct ep *s, uint32_t qi, enum cmd c, uint64_t arg)
{
    switch (c) {
    case CMD_PHASE: return srv_phase(s, qi, arg);
    case CMD_SYNC: return send_ctl(s, qi, CMD_SYNC_ACK, arg, 0);
    default: return fail(s, "unexpected control message");
    }
}

static int srv_handle(struct ep *s, const struct iwk_wc *wc)
{
    uint32_t qi = qp_index(s, wc->qp);
    if (wc->status == IWK_WC_WR_FLUSH_ERR && s->q[qi].closed)
        return 0; /* the client said DONE and closed: the receives left are flushed */
    if (wc->status != IWK_WC_SUCCESS)
        return wc_failed(s, wc);
    if (wc->opcode != IWK_WC_RECV && wc->opcode != IWK_WC_RECV_IMM)
        return 0;
    enum cmd c = CMD_CREDIT;
    uint64_t arg = 0;
    int k = take_recv(s, wc, qi, &c, &arg);
    if (k < 0)
        return -1;
    if (k == 1 && c == CMD_DONE) {
        s->q[qi].closed = 1;
        s->done_qps++;
        return 0;
    }
    if (s->q[qi].consumed % CREDIT_EVERY == 0 && send_ctl(s, qi, CMD_CREDIT, s->q[qi].consumed, 0) != 0)
        return -1;
    if (k == 1)
        return srv_ctl(s, qi, c, arg);
    if (s->mode != MODE_LAT)
        return 0;
    /* send / write_imm latency: answer each message with the same operation */
    return post_op(s, (enum op)s->par.op, qi, s->cur_size, s->q[qi].consumed, 0);
}

static int srv_accept(struct ep *s, struct iwk_conn_request *req, const struct params *p)
{
    const struct iwk_conn_request_info *ri = iwk_conn_request_info(req);
    struct iwk_qp *qp = s->q[p->qp_index].qp;
    for (uint32_t i = 0; i < s->rq; i++)
        if (post_recv(s, p->qp_index) != 0)
            return -1;
    uint8_t pd[ADV_LEN];
    adv_put(pd, &s->peer);
    struct iwk_conn_param cp;
    iwk_conn_param_profile(&cp, "rfc");
    cp.rtr = 0;
    cp.mpa_rev = ri->mpa_rev;
    cp.crc = ri->crc ? IWK_CRC_REQUIRED : IWK_CRC_OPTIONAL; /* the client's choice */
    cp.markers = ri->markers;
    cp.socket_buffer = s->wc.sockbuf;
    cp.ird = ri->ord > 16 ? ri->ord : 16;
    cp.ord = ri->ird > 16 ? ri->ird : 16;
    cp.private_data = pd;
    cp.private_data_len = ADV_LEN;
    return iwk_accept(req, qp, &cp) == 0 ? 0 : fail(s, "accept failed");
}

static int srv_get(struct ep *s, struct iwk_listener *l, struct iwk_conn_request **req, struct params *p)
{
    if (iwk_get_request(l, s->wc.timeout_ms, req) != 0)
        return fail(s, "no connection request");
    const struct iwk_conn_request_info *ri = iwk_conn_request_info(*req);
    if (params_get(ri->private_data, ri->private_data_len, p) != 0) {
        iwk_reject(*req, "iwperf: bad parameters", 22);
        return fail(s, "the client sent no iwperf parameters");
    }
    return 0;
}

static uint32_t max_size(const uint32_t *sizes, uint32_t n)
{
    uint32_t m = 8;
    for (uint32_t i = 0; i < n; i++)
        m = sizes[i] > m ? sizes[i] : m;
    return m;
}

static int serve(struct ep *s, struct iwk_listener *l, const struct waitcfg *wc)
{
    struct iwk_conn_request *req = NULL;
    s->wc = *wc;
    if (srv_get(s, l, &req, &s->par) != 0)
        return -1;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)s->par.nqps + FD_SPARE) {
        iwk_reject(req, "iwperf: too many QPs", 20);
        return fail(s, "the client wants more QPs than the file descriptor limit allows (ulimit -n)");
    }
    struct memsnap m0, m1, m2;
    mem_snap(&m0);
    if (ep_setup(s, max_size(s->par.sizes, s->par.nsizes), s->par.nqps, SRV_RQ, cq_depth(s->par.nqps, s->par.depth), wc,
                 NULL) != 0)
        return -1;
    mem_snap(&m1);
    g_srv_setup = mem_sub(m1, m0);
    if (ep_add_qps(s, s->par.nqps) != 0)
        return -1;
    s->peer = (struct peer){ .buf_addr = (uintptr_t)s->buf, .buf_rkey = s->bmr->rkey,
                             .atom_addr = (uintptr_t)s->atom, .atom_rkey = s->amr->rkey, .rq = SRV_RQ };
    struct params p = s->par;
    for (uint32_t i = 0; i < s->par.nqps; i++) {
        if (i > 0 && srv_get(s, l, &req, &p) != 0)
            return -1;
        if (p.nqps != s->par.nqps || s->q[p.qp_index].qp == NULL)
            return fail(s, "connection requests of different runs");
        if (srv_accept(s, req, &p) != 0)
            return -1;
    }
    mem_snap(&m2);
    s->idle = mem_sub(m2, m1);
    atomic_store_explicit(&g_srv_ready, 1u, memory_order_release);
    /* the client's buffer: echo target of write latency, write_imm latency */
    s->peer = (struct peer){ .buf_addr = s->par.buf_addr, .buf_rkey = s->par.buf_rkey, .rq = CLI_RQ };
    while (s->done_qps < s->nqp)
        if (pump_cq(s, 1, srv_handle) < 0)
            return -1;
    for (uint32_t i = 0; i < s->nqp; i++)
        if (iwk_qp_wait_closed(s->q[i].qp, s->wc.timeout_ms) != 0)
            return fail(s, "the client did not close");
    return 0;
}

/* ---- client ------------------------------------------------------------------------------------ */

static int cli_ctl(struct ep *c, uint32_t qi, enum cmd cmd, uint64_t arg)
{
    struct qstate *q = &c->q[qi];
    switch (cmd) {
    case CMD_CREDIT: if (arg > q->credit) q->credit = arg; return 0;
    case CMD_PHASE_ACK: q->acked++; return 0;
    case CMD_SYNC_ACK: q->synced++; return 0;
    default: return fail(c, "unexpected control message");
    }
}

static int cli_handle(struct ep *c, const struct iwk_wc *wc)
{
    if (wc->status != IWK_WC_SUCCESS)
        return wc_failed(c, wc);
    uint32_t qi = qp_index(c, wc->qp);
    struct qstate *q = &c->q[qi];
    if (wc->opcode == IWK_WC_RECV || wc->opcode == IWK_WC_RECV_IMM) {
        enum cmd cmd = CMD_CREDIT;
        uint64_t arg = 0;
        int k = take_recv(c, wc, qi, &cmd, &arg);
        if (k < 0)
            return -1;
        if (k == 1)
            return cli_ctl(c, qi, cmd, arg);
        q->data_in++;
        return 0;
    }
    if (wc->wr_id == CTL_WRID)
        q->ctl_done++;
    else if (wc->wr_id + 1u > q->done)
        q->done = wc->wr_id + 1u; /* completions come in posting order */
    return 0;
}

/* Client to server on QP 0: "now mode for size idx"; waits for the answer. */
static int cli_phase(struct ep *c, enum mode m, uint32_t idx)
{
    uint32_t want = c->q[0].acked + 1u;
    if (send_ctl(c, 0, CMD_PHASE, (uint64_t)m << 16 | idx, 0) != 0)
        return -1;
    while (c->q[0].acked < want)
        if (pump_cq(c, 1, cli_handle) < 0)
            return -1;
    return 0;
}

/* A signaled control message on every QP, answered by the server: everything sent before it has
 * arrived and been handled, and every earlier completion is in the CQ. */
static int cli_sync(struct ep *c, uint32_t nq)
{
    for (uint32_t i = 0; i < nq; i++) {
        c->q[i].want_ack = c->q[i].synced + 1u;
        c->q[i].want_done = c->q[i].ctl_done + 1u;
        if (send_ctl(c, i, CMD_SYNC, 0, 1) != 0)
            return -1;
    }
    for (uint32_t i = 0; i < nq; i++)
        while (c->q[i].synced < c->q[i].want_ack || c->q[i].ctl_done < c->q[i].want_done)
            if (pump_cq(c, 1, cli_handle) < 0)
                return -1;
    return 0;
}

static int needs_credit(enum op op) { return op == OP_SEND || op == OP_WRITE_IMM; }

static int can_post(const struct ep *c, const struct opts *o, uint32_t qi, uint64_t limit)
{
    const struct qstate *q = &c->q[qi];
    if (q->posted >= limit || q->posted - q->done >= o->depth)
        return 0;
    return !needs_credit(o->op) || q->sent_rx - q->credit < c->peer.rq - CREDIT_RESERVE;
}

/* Signals every k-th work request (completions come in order, so one covers those before it). */
static uint32_t signal_every(uint32_t depth)
{
    uint32_t k = depth / 4u;
    return k < 1u ? 1u : k > 16u ? 16u : k;
}

struct bw_result {
    uint64_t msgs;
    double secs;
};

/* Keeps depth work requests outstanding on each of the first nq QPs for --iters each or
 * --duration, then syncs them. */
static int bw_run(struct ep *c, const struct opts *o, uint32_t idx, uint32_t nq, struct bw_result *r)
{
    uint32_t size = o->sizes[idx];
    for (uint32_t i = 0; i < nq; i++)
        c->q[i].posted = c->q[i].done = 0;
    if (cli_phase(c, MODE_BW, idx) != 0)
        return -1;
    uint32_t k = signal_every(o->depth);
    uint64_t limit = o->duration > 0.0 ? UINT64_MAX : o->iters;
    uint64_t t0 = now_ns(), dur = (uint64_t)(o->duration * 1e9);
    for (;;) {
        int posted = 0, all_done = 1;
        for (uint32_t i = 0; i < nq; i++) {
            while (can_post(c, o, i, limit)) {
                uint64_t seq = c->q[i].posted;
                if (post_op(c, o->op, i, size, seq, seq % k == k - 1u || seq + 1u == limit) != 0)
                    return -1;
                c->q[i].posted++;
                posted++;
            }
            all_done &= c->q[i].posted >= limit;
        }
        if (all_done || (o->duration > 0.0 && now_ns() - t0 >= dur))
            break;
        if (pump_cq(c, posted == 0, cli_handle) < 0)
            return -1;
    }
    if (cli_sync(c, nq) != 0)
        return -1;
    r->secs = (double)(now_ns() - t0) / 1e9;
    r->msgs = 0;
    for (uint32_t i = 0; i < nq; i++)
        r->msgs += c->q[i].posted;
    return 0;
}

/* Write latency as ib_write_lat: each side writes into the other's buffer; the last octet of
 * each ping changes, the receiver sees it by polling its memory. */
static int lat_write(struct ep *c, const struct opts *o, uint32_t size, struct samples *s)
{
    const uint8_t *last = c->buf + size - 1u;
    uint64_t t_start = now_ns();
    for (uint64_t i = 0; more_iters(o, i, t_start); i++) {
        uint8_t v = (uint8_t)(i % 254u + 1u);
        c->sbuf[size - 1u] = v;
        uint64_t t0 = now_ns();
        if (i == WARMUP)
            t_start = t0;
        if (post_op(c, OP_WRITE, 0, size, i, 0) != 0)
            return -1;
        if (wait_byte(c, last, v, v) < 0)
            return fail(c, "write latency: the server's Write did not arrive");
        if (i >= WARMUP && samples_add(s, (now_ns() - t0) / 2u) != 0)
            return fail(c, "out of memory");
    }
    c->sbuf[size - 1u] = STOP_BYTE;
    if (post_op(c, OP_WRITE, 0, size, 0, 0) != 0)
        return -1;
    return wait_byte(c, last, STOP_BYTE, STOP_BYTE) < 0 ? fail(c, "write latency: no final echo") : 0;
}

/* Send and write_imm latency: ping-pong of messages, each seen as a receive completion. */
static int lat_pingpong(struct ep *c, const struct opts *o, uint32_t size, struct samples *s)
{
    struct qstate *q = &c->q[0];
    uint64_t t_start = now_ns();
    for (uint64_t i = 0; more_iters(o, i, t_start); i++) {
        uint64_t want = q->data_in + 1u;
        uint64_t t0 = now_ns();
        if (i == WARMUP)
            t_start = t0;
        if (post_op(c, o->op, 0, size, i, 0) != 0)
            return -1;
        while (q->data_in < want)
            if (pump_cq(c, 1, cli_handle) < 0)
                return -1;
        if (i >= WARMUP && samples_add(s, (now_ns() - t0) / 2u) != 0)
            return fail(c, "out of memory");
    }
    return 0;
}

/* Read and atomic latency: the whole time from posting to the completion (not halved). */
static int lat_complete(struct ep *c, const struct opts *o, uint32_t size, struct samples *s)
{
    struct qstate *q = &c->q[0];
    q->posted = q->done = 0;
    uint64_t t_start = now_ns();
    for (uint64_t i = 0; more_iters(o, i, t_start); i++) {
        uint64_t t0 = now_ns();
        if (i == WARMUP)
            t_start = t0;
        if (post_op(c, o->op, 0, size, q->posted, 1) != 0)
            return -1;
        q->posted++;
        while (q->done < q->posted)
            if (pump_cq(c, 1, cli_handle) < 0)
                return -1;
        if (i >= WARMUP && samples_add(s, now_ns() - t0) != 0)
            return fail(c, "out of memory");
    }
    return 0;
}

static int lat_run(struct ep *c, const struct opts *o, uint32_t idx, struct samples *s)
{
    uint32_t size = o->sizes[idx];
    if (o->op == OP_WRITE)
        c->buf[size - 1u] = 0;
    if (cli_phase(c, MODE_LAT, idx) != 0)
        return -1;
    switch (o->op) {
    case OP_WRITE: return lat_write(c, o, size, s);
    case OP_SEND: case OP_WRITE_IMM: return lat_pingpong(c, o, size, s);
    default: return lat_complete(c, o, size, s);
    }
}

static int cli_connect(struct ep *c, const struct opts *o, const char *host, uint16_t port)
{
    struct params p = { .op = (uint8_t)o->op, .nqps = (uint16_t)o->qps, .depth = (uint16_t)o->depth,
                        .iters = o->iters, .duration_ms = (uint32_t)(o->duration * 1000.0),
                        .buf_addr = (uintptr_t)c->buf, .buf_rkey = c->bmr->rkey, .nsizes = (uint16_t)o->nsizes };
    memcpy(p.sizes, o->sizes, o->nsizes * sizeof p.sizes[0]);
    for (uint32_t i = 0; i < c->nqp; i++) {
        uint8_t pd[PARAMS_FIXED + 4u * MAX_SIZES];
        p.qp_index = (uint16_t)i;
        struct iwk_conn_param cp;
        iwk_conn_param_profile(&cp, "rfc");
        cp.rtr = 0;
        cp.crc = o->crc ? IWK_CRC_REQUIRED : IWK_CRC_OFF;
        cp.markers = (uint8_t)o->markers;
        cp.socket_buffer = o->wc.sockbuf;
        cp.ird = cp.ord = (uint16_t)(o->depth > 16u ? o->depth : 16u);
        cp.private_data = pd;
        cp.private_data_len = params_put(pd, &p);
        for (uint32_t r = 0; r < c->rq; r++)
            if (post_recv(c, i) != 0)
                return -1;
        if (iwk_connect(c->q[i].qp, host, port, &cp) != 0)
            return fail(c, "connect failed");
        struct iwk_qp_info qi;
        iwk_qp_info(c->q[i].qp, &qi);
        if (i == 0 && adv_get(qi.peer_private_data, qi.peer_private_data_len, &c->peer) != 0)
            return fail(c, "the server sent no iwperf parameters");
    }
    return 0;
}

static int cli_finish(struct ep *c)
{
    for (uint32_t i = 0; i < c->nqp; i++) {
        uint64_t want = c->q[i].ctl_done + 1u;
        if (send_ctl(c, i, CMD_DONE, 0, 1) != 0)
            return -1;
        while (c->q[i].ctl_done < want)
            if (pump_cq(c, 1, cli_handle) < 0)
                return -1;
    }
    for (uint32_t i = 0; i < c->nqp; i++)
        if (iwk_disconnect(c->q[i].qp, c->wc.timeout_ms) != 0)
            return fail(c, "disconnect did not complete");
    return 0;
}

/* ---- results ---------------------------------------------------------------------------------- */

struct result {
    uint32_t size;
    double gbps, rate, p50, p99;
    int qp1_ok;
    double qp1_gbps;            /* --baseline 1qp: the same size on QP 0 alone, same connections */
    int tcp_ok;
    double tcp_gbps, tcp_rate, tcp_p50, tcp_p99;
    int ucx_ok;
    double ucx_gbps, ucx_rate, ucx_p50;
};

static int iwk_measure(struct ep *c, const struct opts *o, uint32_t idx, struct result *r)
{
    struct bw_result bw = { 0, 0.0 }, bw1 = { 0, 0.0 };
    struct samples s = { 0 };
    int rc = 0;
    if (o->do_bw && o->base_1qp && c->nqp > 1) {
        rc = bw_run(c, o, idx, 1, &bw1);
        r->qp1_ok = rc == 0 && bw1.secs > 0.0;
    }
    if (rc == 0 && o->do_bw)
        rc = bw_run(c, o, idx, c->nqp, &bw);
    if (rc == 0 && o->do_lat)
        rc = lat_run(c, o, idx, &s);
    if (rc == 0 && o->do_bw) {
        uint32_t unit = o->op == OP_ATOMIC ? 8u : o->sizes[idx];
        r->rate = bw.secs > 0.0 ? (double)bw.msgs / bw.secs : 0.0;
        r->gbps = r->rate * unit * 8.0 / 1e9;
        if (r->qp1_ok)
            r->qp1_gbps = (double)bw1.msgs / bw1.secs * unit * 8.0 / 1e9;
    }
    if (rc == 0 && o->do_lat) {
        r->p50 = percentile_us(&s, 50);
        r->p99 = percentile_us(&s, 99);
    }
    free(s.ns);
    return rc;
}

/* ---- TCP baseline ----------------------------------------------------------------------------- */

static int write_full(int fd, const uint8_t *b, size_t n)
{
    while (n > 0) {
        struct iovec v = { .iov_base = (void *)(uintptr_t)b, .iov_len = n };
        ssize_t w = writev(fd, &v, 1);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* 1: n octets read, 0: end of stream first, -1: error. With a waitcfg in poll mode the socket
 * is polled as iwkit's CQ is (MSG_DONTWAIT, --spin tries, then sched_yield() between tries),
 * otherwise read() blocks. */
static int read_full_wc(int fd, uint8_t *b, size_t n, const struct waitcfg *wc)
{
    int poll_mode = wc != NULL && wc->wait == WAIT_POLL;
    uint32_t tries = 0;
    while (n > 0) {
        ssize_t r = poll_mode ? recv(fd, b, n, MSG_DONTWAIT) : read(fd, b, n);
        if (r < 0 && poll_mode && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (tries++ < wc->spin)
                cpu_relax();
            else
                sched_yield();
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r == 0 ? 0 : -1;
        b += r;
        n -= (size_t)r;
        tries = 0;
    }
    return 1;
}

static int read_full(int fd, uint8_t *b, size_t n)
{
    return read_full_wc(fd, b, n, NULL);
}

static void set_nodelay(int fd)
{
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int tcp_listen_lo(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t al = sizeof a;
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static int tcp_connect_lo(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    set_nodelay(fd);
    return fd;
}

struct tcp_peer {
    int lfd;
    uint32_t size;
    int pingpong;
    struct waitcfg wc;
};

/* The other end: a stream sink that answers with the octet count at end of stream, or an echo. */
static void *tcp_peer_main(void *arg)
{
    struct tcp_peer *t = arg;
    int fd = accept(t->lfd, NULL, NULL);
    uint8_t *buf = malloc(t->size);
    if (fd >= 0 && buf != NULL) {
        set_nodelay(fd);
        uint64_t total = 0;
        for (;;) {
            if (t->pingpong) {
                if (read_full_wc(fd, buf, t->size, &t->wc) != 1 || write_full(fd, buf, t->size) != 0)
                    break;
                continue;
            }
            ssize_t r = read(fd, buf, t->size);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            total += (uint64_t)r;
        }
        uint8_t b[8];
        put64(b, total);
        if (!t->pingpong)
            (void)write_full(fd, b, 8);
    }
    if (fd >= 0)
        close(fd);
    free(buf);
    return NULL;
}

struct tcp_conn {
    struct tcp_peer peer;
    pthread_t th;
    int fd;
};

static int tcp_open(struct tcp_conn *t, uint32_t size, int pingpong, const struct waitcfg *wc)
{
    uint16_t port = 0;
    t->peer = (struct tcp_peer){ .lfd = tcp_listen_lo(&port), .size = size, .pingpong = pingpong, .wc = *wc };
    t->fd = -1;
    if (t->peer.lfd < 0)
        return -1;
    if (pthread_create(&t->th, NULL, tcp_peer_main, &t->peer) != 0) {
        close(t->peer.lfd);
        return -1;
    }
    t->fd = tcp_connect_lo(port);
    return 0;
}

static void tcp_close(struct tcp_conn *t)
{
    if (t->fd >= 0)
        shutdown(t->fd, SHUT_RDWR);
    else
        shutdown(t->peer.lfd, SHUT_RDWR); /* wakes the accept */
    pthread_join(t->th, NULL);
    if (t->fd >= 0)
        close(t->fd);
    close(t->peer.lfd);
}

/* Goodput of a TCP stream of size-octet writev()s; the time ends when the receiver has them all. */
static int tcp_bw(const struct opts *o, uint32_t size, const uint8_t *src, struct result *r)
{
    struct tcp_conn t;
    if (tcp_open(&t, size, 0, &o->wc) != 0 || t.fd < 0) {
        tcp_close(&t);
        return -1;
    }
    uint64_t n = (uint64_t)o->iters * o->qps, dur = (uint64_t)(o->duration * 1e9), i = 0;
    uint64_t t0 = now_ns();
    int rc = 0;
    for (; rc == 0; i++) {
        if (o->duration > 0.0 ? (i % 16u == 0 && now_ns() - t0 >= dur) : i >= n)
            break;
        rc = write_full(t.fd, src, size);
    }
    uint8_t b[8];
    shutdown(t.fd, SHUT_WR);
    if (rc == 0 && read_full(t.fd, b, 8) != 1)
        rc = -1;
    double secs = (double)(now_ns() - t0) / 1e9;
    tcp_close(&t);
    if (rc != 0)
        return -1;
    uint64_t bytes = get64(b);
    r->tcp_gbps = (double)bytes * 8.0 / secs / 1e9;
    r->tcp_rate = (double)bytes / size / secs;
    return 0;
}

/* Half round trip of a TCP ping-pong of size-octet messages. */
/* How the TCP ping-pong waits: as iwkit's latency loop does. Completions (send, read, ...) and
 * manual-progress memory polling block in iwk_cq_wait / iwk_cq_progress unless --cq-wait poll, so
 * TCP blocks in read() then; write latency with the progress thread polls memory with
 * sched_yield() between looks, so TCP polls with MSG_DONTWAIT and sched_yield() too (a blocking
 * read() would pay the VM's idle wake-up, tens of µs, where iwkit's thread never sleeps). */
static struct waitcfg tcp_lat_wait(const struct opts *o)
{
    struct waitcfg w = o->wc;
    if (o->op == OP_WRITE && !o->wc.app_progress)
        w.wait = WAIT_POLL;
    return w;
}

static int tcp_lat(const struct opts *o, uint32_t size, uint8_t *buf, struct result *r)
{
    const struct waitcfg wc = tcp_lat_wait(o);
    struct tcp_conn t;
    if (tcp_open(&t, size, 1, &wc) != 0 || t.fd < 0) {
        tcp_close(&t);
        return -1;
    }
    struct samples s = { 0 };
    int rc = 0;
    uint64_t t_start = now_ns();
    for (uint64_t i = 0; rc == 0 && more_iters(o, i, t_start); i++) {
        uint64_t t0 = now_ns();
        if (i == WARMUP)
            t_start = t0;
        if (write_full(t.fd, buf, size) != 0 || read_full_wc(t.fd, buf, size, &wc) != 1)
            rc = -1;
        else if (i >= WARMUP)
            rc = samples_add(&s, (now_ns() - t0) / 2u);
    }
    tcp_close(&t);
    if (rc == 0) {
        r->tcp_p50 = percentile_us(&s, 50);
        r->tcp_p99 = percentile_us(&s, 99);
    }
    free(s.ns);
    return rc;
}

static int tcp_measure(const struct opts *o, uint32_t size, struct result *r)
{
    uint8_t *buf = alloc_buf(size);
    int rc = buf == NULL ? -1 : o->do_bw ? tcp_bw(o, size, buf, r) : 0;
    if (rc == 0 && o->do_lat)
        rc = tcp_lat(o, size, buf, r);
    free(buf);
    r->tcp_ok = rc == 0;
    return rc;
}

/* ---- UCX baseline: ucx_perftest over TCP (UCX_TLS=tcp), server and client on loopback -------- */

static int ucx_installed(void)
{
    const char *path = getenv("PATH");
    char dir[4096];
    while (path != NULL && *path != '\0') {
        size_t n = strcspn(path, ":");
        if (n > 0 && n < sizeof dir - 16u) {
            memcpy(dir, path, n);
            memcpy(dir + n, "/ucx_perftest", 14);
            if (access(dir, X_OK) == 0)
                return 1;
        }
        path += n + (path[n] == ':');
    }
    return 0;
}

static int free_port(void)
{
    uint16_t port = 0;
    int fd = tcp_listen_lo(&port);
    if (fd < 0)
        return -1;
    close(fd);
    return port;
}

/* Starts argv with stdout into *out_fd (when non-NULL) or /dev/null, stderr to /dev/null. */
static pid_t spawn(char *const argv[], int *out_fd)
{
    posix_spawn_file_actions_t fa;
    int pfd[2] = { -1, -1 };
    pid_t pid = -1;
    if (out_fd != NULL && pipe(pfd) != 0)
        return -1;
    posix_spawn_file_actions_init(&fa);
    if (out_fd != NULL) {
        posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
        posix_spawn_file_actions_addclose(&fa, pfd[0]);
        posix_spawn_file_actions_addclose(&fa, pfd[1]);
    } else {
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    }
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0)
        pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    if (out_fd != NULL) {
        close(pfd[1]);
        if (pid < 0)
            close(pfd[0]);
        else
            *out_fd = pfd[0];
    }
    return pid;
}

static void reap(pid_t pid, int wait_ms)
{
    for (int i = 0; i < wait_ms / 10; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return;
        struct timespec ts = { 0, 10000000 };
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* The last line of ucx_perftest -f -v: iterations,p50_lat,avg_lat,overall_lat,avg_bw,overall_bw,avg_mr,overall_mr */
static int ucx_parse(const char *out, double *p50, double *rate)
{
    const char *line = NULL;
    for (const char *p = out; *p != '\0'; p++) {
        if (p != out && p[-1] != '\n')
            continue;
        const char *q = p + strspn(p, " ");
        if (*q >= '0' && *q <= '9')
            line = q;
    }
    double it, avg_lat, all_lat, avg_bw, all_bw, avg_mr, all_mr;
    if (line == NULL || sscanf(line, "%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf", &it, p50, &avg_lat, &all_lat, &avg_bw,
                               &all_bw, &avg_mr, &all_mr) != 8)
        return -1;
    *rate = all_mr;
    return 0;
}

static int ucx_client(char *const argv[], double *p50, double *rate)
{
    int fd = -1;
    pid_t pid = spawn(argv, &fd);
    if (pid < 0)
        return -1;
    char out[8192];
    size_t n = 0;
    uint64_t end = now_ns() + UCX_TIMEOUT_S * 1000000000ull;
    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        if (now_ns() > end || poll(&pfd, 1, 1000) < 0) {
            kill(pid, SIGKILL); /* ucx_perftest has no time limit of its own */
            break;
        }
        if (pfd.revents == 0)
            continue;
        ssize_t r = read(fd, out + n, sizeof out - 1u - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n == sizeof out - 1u)
            n = 0; /* only the tail matters */
    }
    out[n] = '\0';
    close(fd);
    int st = 0;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return -1;
    return ucx_parse(out, p50, rate);
}

/* One ucx_perftest test (server process + client process); retried while the server starts. */
static int ucx_run(const char *test, uint32_t size, uint64_t iters, uint32_t outstanding, double *p50, double *rate)
{
    int port = free_port();
    if (port < 0)
        return -1;
    char ps[16], ss[16], ns[24], ws[24], os[16];
    snprintf(ps, sizeof ps, "%d", port);
    snprintf(ss, sizeof ss, "%" PRIu32, size);
    snprintf(ns, sizeof ns, "%" PRIu64, iters);
    snprintf(ws, sizeof ws, "%" PRIu64, iters / 10u + 10u);
    snprintf(os, sizeof os, "%" PRIu32, outstanding);
    char *srv[] = { "ucx_perftest", "-p", ps, NULL };
    char *cli[] = { "ucx_perftest", "127.0.0.1", "-p", ps, "-t", (char *)(uintptr_t)test, "-s", ss, "-n", ns,
                    "-w", ws, "-f", "-v", outstanding ? "-O" : NULL, os, NULL };
    pid_t sp = spawn(srv, NULL);
    if (sp < 0)
        return -1;
    int rc = -1;
    for (int attempt = 0; attempt < 40 && rc != 0; attempt++) {
        struct timespec ts = { 0, 50000000 };
        nanosleep(&ts, NULL);
        rc = ucx_client(cli, p50, rate);
        if (rc != 0 && waitpid(sp, NULL, WNOHANG) == sp) {
            sp = -1;
            break;
        }
    }
    if (sp > 0)
        reap(sp, 3000);
    return rc;
}

struct ucx_tests {
    const char *bw, *lat;
    uint32_t bw_outstanding;
};

static struct ucx_tests ucx_tests_for(enum op op, uint32_t depth)
{
    switch (op) {
    case OP_READ: return (struct ucx_tests){ "ucp_get", "ucp_get", depth };
    case OP_SEND: return (struct ucx_tests){ "tag_bw", "tag_lat", 0 };
    case OP_ATOMIC: return (struct ucx_tests){ "ucp_fadd", "ucp_fadd", depth };
    default: return (struct ucx_tests){ "ucp_put_bw", "ucp_put_lat", 0 };
    }
}

/* Iteration counts: --iters, or about --duration at the rates iwkit just measured. */
static int ucx_measure(const struct opts *o, uint32_t size, struct result *r)
{
    struct ucx_tests t = ucx_tests_for(o->op, o->depth);
    uint64_t nbw = o->iters, nlat = o->iters;
    if (o->duration > 0.0) {
        nbw = (uint64_t)(r->rate * o->duration);
        nlat = r->p50 > 0.0 ? (uint64_t)(o->duration * 1e6 / (2.0 * r->p50)) : 1000u;
    }
    /* UCX over TCP is much slower than iwkit for large messages: at most UCX_MAX_BYTES a test */
    uint64_t cap_bw = UCX_MAX_BYTES / size, cap_lat = UCX_MAX_BYTES / 4u / size;
    nbw = nbw > cap_bw ? cap_bw : nbw;
    nlat = nlat > cap_lat ? cap_lat : nlat;
    nbw = nbw < 100u ? 100u : nbw > 1000000u ? 1000000u : nbw;
    nlat = nlat < 100u ? 100u : nlat > UCX_MAX_LAT_ITERS ? UCX_MAX_LAT_ITERS : nlat;
    uint32_t usize = o->op == OP_ATOMIC ? 8u : size;
    double p50 = 0.0, rate = 0.0, dummy = 0.0;
    int rc = o->do_bw ? ucx_run(t.bw, usize, nbw, t.bw_outstanding, &dummy, &rate) : 0;
    if (rc == 0 && o->do_lat)
        rc = ucx_run(t.lat, usize, nlat, t.bw_outstanding ? 1u : 0u, &p50, &dummy);
    r->ucx_ok = rc == 0;
    r->ucx_rate = rate;
    r->ucx_gbps = rate * usize * 8.0 / 1e9;
    r->ucx_p50 = p50;
    return rc;
}

/* ---- output ------------------------------------------------------------------------------------ */

static void json_num(const char *key, double v, int valid)
{
    if (valid && v == v && v < 1e300 && v > -1e300)
        printf(", \"%s\": %.6g", key, v);
    else
        printf(", \"%s\": null", key);
}

static const char *lat_kind(enum op op)
{
    return op == OP_READ || op == OP_ATOMIC ? "completion" : "half_rtt";
}

static void print_json(const struct opts *o, const struct result *r, const struct idle_mem *im)
{
    printf("{\"op\": \"%s\", \"size\": %" PRIu32 ", \"qps\": %" PRIu32 ", \"depth\": %" PRIu32
           ", \"crc\": %s, \"markers\": %s, \"lat_kind\": \"%s\"",
           op_names[o->op], r->size, o->qps, o->depth, o->crc ? "true" : "false", o->markers ? "true" : "false",
           lat_kind(o->op));
    int b = o->do_bw, l = o->do_lat;
    json_num("goodput_gbps", r->gbps, b);
    json_num("msg_rate", r->rate, b);
    json_num("lat_p50_us", r->p50, l);
    json_num("lat_p99_us", r->p99, l);
    if (o->base_tcp) {
        printf(", \"tcp_lat_wait\": \"%s\"", tcp_lat_wait(o).wait == WAIT_POLL ? "poll" : "block");
        json_num("tcp_goodput_gbps", r->tcp_gbps, r->tcp_ok && b);
        json_num("tcp_msg_rate", r->tcp_rate, r->tcp_ok && b);
        json_num("tcp_lat_p50_us", r->tcp_p50, r->tcp_ok && l);
        json_num("tcp_lat_p99_us", r->tcp_p99, r->tcp_ok && l);
        json_num("ratio_goodput", r->gbps / r->tcp_gbps, r->tcp_ok && b && r->tcp_gbps > 0.0);
        json_num("ratio_lat", r->p50 / r->tcp_p50, r->tcp_ok && l && r->tcp_p50 > 0.0);
    }
    if (o->base_1qp) {
        json_num("qp1_goodput_gbps", r->qp1_gbps, r->qp1_ok && b);
        json_num("ratio_qps", r->gbps / r->qp1_gbps, r->qp1_ok && b && r->qp1_gbps > 0.0);
    }
    if (o->qps > 1 && im != NULL) {
        /* heap+mmap is malloc's view: under a sanitizer's allocator it sees nothing (null) */
        json_num("idle_qp_bytes", im->heap, im->valid && im->heap > 0.0);
        json_num("idle_qp_rss_bytes", im->rss, im->valid);
        json_num("idle_qp_sock_bytes", im->sock, im->valid);
        json_num("idle_qp_min_bytes", im->min_heap, im->min_valid && im->min_heap > 0.0);
        json_num("idle_qp_min_rss_bytes", im->min_rss, im->min_valid);
        json_num("kernel_sock_obj_bytes", (double)im->kobj, im->kobj > 0);
        json_num("connect_s", im->connect_s, im->valid);
    }
    if (r->ucx_ok) {
        json_num("ucx_goodput_gbps", r->ucx_gbps, b);
        json_num("ucx_msg_rate", r->ucx_rate, b);
        json_num("ucx_lat_p50_us", r->ucx_p50, l);
        json_num("ucx_ratio_goodput", r->gbps / r->ucx_gbps, b && r->ucx_gbps > 0.0);
        json_num("ucx_ratio_lat", r->p50 / r->ucx_p50, l && r->ucx_p50 > 0.0);
    }
    printf("}\n");
    fflush(stdout);
}

static void print_header(const struct opts *o)
{
    printf("iwperf: op %s, %" PRIu32 " QP(s), depth %" PRIu32 ", CRC %s, Markers %s, %s; latency = %s\n",
           op_names[o->op], o->qps, o->depth, o->crc ? "on" : "off", o->markers ? "on" : "off",
           o->duration > 0.0 ? "duration mode" : "iteration mode",
           o->op == OP_READ || o->op == OP_ATOMIC ? "whole completion time" : "half round trip");
    printf("%9s %10s %12s %9s %9s", "size", "Gbit/s", "msg/s", "p50 us", "p99 us");
    if (o->base_tcp)
        printf(" | %10s %9s %7s %7s", "TCP Gbit/s", "TCP p50", "x gput", "x lat");
    if (o->base_ucx)
        printf(" | %10s %9s", "UCX Gbit/s", "UCX p50");
    if (o->base_1qp)
        printf(" | %10s %7s", "1QP Gbit/s", "x 1QP");
    printf("\n");
}

/* One table cell: the number, or "-" when it was not measured. */
static void cell(int width, int prec, double v, int valid)
{
    if (valid && v == v)
        printf(" %*.*f", width, prec, v);
    else
        printf(" %*s", width, "-");
}

static void print_row(const struct opts *o, const struct result *r)
{
    int b = o->do_bw, l = o->do_lat, t = o->base_tcp && r->tcp_ok, u = o->base_ucx && r->ucx_ok;
    printf("%9" PRIu32, r->size);
    cell(10, 3, r->gbps, b); cell(12, 0, r->rate, b); cell(9, 2, r->p50, l); cell(9, 2, r->p99, l);
    if (o->base_tcp) {
        printf(" |");
        cell(10, 3, r->tcp_gbps, t && b); cell(9, 2, r->tcp_p50, t && l);
        cell(7, 2, r->gbps / r->tcp_gbps, t && b); cell(7, 2, r->p50 / r->tcp_p50, t && l);
    }
    if (o->base_ucx) {
        printf(" |");
        cell(10, 3, r->ucx_gbps, u && b); cell(9, 2, r->ucx_p50, u && l);
    }
    if (o->base_1qp) {
        printf(" |");
        cell(10, 3, r->qp1_gbps, r->qp1_ok && b); cell(7, 2, r->gbps / r->qp1_gbps, r->qp1_ok && b);
    }
    printf("\n");
    fflush(stdout);
}

/* ---- options ------------------------------------------------------------------------------------ */

static void usage(void)
{
    fprintf(stderr,
            "usage: iwperf --loopback | --server [--port P] | --client HOST [--port P]\n"
            "  [--op write|read|send|atomic|write_imm] [--size N[k|M] | --sweep | --sizes a,b,...]\n"
            "  [--iters N | --duration SECONDS] [--depth D] [--qps N] [--crc on|off] [--markers on|off]\n"
            "  [--baseline tcp|ucx|1qp|tcp,ucx,1qp] [--spin N] [--cq-wait block|poll|event]\n  [--progress thread|app] [--sockbuf BYTES]  [--test bw|lat|both] [--timeout SECONDS] [--pcap FILE] [--json]\n");
}

static int parse_size(const char *s, uint32_t *out)
{
    char *e = NULL;
    unsigned long long v = strtoull(s, &e, 10);
    if (e == s)
        return -1;
    if (*e == 'k' || *e == 'K')
        v <<= 10, e++;
    else if (*e == 'm' || *e == 'M')
        v <<= 20, e++;
    if ((*e != '\0' && *e != ',') || v == 0 || v > MAX_SIZE)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int parse_sizes(const char *s, struct opts *o)
{
    o->nsizes = 0;
    while (*s != '\0') {
        if (o->nsizes == MAX_SIZES || parse_size(s, &o->sizes[o->nsizes++]) != 0)
            return -1;
        s += strcspn(s, ",");
        s += *s == ',';
    }
    return o->nsizes > 0 ? 0 : -1;
}

static int parse_onoff(const char *s, int *out)
{
    *out = strcmp(s, "on") == 0;
    return *out || strcmp(s, "off") == 0 ? 0 : -1;
}

static int parse_op(const char *s, enum op *out)
{
    for (int i = 0; i < OP_COUNT; i++)
        if (strcmp(s, op_names[i]) == 0) {
            *out = (enum op)i;
            return 0;
        }
    return -1;
}

static int parse_wait(const char *s, int *out)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(s, wait_names[i]) == 0) {
            *out = i;
            return 0;
        }
    return -1;
}

static int parse_baseline(const char *s, struct opts *o)
{
    int ok = 0;
    if (strstr(s, "tcp") != NULL)
        o->base_tcp = ok = 1;
    if (strstr(s, "ucx") != NULL)
        o->base_ucx = ok = 1;
    if (strstr(s, "1qp") != NULL)
        o->base_1qp = ok = 1;
    return ok ? 0 : -1;
}

static void set_sweep(struct opts *o)
{
    o->nsizes = 0;
    for (uint32_t v = 2; v <= (1u << 20); v <<= 1)
        o->sizes[o->nsizes++] = v;
}

static int parse_opt(int c, const char *arg, struct opts *o)
{
    switch (c) {
    case 'S': o->server = 1; return 0;
    case 'C': o->client = 1; o->host = arg; return 0;
    case 'L': o->loopback = 1; return 0;
    case 'p': o->port = (uint16_t)atoi(arg); return 0;
    case 'o': return parse_op(arg, &o->op);
    case 's': o->nsizes = 1; return parse_size(arg, &o->sizes[0]);
    case 'w': set_sweep(o); return 0;
    case 'z': return parse_sizes(arg, o);
    case 'n': o->iters = (uint32_t)strtoul(arg, NULL, 10); return o->iters > 0 ? 0 : -1;
    case 't': o->duration = atof(arg); return o->duration > 0.0 && o->duration < 3600.0 ? 0 : -1;
    case 'd': o->depth = (uint32_t)strtoul(arg, NULL, 10); return o->depth >= 1 && o->depth <= MAX_DEPTH ? 0 : -1;
    case 'q': o->qps = (uint32_t)strtoul(arg, NULL, 10); return o->qps >= 1 && o->qps <= MAX_QPS ? 0 : -1;
    case 'c': return parse_onoff(arg, &o->crc);
    case 'm': return parse_onoff(arg, &o->markers);
    case 'b': return parse_baseline(arg, o);
    case 'y': o->wc.spin = (uint32_t)strtoul(arg, NULL, 10); return 0;
    case 'T': o->wc.timeout_ms = (int)(atof(arg) * 1000.0); return o->wc.timeout_ms > 0 ? 0 : -1;
    case 'j': o->json = 1; return 0;
    case 'P': o->pcap = arg; return 0;
    case 'X':
        o->do_bw = strcmp(arg, "lat") != 0;
        o->do_lat = strcmp(arg, "bw") != 0;
        return strcmp(arg, "bw") == 0 || strcmp(arg, "lat") == 0 || strcmp(arg, "both") == 0 ? 0 : -1;
    case 'W': return parse_wait(arg, &o->wc.wait);
    case 'B':
        if (parse_size(arg, &o->wc.sockbuf) != 0)
            return -1;
        return o->wc.sockbuf >= 4096u && o->wc.sockbuf <= (64u << 20) ? 0 : -1;
    case 'G':
        o->wc.app_progress = strcmp(arg, "app") == 0;
        return o->wc.app_progress || strcmp(arg, "thread") == 0 ? 0 : -1;
    default: return -1;
    }
}

static int parse(int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {
        { "server", no_argument, NULL, 'S' }, { "client", required_argument, NULL, 'C' },
        { "loopback", no_argument, NULL, 'L' }, { "port", required_argument, NULL, 'p' },
        { "op", required_argument, NULL, 'o' }, { "size", required_argument, NULL, 's' },
        { "sweep", no_argument, NULL, 'w' }, { "sizes", required_argument, NULL, 'z' },
        { "iters", required_argument, NULL, 'n' }, { "duration", required_argument, NULL, 't' },
        { "depth", required_argument, NULL, 'd' }, { "qps", required_argument, NULL, 'q' },
        { "crc", required_argument, NULL, 'c' }, { "markers", required_argument, NULL, 'm' },
        { "baseline", required_argument, NULL, 'b' }, { "spin", required_argument, NULL, 'y' },
        { "cq-wait", required_argument, NULL, 'W' }, { "pcap", required_argument, NULL, 'P' },
        { "timeout", required_argument, NULL, 'T' }, { "test", required_argument, NULL, 'X' },
        { "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' },
        { "progress", required_argument, NULL, 'G' }, { "sockbuf", required_argument, NULL, 'B' },
        { 0, 0, 0, 0 } };
    *o = (struct opts){ .op = OP_WRITE, .sizes = { 65536 }, .nsizes = 1, .iters = DEFAULT_ITERS,
                        .depth = DEFAULT_DEPTH, .qps = 1, .crc = 1, .port = 7175, .do_bw = 1, .do_lat = 1,
                        .wc = { .spin = DEFAULT_SPIN, .timeout_ms = DEFAULT_TIMEOUT_MS } };
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1)
        if (parse_opt(c, optarg, o) != 0)
            return -1;
    if (optind != argc || o->server + o->client + o->loopback != 1)
        return -1;
    if (o->wc.app_progress && o->wc.wait == WAIT_EVENT)
        return -1; /* the completion channel needs the progress thread */
    if (o->op == OP_ATOMIC) { /* atomics are 8 octets whatever the size list */
        o->sizes[0] = 8;
        o->nsizes = 1;
    }
    return 0;
}

/* ---- main -------------------------------------------------------------------------------------- */

struct server_arg {
    struct ep *s;
    struct iwk_listener *l;
    struct waitcfg wc;
    int rc;
};

static void *server_thread(void *p)
{
    struct server_arg *a = p;
    a->rc = serve(a->s, a->l, &a->wc);
    return NULL;
}

static void print_idle(const struct opts *o, const struct idle_mem *im)
{
    if (o->json || o->qps < 2 || !im->valid)
        return;
    printf("idle QPs: %" PRIu32 " connected in %.2f s; per QP (%s, %u posted receives): heap+mmap %.0f B, RSS %.0f B"
           "; TCP socket buffers %.0f B\n",
           im->nqps, im->connect_s, im->sides == 2 ? "average of client and server side" : "client side",
           im->sides == 2 ? (CLI_RQ + SRV_RQ) / 2u : CLI_RQ, im->heap, im->rss, im->sock);
    if (im->min_valid)
        printf("idle QPs, minimal (default attributes, nothing posted): heap+mmap %.0f B (%.0f B created, not "
               "connected), RSS %.0f B per QP\n", im->min_heap, im->min_created, im->min_rss);
    if (im->kobj > 0)
        printf("kernel objects of a TCP socket (slab sizes, not counted above): %" PRId64 " B\n", im->kobj);
    fflush(stdout);
}

static int measure_all(struct ep *c, const struct opts *o, const struct idle_mem *im)
{
    print_idle(o, im);
    if (!o->json)
        print_header(o);
    for (uint32_t i = 0; i < o->nsizes; i++) {
        struct result r = { .size = o->sizes[i] };
        if (iwk_measure(c, o, i, &r) != 0)
            return -1;
        if (o->base_tcp && tcp_measure(o, r.size, &r) != 0)
            fprintf(stderr, "iwperf: TCP baseline failed at %" PRIu32 " B\n", r.size);
        if (o->base_ucx && ucx_measure(o, r.size, &r) != 0)
            fprintf(stderr, "iwperf: UCX baseline failed at %" PRIu32 " B\n", r.size);
        if (o->json)
            print_json(o, &r, im);
        else
            print_row(o, &r);
    }
    return 0;
}

/* Loopback: waits until the server thread has accepted every QP. */
static int wait_server_ready(const struct opts *o)
{
    uint64_t t0 = now_ns();
    while (atomic_load_explicit(&g_srv_ready, memory_order_acquire) == 0) {
        if (now_ns() - t0 > (uint64_t)o->wc.timeout_ms * 1000000u)
            return -1;
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    return 0;
}

static int run_client(const struct opts *o, const char *host, uint16_t port, struct idle_mem *im)
{
    struct ep c = { .name = "client" };
    struct memsnap m0, m1;
    int rc = ep_setup(&c, max_size(o->sizes, o->nsizes), o->qps, CLI_RQ, cq_depth(o->qps, o->depth), &o->wc, o->pcap);
    mem_snap(&m0);
    uint64_t t0 = now_ns();
    if (rc == 0)
        rc = ep_add_qps(&c, o->qps);
    if (rc == 0)
        rc = cli_connect(&c, o, host, port);
    if (rc == 0 && o->loopback && wait_server_ready(o) != 0)
        rc = fail(&c, "the server did not accept every QP");
    if (rc == 0) {
        /* every QP connected on both sides, nothing sent yet: growth per QP side, without the
         * server's one-time setup (buffers, MRs, CQ) that happened meanwhile on loopback */
        mem_snap(&m1);
        struct memsnap d = mem_sub(m1, m0);
        if (o->loopback)
            d = mem_sub(d, g_srv_setup);
        im->nqps = o->qps;
        im->sides = o->loopback ? 2u : 1u;
        im->heap = (double)d.heap / (im->sides * o->qps);
        im->rss = (double)d.rss / (im->sides * o->qps);
        im->sock = (double)d.sock / (im->sides * o->qps);
        im->connect_s = (double)(now_ns() - t0) / 1e9;
        im->kobj = kernel_sock_obj_bytes();
        im->valid = 1;
    }
    if (rc == 0)
        rc = measure_all(&c, o, im);
    if (rc == 0)
        rc = cli_finish(&c);
    if (c.err[0] != '\0')
        fprintf(stderr, "iwperf: %s\n", c.err);
    ep_teardown(&c);
    return rc;
}

static int run_server(const struct opts *o, struct iwk_context *lctx)
{
    struct iwk_listener *l = NULL;
    int rc = iwk_listen(lctx, NULL, o->port, 8, &l);
    if (rc != 0) {
        fprintf(stderr, "iwperf: cannot listen on port %u: %s\n", o->port, strerror(-rc));
        return -1;
    }
    printf("iwperf server: listening on port %u\n", iwk_listener_port(l));
    fflush(stdout);
    struct ep s = { .name = "server" };
    rc = serve(&s, l, &o->wc);
    if (rc == 0 && s.nqp > 1)
        printf("iwperf server: idle QPs: per QP (server side, %u posted receives): heap+mmap %.0f B, RSS %.0f B\n",
               SRV_RQ, (double)s.idle.heap / s.nqp, (double)s.idle.rss / s.nqp);
    if (rc == 0)
        printf("iwperf server: client done (op %s, %u QP(s), %u size(s))\n", op_names[s.par.op % OP_COUNT],
               s.par.nqps, s.par.nsizes);
    else
        fprintf(stderr, "iwperf: %s\n", s.err);
    iwk_listener_close(l);
    ep_teardown(&s);
    return rc;
}

/* ---- the minimal idle QP: default attributes, nothing posted, connected over loopback -------- */

struct probe {
    struct iwk_context *ctx[2];   /* 0: initiators, 1: responders */
    struct iwk_pd *pd[2];
    struct iwk_cq *cq[2];
    struct iwk_qp **qp[2];
    uint32_t n;
    struct iwk_listener *l;
    int timeout_ms;
    int rc;
};

static void *probe_server(void *arg)
{
    struct probe *p = arg;
    for (uint32_t i = 0; i < p->n; i++) {
        struct iwk_conn_request *req = NULL;
        struct iwk_conn_param cp;
        if (iwk_get_request(p->l, p->timeout_ms, &req) != 0) {
            p->rc = -1;
            return NULL;
        }
        iwk_conn_param_profile(&cp, "rfc");
        cp.rtr = 0;
        cp.crc = IWK_CRC_REQUIRED;
        if (iwk_accept(req, p->qp[1][i], &cp) != 0) {
            p->rc = -1;
            return NULL;
        }
    }
    return NULL;
}

/* n QP pairs with the runtime's default attributes (128 send and receive slots, 8 SGEs), nothing
 * posted: heap+mmap and RSS growth per QP (both sides), created and then connected. */
static int idle_probe(const struct opts *o, uint32_t n, struct idle_mem *im)
{
    struct probe p = { .n = n, .timeout_ms = o->wc.timeout_ms };
    int rc = 0;
    for (int k = 0; k < 2 && rc == 0; k++) {
        p.qp[k] = calloc(n, sizeof *p.qp[k]);
        if (p.qp[k] == NULL || iwk_context_open(NULL, &p.ctx[k]) != 0 || iwk_pd_alloc(p.ctx[k], &p.pd[k]) != 0 ||
            iwk_cq_create(p.ctx[k], 256, &p.cq[k]) != 0)
            rc = -1;
    }
    if (rc == 0 && iwk_listen(p.ctx[1], "127.0.0.1", 0, 128, &p.l) != 0)
        rc = -1;
    struct memsnap m0, m1, m2;
    mem_snap(&m0);
    for (int k = 0; k < 2 && rc == 0; k++)
        for (uint32_t i = 0; i < n && rc == 0; i++) {
            struct iwk_qp_attr qa = { .send_cq = p.cq[k], .recv_cq = p.cq[k] };
            rc = iwk_qp_create(p.pd[k], &qa, &p.qp[k][i]);
        }
    mem_snap(&m1);
    pthread_t th;
    int started = rc == 0 && pthread_create(&th, NULL, probe_server, &p) == 0;
    rc = started ? 0 : -1;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        struct iwk_conn_param cp;
        iwk_conn_param_profile(&cp, "rfc");
        cp.rtr = 0;
        cp.crc = IWK_CRC_REQUIRED;
        rc = iwk_connect(p.qp[0][i], "127.0.0.1", iwk_listener_port(p.l), &cp);
    }
    if (rc != 0 && p.l != NULL)
        shutdown(iwk_listener_fd(p.l), SHUT_RDWR); /* a server still waiting gives up */
    if (started)
        pthread_join(th, NULL);
    mem_snap(&m2);
    if (rc == 0 && p.rc == 0) {
        im->min_created = (double)mem_sub(m1, m0).heap / (2.0 * n);
        im->min_heap = (double)mem_sub(m2, m0).heap / (2.0 * n);
        im->min_rss = (double)mem_sub(m2, m0).rss / (2.0 * n);
        im->min_valid = 1;
    }
    for (int k = 0; k < 2; k++) {
        for (uint32_t i = 0; p.qp[k] != NULL && i < n; i++)
            if (p.qp[k][i] != NULL)
                iwk_qp_destroy(p.qp[k][i]);
        free(p.qp[k]);
        if (p.cq[k] != NULL)
            iwk_cq_destroy(p.cq[k]);
        if (p.pd[k] != NULL)
            iwk_pd_free(p.pd[k]);
    }
    iwk_listener_close(p.l);
    for (int k = 0; k < 2; k++)
        if (p.ctx[k] != NULL)
            iwk_context_close(p.ctx[k]);
    if (rc != 0 || p.rc != 0)
        fprintf(stderr, "iwperf: the minimal idle QP probe failed (its numbers are null)\n");
    return 0;
}

static int run_loopback(const struct opts *o, struct iwk_context *lctx)
{
    struct idle_mem im = { 0 };
    if (o->qps > 1)
        idle_probe(o, o->qps, &im);
    struct iwk_listener *l = NULL;
    if (iwk_listen(lctx, "127.0.0.1", 0, 8, &l) != 0) {
        fprintf(stderr, "iwperf: cannot listen on loopback\n");
        return -1;
    }
    struct ep s = { .name = "server" };
    struct server_arg sa = { .s = &s, .l = l, .wc = o->wc };
    pthread_t th;
    if (pthread_create(&th, NULL, server_thread, &sa) != 0) {
        iwk_listener_close(l);
        return -1;
    }
    int rc = run_client(o, "127.0.0.1", iwk_listener_port(l), &im);
    if (rc != 0)
        iwk_listener_close(l); /* a server still waiting for a request gives up */
    pthread_join(th, NULL);
    if (sa.rc != 0)
        fprintf(stderr, "iwperf: %s\n", s.err);
    if (rc == 0)
        iwk_listener_close(l);
    ep_teardown(&s);
    return rc != 0 || sa.rc != 0 ? -1 : 0;
}

int iwperf_perftest_main(int argc, char **argv); /* perftest.c: --perftest */

/* Each QP is a TCP connection: an fd on each side, two per QP on loopback. The soft limit goes up
 * to the hard one; too few left is an error before anything starts. */
static int raise_nofile(const struct opts *o)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur != rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        (void)getrlimit(RLIMIT_NOFILE, &rl);
    }
    uint64_t need = (uint64_t)o->qps * (o->loopback ? 2u : 1u) + FD_SPARE;
    if (o->server || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
        return 0;
    fprintf(stderr, "iwperf: --qps %" PRIu32 " needs about %" PRIu64 " file descriptors (one per QP and side%s), but "
            "the limit is %llu (hard limit %llu): raise it (ulimit -n) or use fewer QPs\n", o->qps, need,
            o->loopback ? ", both sides in this process" : "", (unsigned long long)rl.rlim_cur,
            (unsigned long long)rl.rlim_max);
    return -1;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) /* perftest's rdma_cm exchange (docs/perftest-protocol.md) */
        if (strcmp(argv[i], "--perftest") == 0)
            return iwperf_perftest_main(argc, argv);
    struct opts o;
    if (parse(argc, argv, &o) != 0) {
        usage();
        return 2;
    }
    if (o.base_ucx && !ucx_installed()) {
        fprintf(stderr, "iwperf: ucx baseline skipped: ucx_perftest not installed\n");
        o.base_ucx = 0;
    }
    if (o.base_ucx) {
        setenv("UCX_TLS", "tcp", 1);
        setenv("UCX_NET_DEVICES", "lo", 1);
    }
    if ((o.base_tcp || o.base_ucx) && o.client)
        fprintf(stderr, "iwperf: note: the baselines run on loopback in this process, not to %s\n", o.host);
    int rc;
    if (raise_nofile(&o) != 0)
        return 1;
    if (o.client) {
        struct idle_mem im = { 0 };
        rc = run_client(&o, o.host, o.port, &im);
    } else {
        struct iwk_context *lctx = NULL;
        if (iwk_context_open(NULL, &lctx) != 0)
            return 1;
        rc = o.server ? run_server(&o, lctx) : run_loopback(&o, lctx);
        iwk_context_close(lctx);
    }
    return rc == 0 ? 0 : 1;
}
