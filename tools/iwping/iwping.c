/* tools/iwping/iwping.c - iwping: connect two iwkit endpoints, exchange Sends, RDMA Writes (with
 * Immediate Data), RDMA Reads and atomics, verify every byte, report (like rping).
 *   iwping --server [--port P]    iwping --client HOST [--port P]    iwping --loopback
 * Exit status 0 only when every exchange was verified. Protocol: docs/iwping.md. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "iwkit/crc32c.h"
#include "iwkit/verbs.h"

#define IWPING_MAGIC 0x49574b50u /* "IWKP" */
#define IWPING_DONE 0x444f4e45u  /* "DONE" */
static int wait_ms = 20000; /* --timeout: how long any one wait may take */
#define WAIT_MS wait_ms
#define RPING_INFO_LEN 16u
#define RPING_MIN_SIZE 26u    /* rping: room for "rdma-ping-2147483647: " */
#define RPING_MAX_SIZE 65535u /* rping: 64 KiB - 1 */
#define RPING_RECVS 4u        /* receives kept posted (rping keeps one; more does no harm) */

struct opts {
    const char *host;
    uint16_t port;
    int server, client, loopback;
    struct iwk_conn_param cp;
    uint64_t size;
    uint32_t count;
    const char *pcap;
    int quiet, verbose;
    int rping; /* --rping: rdma-core rping's protocol instead of iwping's */
    int probe_atomic; /* --rping --server --probe-atomic: a FetchAdd on the client's buffer first */
    int serve;        /* --serve: a server that serves clients until stopped */
    uint32_t clients; /* --serve --clients N: stop after N clients (0: until SIGTERM/SIGINT) */
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

static int serve_request(struct side *s, const struct opts *o, struct iwk_conn_request *req)
{
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
    /* the first Send must find a buffer (RFC 5040 §5.3): post before accepting; if that fails the
     * request is rejected (which frees it and closes its socket) */
    if (post_recv(s, 1, n) != 0) {
        iwk_reject(req, "iwping: server cannot receive", 29);
        return -1;
    }
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

static int serve(struct side *s, const struct opts *o, struct iwk_listener *l)
{
    struct iwk_conn_request *req = NULL;
    if (iwk_get_request(l, WAIT_MS, &req) != 0)
        return fail(s, "no connection request");
    return serve_request(s, o, req);
}

/* ---- long-lived server (--serve) ------------------------------------------------------------------ */

static volatile sig_atomic_t stop_serving;

static void on_stop(int sig)
{
    (void)sig;
    stop_serving = 1;
}

/* One line per connection with a CRC32c of each registered region, so that a test can tell that a
 * peer changed none it was not given an STag for. */
static void print_regions(const struct side *s, const struct opts *o, uint32_t nr, int rc)
{
    uint64_t n = o->size ? o->size : 1;
    printf("iwping serve: client %u %s%s%s; regions send=%08x recv=%08x rdma=%08x inv=%08x atomic=%08x\n", nr,
           rc == 0 ? "OK" : "FAILED", rc == 0 ? "" : ": ", rc == 0 ? "" : s->err, iwk_crc32c(s->sbuf, n),
           iwk_crc32c(s->rbuf, n), iwk_crc32c(s->buf, n), iwk_crc32c(s->inv_area, sizeof s->inv_area),
           iwk_crc32c((const uint8_t *)s->atom, 8));
    fflush(stdout);
}

/* A fresh queue pair and state for the next client; the regions stay registered. */
static int serve_reset(struct side *s)
{
    iwk_qp_destroy(s->qp);
    s->qp = NULL;
    s->err[0] = '\0';
    *s->atom = 0;
    (void)iwk_mr_rekey(s->imr, (uint8_t)(s->imr->rkey + 1u)); /* valid again if a client invalidated it */
    struct iwk_qp_attr qa = { .send_cq = s->cq, .recv_cq = s->cq, .max_send_wr = 64, .max_recv_wr = 64 };
    if (iwk_qp_create(s->pd, &qa, &s->qp) != 0)
        return fail(s, "cannot create the queue pair");
    struct iwk_wc wc;
    while (iwk_cq_poll(s->cq, 1, &wc) > 0) { /* completions of the last client's queue pair */ }
    return 0;
}

/* Serves clients one after the other until SIGTERM/SIGINT (or --clients N were served); a client
 * that fails, misbehaves or attacks ends its own connection only. */
static int serve_forever(struct side *s, const struct opts *o, struct iwk_listener *l)
{
    struct sigaction sa = { .sa_handler = on_stop };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    printf("iwping serve: listening on port %u\n", iwk_listener_port(l));
    print_regions(s, o, 0, 0);
    uint32_t nr = 0, ok = 0;
    while (!stop_serving && (o->clients == 0 || nr < o->clients)) {
        struct iwk_conn_request *req = NULL;
        int rc = iwk_get_request(l, 200, &req);
        if (rc == -ETIMEDOUT || rc == -EINTR)
            continue;
        if (rc != 0)
            return fail(s, "listener failed");
        nr++;
        rc = serve_request(s, o, req);
        ok += rc == 0;
        print_regions(s, o, nr, rc);
        if (serve_reset(s) != 0)
            return -1;
    }
    printf("iwping serve: %u clients, %u OK, %u failed\n", nr, ok, nr - ok);
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
            "  [--profile rfc|siw|chelsio] [--size N] [--count N] [--pcap FILE] [--quiet] [--timeout MS]\n"
            "  [--rping [--verbose]]   rdma-core rping's protocol (siw profile, 64 B; --size 26..65535)\n"
            "  [--rping --server --probe-atomic]   first a FetchAdd on the client's buffer (does the peer do atomics?)\n"
            "  [--serve [--clients N]]   a server that serves clients one after the other until SIGTERM/SIGINT\n");
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
        { "quiet", no_argument, NULL, 'q' }, { "help", no_argument, NULL, 'h' },
        { "rping", no_argument, NULL, 'R' }, { "verbose", no_argument, NULL, 'v' },
        { "timeout", required_argument, NULL, 't' }, { "probe-atomic", no_argument, NULL, 'A' },
        { "serve", no_argument, NULL, 'E' }, { "clients", required_argument, NULL, 'N' },
        { 0, 0, 0, 0 } };
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--rping") == 0)
            o->rping = 1;
    o->port = 7174;
    o->count = 10;
    if (o->rping) {
        /* towards rping (siw): the siw profile, client-server, IRD = ORD = 1 as rping asks
         * (rping_init_conn_param: responder_resources = initiator_depth = 1), rping's 64 B */
        iwk_conn_param_profile(&o->cp, "siw");
        o->cp.rtr = 0;
        o->cp.ird = o->cp.ord = 1;
        o->size = 64;
    } else {
        iwk_conn_param_profile(&o->cp, "rfc");
        o->cp.rtr = 0;
        o->size = 4096;
    }
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
        case 'v': o->verbose = 1; break;
        case 't': wait_ms = atoi(optarg); if (wait_ms <= 0) return -1; break;
        case 'R': break;
        case 'A': o->probe_atomic = 1; break;
        case 'E': o->serve = 1; o->server = 1; break;
        case 'N': o->clients = (uint32_t)strtoul(optarg, NULL, 10); break;
        default: return -1;
        }
    }
    if (o->server + o->client + o->loopback != 1 || o->size > (64u << 20) || o->size > UINT32_MAX)
        return -1;
    if (o->cp.mpa_rev != 1 && o->cp.mpa_rev != 2)
        return -1;
    if (o->rping && (o->size < RPING_MIN_SIZE || o->size > RPING_MAX_SIZE))
        return -1;
    if (o->probe_atomic && !(o->rping && o->server))
        return -1;
    if (o->serve && (o->rping || o->client || o->loopback))
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

