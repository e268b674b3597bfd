/* test_runtime_security.c - the fixes of issue 16 over real loopback TCP (hand-written, not generated).
 *
 * A raw peer speaks MPA/DDP/RDMAP by hand (frames built here, RFC 5044 §4) against an iwkit queue pair
 * accepted on a real listener ("the server"). Each case is an attack or a fault that the runtime once got
 * wrong, and checks what the RFCs ask for:
 *   - Send with Invalidate naming a local-only STag: refused, the STag stays valid (RFC 5040 §5.3, RFC 5042 §6.4.5);
 *   - STags are not predictable: index and key differ between contexts and are spread (RFC 5040 §8.1.1);
 *   - a flood of silent TCP connects does not keep a real Initiator out of the listener;
 *   - with CRC on, nothing of a corrupted FPDU is placed, and a corrupted STag or Tagged Offset is a CRC
 *     error (RFC 5044 §6, §4.4); an MO error's Terminate carries the MO received (RFC 5040 §4.8, RFC 5041 §7.1);
 *   - a Terminate queued when the application destroys the queue pair is still delivered (RFC 5040 §5.4);
 *   - a Marker's Reserved field and FPDUPTR's low two bits are ignored (RFC 5044 §4.2);
 *   - an FPDU shorter than 16 octets is answered at once (no hang).
 * Every wait has a timeout; no sleeps. One case: IWK_TEST_FILTER=t_crc_write_not_placed build/tests/test_runtime_security
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
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "iwk_ddp.h"
#include "iwk_mpa.h"
#include "iwk_rdmap.h"
#include "iwkit/crc32c.h"
#include "iwkit/verbs.h"

#define WAIT_MS 10000
#define REGION 4096u
#define FILL 0x5Au

/* ---- frames (RFC 5044 §4, RFC 5041 §4, RFC 5040 §4) ------------------------------------------- */

static uint32_t get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Untagged DDP header with the RDMAP control octet, through the generated serializer. */
static size_t hdr_untagged(uint8_t *h, unsigned op, uint32_t inv, uint32_t qn, uint32_t msn, uint32_t mo)
{
    struct iwk_ddp_untagged u = { .t = 0, .l = 1, .dv = IWK_DDP_VERSION,
                                  .rsvdulp = (uint8_t)((IWK_RDMAP_VERSION << 6) | op), .rsvdulp_ext = inv,
                                  .qn = qn, .msn = msn, .mo = mo };
    assert_int_equal(iwk_ddp_untagged_serialize(&u, h, IWK_DDP_UNTAGGED_MIN_SIZE), IWK_OK);
    return IWK_DDP_UNTAGGED_MIN_SIZE;
}

static size_t hdr_tagged(uint8_t *h, unsigned op, uint32_t stag, uint64_t to)
{
    struct iwk_ddp_tagged t = { .t = 1, .l = 1, .dv = IWK_DDP_VERSION,
                                .rsvdulp = (uint8_t)((IWK_RDMAP_VERSION << 6) | op), .stag = stag, .to = to };
    assert_int_equal(iwk_ddp_tagged_serialize(&t, h, IWK_DDP_TAGGED_MIN_SIZE), IWK_OK);
    return IWK_DDP_TAGGED_MIN_SIZE;
}

/* FPDU: ULPDU_Length, ULPDU, pad, CRC32c over `pre` octets before it (a Marker) and all of that. */
static size_t make_fpdu(uint8_t *out, const uint8_t *pre, size_t npre, const uint8_t *ulpdu, size_t n)
{
    size_t len = 2u + n;
    size_t pad = (4u - len % 4u) % 4u;
    out[0] = (uint8_t)(n >> 8);
    out[1] = (uint8_t)n;
    memcpy(out + 2, ulpdu, n);
    memset(out + len, 0, pad);
    len += pad;
    uint32_t st = iwk_crc32c_init();
    if (npre > 0)
        st = iwk_crc32c_update(st, pre, npre);
    uint32_t crc = iwk_crc32c_final(iwk_crc32c_update(st, out, len));
    iwk_crc32c_put_wire(out + len, crc);
    return len + 4u;
}

