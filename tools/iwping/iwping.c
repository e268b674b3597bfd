/* tools/iwping/iwping.c - iwping: connect two iwkit endpoints, exchange Sends, RDMA Writes (with
 * Immediate Data), RDMA Reads and atomics, verify every byte, report (like rping).
 *   iwping --server [--port P]    iwping --client HOST [--port P]    iwping --loopback
 * Exit status 0 only when every exchange was verified. Protocol: docs/iwping.md. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "iwkit/verbs.h"

#define IWPING_MAGIC 0x49574b50u /* "IWKP" */
#define IWPING_DONE 0x444f4e45u  /* "DONE" */
#define WAIT_MS 20000

struct opts {
    const char *host;
    uint16_t port;
    int server, client, loopback;
    struct iwk_conn_param cp;
    uint64_t size;
    uint32_t count;
    const char *pcap;
    int quiet;
};

/* What each side tells the other in the MPA Private Data (big-endian on the wire). */
struct adv {
    uint32_t magic;
    uint32_t count;
    uint64_t size;
    uint64_t buf_addr;   /* RDMA Write target (client) / RDMA Read source (server) */
    uint32_t buf_rkey;
    uint32_t atom_rkey;  /* server: the 64-bit counter for atomics */
    uint64_t atom_addr;
    uint32_t inv_rkey;   /* server: an STag the client's Sends with Invalidate invalidate */
};

struct side {
    const char *name;
    struct iwk_context *ctx;
    struct iwk_pd *pd;
    struct iwk_cq *cq;
    struct iwk_qp *qp;
    uint8_t *sbuf, *rbuf, *buf;   /* send source, receive target, RDMA buffer */
    struct iwk_mr *smr, *rmr, *bmr, *amr, *imr;
    uint8_t inv_area[64];
    uint64_t *atom;               /* server: counter; client: result word */
    struct adv peer;
    uint64_t ops, bytes;
    char err[256];
};

static void put64(uint8_t *p, uint64_t v) { for (int i = 7; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; } }
static void put32(uint8_t *p, uint32_t v) { for (int i = 3; i >= 0; i--) { p[i] = (uint8_t)v; v >>= 8; } }
static uint64_t get64(const uint8_t *p) { uint64_t v = 0; for (int i = 0; i < 8; i++) v = v << 8 | p[i]; return v; }
static uint32_t get32(const uint8_t *p) { uint32_t v = 0; for (int i = 0; i < 4; i++) v = v << 8 | p[i]; return v; }

#define ADV_LEN 44u
static void adv_put(uint8_t *p, const struct adv *a)
{
    put32(p, a->magic); put32(p + 4, a->count); put64(p + 8, a->size); put64(p + 16, a->buf_addr);
    put32(p + 24, a->buf_rkey); put32(p + 28, a->atom_rkey); put64(p + 32, a->atom_addr);
    put32(p + 40, a->inv_rkey);
}
static int adv_get(const uint8_t *p, size_t len, struct adv *a)
{
    if (len < ADV_LEN)
        return -1;
    a->magic = get32(p); a->count = get32(p + 4); a->size = get64(p + 8); a->buf_addr = get64(p + 16);
    a->buf_rkey = get32(p + 24); a->atom_rkey = get32(p + 28); a->atom_addr = get64(p + 32);
    a->inv_rkey = get32(p + 40);
    return a->magic == IWPING_MAGIC ? 0 : -1;
}

/* Deterministic pattern per iteration and operation. */
static void fill(uint8_t *b, uint64_t n, uint32_t it, char op)
{
    uint32_t x = it * 2654435761u + (uint32_t)op * 40503u + 1u;
    for (uint64_t i = 0; i < n; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        b[i] = (uint8_t)x;
    }
}
static int check(const uint8_t *b, uint64_t n, uint32_t it, char op, uint64_t *bad_at)
{
    uint32_t x = it * 2654435761u + (uint32_t)op * 40503u + 1u;
    for (uint64_t i = 0; i < n; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        if (b[i] != (uint8_t)x) {
            *bad_at = i;
            return -1;
        }
    }
    return 0;
}