/* ---- --rping: rdma-core rping's application protocol (docs/rping-protocol.md) ------------------
 *
 * Per ping the rping client advertises its source buffer with a 16-octet Send (address, STag,
 * length, big-endian), the server RDMA Reads it and answers with a 16-octet "go ahead" Send, the
 * client advertises its sink buffer, the server RDMA Writes the data back (strlen + 1 octets) and
 * sends a second go ahead. The MPA Private Data carries nothing for the application (rdma_cm over
 * iWARP adds no header; rev 2 frames hold only the 4-octet IRD/ORD prefix). */


struct rpside {
    const char *name;
    struct iwk_context *ctx;
    struct iwk_pd *pd;
    struct iwk_cq *scq, *rcq;
    struct iwk_qp *qp;
    uint8_t recv_slot[RPING_RECVS][RPING_INFO_LEN]; /* rping's recv_buf, one per posted receive */
    uint8_t send_info[RPING_INFO_LEN];              /* rping's send_buf */
    uint8_t *rdma_buf;                              /* server: Read sink, Write source; client: Write sink */
    uint8_t *start_buf;                             /* client: the ping data the server Reads */
    struct iwk_mr *recv_mr, *send_mr, *rdma_mr, *start_mr;
    uint32_t size;
    uint32_t pings;
    uint64_t bytes;
    char err[256];
};

