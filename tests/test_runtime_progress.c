/* tests/test_runtime_progress.c - who receives, over real loopback TCP (suite runtime):
 * - manual progress (IWK_CTX_APP_PROGRESS): both ends receive only in their own iwk_cq_progress,
 *   iwk_cq_poll and iwk_cq_wait calls; small and large Writes, Reads answered from the responder's
 *   progress calls, Sends, with CRC and Markers (RFC 5044 §4.3, §4.4); every octet checked;
 * - nothing is placed while a manual-progress end makes no call, and everything is once it does;
 *   its completion channel is refused, unknown context flags are refused;
 * - the receive read-ahead (many small FPDUs per readv, then a large payload straight into its
 *   target): 3,000 Sends of 1..97 octets with 64 KiB Writes between them, progress thread, Markers
 *   and CRC; every receive completes once, in order, with its length and octets. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "iwkit/verbs.h"

#define MEM (8u << 20)
#define NRECV 3000u

struct end {
    struct iwk_context *ctx;
    struct iwk_pd *pd;
    struct iwk_cq *cq;
    struct iwk_qp *qp;
    uint8_t *mem;
    struct iwk_mr *mr;
};

static void end_open(struct end *e, uint32_t flags)
{
    struct iwk_context_attr ca = { .flags = flags };
    assert_int_equal(iwk_context_open(&ca, &e->ctx), 0);
    assert_int_equal(iwk_pd_alloc(e->ctx, &e->pd), 0);
    assert_int_equal(iwk_cq_create(e->ctx, 8192, &e->cq), 0);
    e->mem = calloc(1, MEM);
    assert_non_null(e->mem);
    assert_int_equal(iwk_mr_reg(e->pd, e->mem, MEM, IWK_ACCESS_LOCAL_WRITE | IWK_ACCESS_REMOTE_WRITE |
                                IWK_ACCESS_REMOTE_READ, &e->mr), 0);
    struct iwk_qp_attr qa = { .send_cq = e->cq, .recv_cq = e->cq, .max_send_wr = 255, .max_recv_wr = 4096,
                              .max_sge = 1 };
    assert_int_equal(iwk_qp_create(e->pd, &qa, &e->qp), 0);
}

static void end_close(struct end *e)
{
    iwk_qp_destroy(e->qp);
    iwk_mr_dereg(e->mr);
    iwk_cq_destroy(e->cq);
    iwk_pd_free(e->pd);
    iwk_context_close(e->ctx);
    free(e->mem);
}

static uint8_t pat(uint32_t k, uint32_t i)
{
    return (uint8_t)(k * 131u + i * 7u + 1u);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The responder: posts `nrecv` receives of 128 octets at mem + MEM/2, accepts (Markers, CRC),
 * then, with `drive`, takes completions only through iwk_cq_progress until all receives have
 * completed (so with manual progress it also answers the Reads), and waits for the close. */
struct srv {
    struct end e;
    struct iwk_listener *l;
    uint32_t nrecv, drive;
    struct iwk_wc wc[NRECV];
    uint32_t got;
    int rc;
    pthread_t th;
};

static void *server(void *p)
{
    struct srv *s = p;
    struct iwk_conn_request *r = NULL;
    s->rc = iwk_get_request(s->l, 10000, &r);
    for (uint32_t i = 0; s->rc == 0 && i < s->nrecv; i++) {
        struct iwk_sge sg = { (uintptr_t)(s->e.mem + MEM / 2 + (size_t)i * 128u), 128u, s->e.mr->lkey };
        struct iwk_recv_wr wr = { .wr_id = i, .sg_list = &sg, .num_sge = 1 };
        s->rc = iwk_post_recv(s->e.qp, &wr);
    }
    struct iwk_conn_param cp;
    iwk_conn_param_profile(&cp, "rfc");
    cp.markers = 1;
    uint64_t adv[2] = { (uintptr_t)s->e.mem, s->e.mr->rkey };
    cp.private_data = adv;
    cp.private_data_len = sizeof adv;
    if (s->rc == 0)
        s->rc = iwk_accept(r, s->e.qp, &cp);
    uint64_t end = now_ms() + 30000u;
    while (s->rc == 0 && s->drive && s->got < s->nrecv) {
        if (now_ms() > end) {
            s->rc = -ETIMEDOUT;
            break;
        }
        int k = iwk_cq_progress(s->e.cq, 100);
        int n = k > 0 ? iwk_cq_poll(s->e.cq, (int)(s->nrecv - s->got), s->wc + s->got) : 0;
        s->got += n > 0 ? (uint32_t)n : 0u;
        if (n < 0)
            s->rc = n;
    }
    if (s->rc == 0)
        s->rc = iwk_qp_wait_closed(s->e.qp, 30000);
    return NULL;
}