static int fail(struct side *s, const char *what)
{
    struct iwk_qp_info qi;
    if (s->qp != NULL && iwk_qp_info(s->qp, &qi) == 0 && qi.reason[0] != '\0')
        snprintf(s->err, sizeof s->err, "%s: %s (%s)", s->name, what, qi.reason);
    else
        snprintf(s->err, sizeof s->err, "%s: %s", s->name, what);
    return -1;
}

static int wait_wc(struct side *s, enum iwk_wc_opcode want, struct iwk_wc *wc)
{
    for (;;) {
        int n = iwk_cq_poll(s->cq, 1, wc);
        if (n < 0)
            return fail(s, "completion queue overflow");
        if (n == 1)
            break;
        if (iwk_cq_wait(s->cq, WAIT_MS) != 0)
            return fail(s, "timed out waiting for a completion");
    }
    if (wc->status != IWK_WC_SUCCESS) {
        char m[96];
        snprintf(m, sizeof m, "work request %" PRIu64 " completed with status %d", wc->wr_id, (int)wc->status);
        return fail(s, m);
    }
    if (wc->opcode != want) {
        char m[96];
        snprintf(m, sizeof m, "unexpected completion opcode %d (wanted %d)", (int)wc->opcode, (int)want);
        return fail(s, m);
    }
    return 0;
}

static int setup(struct side *s, const struct opts *o, const char *pcap)
{
    struct iwk_context_attr ca = { .pcap_path = pcap };
    uint64_t n = o->size ? o->size : 1;
    const uint32_t rw = IWK_ACCESS_LOCAL_WRITE | IWK_ACCESS_REMOTE_WRITE | IWK_ACCESS_REMOTE_READ;
    if (iwk_context_open(&ca, &s->ctx) != 0 || iwk_pd_alloc(s->ctx, &s->pd) != 0 ||
        iwk_cq_create(s->ctx, 256, &s->cq) != 0)
        return fail(s, "cannot create the context");
    s->sbuf = malloc(n);
    s->rbuf = malloc(n);
    s->buf = malloc(n);
    if (posix_memalign((void **)&s->atom, 8, 8) != 0 || s->sbuf == NULL || s->rbuf == NULL || s->buf == NULL)
        return fail(s, "out of memory");
    *s->atom = 0;
    if (iwk_mr_reg(s->pd, s->sbuf, n, 0, &s->smr) != 0 ||
        iwk_mr_reg(s->pd, s->rbuf, n, IWK_ACCESS_LOCAL_WRITE, &s->rmr) != 0 ||
        iwk_mr_reg(s->pd, s->buf, n, rw, &s->bmr) != 0 ||
        iwk_mr_reg(s->pd, s->atom, 8, IWK_ACCESS_LOCAL_WRITE | IWK_ACCESS_REMOTE_ATOMIC, &s->amr) != 0 ||
        iwk_mr_reg(s->pd, s->inv_area, sizeof s->inv_area, rw, &s->imr) != 0)
        return fail(s, "cannot register memory");
    struct iwk_qp_attr qa = { .send_cq = s->cq, .recv_cq = s->cq, .max_send_wr = 64, .max_recv_wr = 64 };
    if (iwk_qp_create(s->pd, &qa, &s->qp) != 0)
        return fail(s, "cannot create the queue pair");
    return 0;
}

static void teardown(struct side *s)
{
    if (s->qp) iwk_qp_destroy(s->qp);
    if (s->smr) iwk_mr_dereg(s->smr);
    if (s->rmr) iwk_mr_dereg(s->rmr);
    if (s->bmr) iwk_mr_dereg(s->bmr);
    if (s->amr) iwk_mr_dereg(s->amr);
    if (s->imr) iwk_mr_dereg(s->imr);
    if (s->cq) iwk_cq_destroy(s->cq);
    if (s->pd) iwk_pd_free(s->pd);
    if (s->ctx) iwk_context_close(s->ctx);
    free(s->sbuf); free(s->rbuf); free(s->buf); free(s->atom);
}

static int post_recv(struct side *s, uint64_t id, uint64_t len)
{
    struct iwk_sge sg = { .addr = (uintptr_t)s->rbuf, .length = (uint32_t)len, .lkey = s->rmr->lkey };
    struct iwk_recv_wr wr = { .wr_id = id, .sg_list = &sg, .num_sge = 1 };
    return iwk_post_recv(s->qp, &wr) == 0 ? 0 : fail(s, "post_recv failed");
}

