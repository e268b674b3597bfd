/* test_runtime_errors.c - error paths of the iwkit runtime over real loopback TCP (hand-written, not generated).
 *
 * Two endpoints in one process (two contexts, the passive side accepting in a thread), a few raw TCP peers
 * that speak MPA by hand, and peers in a child process (this program again, --child-peer). Each case checks what a user of
 * include/iwkit/verbs.h would notice:
 *   - the Terminate (RFC 5040 §4.8): the side that found the error reports term_sent with its layer/type/code,
 *     the other side term_received with the same code;
 *   - the completions: the work request that caused a remote error completes with REM_ACCESS_ERR (protection
 *     errors) or REM_OP_ERR, the rest with WR_FLUSH_ERR, posted receives are flushed exactly once and in order;
 *   - the queue pair state, and that posting after the stream left RTS fails with -ENOTCONN;
 *   - that no octet was placed outside a registered region, nor inside one that was refused (RFC 5042 §5):
 *     every region is surrounded by guard octets that must stay intact.
 *
 * Roles. "a" is the MPA Initiator (iwk_connect), "b" the Responder (iwk_accept). A Responder sends no FPDU
 * before it received one (RFC 5044 §7.1.2 rule 4): b's work requests wait until a's first FPDU. The cases
 * where b misbehaves use this to be deterministic: b posts the offending work request and a follower, then
 * a's "go" Send releases them. Both reach a back to back and were posted before a could answer, so nothing
 * races with the Terminate. Malformed frames go the other way: a injects them with iwk_qp_inject_raw.
 *
 * Frames are built here by hand (RFC 5044 §4: ULPDU_Length, ULPDU, pad, CRC32c over all of it, least
 * significant octet first; Markers off), checked against the generated serializers and RFC 5044 Figure 5.
 *
 * Completions: an RDMA Write or Send completes once handed to TCP (RFC 5040 §5.5 rule 14), so only a Write
 * still being sent can take the remote error: BIG_WRITE, which a provably holds back (a receives only in the
 * test's calls and stops after its Terminate; fixed socket buffers: pair_up_held, hold_and_expect); a small Send refused by the peer has completed
 * successfully and the work requests after it are flushed. Reads and atomics wait for their response and
 * always take the error the Terminate names.
 *
 * No sleeps: every wait is on a completion, iwk_qp_wait_closed, iwk_get_request, a socket or waitpid, each
 * with a timeout. One case: IWK_TEST_FILTER=t_inject_bad_crc build/tests/test_runtime_errors
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
#include <pthread.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "iwk_ddp.h"
#include "iwk_mpa.h"
#include "iwk_rdmap.h"
#include "iwkit/crc32c.h"
#include "iwkit/verbs.h"

#define WAIT_MS 10000
#define GUARD 64u
#define GUARD_BYTE 0xA5u
#define FILL_BYTE 0x5Au
/* The Write that a refuses: far larger than what a holds back (check_held), so it is still being sent when
 * the Terminate comes back. */
#define BIG_WRITE (32u << 20)
/* iwk_conn_param.socket_buffer of the pairs that hold a Write back: fixed buffers, no autotuning */
#define HELD_SOCKBUF (256u << 10)

enum {
    ID_GO = 1,          /* a's Send that releases b's work requests; b's receive for it */
    ID_OFFENDER = 10,   /* b's work request that a refuses */
    ID_FOLLOWER = 11,   /* b's RDMA Read posted after it: flushed */
    ID_PRE = 12,        /* b's work request before the offender (Send with Invalidate) */
    ID_B_SPARE = 20,    /* b's second receive: flushed */
    ID_A_RECV = 30,     /* a's receives */
};

/* ---- registered regions with guard octets -------------------------------------------------- */

struct region {
    uint8_t *mem, *buf;
    size_t len, total;
    struct iwk_mr *mr;
};

static void region_init(struct region *r, struct iwk_pd *pd, size_t len, uint32_t access)
{
    r->total = (2u * GUARD + len + 63u) & ~(size_t)63u;
    r->mem = aligned_alloc(64, r->total);
    assert_non_null(r->mem);
    memset(r->mem, GUARD_BYTE, r->total);
    r->buf = r->mem + GUARD; /* 64-octet aligned: atomics may target it */
    r->len = len;
    memset(r->buf, FILL_BYTE, len);
    assert_int_equal(iwk_mr_reg(pd, r->buf, len, access, &r->mr), 0);
}

/* The guard octets before and after the region are intact; with `untouched`, the region too. */
static void region_check(const struct region *r, int untouched, const char *what)
{
    for (size_t i = 0; i < r->total; i++) {
        int inside = i >= GUARD && i < GUARD + r->len;
        if (inside && !untouched)
            continue;
        uint8_t want = inside ? FILL_BYTE : GUARD_BYTE;
        if (r->mem[i] != want)
            fail_msg("%s: octet %ld relative to the region start is 0x%02x, expected 0x%02x (%s)", what,
                     (long)i - (long)GUARD, r->mem[i], want, inside ? "inside the region" : "guard octet");
    }
}

/* ---- endpoints ---------------------------------------------------------------------------------- */

#define MAX_REG 8
struct ep {
    struct iwk_context *ctx;
    struct iwk_pd *pd, *pd2; /* pd2: another protection domain of the same context */
    struct iwk_cq *scq, *rcq;
    struct iwk_qp *qp;
    struct region reg[MAX_REG];
    int nreg;
    uint8_t *big;
    struct iwk_mr *big_mr;
};

static void ep_open_flags(struct ep *e, uint32_t flags)
{
    memset(e, 0, sizeof *e);
    struct iwk_context_attr ca = { .flags = flags };
    assert_int_equal(iwk_context_open(&ca, &e->ctx), 0);
    assert_int_equal(iwk_pd_alloc(e->ctx, &e->pd), 0);
    assert_int_equal(iwk_pd_alloc(e->ctx, &e->pd2), 0);
    assert_int_equal(iwk_cq_create(e->ctx, 64, &e->scq), 0);
    assert_int_equal(iwk_cq_create(e->ctx, 64, &e->rcq), 0);
    struct iwk_qp_attr qa = { .send_cq = e->scq, .recv_cq = e->rcq, .max_send_wr = 16, .max_recv_wr = 16 };
    assert_int_equal(iwk_qp_create(e->pd, &qa, &e->qp), 0);
}

static void ep_open(struct ep *e)
{
    ep_open_flags(e, 0);
}

static struct region *ep_region(struct ep *e, struct iwk_pd *pd, size_t len, uint32_t access)
{
    assert_true(e->nreg < MAX_REG);
    struct region *r = &e->reg[e->nreg++];
    region_init(r, pd != NULL ? pd : e->pd, len, access);
    return r;
}

/* A large zeroed source buffer (BIG_WRITE octets, local access only). */
static uint64_t ep_big(struct ep *e)
{
    if (e->big == NULL) {
        e->big = calloc(1, BIG_WRITE);
        assert_non_null(e->big);
        assert_int_equal(iwk_mr_reg(e->pd, e->big, BIG_WRITE, 0, &e->big_mr), 0);
    }
    return (uintptr_t)e->big;
}

static void ep_close(struct ep *e)
{
    if (e->qp != NULL)
        assert_int_equal(iwk_qp_destroy(e->qp), 0);
    for (int i = 0; i < e->nreg; i++) {
        assert_int_equal(iwk_mr_dereg(e->reg[i].mr), 0);
        free(e->reg[i].mem);
    }
    if (e->big_mr != NULL)
        assert_int_equal(iwk_mr_dereg(e->big_mr), 0);
    free(e->big);
    assert_int_equal(iwk_cq_destroy(e->scq), 0);
    assert_int_equal(iwk_cq_destroy(e->rcq), 0);
    assert_int_equal(iwk_pd_free(e->pd2), 0);
    assert_int_equal(iwk_pd_free(e->pd), 0);
    iwk_context_close(e->ctx);
}

static void post_recv(struct ep *e, uint64_t id, const struct region *r, uint32_t len)
{
    struct iwk_sge sg = { .addr = (uintptr_t)r->buf, .length = len, .lkey = r->mr->lkey };
    struct iwk_recv_wr wr = { .wr_id = id, .sg_list = &sg, .num_sge = 1 };
    assert_int_equal(iwk_post_recv(e->qp, &wr), 0);
}

/* One signaled work request with one SGE (addr/len/lkey), or none when lkey is 0. */
static int post_wr(struct ep *e, uint64_t id, enum iwk_wr_opcode op, uint64_t addr, uint32_t len, uint32_t lkey,
                   uint64_t raddr, uint32_t rkey)
{
    struct iwk_sge sg = { .addr = addr, .length = len, .lkey = lkey };
    struct iwk_send_wr wr = { .wr_id = id, .opcode = op, .flags = IWK_SEND_SIGNALED, .sg_list = &sg,
                              .num_sge = lkey != 0, .remote_addr = raddr, .rkey = rkey, .compare_add = 1,
                              .swap = 2 };
    return iwk_post_send(e->qp, &wr);
}

/* ---- completions ------------------------------------------------------------------------------- */

static struct iwk_wc next_wc(struct iwk_cq *cq, const char *what)
{
    struct iwk_wc wc;
    for (;;) {
        int n = iwk_cq_poll(cq, 1, &wc);
        assert_true(n >= 0);
        if (n == 1)
            return wc;
        if (iwk_cq_wait(cq, WAIT_MS) != 0)
            fail_msg("%s: no completion within %d ms", what, WAIT_MS);
    }
}

struct expect {
    uint64_t wr_id;
    enum iwk_wc_status status;
};

/* The CQ holds exactly these completions, in this order (each work request completes once). */
static void expect_cq(struct iwk_cq *cq, const struct expect *e, int n, const char *what)
{
    for (int i = 0; i < n; i++) {
        struct iwk_wc wc = next_wc(cq, what);
        if (wc.wr_id != e[i].wr_id || wc.status != e[i].status)
            fail_msg("%s: completion %d is wr_id %llu status %d, expected wr_id %llu status %d", what, i,
                     (unsigned long long)wc.wr_id, (int)wc.status, (unsigned long long)e[i].wr_id, (int)e[i].status);
    }
    struct iwk_wc extra;
    int k = iwk_cq_poll(cq, 1, &extra);
    if (k != 0)
        fail_msg("%s: unexpected completion wr_id %llu status %d", what, (unsigned long long)extra.wr_id,
                 (int)extra.status);
}

/* ---- Terminate and state ------------------------------------------------------------------------ */