/* ---- the server: an iwkit queue pair accepted for a raw peer ------------------------------------ */

struct srv {
    struct iwk_context *ctx;
    struct iwk_pd *pd;
    struct iwk_cq *cq;
    struct iwk_qp *qp;
    struct iwk_listener *l;
    uint8_t *target, *rbuf;       /* REMOTE_WRITE region; a local-only receive buffer */
    struct iwk_mr *tmr, *rmr;
    int fd;                       /* the raw peer's socket */
};

static int raw_connect(uint16_t port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    if (rcvbuf > 0)
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

/* 0, or -1 at end of stream, reset or timeout (errno tells). */
static int recv_all(int fd, void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t r = recv(fd, p, n, 0);
        if (r <= 0) {
            if (r == 0)
                errno = 0;
            return -1;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* An MPA rev 1 Request (RFC 5044 §7.1.1), C=1, M as given; the Reply must accept. */
static void raw_mpa(int fd, int markers)
{
    uint8_t req[20];
    memcpy(req, IWK_MPA_KEY_REQ, 16);
    req[16] = (uint8_t)(0x40u | (markers ? 0x80u : 0u));
    req[17] = 1;
    req[18] = req[19] = 0;
    send_all(fd, req, sizeof req);
}

static void raw_reply(int fd)
{
    uint8_t rep[20 + 512];
    assert_int_equal(recv_all(fd, rep, 20), 0);
    assert_memory_equal(rep, IWK_MPA_KEY_REP, 16);
    assert_int_equal(rep[16] & 0x20, 0);
    unsigned pdl = ((unsigned)rep[18] << 8) | rep[19];
    assert_true(pdl <= 512);
    assert_int_equal(recv_all(fd, rep + 20, pdl), 0);
}

/* The server accepts a raw peer: CRC on, Markers both ways when `markers`, IRD/ORD 4; one 64-octet
 * receive posted in the local-only buffer. */
static void srv_open(struct srv *s, int markers, int rcvbuf)
{
    memset(s, 0, sizeof *s);
    assert_int_equal(iwk_context_open(NULL, &s->ctx), 0);
    assert_int_equal(iwk_pd_alloc(s->ctx, &s->pd), 0);
    assert_int_equal(iwk_cq_create(s->ctx, 64, &s->cq), 0);
    struct iwk_qp_attr qa = { .send_cq = s->cq, .recv_cq = s->cq, .max_send_wr = 16, .max_recv_wr = 16 };
    assert_int_equal(iwk_qp_create(s->pd, &qa, &s->qp), 0);
    s->target = malloc(REGION);
    s->rbuf = malloc(REGION);
    assert_non_null(s->target);
    assert_non_null(s->rbuf);
    memset(s->target, FILL, REGION);
    memset(s->rbuf, FILL, REGION);
    assert_int_equal(iwk_mr_reg(s->pd, s->target, REGION, IWK_ACCESS_LOCAL_WRITE | IWK_ACCESS_REMOTE_WRITE |
                                IWK_ACCESS_REMOTE_READ, &s->tmr), 0);
    assert_int_equal(iwk_mr_reg(s->pd, s->rbuf, REGION, IWK_ACCESS_LOCAL_WRITE, &s->rmr), 0);
    struct iwk_sge sg = { .addr = (uintptr_t)s->rbuf, .length = 64, .lkey = s->rmr->lkey };
    struct iwk_recv_wr wr = { .wr_id = 7, .sg_list = &sg, .num_sge = 1 };
    assert_int_equal(iwk_post_recv(s->qp, &wr), 0);
    assert_int_equal(iwk_listen(s->ctx, "127.0.0.1", 0, 8, &s->l), 0);
    s->fd = raw_connect(iwk_listener_port(s->l), rcvbuf);
    raw_mpa(s->fd, markers);
    struct iwk_conn_request *req = NULL;
    assert_int_equal(iwk_get_request(s->l, WAIT_MS, &req), 0);
    struct iwk_conn_param cp;
    assert_int_equal(iwk_conn_param_profile(&cp, "rfc"), 0);
    cp.rtr = 0;
    cp.markers = markers != 0;
    cp.timeout_ms = WAIT_MS;
    cp.ird = cp.ord = 4;
    assert_int_equal(iwk_accept(req, s->qp, &cp), 0);
    raw_reply(s->fd);
    struct iwk_qp_info qi;
    iwk_qp_info(s->qp, &qi);
    assert_int_equal(qi.crc, 1);
    assert_int_equal(qi.rx_markers, markers != 0);
}

static void srv_close(struct srv *s)
{
    if (s->fd >= 0)
        close(s->fd);
    iwk_listener_close(s->l);
    if (s->qp != NULL)
        assert_int_equal(iwk_qp_destroy(s->qp), 0);
    assert_int_equal(iwk_mr_dereg(s->tmr), 0);
    assert_int_equal(iwk_mr_dereg(s->rmr), 0);
    free(s->target);
    free(s->rbuf);
    assert_int_equal(iwk_cq_destroy(s->cq), 0);
    assert_int_equal(iwk_pd_free(s->pd), 0);
    iwk_context_close(s->ctx);
}

/* What the raw peer read until the server closed: the Terminate (if any), how the stream ended. */
struct seen {
    int found;
    struct iwk_rdmap_terminate t;
    uint8_t rest[IWK_DDP_UNTAGGED_MIN_SIZE];  /* the Terminated DDP Header as sent */
    uint32_t fpdus;
    int end_errno;                            /* 0: FIN; ECONNRESET; EAGAIN: timed out */
};

/* Reads FPDUs (CRC on, no Markers towards the peer) until the server closes. */
static void raw_read(int fd, struct seen *out)
{
    static uint8_t buf[2u + 65535u + 8u];
    memset(out, 0, sizeof *out);
    for (;;) {
        if (recv_all(fd, buf, 2) != 0)
            break;
        unsigned ulen = ((unsigned)buf[0] << 8) | buf[1];
        size_t rest = ulen + (4u - (2u + ulen) % 4u) % 4u + 4u;
        if (recv_all(fd, buf + 2, rest) != 0)
            break;
        size_t body = 2u + rest - 4u;
        assert_int_equal(iwk_crc32c_get_wire(buf + body), iwk_crc32c(buf, body));
        out->fpdus++;
        const uint8_t *u = buf + 2;
        if (!(u[0] & 0x80u) && (u[1] & 0xFu) == IWK_RDMAP_OP_TERMINATE) {
            assert_false(out->found);
            assert_int_equal(iwk_rdmap_terminate_parse(u + 18, ulen - 18u, &out->t), IWK_OK);
            out->found = 1;
        }
    }
    out->end_errno = errno;
}

/* The server's Terminate has layer/etype/ecode; the stream ends with a FIN after it. */
static void expect_term(struct srv *s, struct seen *sn, unsigned layer, unsigned etype, unsigned ecode)
{
    raw_read(s->fd, sn);
    shutdown(s->fd, SHUT_WR);
    if (!sn->found)
        fail_msg("no Terminate (stream ended with errno %d after %u FPDUs)", sn->end_errno, sn->fpdus);
    print_message("    Terminate %u/%u/0x%02x\n", sn->t.elayer, sn->t.etype, sn->t.ecode);
    assert_int_equal(sn->t.elayer, layer);
    assert_int_equal(sn->t.etype, etype);
    assert_int_equal(sn->t.ecode, ecode);
    assert_int_equal(sn->end_errno, 0);
    assert_int_equal(iwk_qp_wait_closed(s->qp, WAIT_MS), 0);
}

static void expect_unchanged(const uint8_t *p, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != FILL)
            fail_msg("%s: octet %zu is 0x%02x: something was placed", what, i, p[i]);
}

/* ---- item 1: remote invalidation of a local-only STag ------------------------------------------- */

static void t_send_inv_local_stag(void **state)
{
    (void)state;
    struct srv s;
    srv_open(&s, 0, 0);
    uint8_t u[18 + 8], f[64];
    hdr_untagged(u, IWK_RDMAP_OP_SEND_INV, s.rmr->rkey, 0, 1, 0); /* names the receive buffer's STag */
    memset(u + 18, 0x11, 8);
    send_all(s.fd, f, make_fpdu(f, NULL, 0, u, sizeof u));
    struct seen sn;
    expect_term(&s, &sn, 0, 2, IWK_RDMAP_TERM_OPER_STAG_CANNOT_INV);
    /* the STag is still valid: re-keying refuses a valid STag, and receives can still use it */
    assert_int_equal(iwk_mr_rekey(s.rmr, 0x42), -EBUSY);
    srv_close(&s);
}

/* ---- item 2: STags not predictable --------------------------------------------------------------- */

static void t_stags_unpredictable(void **state)
{
    (void)state;
    enum { N = 64 };
    uint32_t st[2][N];
    static uint8_t mem[N];
    for (int c = 0; c < 2; c++) {
        struct iwk_context *ctx;
        struct iwk_pd *pd;
        struct iwk_mr *mr[N];
        assert_int_equal(iwk_context_open(NULL, &ctx), 0);
        assert_int_equal(iwk_pd_alloc(ctx, &pd), 0);
        for (int i = 0; i < N; i++) {
            assert_int_equal(iwk_mr_reg(pd, mem + i, 1, IWK_ACCESS_LOCAL_WRITE | IWK_ACCESS_REMOTE_WRITE, &mr[i]), 0);
            st[c][i] = mr[i]->rkey;
        }
        /* deregistering in another order and registering again keeps every region reachable */
        for (int i = 0; i < N; i += 2)
            assert_int_equal(iwk_mr_dereg(mr[i]), 0);
        for (int i = 0; i < N; i += 2)
            assert_int_equal(iwk_mr_reg(pd, mem + i, 1, IWK_ACCESS_LOCAL_WRITE, &mr[i]), 0);
        for (int i = 0; i < N; i++)
            assert_int_equal(iwk_mr_dereg(mr[i]), 0);
        assert_int_equal(iwk_pd_free(pd), 0);
        iwk_context_close(ctx);
    }
    /* same registrations, two contexts: no STag in common; the index parts are spread over 24 bits
     * (a counter would keep them below 2^12), and no two keys in a row follow a step */
    int same = 0, low = 0, steps = 0;
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++)
            same += st[0][i] == st[1][j];
        low += (st[0][i] >> 8) < (1u << 12);
        if (i >= 2)
            steps += (uint8_t)(st[0][i] - st[0][i - 1]) == (uint8_t)(st[0][i - 1] - st[0][i - 2]);
    }
    print_message("    first STags: 0x%08x 0x%08x 0x%08x; common %d, low indexes %d, equal steps %d\n",
                  st[0][0], st[0][1], st[0][2], same, low, steps);
    assert_int_equal(same, 0);
    assert_true(low <= 2);
    assert_true(steps <= 8);
}