struct rping_info {
    uint64_t buf;
    uint32_t rkey, size;
};

/* rping's ping data for ping number `ping`: "rdma-ping-<ping>: ", then printable ASCII from
 * 'A' + ping % 58 upwards, wrapping from 'z' to 'A', and a NUL in the last octet. */
static void rping_pattern(uint8_t *b, uint32_t size, uint32_t ping)
{
    char head[32];
    int cc = snprintf(head, sizeof head, "rdma-ping-%d: ", (int)ping);
    uint32_t n = (uint32_t)cc < size ? (uint32_t)cc : size;
    memcpy(b, head, n);
    uint8_t c = (uint8_t)(65u + ping % 58u);
    for (uint32_t i = n; i < size; i++) {
        b[i] = c;
        c = c >= 122u ? 65u : (uint8_t)(c + 1u);
    }
    if (size > 0)
        b[size - 1] = 0;
}

static int rp_fail(struct rpside *s, const char *what)
{
    struct iwk_qp_info qi;
    if (s->qp != NULL && iwk_qp_info(s->qp, &qi) == 0 && qi.reason[0] != '\0')
        snprintf(s->err, sizeof s->err, "rping %s: %s (%s)", s->name, what, qi.reason);
    else
        snprintf(s->err, sizeof s->err, "rping %s: %s", s->name, what);
    return -1;
}

/* Waits for one completion on cq. 0: success with opcode `want`; 1: a flushed receive (the
 * connection ended; the caller decides whether that is the normal end); -1: anything else. */
static int rp_wait(struct rpside *s, struct iwk_cq *cq, enum iwk_wc_opcode want, struct iwk_wc *wc)
{
    for (;;) {
        int n = iwk_cq_poll(cq, 1, wc);
        if (n < 0)
            return rp_fail(s, "completion queue overflow");
        if (n == 1)
            break;
        if (iwk_cq_wait(cq, WAIT_MS) != 0)
            return rp_fail(s, "timed out waiting for a completion");
    }
    if (wc->status == IWK_WC_WR_FLUSH_ERR && wc->opcode == IWK_WC_RECV && want == IWK_WC_RECV)
        return 1;
    if (wc->status != IWK_WC_SUCCESS) {
        char m[96];
        snprintf(m, sizeof m, "work request %" PRIu64 " completed with status %d", wc->wr_id, (int)wc->status);
        return rp_fail(s, m);
    }
    if (wc->opcode != want) {
        char m[96];
        snprintf(m, sizeof m, "unexpected completion opcode %d (wanted %d)", (int)wc->opcode, (int)want);
        return rp_fail(s, m);
    }
    return 0;
}

static int rp_post_recv(struct rpside *s, uint64_t slot)
{
    struct iwk_sge sg = { .addr = (uintptr_t)s->recv_slot[slot], .length = RPING_INFO_LEN, .lkey = s->recv_mr->lkey };
    struct iwk_recv_wr wr = { .wr_id = slot, .sg_list = &sg, .num_sge = 1 };
    return iwk_post_recv(s->qp, &wr) == 0 ? 0 : rp_fail(s, "post_recv failed");
}

/* Waits for the next 16-octet Send, reposts its buffer, decodes it. 1: the connection ended. */
static int rp_recv_info(struct rpside *s, struct rping_info *info)
{
    struct iwk_wc wc;
    int rc = rp_wait(s, s->rcq, IWK_WC_RECV, &wc);
    if (rc != 0)
        return rc;
    if (wc.byte_len != RPING_INFO_LEN || wc.wr_id >= RPING_RECVS) {
        char m[64];
        snprintf(m, sizeof m, "received a Send of %u octets (rping's are 16)", wc.byte_len);
        return rp_fail(s, m);
    }
    const uint8_t *p = s->recv_slot[wc.wr_id];
    info->buf = get64(p);
    info->rkey = get32(p + 8);
    info->size = get32(p + 12);
    return rp_post_recv(s, wc.wr_id);
}