static void expect_info(struct iwk_qp *qp, const char *who, int sent, unsigned layer, unsigned etype, unsigned ecode)
{
    struct iwk_qp_info qi;
    assert_int_equal(iwk_qp_info(qp, &qi), 0);
    print_message("    %s: state %d, term %s %u/%u/0x%02x, error %d, reason \"%s\"\n", who, (int)qi.state,
                  qi.term_sent ? "sent" : qi.term_received ? "received" : "none", qi.term_layer, qi.term_etype,
                  qi.term_ecode, qi.error, qi.reason);
    if (qi.term_sent != (sent ? 1 : 0) || qi.term_received != (sent ? 0 : 1))
        fail_msg("%s: expected the Terminate %s, got term_sent %u term_received %u (%s)", who,
                 sent ? "sent" : "received", qi.term_sent, qi.term_received, qi.reason);
    if (qi.term_layer != layer || qi.term_etype != etype || qi.term_ecode != ecode)
        fail_msg("%s: Terminate %u/%u/0x%02x, expected %u/%u/0x%02x (%s)", who, qi.term_layer, qi.term_etype,
                 qi.term_ecode, layer, etype, ecode, qi.reason);
    assert_int_equal(qi.state, IWK_QPS_ERROR);
    assert_true(qi.error != 0);
    assert_true(qi.reason[0] != '\0');
}

/* `detector` found the error and sent the Terminate, `peer` received it; both end in ERROR. */
static void expect_terminate(struct ep *detector, struct ep *peer, unsigned layer, unsigned etype, unsigned ecode)
{
    assert_int_equal(iwk_qp_wait_closed(detector->qp, WAIT_MS), 0);
    assert_int_equal(iwk_qp_wait_closed(peer->qp, WAIT_MS), 0);
    expect_info(detector->qp, "detector", 1, layer, etype, ecode);
    expect_info(peer->qp, "peer", 0, layer, etype, ecode);
    /* RFC 5040 §5.4: nothing more is sent on the stream */
    assert_int_equal(post_wr(detector, 99, IWK_WR_SEND, 0, 0, 0, 0, 0), -ENOTCONN);
    assert_int_equal(post_wr(peer, 99, IWK_WR_SEND, 0, 0, 0, 0, 0), -ENOTCONN);
}

/* ---- two endpoints over loopback ----------------------------------------------------------------- */

struct pair {
    struct ep a, b;                    /* a: Initiator, b: Responder */
    struct iwk_listener *l;
    struct iwk_conn_param pa, pb;
    struct region *a_src, *b_go;       /* a's "go" Send: source, and b's receive buffer for it */
    struct region *a_rr, *b_sink;      /* the follower Read: a's source, b's sink */
    pthread_t th;
    int accept_rc;
    const char *reject_pd;             /* non-NULL: the thread rejects with this private data */
    uint8_t req_pd[64];                /* the Request's private data as b saw it */
    uint16_t req_pd_len;
    int held;                          /* pair_up_held: a receives only in the test's calls */
};

static void *accept_main(void *arg)
{
    struct pair *p = arg;
    struct iwk_conn_request *req = NULL;
    p->accept_rc = iwk_get_request(p->l, WAIT_MS, &req);
    if (p->accept_rc != 0)
        return NULL;
    const struct iwk_conn_request_info *ri = iwk_conn_request_info(req);
    p->req_pd_len = ri->private_data_len <= sizeof p->req_pd ? ri->private_data_len : 0;
    if (p->req_pd_len > 0)
        memcpy(p->req_pd, ri->private_data, p->req_pd_len);
    if (p->reject_pd != NULL)
        p->accept_rc = iwk_reject(req, p->reject_pd, (uint16_t)strlen(p->reject_pd));
    else
        p->accept_rc = iwk_accept(req, p->b.qp, &p->pb);
    return NULL;
}

static void default_param(struct iwk_conn_param *cp)
{
    assert_int_equal(iwk_conn_param_profile(cp, "rfc"), 0);
    cp->rtr = 0; /* client-server */
    cp->markers = 0;
    cp->timeout_ms = WAIT_MS;
}

static void pair_init_flags(struct pair *p, uint32_t a_flags)
{
    memset(p, 0, sizeof *p);
    ep_open_flags(&p->a, a_flags);
    ep_open(&p->b);
    default_param(&p->pa);
    default_param(&p->pb);
    assert_int_equal(iwk_listen(p->b.ctx, "127.0.0.1", 0, 8, &p->l), 0);
    p->a_src = ep_region(&p->a, NULL, 64, 0);
    p->b_go = ep_region(&p->b, NULL, 64, IWK_ACCESS_LOCAL_WRITE);
    p->a_rr = ep_region(&p->a, NULL, 64, IWK_ACCESS_LOCAL_WRITE | IWK_ACCESS_REMOTE_READ);
    p->b_sink = ep_region(&p->b, NULL, 64, IWK_ACCESS_LOCAL_WRITE);
}

static void pair_init(struct pair *p)
{
    pair_init_flags(p, 0);
}

static void pair_start_accept(struct pair *p)
{
    assert_int_equal(pthread_create(&p->th, NULL, accept_main, p), 0);
}

static int pair_join_accept(struct pair *p)
{
    assert_int_equal(pthread_join(p->th, NULL), 0);
    return p->accept_rc;
}

/* Connects a to b; returns iwk_connect's result, *accept_rc the thread's. */
static int pair_try_connect(struct pair *p, int *accept_rc)
{
    pair_start_accept(p);
    int rc = iwk_connect(p->a.qp, "127.0.0.1", iwk_listener_port(p->l), &p->pa);
    *accept_rc = pair_join_accept(p);
    return rc;
}

static void pair_connect(struct pair *p)
{
    int arc = 0;
    int crc = pair_try_connect(p, &arc);
    assert_int_equal(crc, 0);
    assert_int_equal(arc, 0);
    struct iwk_qp_info qi;
    iwk_qp_info(p->a.qp, &qi);
    assert_int_equal(qi.state, IWK_QPS_RTS);
    assert_int_equal(qi.crc, 1);
    assert_int_equal(qi.tx_markers, 0);
    assert_int_equal(qi.rx_markers, 0);
}

static void pair_close(struct pair *p)
{
    ep_close(&p->a);
    ep_close(&p->b);
    iwk_listener_close(p->l);
}

/* Connected, b's receive for the "go" Send and a spare one posted. */
static void pair_up(struct pair *p)
{
    pair_init(p);
    post_recv(&p->b, ID_GO, p->b_go, 64);
    post_recv(&p->b, ID_B_SPARE, p->b_go, 64);
    pair_connect(p);
}

/* Like pair_up, for the cases where b's large Write must still be being sent when a's Terminate comes
 * back (RFC 5040 §5.5 lets a Write complete once it is handed to TCP). a receives only in the test's
 * calls (IWK_CTX_APP_PROGRESS), and both sockets have fixed buffers: see hold_and_expect. */