/* The same invalid-STag Write against 64 fresh server STags: none is hit (the attacker's guess of the
 * next STag after a known one). */
static void t_stag_guess_fails(void **state)
{
    (void)state;
    struct srv s;
    srv_open(&s, 0, 0);
    /* a guess from the known receive STag: the next index with any key; all must be refused */
    uint32_t guess = s.rmr->rkey + 0x100u;
    uint8_t u[14 + 16], f[64];
    hdr_tagged(u, IWK_RDMAP_OP_RDMA_WRITE, guess, (uintptr_t)s.target);
    memset(u + 14, 0x77, 16);
    send_all(s.fd, f, make_fpdu(f, NULL, 0, u, sizeof u));
    struct seen sn;
    expect_term(&s, &sn, 1, 1, IWK_RDMAP_TERM_DDP_T_INVALID_STAG);
    expect_unchanged(s.target, REGION, "target region");
    srv_close(&s);
}

/* ---- item 3: a flood of silent connects does not keep an Initiator out ---------------------------- */

static void t_listener_silent_flood(void **state)
{
    (void)state;
    struct iwk_context *ctx;
    struct iwk_listener *l;
    assert_int_equal(iwk_context_open(NULL, &ctx), 0);
    assert_int_equal(iwk_listen(ctx, "127.0.0.1", 0, 256, &l), 0);
    uint16_t port = iwk_listener_port(l);
    enum { SILENT = 64 + 8 };
    int fds[SILENT];
    for (int i = 0; i < 64; i++)
        fds[i] = raw_connect(port, 0);
    struct iwk_conn_request *req = NULL;
    assert_int_equal(iwk_get_request(l, 300, &req), -ETIMEDOUT); /* all 64 pending slots are taken */
    int legit = raw_connect(port, 0);
    raw_mpa(legit, 0);
    for (int i = 64; i < SILENT; i++) /* the trickle goes on after the Initiator */
        fds[i] = raw_connect(port, 0);
    assert_int_equal(iwk_get_request(l, WAIT_MS, &req), 0);
    assert_int_equal(iwk_conn_request_info(req)->mpa_rev, 1);
    assert_int_equal(iwk_reject(req, NULL, 0), 0);
    uint8_t rep[20];
    assert_int_equal(recv_all(legit, rep, 20), 0); /* the Initiator got its (reject) Reply */
    assert_memory_equal(rep, IWK_MPA_KEY_REP, 16);
    close(legit);
    for (int i = 0; i < SILENT; i++)
        close(fds[i]);
    iwk_listener_close(l);
    iwk_context_close(ctx);
}