/* Both ends (the server in its thread), connected; adv: the server's buffer and rkey. */
static void start(struct srv *s, struct end *c, uint32_t srv_flags, uint32_t cli_flags, uint64_t adv[2])
{
    end_open(&s->e, srv_flags);
    assert_int_equal(iwk_listen(s->e.ctx, "127.0.0.1", 0, 4, &s->l), 0);
    end_open(c, cli_flags);
    for (uint32_t i = 0; i < MEM; i++)
        c->mem[i] = pat(i / 65536u, i);
    pthread_create(&s->th, NULL, server, s);
    struct iwk_conn_param cp;
    iwk_conn_param_profile(&cp, "rfc");
    cp.markers = 1;
    assert_int_equal(iwk_connect(c->qp, "127.0.0.1", iwk_listener_port(s->l), &cp), 0);
    struct iwk_qp_info qi;
    iwk_qp_info(c->qp, &qi);
    assert_int_equal(qi.crc, 1);
    assert_int_equal(qi.tx_markers, 1);
    assert_int_equal(qi.rx_markers, 1);
    assert_int_equal(qi.peer_private_data_len, 16);
    memcpy(adv, qi.peer_private_data, 16);
}

/* The client closes; the server saw the close and finished without error. */
static void finish(struct srv *s, struct end *c)
{
    assert_int_equal(iwk_disconnect(c->qp, 10000), 0);
    pthread_join(s->th, NULL);
    assert_int_equal(s->rc, 0);
}

static void close_ends(struct srv *s, struct end *c)
{
    iwk_listener_close(s->l);
    end_close(c);
    end_close(&s->e);
}

/* Posts one work request, taking completions (in order, all successful) while the queue is full. */
static void post(struct end *c, struct iwk_send_wr *wr, uint64_t *polled)
{
    int rc;
    while ((rc = iwk_post_send(c->qp, wr)) == -ENOMEM) {
        struct iwk_wc wc[64];
        assert_int_equal(iwk_cq_wait(c->cq, 10000), 0);
        int n = iwk_cq_poll(c->cq, 64, wc);
        for (int i = 0; i < n; i++, (*polled)++) {
            assert_int_equal(wc[i].status, IWK_WC_SUCCESS);
            assert_int_equal(wc[i].wr_id, *polled);
        }
    }
    assert_int_equal(rc, 0);
}

static void drain(struct end *c, uint64_t *polled, uint64_t posted)
{
    struct iwk_wc wc[64];
    while (*polled < posted) {
        assert_int_equal(iwk_cq_wait(c->cq, 10000), 0);
        int n = iwk_cq_poll(c->cq, 64, wc);
        for (int i = 0; i < n; i++, (*polled)++) {
            assert_int_equal(wc[i].status, IWK_WC_SUCCESS);
            assert_int_equal(wc[i].wr_id, *polled);
        }
    }
}

/* Write k (k < 60): size 1 + (k * 37) % 700 (k % 10 == 9: 70,000 octets, several FPDUs, into the
 * next slot, which Write k + 1 then writes again with the same octets) from the client's offset
 * 65536 * k to the server's same offset; Read k brings it back to MEM / 2 + 65536 * k; Send k
 * carries 1 + k % 97 octets of the client's offset 65536 * k. */
static uint32_t wsize(uint32_t k)
{
    return k % 10u == 9u ? 70000u : 1u + (k * 37u) % 700u;
}

static void transfer(uint32_t srv_flags, uint32_t cli_flags, uint32_t nw)
{
    struct srv s = { .nrecv = nw, .drive = 1 };
    struct end c;
    uint64_t adv[2], posted = 0, polled = 0;
    start(&s, &c, srv_flags, cli_flags, adv);
    for (uint32_t k = 0; k < 3u * nw; k++, posted++) {
        uint32_t j = k % nw;
        struct iwk_sge sg = { (uintptr_t)(c.mem + (size_t)j * 65536u), wsize(j), c.mr->lkey };
        struct iwk_send_wr wr = { .wr_id = k, .flags = IWK_SEND_SIGNALED, .sg_list = &sg, .num_sge = 1,
                                  .opcode = IWK_WR_RDMA_WRITE, .remote_addr = adv[0] + (uint64_t)j * 65536u,
                                  .rkey = (uint32_t)adv[1] };
        if (k >= nw && k < 2u * nw) {
            wr.opcode = IWK_WR_RDMA_READ;
            sg.addr = (uintptr_t)(c.mem + MEM / 2 + (size_t)j * 65536u);
        } else if (k >= 2u * nw) {
            wr.opcode = IWK_WR_SEND;
            sg.length = 1u + j % 97u;
        }
        post(&c, &wr, &polled);
    }
    drain(&c, &polled, posted);
    for (uint32_t j = 0; j < nw; j++)
        for (uint32_t i = 0; i < wsize(j); i++) {
            size_t o = (size_t)j * 65536u + i;
            if (c.mem[MEM / 2 + o] != c.mem[o])
                fail_msg("Read %u: octet %u differs", j, i);
        }
    finish(&s, &c);
    assert_int_equal(s.got, nw);
    for (uint32_t j = 0; j < nw; j++) {
        assert_int_equal(s.wc[j].status, IWK_WC_SUCCESS);
        assert_int_equal(s.wc[j].wr_id, j);
        assert_int_equal(s.wc[j].byte_len, 1u + j % 97u);
        if (memcmp(s.e.mem + MEM / 2 + (size_t)j * 128u, c.mem + (size_t)j * 65536u, 1u + j % 97u) != 0)
            fail_msg("Send %u: octets differ", j);
        if (memcmp(s.e.mem + (size_t)j * 65536u, c.mem + (size_t)j * 65536u, wsize(j)) != 0)
            fail_msg("Write %u: octets differ", j);
    }
    close_ends(&s, &c);
}