static int post(struct side *s, struct iwk_send_wr *wr)
{
    int rc = iwk_post_send(s->qp, wr);
    if (rc != 0) {
        char m[64];
        snprintf(m, sizeof m, "post_send failed (%d)", rc);
        return fail(s, m);
    }
    return 0;
}

/* ---- server ---------------------------------------------------------------------------------- */

static int serve(struct side *s, const struct opts *o, struct iwk_listener *l)
{
    struct iwk_conn_request *req = NULL;
    if (iwk_get_request(l, WAIT_MS, &req) != 0)
        return fail(s, "no connection request");
    const struct iwk_conn_request_info *ri = iwk_conn_request_info(req);
    struct adv ca;
    if (adv_get(ri->private_data, ri->private_data_len, &ca) != 0) {
        iwk_reject(req, "iwping: bad private data", 24);
        return fail(s, "client sent no iwping parameters");
    }
    s->peer = ca;
    uint64_t n = ca.size;
    if (n > o->size) {
        iwk_reject(req, "iwping: size too big", 20);
        return fail(s, "client size larger than the server's --size");
    }
    /* the first Send must find a buffer (RFC 5040 §5.3): post before accepting */
    if (post_recv(s, 1, n) != 0)
        return -1;
    uint8_t pd[ADV_LEN];
    struct adv mine = { .magic = IWPING_MAGIC, .count = ca.count, .size = n, .buf_addr = (uintptr_t)s->buf,
                        .buf_rkey = s->bmr->rkey, .atom_rkey = s->amr->rkey, .atom_addr = (uintptr_t)s->atom,
                        .inv_rkey = s->imr->rkey };
    adv_put(pd, &mine);
    struct iwk_conn_param cp = o->cp;
    cp.private_data = pd;
    cp.private_data_len = ADV_LEN;
    int rc = iwk_accept(req, s->qp, &cp);
    if (rc != 0)
        return fail(s, "accept failed");
    struct iwk_wc wc;
    for (uint32_t it = 0; it < ca.count; it++) {
        if (wait_wc(s, IWK_WC_RECV, &wc) != 0)
            return -1;
        uint64_t bad = 0;
        if (wc.byte_len != n || check(s->rbuf, n, it, 'S', &bad) != 0)
            return fail(s, "Send data differs from the pattern");
        /* iteration i uses Send, Send with SE, Send with Invalidate, Send with SE and Invalidate */
        if (!(wc.flags & IWK_WC_WITH_SE) != !(it & 1u))
            return fail(s, "Solicited Event flag differs from the Send type");
        if (it & 2u) {
            if (!(wc.flags & IWK_WC_WITH_INV) || wc.invalidated_rkey != s->imr->rkey)
                return fail(s, "Send with Invalidate did not name our STag");
            /* re-keying succeeds only on an invalidated STag (RFC 5040 §5.3: the Send invalidated it) */
            if (iwk_mr_rekey(s->imr, (uint8_t)(s->imr->rkey + 1u)) != 0)
                return fail(s, "the STag named by Send with Invalidate is still valid");
        } else if (wc.flags & IWK_WC_WITH_INV) {
            return fail(s, "a plain Send reported an invalidation");
        }
        s->ops++; s->bytes += n;
        if (post_recv(s, it + 2, n) != 0)
            return -1;
        fill(s->buf, n, it, 'R'); /* the client Reads this next */
        fill(s->sbuf, n, it, 'W');
        struct iwk_sge sg = { .addr = (uintptr_t)s->sbuf, .length = (uint32_t)n, .lkey = s->smr->lkey };
        struct iwk_send_wr wr = { .wr_id = 100000 + it, .opcode = IWK_WR_WRITE_IMM, .flags = IWK_SEND_SIGNALED,
                                  .sg_list = &sg, .num_sge = 1, .remote_addr = ca.buf_addr, .rkey = ca.buf_rkey,
                                  .imm_data = it };
        if (post(s, &wr) != 0 || wait_wc(s, IWK_WC_WRITE_IMM, &wc) != 0)
            return -1;
        s->ops++; s->bytes += n;
    }
    /* the client ends with Immediate Data carrying the counter value it expects */
    if (wait_wc(s, IWK_WC_RECV_IMM, &wc) != 0)
        return -1;
    if (!(wc.flags & IWK_WC_WITH_SE))
        return fail(s, "final Immediate Data without Solicited Event");
    if (wc.imm_data != *s->atom)
        return fail(s, "atomic counter differs from what the client computed");
    if (iwk_qp_wait_closed(s->qp, WAIT_MS) != 0)
        return fail(s, "client did not close");
    return 0;
}