static void pair_up_held(struct pair *p)
{
    pair_init_flags(p, IWK_CTX_APP_PROGRESS);
    p->held = 1;
    p->pa.socket_buffer = p->pb.socket_buffer = HELD_SOCKBUF;
    post_recv(&p->b, ID_GO, p->b_go, 64);
    post_recv(&p->b, ID_B_SPARE, p->b_go, 64);
    pair_connect(p);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* e receives (IWK_CTX_APP_PROGRESS: only here) until it has sent its Terminate (`closed` 0) or
 * until its stream ended (`closed` 1). */
static void drive_until(struct ep *e, int closed, const char *what)
{
    double end = now_s() + WAIT_MS / 1000.0;
    for (;;) {
        struct iwk_qp_info qi;
        assert_int_equal(iwk_qp_info(e->qp, &qi), 0);
        int open = qi.state == IWK_QPS_RTS || qi.state == IWK_QPS_CLOSING || qi.state == IWK_QPS_TERMINATE;
        if (closed ? !open : qi.term_sent)
            return;
        if (now_s() > end)
            fail_msg("%s: not within %d ms (state %d, %s)", what, WAIT_MS, (int)qi.state, qi.reason);
        (void)iwk_cq_progress(e->rcq, 100);
    }
}

/* a found the error in b's Write and sent its Terminate; from now on it reads nothing until b's completions
 * are checked. b can have handed to TCP at most what a took in (rx_bytes, plus up to 4 KiB of read-ahead
 * not counted yet, docs/runtime.md), plus a's receive buffer, plus b's send buffer (fixed sizes, as the
 * kernel reports them). That is less than the Write, so the Write is still being sent and takes the error
 * the Terminate names (`bs`, n completions on b's send CQ). Then a reads to the end of the stream (b's
 * FIN). */
static void hold_and_expect(struct pair *p, const struct expect *bs, int n)
{
    drive_until(&p->a, 0, "a's Terminate");
    struct iwk_qp_info qa, qb;
    assert_int_equal(iwk_qp_info(p->a.qp, &qa), 0);
    assert_int_equal(iwk_qp_info(p->b.qp, &qb), 0);
    uint64_t bound = qa.rx_bytes + 4096u + qa.socket_rcvbuf + qb.socket_sndbuf;
    print_message("    a holds back: took in %llu octets, receive buffer %u, b's send buffer %u\n",
                  (unsigned long long)qa.rx_bytes, qa.socket_rcvbuf, qb.socket_sndbuf);
    if (qa.socket_rcvbuf == 0 || qb.socket_sndbuf == 0 || bound >= BIG_WRITE)
        fail_msg("b's Write could be in TCP whole (bound %llu octets): the case would not be deterministic",
                 (unsigned long long)bound);
    expect_cq(p->b.scq, bs, n, "b send CQ");
    drive_until(&p->a, 1, "the end of a's stream");
}

/* a's first FPDU: b may send from now on (RFC 5044 §7.1.2 rule 4), everything b posted goes out. */
static void release_b(struct pair *p)
{
    assert_int_equal(post_wr(&p->a, ID_GO, IWK_WR_SEND, (uintptr_t)p->a_src->buf, 16, p->a_src->mr->lkey, 0, 0), 0);
}

static void post_follower(struct pair *p)
{
    assert_int_equal(post_wr(&p->b, ID_FOLLOWER, IWK_WR_RDMA_READ, (uintptr_t)p->b_sink->buf, 64,
                             p->b_sink->mr->lkey, (uintptr_t)p->a_rr->buf, p->a_rr->mr->rkey), 0);
}

/* ---- b's offending work request, refused by a ----------------------------------------------------- */

struct offence {
    enum iwk_wr_opcode op;
    uint64_t addr;                 /* local buffer */
    uint32_t len, lkey;
    uint64_t raddr;                /* a's Tagged Offset */
    uint32_t rkey;
    unsigned layer, etype, ecode;  /* the Terminate a sends */
    enum iwk_wc_status status;     /* how b's offending work request completes */
};

/* b posts the offender and the follower Read, a releases them; a finds the error and terminates. */
static void run_offence(struct pair *p, const struct offence *o)
{
    assert_int_equal(post_wr(&p->b, ID_OFFENDER, o->op, o->addr, o->len, o->lkey, o->raddr, o->rkey), 0);
    post_follower(p);
    release_b(p);
    const struct expect bs[] = { { ID_OFFENDER, o->status }, { ID_FOLLOWER, IWK_WC_WR_FLUSH_ERR } };
    if (p->held)
        hold_and_expect(p, bs, 2);
    expect_terminate(&p->a, &p->b, o->layer, o->etype, o->ecode);
    if (!p->held)
        expect_cq(p->b.scq, bs, 2, "b send CQ");
    const struct expect br[] = { { ID_GO, IWK_WC_SUCCESS }, { ID_B_SPARE, IWK_WC_WR_FLUSH_ERR } };
    expect_cq(p->b.rcq, br, 2, "b receive CQ");
    const struct expect as[] = { { ID_GO, IWK_WC_SUCCESS } };
    expect_cq(p->a.scq, as, 1, "a send CQ");
    region_check(p->b_sink, 1, "b's follower sink");
    region_check(p->a_rr, 1, "a's follower source");
}

/* RFC 5040 §4.8 Figure 10: RDMAP Remote Protection Errors (0/1/x) belong to Read Requests and Sends
 * with Invalidate; a tagged RDMA Write segment that cannot be placed is a DDP Tagged Buffer Error
 * (RFC 5041 §7.2: 1/1/0x00 invalid STag, 0x01 base or bounds, 0x02 not associated, 0x03 TO wrap), as
 * siw reports it. DDP has no access-rights code: a region without REMOTE_WRITE is an invalid STag for
 * a Write. */

/* An RDMA Write of BIG_WRITE octets from b to a's (raddr, rkey): a refuses its first segment. The Write is
 * still being sent when the Terminate arrives (pair_up_held), so it is the work request that completes in
 * error. */
static void write_case(struct pair *p, uint64_t raddr, uint32_t rkey, unsigned ecode)
{
    uint64_t src = ep_big(&p->b);
    struct offence o = { .op = IWK_WR_RDMA_WRITE, .addr = src, .len = BIG_WRITE, .lkey = p->b.big_mr->lkey,
                         .raddr = raddr, .rkey = rkey, .layer = 1, .etype = 1, .ecode = ecode,
                         .status = IWK_WC_REM_ACCESS_ERR };
    run_offence(p, &o);
    expect_cq(p->a.rcq, NULL, 0, "a receive CQ");
}

/* RFC 5040 §4.8 / RFC 5042 §5: an STag that a never registered: 1/1/0x00 Invalid STag. */
static void t_write_unknown_stag(void **state)
{
    (void)state;
    struct pair p;
    pair_up_held(&p);
    struct region *t = ep_region(&p.a, NULL, 4096, IWK_ACCESS_LOCAL_WRITE | IWK_ACCESS_REMOTE_WRITE);
    write_case(&p, (uintptr_t)t->buf, (0x00ABCDu << 8) | 0x42u, IWK_RDMAP_TERM_DDP_T_INVALID_STAG);
    region_check(t, 1, "a's region");
    pair_close(&p);
}

/* The index of a registered region with another key (a stale STag, RFC 5040 §2.1 "STag"): invalid too. */
static void t_write_stale_key(void **state)
{
    (void)state;
    struct pair p;
    pair_up_held(&p);
    struct region *t = ep_region(&p.a, NULL, 4096, IWK_ACCESS_LOCAL_WRITE | IWK_ACCESS_REMOTE_WRITE);
    write_case(&p, (uintptr_t)t->buf, t->mr->rkey ^ 0x5Au, IWK_RDMAP_TERM_DDP_T_INVALID_STAG);
    region_check(t, 1, "a's region");
    pair_close(&p);
}

/* A Write that starts inside the region and runs past its end: 1/1/0x01 Base or bounds violation. */
static void t_write_out_of_bounds(void **state)
{
    (void)state;
    struct pair p;
    pair_up_held(&p);
    struct region *t = ep_region(&p.a, NULL, 4096, IWK_ACCESS_LOCAL_WRITE | IWK_ACCESS_REMOTE_WRITE);
    write_case(&p, (uintptr_t)t->buf + t->len - 8u, t->mr->rkey, IWK_RDMAP_TERM_DDP_T_BASE_BOUNDS);
    region_check(t, 1, "a's region");
    pair_close(&p);
}

/* A Write that starts before the region (Tagged Offset below the base): bounds violation too. */
static void t_write_below_base(void **state)
{
    (void)state;
    struct pair p;
    pair_up_held(&p);
    struct region *t = ep_region(&p.a, NULL, 4096, IWK_ACCESS_LOCAL_WRITE | IWK_ACCESS_REMOTE_WRITE);
    write_case(&p, (uintptr_t)t->buf - 16u, t->mr->rkey, IWK_RDMAP_TERM_DDP_T_BASE_BOUNDS);
    region_check(t, 1, "a's region");
    pair_close(&p);
}

/* A region registered without REMOTE_WRITE: 1/1/0x00 (DDP has no access-rights code). */
static void t_write_no_remote_write(void **state)
{
    (void)state;
    struct pair p;
    pair_up_held(&p);
    struct region *t = ep_region(&p.a, NULL, 4096, IWK_ACCESS_LOCAL_WRITE | IWK_ACCESS_REMOTE_READ);
    write_case(&p, (uintptr_t)t->buf, t->mr->rkey, IWK_RDMAP_TERM_DDP_T_INVALID_STAG);
    region_check(t, 1, "a's region");
    pair_close(&p);
}

/* A region of another protection domain than the queue pair's (RFC 5042 §5.1.1): 1/1/0x02 STag not associated. */
static void t_write_other_pd(void **state)
{
    (void)state;
    struct pair p;
    pair_up_held(&p);
    struct region *t = ep_region(&p.a, p.a.pd2, 4096, IWK_ACCESS_LOCAL_WRITE | IWK_ACCESS_REMOTE_WRITE);
    write_case(&p, (uintptr_t)t->buf, t->mr->rkey, IWK_RDMAP_TERM_DDP_T_STAG_NOT_ASSOC);
    region_check(t, 1, "a's region (other PD)");
    pair_close(&p);
}

/* Tagged Offset + length wraps 2^64: 1/1/0x03. */
static void t_write_to_wraps(void **state)
{
    (void)state;
    struct pair p;
    pair_up_held(&p);
    struct region *t = ep_region(&p.a, NULL, 4096, IWK_ACCESS_LOCAL_WRITE | IWK_ACCESS_REMOTE_WRITE);
    write_case(&p, UINT64_MAX - 15u, t->mr->rkey, IWK_RDMAP_TERM_DDP_T_TO_WRAP);
    region_check(t, 1, "a's region");
    pair_close(&p);
}

/* b's Send with Invalidate invalidates a's STag (RFC 5040 §5.3, §6.6); b's Write to it afterwards is
 * refused as an invalid STag: 1/1/0x00. */
static void t_write_after_send_inv(void **state)
{
    (void)state;
    struct pair p;
    pair_up_held(&p);
    struct region *t = ep_region(&p.a, NULL, 4096, IWK_ACCESS_LOCAL_WRITE | IWK_ACCESS_REMOTE_WRITE);
    struct region *ar = ep_region(&p.a, NULL, 64, IWK_ACCESS_LOCAL_WRITE);
    struct region *bs = ep_region(&p.b, NULL, 64, 0);
    post_recv(&p.a, ID_A_RECV, ar, 64);
    struct iwk_sge sg = { .addr = (uintptr_t)bs->buf, .length = 8, .lkey = bs->mr->lkey };
    struct iwk_send_wr inv = { .wr_id = ID_PRE, .opcode = IWK_WR_SEND_INV, .flags = IWK_SEND_SIGNALED,
                               .sg_list = &sg, .num_sge = 1, .invalidate_rkey = t->mr->rkey };
    assert_int_equal(iwk_post_send(p.b.qp, &inv), 0);
    uint64_t big = ep_big(&p.b);
    assert_int_equal(post_wr(&p.b, ID_OFFENDER, IWK_WR_RDMA_WRITE, big, BIG_WRITE, p.b.big_mr->lkey,
                             (uintptr_t)t->buf, t->mr->rkey), 0);
    post_follower(&p);
    release_b(&p);
    struct iwk_wc wc = next_wc(p.a.rcq, "a's receive for the Send with Invalidate");
    assert_int_equal(wc.wr_id, ID_A_RECV);
    assert_int_equal(wc.status, IWK_WC_SUCCESS);
    assert_int_equal(wc.byte_len, 8);
    assert_true(wc.flags & IWK_WC_WITH_INV);
    assert_int_equal(wc.invalidated_rkey, t->mr->rkey);
    const struct expect bsx[] = { { ID_PRE, IWK_WC_SUCCESS }, { ID_OFFENDER, IWK_WC_REM_ACCESS_ERR },
                                  { ID_FOLLOWER, IWK_WC_WR_FLUSH_ERR } };
    hold_and_expect(&p, bsx, 3);
    expect_terminate(&p.a, &p.b, 1, 1, IWK_RDMAP_TERM_DDP_T_INVALID_STAG);
    const struct expect brx[] = { { ID_GO, IWK_WC_SUCCESS }, { ID_B_SPARE, IWK_WC_WR_FLUSH_ERR } };
    expect_cq(p.b.rcq, brx, 2, "b receive CQ");
    expect_cq(p.a.rcq, NULL, 0, "a receive CQ");
    region_check(t, 1, "a's invalidated region");
    region_check(ar, 0, "a's receive buffer");
    region_check(p.b_sink, 1, "b's follower sink");
    pair_close(&p);
}

/* An STag that a invalidated locally (iwk_mr_invalidate, RFC 5040 §5.3 semantics) no longer works for
 * b's Write: 1/1/0x00. */
static void t_write_locally_invalidated(void **state)
{
    (void)state;
    struct pair p;
    pair_up_held(&p);
    struct region *t = ep_region(&p.a, NULL, 4096, IWK_ACCESS_LOCAL_WRITE | IWK_ACCESS_REMOTE_WRITE);
    assert_int_equal(iwk_mr_invalidate(t->mr), 0);
    write_case(&p, (uintptr_t)t->buf, t->mr->rkey, IWK_RDMAP_TERM_DDP_T_INVALID_STAG);
    region_check(t, 1, "a's invalidated region");
    pair_close(&p);
}

/* A Send with Invalidate naming an STag a does not have (RFC 5040 §7.2 item 4): 0/2/0x09 "STag cannot
 * be invalidated" (docs/runtime.md; siw sends the same for an unknown STag). The Send's octets were
 * placed in a's receive, which is flushed, never delivered. */
static void t_send_inv_unknown_stag(void **state)
{
    (void)state;
    struct pair p;
    pair_up(&p);
    struct region *ar = ep_region(&p.a, NULL, 64, IWK_ACCESS_LOCAL_WRITE);
    post_recv(&p.a, ID_A_RECV, ar, 64);
    struct region *bs = ep_region(&p.b, NULL, 64, 0);
    struct iwk_sge sg = { .addr = (uintptr_t)bs->buf, .length = 8, .lkey = bs->mr->lkey };
    struct iwk_send_wr inv = { .wr_id = ID_OFFENDER, .opcode = IWK_WR_SEND_INV, .flags = IWK_SEND_SIGNALED,
                               .sg_list = &sg, .num_sge = 1, .invalidate_rkey = (0x00BEEFu << 8) | 0x11u };
    assert_int_equal(iwk_post_send(p.b.qp, &inv), 0);
    post_follower(&p);
    release_b(&p);
    expect_terminate(&p.a, &p.b, 0, 2, IWK_RDMAP_TERM_OPER_STAG_CANNOT_INV);
    const struct expect bsx[] = { { ID_OFFENDER, IWK_WC_SUCCESS }, { ID_FOLLOWER, IWK_WC_WR_FLUSH_ERR } };
    expect_cq(p.b.scq, bsx, 2, "b send CQ");
    const struct expect arx[] = { { ID_A_RECV, IWK_WC_WR_FLUSH_ERR } };
    expect_cq(p.a.rcq, arx, 1, "a receive CQ");
    region_check(ar, 0, "a's receive buffer");
    region_check(p.b_sink, 1, "b's follower sink");
    pair_close(&p);
}

/* Local protection (RFC 5042 §5.1: an STag is used only within its PD, inside its bounds, with its access
 * rights): posting refuses such work requests at once, nothing goes out and nothing completes; the
 * connection stays usable. */
static void t_local_protection(void **state)
{
    (void)state;
    struct pair p;
    pair_up(&p);
    struct region *other = ep_region(&p.b, p.b.pd2, 64, IWK_ACCESS_LOCAL_WRITE);
    struct region *ro = ep_region(&p.b, NULL, 64, 0);
    struct region *res = ep_region(&p.b, NULL, 16, IWK_ACCESS_LOCAL_WRITE);
    struct region *gone = ep_region(&p.b, NULL, 64, IWK_ACCESS_LOCAL_WRITE);
    assert_int_equal(iwk_mr_invalidate(gone->mr), 0);
    uint64_t rr = (uintptr_t)p.a_rr->buf;
    uint32_t rk = p.a_rr->mr->rkey;
    /* lkey of another PD than the queue pair's */
    assert_int_equal(post_wr(&p.b, 50, IWK_WR_SEND, (uintptr_t)other->buf, 8, other->mr->lkey, 0, 0), -EACCES);
    /* past the end of the region, and before its start */
    assert_int_equal(post_wr(&p.b, 51, IWK_WR_SEND, (uintptr_t)ro->buf + 60u, 8, ro->mr->lkey, 0, 0), -EACCES);
    assert_int_equal(post_wr(&p.b, 52, IWK_WR_SEND, (uintptr_t)ro->buf - 4u, 8, ro->mr->lkey, 0, 0), -EACCES);
    /* a Read sink, an atomic result and a receive need LOCAL_WRITE */
    assert_int_equal(post_wr(&p.b, 53, IWK_WR_RDMA_READ, (uintptr_t)ro->buf, 8, ro->mr->lkey, rr, rk), -EACCES);
    assert_int_equal(post_wr(&p.b, 54, IWK_WR_FETCH_ADD, (uintptr_t)ro->buf, 8, ro->mr->lkey, rr, rk), -EACCES);
    struct iwk_sge sg = { .addr = (uintptr_t)ro->buf, .length = 8, .lkey = ro->mr->lkey };
    struct iwk_recv_wr rw = { .wr_id = 55, .sg_list = &sg, .num_sge = 1 };
    assert_int_equal(iwk_post_recv(p.b.qp, &rw), -EACCES);
    /* a locally invalidated STag */
    assert_int_equal(post_wr(&p.b, 56, IWK_WR_SEND, (uintptr_t)gone->buf, 8, gone->mr->lkey, 0, 0), -EACCES);
    /* the atomic result word must be 8-octet aligned (RFC 7306 §5) */
    assert_int_equal(post_wr(&p.b, 57, IWK_WR_CMP_SWAP, (uintptr_t)res->buf + 4u, 8, res->mr->lkey, rr, rk), -EINVAL);
    /* still connected: a's Send arrives, b's valid Read of a works */
    struct iwk_qp_info qi;
    iwk_qp_info(p.b.qp, &qi);
    assert_int_equal(qi.state, IWK_QPS_RTS);
    assert_int_equal(post_wr(&p.b, ID_FOLLOWER, IWK_WR_RDMA_READ, (uintptr_t)p.b_sink->buf, 64, p.b_sink->mr->lkey,
                             rr, rk), 0);
    release_b(&p);
    struct iwk_wc wc = next_wc(p.b.scq, "b's Read");
    assert_int_equal(wc.wr_id, ID_FOLLOWER);
    assert_int_equal(wc.status, IWK_WC_SUCCESS);
    assert_memory_equal(p.b_sink->buf, p.a_rr->buf, 64);
    region_check(p.b_sink, 0, "b's Read sink");
    wc = next_wc(p.b.rcq, "b's receive");
    assert_int_equal(wc.wr_id, ID_GO);
    assert_int_equal(wc.status, IWK_WC_SUCCESS);
    expect_cq(p.b.scq, NULL, 0, "b send CQ");
    region_check(ro, 1, "b's read-only region");
    region_check(other, 1, "b's region of another PD");
    region_check(gone, 1, "b's invalidated region");
    region_check(res, 1, "b's atomic result");
    pair_close(&p);
}

/* RDMA Read from a region without REMOTE_READ (RFC 5040 §7.2 item 4): 0/1/0x02. The Read is the work
 * request that failed (REM_ACCESS_ERR), the Read after it is flushed; b's sink stays untouched. */
static void t_read_no_remote_read(void **state)
{
    (void)state;
    struct pair p;
    pair_up(&p);
    struct region *src = ep_region(&p.a, NULL, 256, IWK_ACCESS_LOCAL_WRITE | IWK_ACCESS_REMOTE_WRITE);
    struct region *sink = ep_region(&p.b, NULL, 256, IWK_ACCESS_LOCAL_WRITE);
    struct offence o = { .op = IWK_WR_RDMA_READ, .addr = (uintptr_t)sink->buf, .len = 256, .lkey = sink->mr->lkey,
                         .raddr = (uintptr_t)src->buf, .rkey = src->mr->rkey, .layer = 0, .etype = 1,
                         .ecode = IWK_RDMAP_TERM_PROT_ACCESS_RIGHTS, .status = IWK_WC_REM_ACCESS_ERR };
    run_offence(&p, &o);
    expect_cq(p.a.rcq, NULL, 0, "a receive CQ");
    region_check(sink, 1, "b's Read sink");
    region_check(src, 1, "a's region");
    pair_close(&p);
}

/* RDMA Read past the end of the source region: 0/1/0x01. */
static void t_read_out_of_bounds(void **state)
{
    (void)state;
    struct pair p;
    pair_up(&p);
    struct region *src = ep_region(&p.a, NULL, 256, IWK_ACCESS_LOCAL_WRITE | IWK_ACCESS_REMOTE_READ);
    struct region *sink = ep_region(&p.b, NULL, 256, IWK_ACCESS_LOCAL_WRITE);
    struct offence o = { .op = IWK_WR_RDMA_READ, .addr = (uintptr_t)sink->buf, .len = 256, .lkey = sink->mr->lkey,
                         .raddr = (uintptr_t)src->buf + 128u, .rkey = src->mr->rkey, .layer = 0, .etype = 1,
                         .ecode = IWK_RDMAP_TERM_PROT_BASE_BOUNDS, .status = IWK_WC_REM_ACCESS_ERR };
    run_offence(&p, &o);
    region_check(sink, 1, "b's Read sink");
    pair_close(&p);
}

/* FetchAdd on an address that is not 64-bit aligned: RFC 7306 §8.2 wants 0/2/0x07 (Remote Operation Error,
 * catastrophic error localized to the stream), and the memory MUST NOT be modified (§5.1.1). */
static void t_atomic_misaligned(void **state)
{
    (void)state;
    struct pair p;
    pair_up(&p);
    struct region *t = ep_region(&p.a, NULL, 16, IWK_ACCESS_LOCAL_WRITE | IWK_ACCESS_REMOTE_ATOMIC);
    struct region *res = ep_region(&p.b, NULL, 8, IWK_ACCESS_LOCAL_WRITE);
    struct offence o = { .op = IWK_WR_FETCH_ADD, .addr = (uintptr_t)res->buf, .len = 8, .lkey = res->mr->lkey,
                         .raddr = (uintptr_t)t->buf + 4u, .rkey = t->mr->rkey, .layer = 0, .etype = 2,
                         .ecode = IWK_RDMAP_TERM_OPER_CATASTROPHIC_STREAM, .status = IWK_WC_REM_OP_ERR };
    run_offence(&p, &o);
    region_check(t, 1, "a's atomic target");
    region_check(res, 1, "b's atomic result");
    pair_close(&p);
}

/* CmpSwap on a region without REMOTE_ATOMIC: 0/1/0x02, REM_ACCESS_ERR. */
static void t_atomic_no_remote_atomic(void **state)
{
    (void)state;
    struct pair p;
    pair_up(&p);
    struct region *t = ep_region(&p.a, NULL, 16, IWK_ACCESS_LOCAL_WRITE | IWK_ACCESS_REMOTE_WRITE);
    struct region *res = ep_region(&p.b, NULL, 8, IWK_ACCESS_LOCAL_WRITE);
    struct offence o = { .op = IWK_WR_CMP_SWAP, .addr = (uintptr_t)res->buf, .len = 8, .lkey = res->mr->lkey,
                         .raddr = (uintptr_t)t->buf, .rkey = t->mr->rkey, .layer = 0, .etype = 1,
                         .ecode = IWK_RDMAP_TERM_PROT_ACCESS_RIGHTS, .status = IWK_WC_REM_ACCESS_ERR };
    run_offence(&p, &o);
    region_check(t, 1, "a's atomic target");
    region_check(res, 1, "b's atomic result");
    pair_close(&p);
}

/* ---- untagged buffer errors (RFC 5041 §7.2) ------------------------------------------------------ */

/* A Send and no receive posted at a: DDP 1/2/0x02. The Send had completed at b (RFC 5040 §5.5 rule 14:
 * done once handed to DDP); the Read posted after it did not cause the error: WR_FLUSH_ERR. */
static void t_send_no_recv(void **state)
{
    (void)state;
    struct pair p;
    pair_up(&p);
    struct region *src = ep_region(&p.b, NULL, 64, 0);
    struct offence o = { .op = IWK_WR_SEND, .addr = (uintptr_t)src->buf, .len = 64, .lkey = src->mr->lkey,
                         .layer = 1, .etype = 2, .ecode = IWK_RDMAP_TERM_DDP_UT_MSN_NO_BUFFER,
                         .status = IWK_WC_SUCCESS };
    run_offence(&p, &o);
    expect_cq(p.a.rcq, NULL, 0, "a receive CQ");
    pair_close(&p);
}

/* A Send of 64 octets into a 16-octet receive: DDP 1/2/0x05. The receive completes with LOC_LEN_ERR
 * (verbs.h: "a received message was longer than the posted buffer"), a's next receive is flushed, and
 * nothing is written past the 16 octets (the segment is refused before it is placed). */
static void t_send_too_long(void **state)
{
    (void)state;
    struct pair p;
    pair_up(&p);
    struct region *rb = ep_region(&p.a, NULL, 16, IWK_ACCESS_LOCAL_WRITE);
    struct region *rb2 = ep_region(&p.a, NULL, 64, IWK_ACCESS_LOCAL_WRITE);
    post_recv(&p.a, ID_A_RECV, rb, 16);
    post_recv(&p.a, ID_A_RECV + 1, rb2, 64);
    struct region *src = ep_region(&p.b, NULL, 64, 0);
    struct offence o = { .op = IWK_WR_SEND, .addr = (uintptr_t)src->buf, .len = 64, .lkey = src->mr->lkey,
                         .layer = 1, .etype = 2, .ecode = IWK_RDMAP_TERM_DDP_UT_MSG_TOO_LONG,
                         .status = IWK_WC_SUCCESS };
    run_offence(&p, &o);
    const struct expect ar[] = { { ID_A_RECV, IWK_WC_LOC_LEN_ERR }, { ID_A_RECV + 1, IWK_WC_WR_FLUSH_ERR } };
    expect_cq(p.a.rcq, ar, 2, "a receive CQ");
    region_check(rb, 1, "a's short receive buffer");
    region_check(rb2, 1, "a's second receive buffer");
    pair_close(&p);
}

/* ---- malformed FPDUs injected by a (RFC 5044 §8, RFC 5041 §7.2, RFC 5040 §7.2) ------------------- */

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

static uint32_t get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Untagged DDP header (RFC 5041 §4.3) with the RDMAP control octet (RFC 5040 §4.1). */
static size_t hdr_untagged(uint8_t *h, unsigned last, unsigned dv, unsigned rv, unsigned op, uint32_t inv,
                           uint32_t qn, uint32_t msn, uint32_t mo)
{
    h[0] = (uint8_t)((last ? 0x40u : 0u) | (dv & 3u));
    h[1] = (uint8_t)((rv << 6) | (op & 0xFu));
    put32(h + 2, inv);
    put32(h + 6, qn);
    put32(h + 10, msn);
    put32(h + 14, mo);
    return 18;
}

/* Tagged DDP header (RFC 5041 §4.2). */
static size_t hdr_tagged(uint8_t *h, unsigned last, unsigned dv, unsigned rv, unsigned op, uint32_t stag, uint64_t to)
{
    h[0] = (uint8_t)(0x80u | (last ? 0x40u : 0u) | (dv & 3u));
    h[1] = (uint8_t)((rv << 6) | (op & 0xFu));
    put32(h + 2, stag);
    put64(h + 6, to);
    return 14;
}

/* FPDU (RFC 5044 §4.1): ULPDU_Length (as given), the ULPDU, pad to 4, CRC32c over all of that (§4.4). */
static size_t make_fpdu(uint8_t *out, size_t cap, unsigned ulpdu_length, const uint8_t *ulpdu, size_t n, int bad_crc)
{
    size_t len = 2u + n;
    size_t pad = (4u - len % 4u) % 4u;
    assert_true(len + pad + 4u <= cap);
    out[0] = (uint8_t)(ulpdu_length >> 8);
    out[1] = (uint8_t)ulpdu_length;
    memcpy(out + 2, ulpdu, n);
    memset(out + len, 0, pad);
    len += pad;
    uint32_t crc = iwk_crc32c(out, len);
    if (bad_crc)
        crc ^= 0x00010000u;
    iwk_crc32c_put_wire(out + len, crc);
    return len + 4u;
}

/* The hand-built headers are the ones the generated serializers write. */
static void t_frame_builders(void **state)
{
    (void)state;
    uint8_t h[18], g[18];
    hdr_untagged(h, 1, 1, 1, IWK_RDMAP_OP_SEND_INV, 0x11223344u, 0, 7, 9);
    struct iwk_ddp_untagged u = { .t = 0, .l = 1, .dv = IWK_DDP_VERSION,
                                  .rsvdulp = (uint8_t)((IWK_RDMAP_VERSION << 6) | IWK_RDMAP_OP_SEND_INV),
                                  .rsvdulp_ext = 0x11223344u, .qn = 0, .msn = 7, .mo = 9 };
    assert_int_equal(iwk_ddp_untagged_serialize(&u, g, sizeof g), IWK_OK);
    assert_memory_equal(h, g, 18);
    hdr_tagged(h, 0, 1, 1, IWK_RDMAP_OP_RDMA_WRITE, 0xABCDEF01u, 0x0102030405060708ull);
    struct iwk_ddp_tagged t = { .t = 1, .l = 0, .dv = IWK_DDP_VERSION,
                                .rsvdulp = (uint8_t)((IWK_RDMAP_VERSION << 6) | IWK_RDMAP_OP_RDMA_WRITE),
                                .stag = 0xABCDEF01u, .to = 0x0102030405060708ull };
    assert_int_equal(iwk_ddp_tagged_serialize(&t, g, sizeof g), IWK_OK);
    assert_memory_equal(h, g, 14);
    /* RFC 5044 §4.4 Figure 5: a Send (MSN 1, 24 zero octets) as the first FPDU of the stream, after a
     * zero Marker that its CRC covers; CRC octets on the wire 52 23 99 83 */
    uint8_t send[42], f[4 + 64];
    hdr_untagged(send, 1, 1, 1, IWK_RDMAP_OP_SEND, 0, 0, 1, 0);
    memset(send + 18, 0, 24);
    memset(f, 0, 4);
    size_t n = make_fpdu(f + 4, sizeof f - 4, sizeof send, send, sizeof send, 0);
    assert_int_equal(n, 48);
    static const uint8_t fig5_head[8] = { 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, 0x41, 0x43 };
    assert_memory_equal(f, fig5_head, sizeof fig5_head);
    uint8_t wire[4];
    iwk_crc32c_put_wire(wire, iwk_crc32c(f, 4 + 44));
    static const uint8_t fig5_crc[4] = { 0x52, 0x23, 0x99, 0x83 };
    assert_memory_equal(wire, fig5_crc, 4);
}

/* a injects `frame`; b finds the error and terminates with layer/etype/ecode. b's two receives are
 * flushed (the first one may have been taken by the injected Send: it still never completes with success). */
static void inject_case(const uint8_t *frame, size_t n, unsigned layer, unsigned etype, unsigned ecode)
{
    struct pair p;
    pair_up(&p);
    assert_int_equal(iwk_qp_inject_raw(p.a.qp, frame, n), 0);
    expect_terminate(&p.b, &p.a, layer, etype, ecode);
    const struct expect br[] = { { ID_GO, IWK_WC_WR_FLUSH_ERR }, { ID_B_SPARE, IWK_WC_WR_FLUSH_ERR } };
    expect_cq(p.b.rcq, br, 2, "b receive CQ");
    expect_cq(p.b.scq, NULL, 0, "b send CQ");
    expect_cq(p.a.scq, NULL, 0, "a send CQ");
    expect_cq(p.a.rcq, NULL, 0, "a receive CQ");
    region_check(p.b_go, 0, "b's receive buffer");
    pair_close(&p);
}

/* A Send (MSN 1, 16 octets of payload) with a corrupted CRC: MPA 2/0/0x02 (RFC 5044 §4.4, §8 code 2). The
 * receive it landed in is flushed, never delivered. */
static void t_inject_bad_crc(void **state)
{
    (void)state;
    uint8_t u[18 + 16], f[64];
    hdr_untagged(u, 1, 1, 1, IWK_RDMAP_OP_SEND, 0, 0, 1, 0);
    memset(u + 18, 0x33, 16);
    size_t n = make_fpdu(f, sizeof f, sizeof u, u, sizeof u, 1);
    inject_case(f, n, 2, 0, IWK_RDMAP_TERM_MPA_CRC);
}

/* DDP version 0 on an untagged segment: DDP 1/2/0x06 (RFC 5041 §7.2). */
static void t_inject_ddp_version_untagged(void **state)
{
    (void)state;
    uint8_t u[18], f[32];
    hdr_untagged(u, 1, 0, 1, IWK_RDMAP_OP_SEND, 0, 0, 1, 0);
    size_t n = make_fpdu(f, sizeof f, sizeof u, u, sizeof u, 0);
    inject_case(f, n, 1, 2, IWK_RDMAP_TERM_DDP_UT_INVALID_VERSION);
}

/* DDP version 0 on a tagged segment: DDP 1/1/0x04. */
static void t_inject_ddp_version_tagged(void **state)
{
    (void)state;
    uint8_t u[14 + 8], f[32];
    hdr_tagged(u, 1, 0, 1, IWK_RDMAP_OP_RDMA_WRITE, 0x100u, 0);
    memset(u + 14, 0, 8);
    size_t n = make_fpdu(f, sizeof f, sizeof u, u, sizeof u, 0);
    inject_case(f, n, 1, 1, IWK_RDMAP_TERM_DDP_T_INVALID_VERSION);
}

/* RDMAP version 0 (the pre-IETF version): RDMAP 0/2/0x05 (RFC 5040 §4.8). */
static void t_inject_rdmap_version(void **state)
{
    (void)state;
    uint8_t u[18], f[32];
    hdr_untagged(u, 1, 1, 0, IWK_RDMAP_OP_SEND, 0, 0, 1, 0);
    size_t n = make_fpdu(f, sizeof f, sizeof u, u, sizeof u, 0);
    inject_case(f, n, 0, 2, IWK_RDMAP_TERM_OPER_INVALID_VERSION);
}

/* Queue Number 7: DDP 1/2/0x01. */
static void t_inject_invalid_qn(void **state)
{
    (void)state;
    uint8_t u[18], f[32];
    hdr_untagged(u, 1, 1, 1, IWK_RDMAP_OP_SEND, 0, 7, 1, 0);
    size_t n = make_fpdu(f, sizeof f, sizeof u, u, sizeof u, 0);
    inject_case(f, n, 1, 2, IWK_RDMAP_TERM_DDP_UT_INVALID_QN);
}

/* The first Send carries MSN 2 (MSNs start at 1, RFC 5041 §5.1): DDP 1/2/0x03. */
static void t_inject_msn_out_of_sequence(void **state)
{
    (void)state;
    uint8_t u[18], f[32];
    hdr_untagged(u, 1, 1, 1, IWK_RDMAP_OP_SEND, 0, 0, 2, 0);
    size_t n = make_fpdu(f, sizeof f, sizeof u, u, sizeof u, 0);
    inject_case(f, n, 1, 2, IWK_RDMAP_TERM_DDP_UT_MSN_RANGE);
}

/* OpCode 0xC (unassigned): RDMAP 0/2/0x06. */
static void t_inject_unknown_opcode(void **state)
{
    (void)state;
    uint8_t u[18], f[32];
    hdr_untagged(u, 1, 1, 1, 0xCu, 0, 0, 1, 0);
    size_t n = make_fpdu(f, sizeof f, sizeof u, u, sizeof u, 0);
    inject_case(f, n, 0, 2, IWK_RDMAP_TERM_OPER_UNEXPECTED_OPCODE);
}

/* ULPDU_Length 10: shorter than the untagged DDP header: DDP 1/0/0x00 (local catastrophic). */
static void t_inject_short_ulpdu(void **state)
{
    (void)state;
    uint8_t u[18], f[32];
    hdr_untagged(u, 1, 1, 1, IWK_RDMAP_OP_SEND, 0, 0, 1, 0);
    size_t n = make_fpdu(f, sizeof f, 10, u, 10, 0);
    inject_case(f, n, 1, 0, IWK_RDMAP_TERM_DDP_CAT_LOCAL_CATASTROPHIC);
}

/* An RDMA Read Response nobody asked for: RDMAP 0/2/0x06 (RFC 5040 §7.1 item 2). */
static void t_inject_unsolicited_read_resp(void **state)
{
    (void)state;
    uint8_t u[14 + 8], f[32];
    hdr_tagged(u, 1, 1, 1, IWK_RDMAP_OP_RDMA_READ_RESP, 0x100u, 0);
    memset(u + 14, 0x44, 8);
    size_t n = make_fpdu(f, sizeof f, sizeof u, u, sizeof u, 0);
    inject_case(f, n, 0, 2, IWK_RDMAP_TERM_OPER_UNEXPECTED_OPCODE);
}

/* ---- a raw MPA peer: more Read Requests than IRD ------------------------------------------------- */

static int raw_connect(uint16_t port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    if (rcvbuf > 0) /* fixed and small: the window stays small while the peer does not read */
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
    struct timeval tv = { .tv_sec = WAIT_MS / 1000 };
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static void send_all(int fd, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        assert_true(w > 0);
        p += w;
        n -= (size_t)w;
    }
}

/* 0, or -1 at end of stream (or error / timeout). */
static int recv_all(int fd, void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t r = recv(fd, p, n, 0);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* An MPA rev 1 Request with C=1 and no private data (RFC 5044 §7.1.1). */
static void raw_send_request(int fd)
{
    uint8_t req[20];
    memcpy(req, IWK_MPA_KEY_REQ, 16);
    req[16] = 0x40; /* M=0 C=1 R=0 */
    req[17] = 1;
    req[18] = req[19] = 0;
    send_all(fd, req, sizeof req);
}

static void raw_read_reply(int fd)
{
    uint8_t rep[20 + 512];
    assert_int_equal(recv_all(fd, rep, 20), 0);
    assert_memory_equal(rep, IWK_MPA_KEY_REP, 16);
    assert_int_equal(rep[16] & 0x20, 0); /* R=0: accepted */
    assert_int_equal(rep[16] & 0x40, 0x40); /* C=1 */
    unsigned pdl = ((unsigned)rep[18] << 8) | rep[19];
    assert_true(pdl <= 512);
    assert_int_equal(recv_all(fd, rep + 20, pdl), 0);
}

struct raw_term {
    int found;
    struct iwk_rdmap_terminate t;
    uint8_t ddp[18];
    uint32_t fpdus;
};

/* Reads FPDUs (CRC on, Markers off) until the peer closes; checks every CRC, keeps the Terminate. */
static void raw_read_fpdus(int fd, struct raw_term *out)
{
    static uint8_t buf[2u + 65535u + 8u];
    memset(out, 0, sizeof *out);
    for (;;) {
        if (recv_all(fd, buf, 2) != 0)
            return;
        unsigned ulen = ((unsigned)buf[0] << 8) | buf[1];
        size_t rest = ulen + (4u - (2u + ulen) % 4u) % 4u + 4u;
        assert_int_equal(recv_all(fd, buf + 2, rest), 0);
        size_t body = 2u + rest - 4u;
        assert_int_equal(iwk_crc32c_get_wire(buf + body), iwk_crc32c(buf, body));
        out->fpdus++;
        const uint8_t *u = buf + 2;
        if (!(u[0] & 0x80u) && (u[1] & 0xFu) == IWK_RDMAP_OP_TERMINATE) {
            assert_false(out->found); /* one Terminate per stream (RFC 5040 §5.4) */
            assert_int_equal(get32(u + 6), 2); /* QN 2 */
            assert_int_equal(iwk_rdmap_terminate_parse(u + 18, ulen - 18u, &out->t), IWK_OK);
            memcpy(out->ddp, u, 18);
            out->found = 1;
        } else {
            assert_false(out->found); /* nothing after the Terminate */
        }
    }
}

/* b, accepted by hand for a raw MPA peer (fd): rev 1, CRC on, IRD/ORD `ird`; b's region `src` of `size`
 * octets with `access`; one receive posted (flushed when b enters TERMINATE). */
struct raw_b {
    struct ep b;
    struct iwk_listener *l;
    int fd;
    uint8_t *src;
    uint32_t size;
    struct iwk_mr *mr;
    struct region *rb;
};

static void raw_b_open(struct raw_b *r, uint32_t size, uint32_t access, uint16_t ird)
{
    memset(r, 0, sizeof *r);
    ep_open(&r->b);
    assert_int_equal(iwk_listen(r->b.ctx, "127.0.0.1", 0, 8, &r->l), 0);
    r->size = size;
    r->src = calloc(1, size);
    assert_non_null(r->src);
    assert_int_equal(iwk_mr_reg(r->b.pd, r->src, size, access, &r->mr), 0);
    r->rb = ep_region(&r->b, NULL, 64, IWK_ACCESS_LOCAL_WRITE);
    post_recv(&r->b, ID_B_SPARE, r->rb, 64);
    r->fd = raw_connect(iwk_listener_port(r->l), 65536);
    raw_send_request(r->fd);
    struct iwk_conn_request *req = NULL;
    assert_int_equal(iwk_get_request(r->l, WAIT_MS, &req), 0); /* the Request is already there */
    assert_int_equal(iwk_conn_request_info(req)->mpa_rev, 1);
    struct iwk_conn_param cp;
    default_param(&cp);
    cp.ird = ird;
    cp.ord = ird;
    assert_int_equal(iwk_accept(req, r->b.qp, &cp), 0);
    raw_read_reply(r->fd);
    struct iwk_qp_info qi;
    iwk_qp_info(r->b.qp, &qi);
    assert_int_equal(qi.ird, ird);
}

static void raw_b_close(struct raw_b *r)
{
    close(r->fd);
    iwk_listener_close(r->l);
    assert_int_equal(iwk_qp_destroy(r->b.qp), 0);
    r->b.qp = NULL;
    assert_int_equal(iwk_mr_dereg(r->mr), 0);
    free(r->src);
    ep_close(&r->b);
}

/* An RDMA Read Request FPDU (RFC 5040 §4.4) on queue 1 with `msn`. */
static size_t read_request_fpdu(uint8_t *out, size_t cap, uint32_t msn, const struct iwk_rdmap_read_request *rr)
{
    uint8_t u[18 + 28];
    hdr_untagged(u, 1, 1, 1, IWK_RDMAP_OP_RDMA_READ_REQ, 0, 1, msn, 0);
    assert_int_equal(iwk_rdmap_read_request_serialize(rr, u + 18, 28), IWK_OK);
    return make_fpdu(out, cap, sizeof u, u, sizeof u, 0);
}

/* b accepts with IRD 1. A raw peer sends two Read Requests back to back while not reading, so that the
 * Response to the first is still being sent when the second arrives: DDP 1/2/0x02 (RFC 5041 §7.2 via the
 * rdmap_qp machine, spec/rdmap_stream.iws QP_TERM_IRD_EXCEEDED). The Terminate names the second Request
 * (D bit: QN 1, MSN 2), comes after the first Response's FPDUs, and nothing follows it. */
static void t_ird_exceeded(void **state)
{
    (void)state;
    struct raw_b r;
    raw_b_open(&r, 16u << 20, IWK_ACCESS_REMOTE_READ, 1);
    uint8_t both[128];
    size_t n = 0;
    for (uint32_t i = 0; i < 2; i++) {
        struct iwk_rdmap_read_request rr = { .sink_stag = 0x1234u, .sink_to = 0, .read_size = r.size,
                                             .src_stag = r.mr->rkey, .src_to = (uintptr_t)r.src };
        n += read_request_fpdu(both + n, sizeof both - n, i + 1u, &rr);
    }
    send_all(r.fd, both, n);
    /* b's receive is flushed when b enters TERMINATE: from then on the peer may read */
    struct iwk_wc wc = next_wc(r.b.rcq, "b's receive flushed by the Terminate");
    assert_int_equal(wc.wr_id, ID_B_SPARE);
    assert_int_equal(wc.status, IWK_WC_WR_FLUSH_ERR);

    struct raw_term rt;
    raw_read_fpdus(r.fd, &rt);
    shutdown(r.fd, SHUT_WR); /* b waits for our FIN in TERMINATE */
    assert_true(rt.found);
    assert_true(rt.fpdus >= 2); /* Read Response FPDUs first */
    assert_int_equal(rt.t.elayer, 1);
    assert_int_equal(rt.t.etype, 2);
    assert_int_equal(rt.t.ecode, IWK_RDMAP_TERM_DDP_UT_MSN_NO_BUFFER);
    assert_int_equal(rt.t.d, 1);
    assert_int_equal(rt.t.m, 1); /* the DDP Segment Length of the Request: 18 + 28 octets */
    assert_int_equal(rt.t.ddp_seg_len, 18 + 28);
    assert_int_equal(rt.t.term_opcode, IWK_RDMAP_OP_RDMA_READ_REQ);
    assert_int_equal(rt.t.term_ddp_rest_len, 16);
    assert_int_equal(get32(rt.t.term_ddp_rest + 4), 1); /* QN 1 */
    assert_int_equal(get32(rt.t.term_ddp_rest + 8), 2); /* MSN 2: the second Request */

    assert_int_equal(iwk_qp_wait_closed(r.b.qp, WAIT_MS), 0);
    expect_info(r.b.qp, "b", 1, 1, 2, IWK_RDMAP_TERM_DDP_UT_MSN_NO_BUFFER);
    expect_cq(r.b.rcq, NULL, 0, "b receive CQ");
    expect_cq(r.b.scq, NULL, 0, "b send CQ");
    raw_b_close(&r);
}

/* A Read Request for a region without REMOTE_READ, seen on the wire: the Terminate (0/1/0x02) carries
 * the Request's DDP header (D) and its RDMA Read Request header unchanged, since no octet was read
 * (R; RFC 5040 §4.8 "Terminated RDMA Header", §7.1 item 3, Figure 10). Nothing else is sent. */
static void t_read_request_terminate_headers(void **state)
{
    (void)state;
    struct raw_b r;
    raw_b_open(&r, 4096, IWK_ACCESS_LOCAL_WRITE, 4);
    struct iwk_rdmap_read_request rr = { .sink_stag = 0xAB12CD34u, .sink_to = 0x1122334455667788ull,
                                         .read_size = 256, .src_stag = r.mr->rkey, .src_to = (uintptr_t)r.src + 64u };
    uint8_t f[64];
    size_t n = read_request_fpdu(f, sizeof f, 1, &rr);
    send_all(r.fd, f, n);
    struct raw_term rt;
    raw_read_fpdus(r.fd, &rt);
    shutdown(r.fd, SHUT_WR);
    assert_true(rt.found);
    assert_int_equal(rt.fpdus, 1);
    assert_int_equal(rt.t.elayer, 0);
    assert_int_equal(rt.t.etype, 1);
    assert_int_equal(rt.t.ecode, IWK_RDMAP_TERM_PROT_ACCESS_RIGHTS);
    assert_int_equal(rt.t.d, 1);
    assert_int_equal(rt.t.term_t, 0);
    assert_int_equal(rt.t.term_opcode, IWK_RDMAP_OP_RDMA_READ_REQ);
    assert_int_equal(get32(rt.t.term_ddp_rest + 4), 1); /* QN 1 */
    assert_int_equal(get32(rt.t.term_ddp_rest + 8), 1); /* MSN 1 */
    assert_int_equal(rt.t.r, 1);
    struct iwk_rdmap_read_request echo;
    assert_int_equal(iwk_rdmap_read_request_parse(rt.t.term_rdma_hdr, rt.t.term_rdma_hdr_len, &echo), IWK_OK);
    assert_int_equal(echo.sink_stag, rr.sink_stag);
    assert_true(echo.sink_to == rr.sink_to);
    assert_int_equal(echo.read_size, rr.read_size);
    assert_int_equal(echo.src_stag, rr.src_stag);
    assert_true(echo.src_to == rr.src_to);
    assert_int_equal(iwk_qp_wait_closed(r.b.qp, WAIT_MS), 0);
    expect_info(r.b.qp, "b", 1, 0, 1, IWK_RDMAP_TERM_PROT_ACCESS_RIGHTS);
    const struct expect br[] = { { ID_B_SPARE, IWK_WC_WR_FLUSH_ERR } };
    expect_cq(r.b.rcq, br, 1, "b receive CQ");
    raw_b_close(&r);
}

/* ---- MPA setup failures (RFC 5044 §7.1, RFC 6581) --------------------------------------------------- */

/* b rejects with private data: iwk_connect returns -IWK_ECONNREJECTED and a sees the private data. */
static void t_mpa_reject_private_data(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p);
    p.reject_pd = "go away: no slots";
    p.pa.private_data = "hello";
    p.pa.private_data_len = 5;
    int arc = -1;
    int rc = pair_try_connect(&p, &arc);
    assert_int_equal(rc, -IWK_ECONNREJECTED);
    assert_int_equal(arc, 0);
    assert_int_equal(p.req_pd_len, 5);
    assert_memory_equal(p.req_pd, "hello", 5);
    struct iwk_qp_info qi;
    iwk_qp_info(p.a.qp, &qi);
    assert_int_equal(qi.peer_private_data_len, strlen(p.reject_pd));
    assert_memory_equal(qi.peer_private_data, p.reject_pd, strlen(p.reject_pd));
    assert_int_equal(qi.error, -IWK_ECONNREJECTED);
    assert_int_equal(qi.state, IWK_QPS_ERROR);
    assert_int_equal(qi.term_sent, 0);
    assert_int_equal(qi.term_received, 0);
    assert_int_equal(post_wr(&p.a, 1, IWK_WR_SEND, 0, 0, 0, 0, 0), -ENOTCONN);
    pair_close(&p);
}

/* The Initiator requires Markers (M=1), the Responder cannot send them: the Responder rejects
 * (spec/mpa_setup.iws: IDLE RX_REQUEST when p_m && !can_markers -> REJECTED, R=1). */
static void t_mpa_markers_unsupported(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p);
    p.pa.markers = 1;
    p.pb.can_markers = 0;
    int arc = 0;
    int rc = pair_try_connect(&p, &arc);
    assert_int_equal(rc, -IWK_ECONNREJECTED);
    assert_int_equal(arc, -EPROTO);
    struct iwk_qp_info qi;
    iwk_qp_info(p.a.qp, &qi);
    assert_int_equal(qi.state, IWK_QPS_ERROR);
    assert_int_equal(qi.error, -IWK_ECONNREJECTED);
    iwk_qp_info(p.b.qp, &qi);
    print_message("    b: error %d, reason \"%s\"\n", qi.error, qi.reason);
    assert_int_equal(qi.state, IWK_QPS_ERROR);
    assert_int_equal(qi.error, -EPROTO);
    assert_non_null(strstr(qi.reason, "Markers"));
    pair_close(&p);
}