static int rp_send_info(struct rpside *s, uint64_t addr, uint32_t rkey, uint32_t size, uint64_t id)
{
    put64(s->send_info, addr);
    put32(s->send_info + 8, rkey);
    put32(s->send_info + 12, size);
    struct iwk_sge sg = { .addr = (uintptr_t)s->send_info, .length = RPING_INFO_LEN, .lkey = s->send_mr->lkey };
    struct iwk_send_wr wr = { .wr_id = id, .opcode = IWK_WR_SEND, .flags = IWK_SEND_SIGNALED, .sg_list = &sg,
                              .num_sge = 1 };
    struct iwk_wc wc;
    int rc = iwk_post_send(s->qp, &wr);
    if (rc != 0) {
        char m[64];
        snprintf(m, sizeof m, "post_send failed (%d)", rc);
        return rp_fail(s, m);
    }
    return rp_wait(s, s->scq, IWK_WC_SEND, &wc);
}

static int rp_rdma(struct rpside *s, enum iwk_wr_opcode op, uint32_t len, uint64_t raddr, uint32_t rkey, uint64_t id)
{
    struct iwk_sge sg = { .addr = (uintptr_t)s->rdma_buf, .length = len, .lkey = s->rdma_mr->lkey };
    struct iwk_send_wr wr = { .wr_id = id, .opcode = op, .flags = IWK_SEND_SIGNALED, .sg_list = &sg, .num_sge = 1,
                              .remote_addr = raddr, .rkey = rkey };
    struct iwk_wc wc;
    int rc = iwk_post_send(s->qp, &wr);
    if (rc != 0) {
        char m[64];
        snprintf(m, sizeof m, "post_send failed (%d)", rc);
        return rp_fail(s, m);
    }
    return rp_wait(s, s->scq, op == IWK_WR_RDMA_READ ? IWK_WC_RDMA_READ : IWK_WC_RDMA_WRITE, &wc);
}

/* --probe-atomic: an RFC 7306 FetchAdd (add 0) on the first octets of the client's advertised
 * buffer. A peer without atomics (siw) answers with a Terminate: the message says so. */
static int rp_probe_atomic(struct rpside *s, const struct rping_info *src)
{
    struct iwk_sge sg = { .addr = (uintptr_t)s->rdma_buf, .length = 8, .lkey = s->rdma_mr->lkey };
    struct iwk_send_wr wr = { .wr_id = 900000u, .opcode = IWK_WR_FETCH_ADD, .flags = IWK_SEND_SIGNALED,
                              .sg_list = &sg, .num_sge = 1, .remote_addr = src->buf, .rkey = src->rkey,
                              .compare_add = 0 };
    struct iwk_wc wc;
    int rc = iwk_post_send(s->qp, &wr);
    if (rc != 0) {
        char m[64];
        snprintf(m, sizeof m, "post_send of the atomic FetchAdd failed (%d)", rc);
        return rp_fail(s, m);
    }
    for (;;) {
        int n = iwk_cq_poll(s->scq, 1, &wc);
        if (n < 0)
            return rp_fail(s, "completion queue overflow");
        if (n == 1)
            break;
        if (iwk_cq_wait(s->scq, WAIT_MS) != 0)
            return rp_fail(s, "the peer did not answer the atomic FetchAdd (timed out)");
    }
    if (wc.status != IWK_WC_SUCCESS) {
        struct iwk_qp_info qi;
        char m[160];
        if (iwk_qp_info(s->qp, &qi) == 0 && qi.term_received)
            snprintf(m, sizeof m, "the peer refused the atomic FetchAdd with a Terminate (layer/type/code %u/%u/0x%02x), "
                     "work request status %d", qi.term_layer, qi.term_etype, qi.term_ecode, (int)wc.status);
        else
            snprintf(m, sizeof m, "the atomic FetchAdd failed (work request status %d)", (int)wc.status);
        return rp_fail(s, m);
    }
    printf("iwping rping server: the peer completed the atomic FetchAdd (original value read)\n");
    return 0;
}