/* ---- item 4: verify before placement (CRC on) ---------------------------------------------------- */

/* A Write of 64 octets at offset 256 with one octet of the FPDU flipped at `flip` (from its start). */
static void corrupt_write_case(size_t flip, unsigned layer, unsigned etype, unsigned ecode)
{
    struct srv s;
    srv_open(&s, 0, 0);
    uint8_t u[14 + 64], f[128];
    hdr_tagged(u, IWK_RDMAP_OP_RDMA_WRITE, s.tmr->rkey, (uintptr_t)s.target + 256u);
    memset(u + 14, 0xC3, 64);
    size_t n = make_fpdu(f, NULL, 0, u, sizeof u);
    f[flip] ^= 0x01u;
    send_all(s.fd, f, n);
    struct seen sn;
    expect_term(&s, &sn, layer, etype, ecode);
    expect_unchanged(s.target, REGION, "target region");
    srv_close(&s);
}

static void t_crc_write_not_placed(void **state)
{
    (void)state;
    corrupt_write_case(2u + 14u + 10u, 2, 0, IWK_RDMAP_TERM_MPA_CRC); /* payload */
}

static void t_crc_stag_corrupted(void **state)
{
    (void)state;
    corrupt_write_case(2u + 5u, 2, 0, IWK_RDMAP_TERM_MPA_CRC); /* the STag's low octet */
}