/* Peer-to-peer with no RTR type in common (a sends only the Write RTR, b accepts only the Send RTR): b
 * offers what it supports, a finds no match and sends TERM 2/0/0x07, closes (spec/mpa_setup.iws: WAIT_REPLY
 * RX_REPLY ... -> CLOSED send_term MPA_TERM_NO_MATCHING_RTR; RFC 6581 §9.2). b, already accepted, receives
 * that Terminate (WAIT_RTR RX_TERM -> CLOSED). */
static void t_mpa_no_common_rtr(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p);
    post_recv(&p.b, ID_B_SPARE, p.b_go, 64);
    p.pa.rtr = IWK_RTR_WRITE;
    p.pb.rtr = IWK_RTR_SEND;
    int arc = -1;
    int rc = pair_try_connect(&p, &arc);
    assert_int_equal(rc, -EPROTO);
    struct iwk_qp_info qi;
    iwk_qp_info(p.a.qp, &qi);
    print_message("    a: error %d, reason \"%s\"\n", qi.error, qi.reason);
    assert_int_equal(qi.state, IWK_QPS_ERROR);
    assert_int_equal(qi.term_sent, 1);
    assert_int_equal(qi.term_layer, 2);
    assert_int_equal(qi.term_etype, 0);
    assert_int_equal(qi.term_ecode, IWK_RDMAP_TERM_MPA_NO_MATCHING_RTR);
    if (arc == 0) {
        assert_int_equal(iwk_qp_wait_closed(p.b.qp, WAIT_MS), 0);
        expect_info(p.b.qp, "b", 0, 2, 0, IWK_RDMAP_TERM_MPA_NO_MATCHING_RTR);
        const struct expect br[] = { { ID_B_SPARE, IWK_WC_WR_FLUSH_ERR } };
        expect_cq(p.b.rcq, br, 1, "b receive CQ");
    }
    assert_int_equal(arc, 0);
    pair_close(&p);
}