static int rp_setup(struct rpside *s, const struct opts *o, const char *pcap, int client)
{
    struct iwk_context_attr ca = { .pcap_path = pcap };
    const uint32_t rw = IWK_ACCESS_LOCAL_WRITE | IWK_ACCESS_REMOTE_WRITE | IWK_ACCESS_REMOTE_READ;
    s->size = (uint32_t)o->size;
    if (iwk_context_open(&ca, &s->ctx) != 0 || iwk_pd_alloc(s->ctx, &s->pd) != 0 ||
        iwk_cq_create(s->ctx, 64, &s->scq) != 0 || iwk_cq_create(s->ctx, 64, &s->rcq) != 0)
        return rp_fail(s, "cannot create the context");
    s->rdma_buf = calloc(1, s->size);
    s->start_buf = client ? calloc(1, s->size) : NULL;
    if (s->rdma_buf == NULL || (client && s->start_buf == NULL))
        return rp_fail(s, "out of memory");
    /* the same registrations as rping's rping_setup_buffers() */
    if (iwk_mr_reg(s->pd, s->recv_slot, sizeof s->recv_slot, IWK_ACCESS_LOCAL_WRITE, &s->recv_mr) != 0 ||
        iwk_mr_reg(s->pd, s->send_info, sizeof s->send_info, 0, &s->send_mr) != 0 ||
        iwk_mr_reg(s->pd, s->rdma_buf, s->size, rw, &s->rdma_mr) != 0 ||
        (client && iwk_mr_reg(s->pd, s->start_buf, s->size, rw, &s->start_mr) != 0))
        return rp_fail(s, "cannot register memory");
    struct iwk_qp_attr qa = { .send_cq = s->scq, .recv_cq = s->rcq, .max_send_wr = 16,
                              .max_recv_wr = RPING_RECVS, .max_sge = 1 };
    if (iwk_qp_create(s->pd, &qa, &s->qp) != 0)
        return rp_fail(s, "cannot create the queue pair");
    for (uint64_t i = 0; i < RPING_RECVS; i++)
        if (rp_post_recv(s, i) != 0)
            return -1;
    return 0;
}

static void rp_teardown(struct rpside *s)
{
    if (s->qp) iwk_qp_destroy(s->qp);
    if (s->recv_mr) iwk_mr_dereg(s->recv_mr);
    if (s->send_mr) iwk_mr_dereg(s->send_mr);
    if (s->rdma_mr) iwk_mr_dereg(s->rdma_mr);
    if (s->start_mr) iwk_mr_dereg(s->start_mr);
    if (s->scq) iwk_cq_destroy(s->scq);
    if (s->rcq) iwk_cq_destroy(s->rcq);
    if (s->pd) iwk_pd_free(s->pd);
    if (s->ctx) iwk_context_close(s->ctx);
    free(s->rdma_buf);
    free(s->start_buf);
}