/* ---- client ------------------------------------------------------------------------------------ */

static int atomic_op(struct side *s, enum iwk_wr_opcode op, uint64_t a, uint64_t b, uint64_t expect_old, uint32_t it)
{
    struct iwk_wc wc;
    struct iwk_sge sg = { .addr = (uintptr_t)s->atom, .length = 8, .lkey = s->amr->lkey };
    struct iwk_send_wr wr = { .wr_id = 300000 + it, .opcode = op, .flags = IWK_SEND_SIGNALED, .sg_list = &sg,
                              .num_sge = 1, .remote_addr = s->peer.atom_addr, .rkey = s->peer.atom_rkey,
                              .compare_add = a, .swap = b };
    if (post(s, &wr) != 0 || wait_wc(s, op == IWK_WR_FETCH_ADD ? IWK_WC_FETCH_ADD : IWK_WC_CMP_SWAP, &wc) != 0)
        return -1;
    if (*s->atom != expect_old)
        return fail(s, "atomic returned an unexpected original value");
    s->ops++;
    return 0;
}

static int run_client(struct side *s, const struct opts *o, const char *host, uint16_t port)
{
    uint64_t n = o->size;
    uint8_t pd[ADV_LEN];
    struct adv mine = { .magic = IWPING_MAGIC, .count = o->count, .size = n, .buf_addr = (uintptr_t)s->buf,
                        .buf_rkey = s->bmr->rkey };
    adv_put(pd, &mine);
    struct iwk_conn_param cp = o->cp;
    cp.private_data = pd;
    cp.private_data_len = ADV_LEN;
    if (post_recv(s, 1, n) != 0)
        return -1;
    if (iwk_connect(s->qp, host, port, &cp) != 0)
        return fail(s, "connect failed");
    struct iwk_qp_info qi;
    iwk_qp_info(s->qp, &qi);
    if (adv_get(qi.peer_private_data, qi.peer_private_data_len, &s->peer) != 0)
        return fail(s, "server sent no iwping parameters");
    struct iwk_wc wc;
    uint64_t v = 0;
    for (uint32_t it = 0; it < o->count; it++) {
        fill(s->sbuf, n, it, 'S');
        struct iwk_sge sg = { .addr = (uintptr_t)s->sbuf, .length = (uint32_t)n, .lkey = s->smr->lkey };
        struct iwk_send_wr wr = { .wr_id = 200000 + it, .opcode = (it & 2u) ? IWK_WR_SEND_INV : IWK_WR_SEND,
                                  .flags = IWK_SEND_SIGNALED | ((it & 1u) ? IWK_SEND_SOLICITED : 0u),
                                  .sg_list = &sg, .num_sge = 1, .invalidate_rkey = s->peer.inv_rkey };
        if (it & 2u) /* the server gives that STag the next key after each invalidation */
            s->peer.inv_rkey = (s->peer.inv_rkey & ~0xFFu) | ((s->peer.inv_rkey + 1u) & 0xFFu);
        if (post(s, &wr) != 0 || wait_wc(s, IWK_WC_SEND, &wc) != 0)
            return -1;
        s->ops++; s->bytes += n;
        /* the server's RDMA Write with Immediate Data lands in buf */
        if (wait_wc(s, IWK_WC_RECV_IMM, &wc) != 0)
            return -1;
        uint64_t bad = 0;
        if (wc.imm_data != it || check(s->buf, n, it, 'W', &bad) != 0)
            return fail(s, "RDMA Write data or Immediate Data differs from the pattern");
        if (post_recv(s, it + 2, n) != 0)
            return -1;
        memset(s->rbuf, 0, n);
        struct iwk_sge rs = { .addr = (uintptr_t)s->rbuf, .length = (uint32_t)n, .lkey = s->rmr->lkey };
        struct iwk_send_wr rd = { .wr_id = 400000 + it, .opcode = IWK_WR_RDMA_READ, .flags = IWK_SEND_SIGNALED,
                                  .sg_list = &rs, .num_sge = 1, .remote_addr = s->peer.buf_addr,
                                  .rkey = s->peer.buf_rkey };
        /* the receive buffer is also the Read sink: post its receive after the Read */
        if (post(s, &rd) != 0 || wait_wc(s, IWK_WC_RDMA_READ, &wc) != 0)
            return -1;
        if (check(s->rbuf, n, it, 'R', &bad) != 0)
            return fail(s, "RDMA Read data differs from the pattern");
        s->ops++; s->bytes += n;
        if (atomic_op(s, IWK_WR_FETCH_ADD, it + 1u, 0, v, it) != 0)
            return -1;
        v += it + 1u;
        if (atomic_op(s, IWK_WR_CMP_SWAP, v, v ^ 0xA5A5u, v, it) != 0)
            return -1;
        v ^= 0xA5A5u;
    }
    struct iwk_send_wr fin = { .wr_id = 999999, .opcode = IWK_WR_IMM, .flags = IWK_SEND_SIGNALED | IWK_SEND_SOLICITED,
                               .imm_data = v };
    if (post(s, &fin) != 0 || wait_wc(s, IWK_WC_IMM, &wc) != 0)
        return -1;
    if (iwk_disconnect(s->qp, WAIT_MS) != 0)
        return fail(s, "disconnect did not complete");
    return 0;
}