/* A port where nothing listens (a bound socket that never called listen): -ECONNREFUSED. */
static void t_connect_refused(void **state)
{
    (void)state;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s >= 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &sl), 0);
    struct ep a;
    ep_open(&a);
    struct iwk_conn_param cp;
    default_param(&cp);
    assert_int_equal(iwk_connect(a.qp, "127.0.0.1", ntohs(sa.sin_port), &cp), -ECONNREFUSED);
    struct iwk_qp_info qi;
    iwk_qp_info(a.qp, &qi);
    assert_int_equal(qi.state, IWK_QPS_ERROR);
    assert_int_equal(qi.error, -ECONNREFUSED);
    close(s);
    ep_close(&a);
}

/* A TCP listener that accepts (in the kernel) but never answers the MPA Request: with timeout_ms 500,
 * iwk_connect returns -ETIMEDOUT after about 0.5 s (RFC 5044 §7.1.2 rule 10). */
static void t_connect_timeout(void **state)
{
    (void)state;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s >= 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(s, 4), 0);
    socklen_t sl = sizeof sa;
    assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &sl), 0);
    struct ep a;
    ep_open(&a);
    struct iwk_conn_param cp;
    default_param(&cp);
    cp.timeout_ms = 500;
    double t0 = now_s();
    int rc = iwk_connect(a.qp, "127.0.0.1", ntohs(sa.sin_port), &cp);
    double dt = now_s() - t0;
    print_message("    iwk_connect returned %d after %.3f s\n", rc, dt);
    assert_int_equal(rc, -ETIMEDOUT);
    assert_true(dt >= 0.45);
    assert_true(dt < 2.0);
    struct iwk_qp_info qi;
    iwk_qp_info(a.qp, &qi);
    assert_int_equal(qi.state, IWK_QPS_ERROR);
    assert_int_equal(qi.error, -ETIMEDOUT);
    close(s);
    ep_close(&a);
}