/* Both ends with manual progress: the responder answers the Reads only because it calls
 * iwk_cq_progress; the requester waits in iwk_cq_wait. */
static void test_app_progress_both_ends(void **state)
{
    (void)state;
    transfer(IWK_CTX_APP_PROGRESS, IWK_CTX_APP_PROGRESS, 60);
}

/* The read-ahead with the progress thread receiving: 3,000 small Sends (and Writes) in a row. */
static void test_readahead_many_small(void **state)
{
    (void)state;
    transfer(0, 0, 60);
    struct srv s = { .nrecv = NRECV, .drive = 1 };
    struct end c;
    uint64_t adv[2], polled = 0;
    start(&s, &c, 0, 0, adv);
    for (uint32_t k = 0; k < NRECV; k++) {
        struct iwk_sge sg = { (uintptr_t)(c.mem + (size_t)(k % 60u) * 65536u), 1u + k % 97u, c.mr->lkey };
        struct iwk_send_wr wr = { .wr_id = k, .flags = IWK_SEND_SIGNALED, .sg_list = &sg, .num_sge = 1,
                                  .opcode = IWK_WR_SEND };
        post(&c, &wr, &polled);
    }
    drain(&c, &polled, NRECV);
    finish(&s, &c);
    assert_int_equal(s.got, NRECV);
    for (uint32_t k = 0; k < NRECV; k++) {
        assert_int_equal(s.wc[k].wr_id, k);
        assert_int_equal(s.wc[k].byte_len, 1u + k % 97u);
        if (memcmp(s.e.mem + MEM / 2 + (size_t)k * 128u, c.mem + (size_t)(k % 60u) * 65536u, 1u + k % 97u) != 0)
            fail_msg("Send %u: octets differ", k);
    }
    close_ends(&s, &c);
}

/* A manual-progress end that makes no call has nothing placed (the Write has left the requester:
 * its completion says so); its first iwk_cq_progress places it. */
static void test_app_progress_places_only_when_called(void **state)
{
    (void)state;
    struct iwk_context *bad = NULL;
    struct iwk_context_attr ca = { .flags = 1u << 7 };
    assert_int_equal(iwk_context_open(&ca, &bad), -EINVAL);

    struct srv s = { .nrecv = 0, .drive = 0 };
    struct end c;
    uint64_t adv[2], polled = 0;
    start(&s, &c, IWK_CTX_APP_PROGRESS, 0, adv);
    assert_int_equal(iwk_cq_req_notify(s.e.cq, 0), -EOPNOTSUPP);
    /* the responder has not seen an FPDU yet (RFC 5044 §7.1.2 rule 4); wait until its accept has
     * returned, then Write 64 octets */
    struct iwk_qp_info qi;
    for (uint64_t end = now_ms() + 10000u; iwk_qp_info(s.e.qp, &qi) == 0 && qi.state != IWK_QPS_RTS;)
        assert_true(now_ms() < end);
    struct iwk_sge sg = { (uintptr_t)c.mem, 64u, c.mr->lkey };
    struct iwk_send_wr wr = { .wr_id = 0, .flags = IWK_SEND_SIGNALED, .sg_list = &sg, .num_sge = 1,
                              .opcode = IWK_WR_RDMA_WRITE, .remote_addr = adv[0] + 4096u, .rkey = (uint32_t)adv[1] };
    post(&c, &wr, &polled);
    drain(&c, &polled, 1);
    struct timespec ts = { 0, 200 * 1000000L };
    nanosleep(&ts, NULL);
    for (uint32_t i = 0; i < 64u; i++)
        assert_int_equal(s.e.mem[4096u + i], 0);
    uint64_t end = now_ms() + 5000u;
    while (memcmp(s.e.mem + 4096u, c.mem, 64u) != 0 && now_ms() < end)
        assert_int_equal(iwk_cq_progress(s.e.cq, 0), 0); /* a Write completes nothing here */
    assert_memory_equal(s.e.mem + 4096u, c.mem, 64u);
    finish(&s, &c);
    close_ends(&s, &c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_app_progress_both_ends),
        cmocka_unit_test(test_readahead_many_small),
        cmocka_unit_test(test_app_progress_places_only_when_called),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