/* ---- main -------------------------------------------------------------------------------------- */

struct server_arg {
    struct side *s;
    const struct opts *o;
    struct iwk_listener *l;
    int rc;
};

static void *server_thread(void *p)
{
    struct server_arg *a = p;
    a->rc = serve(a->s, a->o, a->l);
    return NULL;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: iwping --server [--port P] | --client HOST [--port P] | --loopback\n"
            "  [--mpa 1|2] [--crc on|off] [--markers on|off] [--rtr write|read|send|none]\n"
            "  [--profile rfc|siw|chelsio] [--size N] [--count N] [--pcap FILE] [--quiet]\n");
}

static uint64_t parse_size(const char *s)
{
    char *e = NULL;
    uint64_t v = strtoull(s, &e, 10);
    if (e && (*e == 'k' || *e == 'K')) v <<= 10;
    if (e && (*e == 'm' || *e == 'M')) v <<= 20;
    return v;
}

static int parse(int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {
        { "server", no_argument, NULL, 'S' }, { "client", required_argument, NULL, 'C' },
        { "loopback", no_argument, NULL, 'L' }, { "port", required_argument, NULL, 'p' },
        { "mpa", required_argument, NULL, 'm' }, { "crc", required_argument, NULL, 'c' },
        { "markers", required_argument, NULL, 'k' }, { "rtr", required_argument, NULL, 'r' },
        { "size", required_argument, NULL, 's' }, { "count", required_argument, NULL, 'n' },
        { "pcap", required_argument, NULL, 'w' }, { "profile", required_argument, NULL, 'P' },
        { "quiet", no_argument, NULL, 'q' }, { "help", no_argument, NULL, 'h' }, { 0, 0, 0, 0 } };
    iwk_conn_param_profile(&o->cp, "rfc");
    o->cp.rtr = 0;
    o->port = 7174;
    o->size = 4096;
    o->count = 10;
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'S': o->server = 1; break;
        case 'C': o->client = 1; o->host = optarg; break;
        case 'L': o->loopback = 1; break;
        case 'p': o->port = (uint16_t)atoi(optarg); break;
        case 'm': o->cp.mpa_rev = (uint8_t)atoi(optarg); break;
        case 'c': o->cp.crc = strcmp(optarg, "on") == 0 ? IWK_CRC_REQUIRED : IWK_CRC_OFF; break;
        case 'k': o->cp.markers = strcmp(optarg, "on") == 0; break;
        case 'r':
            o->cp.rtr = strcmp(optarg, "write") == 0 ? IWK_RTR_WRITE : strcmp(optarg, "read") == 0 ? IWK_RTR_READ
                      : strcmp(optarg, "send") == 0 ? IWK_RTR_SEND : 0;
            if (o->cp.rtr == 0 && strcmp(optarg, "none") != 0) return -1;
            break;
        case 'P': if (iwk_conn_param_profile(&o->cp, optarg) != 0) return -1; break;
        case 's': o->size = parse_size(optarg); break;
        case 'n': o->count = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'w': o->pcap = optarg; break;
        case 'q': o->quiet = 1; break;
        default: return -1;
        }
    }
    if (o->server + o->client + o->loopback != 1 || o->size > (64u << 20) || o->size > UINT32_MAX)
        return -1;
    if (o->cp.mpa_rev != 1 && o->cp.mpa_rev != 2)
        return -1;
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void report(const struct side *s, const struct opts *o, double secs)
{
    struct iwk_qp_info qi;
    iwk_qp_info(s->qp, &qi);
    static const char *rtr[] = { "none", "write", "read", "?", "send" };
    printf("iwping %s: MPA rev %u, CRC %s, markers tx %s rx %s, RTR %s, IRD %u ORD %u, MULPDU %u\n", s->name,
           qi.mpa_rev, qi.crc ? "on" : "off", qi.tx_markers ? "on" : "off", qi.rx_markers ? "on" : "off",
           rtr[qi.rtr <= 4 ? qi.rtr : 3], qi.ird, qi.ord, qi.mulpdu);
    printf("iwping %s: %u iterations of %" PRIu64 " B verified: %" PRIu64 " operations, %" PRIu64
           " payload bytes, %" PRIu64 " FPDUs out, %" PRIu64 " in, %.3f s\n",
           s->name, o->count, o->size, s->ops, s->bytes, qi.tx_fpdus, qi.rx_fpdus, secs);
}