/* A client that sends garbage (an HTTP request) instead of an MPA Request: iwk_get_request drops that
 * connection (RFC 5044 §7.1.2 rule 5: close) and returns the next, real one. */
static void t_garbage_request_then_real(void **state)
{
    (void)state;
    struct pair p;
    pair_init(&p);
    int g = raw_connect(iwk_listener_port(p.l), 0);
    const char garbage[] = "GET / HTTP/1.1\r\nHost: iwkit\r\nUser-Agent: test\r\n\r\n";
    send_all(g, garbage, sizeof garbage - 1);
    pair_connect(&p); /* the garbage connection came first in the accept queue */
    uint8_t c;
    ssize_t r = recv(g, &c, 1, 0);
    assert_true(r == 0 || (r < 0 && errno == ECONNRESET)); /* closed, nothing sent back */
    close(g);
    /* the real connection works */
    post_recv(&p.b, ID_GO, p.b_go, 64);
    release_b(&p);
    struct iwk_wc wc = next_wc(p.b.rcq, "b's receive");
    assert_int_equal(wc.status, IWK_WC_SUCCESS);
    assert_int_equal(wc.byte_len, 16);
    pair_close(&p);
}

/* ---- flush and close ------------------------------------------------------------------------------ */

#define CHILD_CHECK(x)                                                                   \
    do {                                                                                 \
        if (!(x)) {                                                                      \
            fprintf(stderr, "child: %s failed at line %d\n", #x, __LINE__);              \
            _exit(10);                                                                   \
        }                                                                                \
    } while (0)

/* The peer in a child process (this program run again with --child-peer PORT GRACEFUL: a new process,
 * not a fork of this threaded one): connects, then disconnects gracefully (graceful != 0) or exits
 * without closing anything (the kernel closes the socket). Never returns. */
static void child_peer(uint16_t port, int graceful)
{
    struct iwk_context *ctx = NULL;
    struct iwk_pd *pd = NULL;
    struct iwk_cq *cq = NULL;
    struct iwk_qp *qp = NULL;
    CHILD_CHECK(iwk_context_open(NULL, &ctx) == 0);
    CHILD_CHECK(iwk_pd_alloc(ctx, &pd) == 0);
    CHILD_CHECK(iwk_cq_create(ctx, 16, &cq) == 0);
    struct iwk_qp_attr qa = { .send_cq = cq, .recv_cq = cq };
    CHILD_CHECK(iwk_qp_create(pd, &qa, &qp) == 0);
    struct iwk_conn_param cp;
    CHILD_CHECK(iwk_conn_param_profile(&cp, "rfc") == 0);
    cp.rtr = 0;
    cp.timeout_ms = WAIT_MS;
    CHILD_CHECK(iwk_connect(qp, "127.0.0.1", port, &cp) == 0);
    if (!graceful)
        _exit(0);
    CHILD_CHECK(iwk_disconnect(qp, WAIT_MS) == 0);
    struct iwk_qp_info qi;
    iwk_qp_info(qp, &qi);
    CHILD_CHECK(qi.state == IWK_QPS_IDLE || qi.state == IWK_QPS_ERROR);
    CHILD_CHECK(qi.term_sent == 0 && qi.term_received == 0);
    struct iwk_wc wc;
    CHILD_CHECK(iwk_cq_poll(cq, 1, &wc) == 0);
    CHILD_CHECK(iwk_qp_destroy(qp) == 0);
    CHILD_CHECK(iwk_cq_destroy(cq) == 0);
    CHILD_CHECK(iwk_pd_free(pd) == 0);
    iwk_context_close(ctx);
    _exit(0);
}

extern char **environ;

static pid_t spawn_peer(uint16_t port, int graceful)
{
    char sport[8], sgraceful[2] = { graceful ? '1' : '0', '\0' };
    char self[] = "test_runtime_errors", opt[] = "--child-peer";
    snprintf(sport, sizeof sport, "%u", (unsigned)port);
    char *argv[] = { self, opt, sport, sgraceful, NULL };
    fflush(NULL);
    pid_t pid = -1;
    assert_int_equal(posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ), 0);
    return pid;
}