static void t_crc_to_corrupted(void **state)
{
    (void)state;
    corrupt_write_case(2u + 14u - 2u, 2, 0, IWK_RDMAP_TERM_MPA_CRC); /* the Tagged Offset */
}

static void t_crc_crc_corrupted(void **state)
{
    (void)state;
    corrupt_write_case(2u + 14u + 64u, 2, 0, IWK_RDMAP_TERM_MPA_CRC); /* the CRC field itself */
}

/* A Send with a bad CRC: the receive buffer is unchanged, the receive flushed, never delivered. */
static void t_crc_send_not_placed(void **state)
{
    (void)state;
    struct srv s;
    srv_open(&s, 0, 0);
    uint8_t u[18 + 32], f[96];
    hdr_untagged(u, IWK_RDMAP_OP_SEND, 0, 0, 1, 0);
    memset(u + 18, 0x3C, 32);
    size_t n = make_fpdu(f, NULL, 0, u, sizeof u);
    f[2 + 18 + 5] ^= 0x80u;
    send_all(s.fd, f, n);
    struct seen sn;
    expect_term(&s, &sn, 2, 0, IWK_RDMAP_TERM_MPA_CRC);
    expect_unchanged(s.rbuf, REGION, "receive buffer");
    struct iwk_wc wc;
    assert_int_equal(iwk_cq_poll(s.cq, 1, &wc), 1);
    assert_int_equal(wc.status, IWK_WC_WR_FLUSH_ERR);
    srv_close(&s);
}