int main(int argc, char **argv)
{
    struct opts o;
    memset(&o, 0, sizeof o);
    if (parse(argc, argv, &o) != 0) {
        usage();
        return 2;
    }
    struct side srv = { .name = "server" }, cli = { .name = "client" };
    int rc = 0;
    double t0 = now_s();
    if (o.server || o.loopback) {
        if (setup(&srv, &o, o.loopback ? NULL : o.pcap) != 0) {
            fprintf(stderr, "iwping: %s\n", srv.err);
            teardown(&srv);
            return 1;
        }
    }
    struct iwk_listener *l = NULL;
    if (o.server || o.loopback) {
        rc = iwk_listen(srv.ctx, o.loopback ? "127.0.0.1" : NULL, o.loopback ? 0 : o.port, 8, &l);
        if (rc != 0) {
            fprintf(stderr, "iwping: cannot listen on port %u: %s\n", o.port, strerror(-rc));
            teardown(&srv);
            return 1;
        }
    }
    if (o.server) {
        rc = serve(&srv, &o, l);
        if (rc == 0 && !o.quiet)
            report(&srv, &o, now_s() - t0);
    } else {
        if (setup(&cli, &o, o.pcap) != 0) {
            fprintf(stderr, "iwping: %s\n", cli.err);
            return 1;
        }
        pthread_t th;
        struct server_arg sa = { .s = &srv, .o = &o, .l = l };
        if (o.loopback)
            pthread_create(&th, NULL, server_thread, &sa);
        rc = run_client(&cli, &o, o.loopback ? "127.0.0.1" : o.host, o.loopback ? iwk_listener_port(l) : o.port);
        if (o.loopback) {
            pthread_join(th, NULL);
            if (rc == 0 && sa.rc != 0)
                rc = sa.rc;
            if (sa.rc != 0)
                fprintf(stderr, "iwping: %s\n", srv.err);
        }
        if (rc == 0 && !o.quiet) {
            if (o.loopback)
                report(&srv, &o, now_s() - t0);
            report(&cli, &o, now_s() - t0);
        }
        if (cli.err[0] != '\0')
            fprintf(stderr, "iwping: %s\n", cli.err);
        teardown(&cli);
    }
    if (o.server && srv.err[0] != '\0')
        fprintf(stderr, "iwping: %s\n", srv.err);
    iwk_listener_close(l);
    teardown(&srv);
    if (rc == 0)
        printf("iwping: OK\n");
    else
        printf("iwping: FAILED\n");
    return rc == 0 ? 0 : 1;
}