/* b posts 8 receives and accepts a peer running in a child process; the peer goes away. Every receive
 * completes with WR_FLUSH_ERR exactly once, in posting order (RFC 5040 §6.2: what is outstanding is
 * flushed); b is in ERROR and refuses new work with -ENOTCONN; destroying it adds no completion. */
static void flush_on_peer_close(int graceful)
{
    struct ep b;
    ep_open(&b);
    struct iwk_listener *l = NULL;
    assert_int_equal(iwk_listen(b.ctx, "127.0.0.1", 0, 8, &l), 0);
    uint16_t port = iwk_listener_port(l);
    pid_t pid = spawn_peer(port, graceful);
    struct region *rb = ep_region(&b, NULL, 8 * 64, IWK_ACCESS_LOCAL_WRITE);
    for (int i = 0; i < 8; i++) {
        struct iwk_sge sg = { .addr = (uintptr_t)rb->buf + 64u * (unsigned)i, .length = 64, .lkey = rb->mr->lkey };
        struct iwk_recv_wr wr = { .wr_id = 100u + (unsigned)i, .sg_list = &sg, .num_sge = 1 };
        assert_int_equal(iwk_post_recv(b.qp, &wr), 0);
    }
    struct iwk_conn_request *req = NULL;
    assert_int_equal(iwk_get_request(l, WAIT_MS, &req), 0);
    struct iwk_conn_param cp;
    default_param(&cp);
    assert_int_equal(iwk_accept(req, b.qp, &cp), 0);
    assert_int_equal(iwk_qp_wait_closed(b.qp, WAIT_MS), 0);
    struct iwk_qp_info qi;
    iwk_qp_info(b.qp, &qi);
    print_message("    b: state %d, error %d, reason \"%s\"\n", (int)qi.state, qi.error, qi.reason);
    assert_int_equal(qi.state, IWK_QPS_ERROR);
    assert_int_equal(qi.term_sent, 0);
    assert_int_equal(qi.term_received, 0);
    struct expect e[8];
    for (int i = 0; i < 8; i++)
        e[i] = (struct expect){ 100u + (unsigned)i, IWK_WC_WR_FLUSH_ERR };
    expect_cq(b.rcq, e, 8, "b receive CQ");
    expect_cq(b.scq, NULL, 0, "b send CQ");
    assert_int_equal(post_wr(&b, 1, IWK_WR_SEND, (uintptr_t)rb->buf, 8, rb->mr->lkey, 0, 0), -ENOTCONN);
    struct iwk_sge sg = { .addr = (uintptr_t)rb->buf, .length = 64, .lkey = rb->mr->lkey };
    struct iwk_recv_wr wr = { .wr_id = 200, .sg_list = &sg, .num_sge = 1 };
    assert_int_equal(iwk_post_recv(b.qp, &wr), -ENOTCONN);
    region_check(rb, 1, "b's receive buffers");
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(iwk_qp_destroy(b.qp), 0);
    b.qp = NULL;
    expect_cq(b.rcq, NULL, 0, "b receive CQ after destroy");
    iwk_listener_close(l);
    ep_close(&b);
}