/* The first Send carries MO 0x40: DDP 1/2/0x04, and the Terminated DDP Header is the one received. */
static void t_mo_error_header(void **state)
{
    (void)state;
    struct srv s;
    srv_open(&s, 0, 0);
    uint8_t u[18 + 16], f[64];
    hdr_untagged(u, IWK_RDMAP_OP_SEND, 0, 0, 1, 0x40u);
    memset(u + 18, 0x21, 16);
    send_all(s.fd, f, make_fpdu(f, NULL, 0, u, sizeof u));
    struct seen sn;
    expect_term(&s, &sn, 1, 2, IWK_RDMAP_TERM_DDP_UT_INVALID_MO);
    assert_int_equal(sn.t.d, 1);
    assert_int_equal(sn.t.term_ddp_rest_len, 16);
    assert_memory_equal(sn.t.term_ddp_rest, u + 2, 16); /* Inv STag, QN, MSN, and MO 0x40 as sent */
    assert_int_equal(get32(sn.t.term_ddp_rest + 12), 0x40u);
    expect_unchanged(s.rbuf, REGION, "receive buffer");
    srv_close(&s);
}

/* ---- item 5: a queued Terminate survives iwk_qp_destroy ------------------------------------------ */

struct reader {
    int fd;
    int go;
    pthread_mutex_t m;
    pthread_cond_t c;
    struct seen sn;
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    pthread_mutex_lock(&r->m);
    while (!r->go)
        pthread_cond_wait(&r->c, &r->m);
    pthread_mutex_unlock(&r->m);
    raw_read(r->fd, &r->sn);
    return NULL;
}

/* The peer asks for a 1 MiB Read and does not read, then sends a Write to an unknown STag: the server's
 * Terminate waits behind the Read Response. The application sees the error and destroys the queue pair
 * at once; the peer, reading only then, still gets the Terminate and a FIN, not a reset. */
static void t_terminate_survives_destroy(void **state)
{
    (void)state;
    struct srv s;
    srv_open(&s, 0, 16384);
    enum { BIG = 1u << 20 };
    uint8_t *src = calloc(1, BIG);
    struct iwk_mr *smr;
    assert_non_null(src);
    assert_int_equal(iwk_mr_reg(s.pd, src, BIG, IWK_ACCESS_REMOTE_READ, &smr), 0);
    uint8_t u[18 + 28], f[2][96];
    struct iwk_rdmap_read_request rr = { .sink_stag = 0x1234u, .sink_to = 0, .read_size = BIG,
                                         .src_stag = smr->rkey, .src_to = (uintptr_t)src };
    hdr_untagged(u, IWK_RDMAP_OP_RDMA_READ_REQ, 0, 1, 1, 0);
    assert_int_equal(iwk_rdmap_read_request_serialize(&rr, u + 18, 28), IWK_OK);
    size_t n0 = make_fpdu(f[0], NULL, 0, u, sizeof u);
    uint8_t w[14 + 8];
    hdr_tagged(w, IWK_RDMAP_OP_RDMA_WRITE, 0x00000100u, 0);
    memset(w + 14, 1, 8);
    size_t n1 = make_fpdu(f[1], NULL, 0, w, sizeof w);
    send_all(s.fd, f[0], n0);
    send_all(s.fd, f[1], n1);
    struct reader r = { .fd = s.fd };
    pthread_mutex_init(&r.m, NULL);
    pthread_cond_init(&r.c, NULL);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, reader_main, &r), 0);
    struct iwk_wc wc;
    while (iwk_cq_poll(s.cq, 1, &wc) == 0) /* the receive is flushed when the server terminates */
        assert_int_equal(iwk_cq_wait(s.cq, WAIT_MS), 0);
    assert_int_equal(wc.status, IWK_WC_WR_FLUSH_ERR);
    pthread_mutex_lock(&r.m);
    r.go = 1;
    pthread_cond_signal(&r.c);
    pthread_mutex_unlock(&r.m);
    assert_int_equal(iwk_qp_destroy(s.qp), 0); /* right after the error */
    s.qp = NULL;
    pthread_join(th, NULL);
    print_message("    peer read %u FPDUs, Terminate %s, end errno %d\n", r.sn.fpdus, r.sn.found ? "yes" : "no",
                  r.sn.end_errno);
    assert_true(r.sn.found);
    assert_int_equal(r.sn.t.elayer, 1);
    assert_int_equal(r.sn.t.etype, 1);
    assert_int_equal(r.sn.t.ecode, IWK_RDMAP_TERM_DDP_T_INVALID_STAG);
    assert_int_equal(r.sn.end_errno, 0);
    assert_int_equal(iwk_mr_dereg(smr), 0);
    free(src);
    srv_close(&s);
}