/* The rping server's part (rping_test_server), with the ping data checked against rping's pattern. */
static int rping_serve(struct rpside *s, const struct opts *o, struct iwk_listener *l)
{
    struct iwk_conn_request *req = NULL;
    if (iwk_get_request(l, WAIT_MS, &req) != 0)
        return rp_fail(s, "no connection request");
    const struct iwk_conn_request_info *ri = iwk_conn_request_info(req);
    if (!o->quiet && ri->private_data_len > 0)
        printf("iwping rping server: the client sent %u octets of private data (ignored, as rping does)\n",
               ri->private_data_len);
    /* rping accepts with no private data (rdma_accept(id, NULL)) */
    struct iwk_conn_param cp = o->cp;
    cp.private_data = NULL;
    cp.private_data_len = 0;
    if (iwk_accept(req, s->qp, &cp) != 0)
        return rp_fail(s, "accept failed");
    for (;;) {
        struct rping_info src, sink;
        int rc = rp_recv_info(s, &src);
        if (rc == 1) { /* the connection ended: rping's normal end when the client disconnected */
            struct iwk_qp_info qi;
            iwk_qp_info(s->qp, &qi);
            if (qi.term_sent || qi.term_received)
                return rp_fail(s, "the connection ended with a Terminate");
            break;
        }
        if (rc != 0)
            return -1;
        if (src.size > s->size || src.size == 0) {
            char m[96];
            snprintf(m, sizeof m, "client's buffer (%u octets) does not fit ours (%u, --size)", src.size, s->size);
            return rp_fail(s, m);
        }
        if (o->probe_atomic && s->pings == 0 && rp_probe_atomic(s, &src) != 0)
            return -1;
        memset(s->rdma_buf, 0, s->size);
        if (rp_rdma(s, IWK_WR_RDMA_READ, src.size, src.buf, src.rkey, 1000000u + s->pings) != 0)
            return -1;
        uint8_t *want = malloc(src.size);
        if (want == NULL)
            return rp_fail(s, "out of memory");
        rping_pattern(want, src.size, s->pings);
        int same = memcmp(want, s->rdma_buf, src.size) == 0;
        free(want);
        if (!same) {
            char m[96];
            snprintf(m, sizeof m, "ping %u: RDMA Read data differs from rping's pattern", s->pings);
            return rp_fail(s, m);
        }
        if (o->verbose)
            printf("server ping data: %s\n", (const char *)s->rdma_buf);
        /* go ahead: rping's server sends its send_buf, which it never fills (16 zero octets) */
        if (rp_send_info(s, 0, 0, 0, 2000000u + s->pings) != 0)
            return -1;
        rc = rp_recv_info(s, &sink);
        if (rc != 0)
            return rc == 1 ? rp_fail(s, "client closed before advertising its sink buffer") : -1;
        uint32_t len = (uint32_t)strnlen((const char *)s->rdma_buf, src.size) + 1u;
        if (len > src.size)
            len = src.size;
        if (len > sink.size) {
            char m[96];
            snprintf(m, sizeof m, "ping %u: client's sink (%u octets) is smaller than the data", s->pings, sink.size);
            return rp_fail(s, m);
        }
        if (rp_rdma(s, IWK_WR_RDMA_WRITE, len, sink.buf, sink.rkey, 3000000u + s->pings) != 0)
            return -1;
        if (rp_send_info(s, 0, 0, 0, 4000000u + s->pings) != 0)
            return -1;
        s->pings++;
        s->bytes += (uint64_t)src.size + len;
    }
    if (o->count != 0 && s->pings != o->count) {
        char m[96];
        snprintf(m, sizeof m, "the client closed after %u pings, --count asked for %u", s->pings, o->count);
        return rp_fail(s, m);
    }
    if (s->pings == 0)
        return rp_fail(s, "the client closed before its first ping");
    return 0;
}

/* The rping client's part (rping_test_client with -V: the echoed data must equal the ping data). */
static int rping_client(struct rpside *s, const struct opts *o, const char *host, uint16_t port)
{
    struct iwk_conn_param cp = o->cp;
    cp.private_data = NULL; /* rdma_connect() with no private data */
    cp.private_data_len = 0;
    if (iwk_connect(s->qp, host, port, &cp) != 0)
        return rp_fail(s, cp.markers ? "connect failed; our MPA Request asked for Markers (M=1)" : "connect failed");
    for (uint32_t ping = 0; o->count == 0 || ping < o->count; ping++) {
        struct rping_info ga;
        rping_pattern(s->start_buf, s->size, ping);
        memset(s->rdma_buf, 0, s->size);
        if (rp_send_info(s, (uintptr_t)s->start_buf, s->start_mr->rkey, s->size, 5000000u + ping) != 0)
            return -1;
        int rc = rp_recv_info(s, &ga); /* go ahead: the server has Read the ping data */
        if (rc != 0)
            return rc == 1 ? rp_fail(s, "server closed during a ping") : -1;
        if (rp_send_info(s, (uintptr_t)s->rdma_buf, s->rdma_mr->rkey, s->size, 6000000u + ping) != 0)
            return -1;
        rc = rp_recv_info(s, &ga); /* go ahead: the server's RDMA Write is complete */
        if (rc != 0)
            return rc == 1 ? rp_fail(s, "server closed during a ping") : -1;
        if (memcmp(s->start_buf, s->rdma_buf, s->size) != 0) {
            char m[64];
            snprintf(m, sizeof m, "ping %u: data mismatch", ping);
            return rp_fail(s, m);
        }
        if (o->verbose)
            printf("ping data: %s\n", (const char *)s->rdma_buf);
        s->pings++;
        s->bytes += 2u * (uint64_t)s->size;
    }
    if (iwk_disconnect(s->qp, WAIT_MS) != 0)
        return rp_fail(s, "disconnect did not complete");
    return 0;
}