static void t_flush_peer_disconnects(void **state)
{
    (void)state;
    flush_on_peer_close(1);
}

static void t_flush_peer_process_exits(void **state)
{
    (void)state;
    flush_on_peer_close(0);
}

struct disc_arg {
    struct iwk_qp *qp;
    int rc;
};

static void *disconnect_main(void *arg)
{
    struct disc_arg *d = arg;
    d->rc = iwk_disconnect(d->qp, WAIT_MS);
    return NULL;
}

/* Both sides call iwk_disconnect at the same time after some traffic: both return 0 well before the
 * timeout, end in IDLE or ERROR without a Terminate, and their posted receives complete once each
 * (WR_FLUSH_ERR): nothing is left hanging. */
static void t_disconnect_both_sides(void **state)
{
    (void)state;
    struct pair p;
    pair_up(&p);
    struct region *ar = ep_region(&p.a, NULL, 64, IWK_ACCESS_LOCAL_WRITE);
    post_recv(&p.a, ID_A_RECV, ar, 64);
    release_b(&p);
    struct iwk_wc wc = next_wc(p.b.rcq, "b's receive");
    assert_int_equal(wc.wr_id, ID_GO);
    assert_int_equal(wc.status, IWK_WC_SUCCESS);
    wc = next_wc(p.a.scq, "a's Send");
    assert_int_equal(wc.status, IWK_WC_SUCCESS);
    struct disc_arg d = { .qp = p.b.qp };
    pthread_t th;
    double t0 = now_s();
    assert_int_equal(pthread_create(&th, NULL, disconnect_main, &d), 0);
    int rc = iwk_disconnect(p.a.qp, WAIT_MS);
    assert_int_equal(pthread_join(th, NULL), 0);
    double dt = now_s() - t0;
    assert_int_equal(rc, 0);
    assert_int_equal(d.rc, 0);
    assert_true(dt < 5.0);
    struct iwk_qp_info qa, qb;
    iwk_qp_info(p.a.qp, &qa);
    iwk_qp_info(p.b.qp, &qb);
    print_message("    a: state %d (%s), b: state %d (%s), %.3f s\n", (int)qa.state, qa.reason, (int)qb.state,
                  qb.reason, dt);
    assert_true(qa.state == IWK_QPS_IDLE || qa.state == IWK_QPS_ERROR);
    assert_true(qb.state == IWK_QPS_IDLE || qb.state == IWK_QPS_ERROR);
    assert_int_equal(qa.term_sent | qa.term_received | qb.term_sent | qb.term_received, 0);
    const struct expect ea[] = { { ID_A_RECV, IWK_WC_WR_FLUSH_ERR } };
    expect_cq(p.a.rcq, ea, 1, "a receive CQ");
    const struct expect eb[] = { { ID_B_SPARE, IWK_WC_WR_FLUSH_ERR } };
    expect_cq(p.b.rcq, eb, 1, "b receive CQ");
    assert_int_equal(post_wr(&p.a, 1, IWK_WR_SEND, 0, 0, 0, 0, 0), -ENOTCONN);
    assert_int_equal(post_wr(&p.b, 1, IWK_WR_SEND, 0, 0, 0, 0, 0), -ENOTCONN);
    pair_close(&p);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--child-peer") == 0)
        child_peer((uint16_t)strtoul(argv[2], NULL, 10), strcmp(argv[3], "1") == 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_frame_builders),
        cmocka_unit_test(t_write_unknown_stag),
        cmocka_unit_test(t_write_stale_key),
        cmocka_unit_test(t_write_out_of_bounds),
        cmocka_unit_test(t_write_below_base),
        cmocka_unit_test(t_write_no_remote_write),
        cmocka_unit_test(t_write_other_pd),
        cmocka_unit_test(t_write_to_wraps),
        cmocka_unit_test(t_write_after_send_inv),
        cmocka_unit_test(t_write_locally_invalidated),
        cmocka_unit_test(t_send_inv_unknown_stag),
        cmocka_unit_test(t_local_protection),
        cmocka_unit_test(t_read_no_remote_read),
        cmocka_unit_test(t_read_out_of_bounds),
        cmocka_unit_test(t_atomic_misaligned),
        cmocka_unit_test(t_atomic_no_remote_atomic),
        cmocka_unit_test(t_send_no_recv),
        cmocka_unit_test(t_send_too_long),
        cmocka_unit_test(t_inject_bad_crc),
        cmocka_unit_test(t_inject_ddp_version_untagged),
        cmocka_unit_test(t_inject_ddp_version_tagged),
        cmocka_unit_test(t_inject_rdmap_version),
        cmocka_unit_test(t_inject_invalid_qn),
        cmocka_unit_test(t_inject_msn_out_of_sequence),
        cmocka_unit_test(t_inject_unknown_opcode),
        cmocka_unit_test(t_inject_short_ulpdu),
        cmocka_unit_test(t_inject_unsolicited_read_resp),
        cmocka_unit_test(t_ird_exceeded),
        cmocka_unit_test(t_read_request_terminate_headers),
        cmocka_unit_test(t_mpa_reject_private_data),
        cmocka_unit_test(t_mpa_markers_unsupported),
        cmocka_unit_test(t_mpa_no_common_rtr),
        cmocka_unit_test(t_connect_refused),
        cmocka_unit_test(t_connect_timeout),
        cmocka_unit_test(t_garbage_request_then_real),
        cmocka_unit_test(t_flush_peer_disconnects),
        cmocka_unit_test(t_flush_peer_process_exits),
        cmocka_unit_test(t_disconnect_both_sides),
    };
    const char *filter = getenv("IWK_TEST_FILTER"); /* e.g. IWK_TEST_FILTER='t_inject_*' */
    if (filter != NULL && filter[0] != '\0')
        cmocka_set_test_filter(filter);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