/* ---- item 6: Marker Reserved field and FPDUPTR low bits ignored ---------------------------------- */

static void t_marker_reserved_ignored(void **state)
{
    (void)state;
    struct srv s;
    srv_open(&s, 1, 0);
    /* the peer's stream in FPDU mode starts with a Marker (position 0, RFC 5044 §4.3) pointing at the
     * FPDU right after it: FPDUPTR 0, here with Reserved 0xFFFF and FPDUPTR's low bits 3 */
    uint8_t mk[4] = { 0xFF, 0xFF, 0x00, 0x03 };
    uint8_t u[18 + 16], f[4 + 64];
    hdr_untagged(u, IWK_RDMAP_OP_SEND, 0, 0, 1, 0);
    memset(u + 18, 0x66, 16);
    memcpy(f, mk, 4);
    size_t n = 4 + make_fpdu(f + 4, mk, 4, u, sizeof u);
    send_all(s.fd, f, n);
    struct iwk_wc wc;
    while (iwk_cq_poll(s.cq, 1, &wc) == 0)
        assert_int_equal(iwk_cq_wait(s.cq, WAIT_MS), 0);
    assert_int_equal(wc.status, IWK_WC_SUCCESS);
    assert_int_equal(wc.byte_len, 16);
    assert_memory_equal(s.rbuf, u + 18, 16);
    struct iwk_qp_info qi;
    iwk_qp_info(s.qp, &qi);
    assert_int_equal(qi.state, IWK_QPS_RTS);
    srv_close(&s);
}

/* ---- item 7: an FPDU shorter than 16 octets ------------------------------------------------------- */

static void t_short_fpdu_answered(void **state)
{
    (void)state;
    struct srv s;
    srv_open(&s, 0, 0);
    uint8_t u[4] = { 0x41, 0x43, 0, 0 }, f[16]; /* ULPDU_Length 4: 2 + 4 + 2 pad + 4 CRC = 12 octets */
    send_all(s.fd, f, make_fpdu(f, NULL, 0, u, sizeof u));
    struct seen sn;
    expect_term(&s, &sn, 1, 0, IWK_RDMAP_TERM_DDP_CAT_LOCAL_CATASTROPHIC);
    srv_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_send_inv_local_stag),
        cmocka_unit_test(t_stags_unpredictable),
        cmocka_unit_test(t_stag_guess_fails),
        cmocka_unit_test(t_listener_silent_flood),
        cmocka_unit_test(t_crc_write_not_placed),
        cmocka_unit_test(t_crc_stag_corrupted),
        cmocka_unit_test(t_crc_to_corrupted),
        cmocka_unit_test(t_crc_crc_corrupted),
        cmocka_unit_test(t_crc_send_not_placed),
        cmocka_unit_test(t_mo_error_header),
        cmocka_unit_test(t_terminate_survives_destroy),
        cmocka_unit_test(t_marker_reserved_ignored),
        cmocka_unit_test(t_short_fpdu_answered),
    };
    const char *only = getenv("IWK_TEST_FILTER");
    if (only != NULL)
        cmocka_set_test_filter(only);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