struct rp_server_arg {
    struct rpside *s;
    const struct opts *o;
    struct iwk_listener *l;
    int rc;
};

static void *rp_server_thread(void *p)
{
    struct rp_server_arg *a = p;
    a->rc = rping_serve(a->s, a->o, a->l);
    return NULL;
}

static void rp_report(const struct rpside *s, double secs)
{
    struct iwk_qp_info qi;
    iwk_qp_info(s->qp, &qi);
    static const char *rtr[] = { "none", "write", "read", "?", "send" };
    printf("iwping rping %s: MPA rev %u, CRC %s, RTR %s, IRD %u ORD %u, MULPDU %u\n", s->name, qi.mpa_rev,
           qi.crc ? "on" : "off", rtr[qi.rtr <= 4 ? qi.rtr : 3], qi.ird, qi.ord, qi.mulpdu);
    printf("iwping rping %s: %u pings of %u B verified, %" PRIu64 " payload bytes, %" PRIu64 " FPDUs out, %" PRIu64
           " in, %.3f s\n", s->name, s->pings, s->size, s->bytes, qi.tx_fpdus, qi.rx_fpdus, secs);
}

static int rping_main(const struct opts *o)
{
    struct rpside srv = { .name = "server" }, cli = { .name = "client" };
    struct iwk_listener *l = NULL;
    int rc = 0;
    double t0 = now_s();
    if (o->server || o->loopback) {
        rc = rp_setup(&srv, o, o->loopback ? NULL : o->pcap, 0);
        if (rc == 0) {
            rc = iwk_listen(srv.ctx, o->loopback ? "127.0.0.1" : NULL, o->loopback ? 0 : o->port, 8, &l);
            if (rc != 0)
                snprintf(srv.err, sizeof srv.err, "rping server: cannot listen on port %u: %s", o->port, strerror(-rc));
        }
    }
    if (rc == 0 && o->server) {
        rc = rping_serve(&srv, o, l);
        if (rc == 0 && !o->quiet)
            rp_report(&srv, now_s() - t0);
    } else if (rc == 0) {
        rc = rp_setup(&cli, o, o->pcap, 1);
        pthread_t th;
        struct rp_server_arg sa = { .s = &srv, .o = o, .l = l };
        if (rc == 0 && o->loopback)
            pthread_create(&th, NULL, rp_server_thread, &sa);
        if (rc == 0)
            rc = rping_client(&cli, o, o->loopback ? "127.0.0.1" : o->host, o->loopback ? iwk_listener_port(l) : o->port);
        if (o->loopback) {
            if (rc == 0)
                pthread_join(th, NULL);
            else
                sa.rc = 0; /* the server thread may still wait; the process exits */
            if (rc == 0 && sa.rc != 0)
                rc = sa.rc;
        }
        if (rc == 0 && !o->quiet) {
            if (o->loopback)
                rp_report(&srv, now_s() - t0);
            rp_report(&cli, now_s() - t0);
        }
    }
    if (srv.err[0] != '\0')
        fprintf(stderr, "iwping: %s\n", srv.err);
    if (cli.err[0] != '\0')
        fprintf(stderr, "iwping: %s\n", cli.err);
    if (rc != 0 && o->loopback) {
        printf("iwping: FAILED\n");
        fflush(stdout);
        _exit(1); /* the server thread may be blocked in a wait: do not tear down under it */
    }
    rp_teardown(&cli);
    iwk_listener_close(l);
    rp_teardown(&srv);
    printf(rc == 0 ? "iwping: OK\n" : "iwping: FAILED\n");
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    struct opts o;
    memset(&o, 0, sizeof o);
    if (parse(argc, argv, &o) != 0) {
        usage();
        return 2;
    }
    if (o.rping)
        return rping_main(&o);
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
    if (o.serve) {
        rc = serve_forever(&srv, &o, l);
    } else if (o.server) {
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
