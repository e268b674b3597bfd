/* tests/test_runtime_depth.c - the software stack with many work requests outstanding at once,
 * over real loopback TCP (suite runtime): 200 RDMA Writes, then 100 RDMA Reads (ORD 8, so the
 * send queue holds Reads back until responses free ORD: RFC 5040 §6.1), then 150 Sends into 150
 * posted receives, all posted before the first completion is polled; every completion arrives
 * once, in posting order, successful, and every octet is where it should be. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>

#include "iwkit/verbs.h"

#define NW 200u
#define NR 100u
#define NS 150u
#define CHUNK 5000u

struct end {
    struct iwk_context *ctx;
    struct iwk_pd *pd;
    struct iwk_cq *cq;
    struct iwk_qp *qp;
    uint8_t *mem;
    size_t len;
    struct iwk_mr *mr;
};

static void end_open(struct end *e, size_t len)
{
    assert_int_equal(iwk_context_open(NULL, &e->ctx), 0);
    assert_int_equal(iwk_pd_alloc(e->ctx, &e->pd), 0);
    assert_int_equal(iwk_cq_create(e->ctx, 1024, &e->cq), 0);
    e->len = len;
    e->mem = calloc(1, len);
    assert_non_null(e->mem);
    assert_int_equal(iwk_mr_reg(e->pd, e->mem, len, IWK_ACCESS_LOCAL_WRITE | IWK_ACCESS_REMOTE_WRITE |
                                IWK_ACCESS_REMOTE_READ, &e->mr), 0);
    struct iwk_qp_attr qa = { .send_cq = e->cq, .recv_cq = e->cq, .max_send_wr = 255, .max_recv_wr = 256,
                              .max_sge = 4 };
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

struct srv {
    struct end e;
    struct iwk_listener *l;
    int rc;
};

static void *server(void *p)
{
    struct srv *s = p;
    struct iwk_conn_request *r = NULL;
    s->rc = iwk_get_request(s->l, 10000, &r);
    if (s->rc != 0)
        return NULL;
    /* the Sends land in the second half of memory, CHUNK octets each */
    for (uint32_t i = 0; i < NS; i++) {
        struct iwk_sge sg = { (uintptr_t)(s->e.mem + s->e.len / 2 + (size_t)i * CHUNK), CHUNK, s->e.mr->lkey };
        struct iwk_recv_wr wr = { .wr_id = 5000 + i, .sg_list = &sg, .num_sge = 1 };
        if (iwk_post_recv(s->e.qp, &wr) != 0)
            s->rc = -1;
    }
    struct iwk_conn_param cp;
    iwk_conn_param_profile(&cp, "rfc");
    cp.ord = cp.ird = 8;
    uint64_t adv[2] = { (uintptr_t)s->e.mem, s->e.mr->rkey };
    cp.private_data = adv;
    cp.private_data_len = sizeof adv;
    if (s->rc == 0)
        s->rc = iwk_accept(r, s->e.qp, &cp);
    if (s->rc == 0)
        s->rc = iwk_qp_wait_closed(s->e.qp, 30000);
    return NULL;
}

static uint8_t pat(uint32_t k, uint32_t i)
{
    return (uint8_t)(k * 31u + i * 7u + (i >> 8));
}

static void test_many_outstanding(void **state)
{
    (void)state;
    const size_t len = 4u << 20;
    struct srv s = { 0 };
    end_open(&s.e, len);
    assert_int_equal(iwk_listen(s.e.ctx, "127.0.0.1", 0, 4, &s.l), 0);
    pthread_t th;
    pthread_create(&th, NULL, server, &s);

    struct end c;
    end_open(&c, len);
    for (size_t i = 0; i < len; i++)
        c.mem[i] = pat((uint32_t)(i / CHUNK), (uint32_t)(i % CHUNK));
    struct iwk_conn_param cp;
    iwk_conn_param_profile(&cp, "rfc");
    cp.markers = 1;
    cp.ord = cp.ird = 8;
    assert_int_equal(iwk_connect(c.qp, "127.0.0.1", iwk_listener_port(s.l), &cp), 0);
    struct iwk_qp_info qi;
    iwk_qp_info(c.qp, &qi);
    assert_int_equal(qi.ord, 8);
    uint64_t adv[2];
    assert_int_equal(qi.peer_private_data_len, sizeof adv);
    memcpy(adv, qi.peer_private_data, sizeof adv);

    /* Writes: chunk k of the client's first half to chunk k of the server's first half, and
     * Reads back of the same chunks into the client's second half; then Sends. */
    uint64_t posted = 0, polled = 0;
    struct iwk_wc wc[64];
    for (uint32_t k = 0; k < NW + NR + NS; k++) {
        struct iwk_sge sg;
        struct iwk_send_wr wr = { .wr_id = k, .flags = IWK_SEND_SIGNALED, .sg_list = &sg, .num_sge = 1 };
        uint32_t j = k < NW ? k : k < NW + NR ? k - NW : k - NW - NR;
        sg.length = CHUNK;
        sg.lkey = c.mr->lkey;
        if (k < NW) {
            wr.opcode = IWK_WR_RDMA_WRITE;
            sg.addr = (uintptr_t)(c.mem + (size_t)j * CHUNK);
            wr.remote_addr = adv[0] + (uint64_t)j * CHUNK;
            wr.rkey = (uint32_t)adv[1];
        } else if (k < NW + NR) {
            wr.opcode = IWK_WR_RDMA_READ;
            sg.addr = (uintptr_t)(c.mem + len / 2 + (size_t)j * CHUNK);
            wr.remote_addr = adv[0] + (uint64_t)j * CHUNK;
            wr.rkey = (uint32_t)adv[1];
        } else {
            wr.opcode = IWK_WR_SEND;
            sg.addr = (uintptr_t)(c.mem + (size_t)j * CHUNK);
        }
        int rc;
        while ((rc = iwk_post_send(c.qp, &wr)) == -ENOMEM) {
            /* the send queue is full (255): take completions, in order */
            assert_int_equal(iwk_cq_wait(c.cq, 10000), 0);
            int n = iwk_cq_poll(c.cq, 64, wc);
            for (int i = 0; i < n; i++, polled++) {
                assert_int_equal(wc[i].status, IWK_WC_SUCCESS);
                assert_int_equal(wc[i].wr_id, polled);
            }
        }
        assert_int_equal(rc, 0);
        posted++;
    }
    while (polled < posted) {
        assert_int_equal(iwk_cq_wait(c.cq, 10000), 0);
        int n = iwk_cq_poll(c.cq, 64, wc);
        for (int i = 0; i < n; i++, polled++) {
            assert_int_equal(wc[i].status, IWK_WC_SUCCESS);
            assert_int_equal(wc[i].wr_id, polled);
        }
    }
    /* the Reads brought back what the Writes put there */
    for (size_t i = 0; i < (size_t)NR * CHUNK; i++)
        if (c.mem[len / 2 + i] != pat((uint32_t)(i / CHUNK), (uint32_t)(i % CHUNK)))
            fail_msg("Read data differs at %zu", i);
    assert_int_equal(iwk_disconnect(c.qp, 10000), 0);
    pthread_join(th, NULL);
    assert_int_equal(s.rc, 0);
    /* server side: Writes in its first half, Sends in its second half, 150 receive completions */
    for (size_t i = 0; i < (size_t)NW * CHUNK; i++)
        if (s.e.mem[i] != pat((uint32_t)(i / CHUNK), (uint32_t)(i % CHUNK)))
            fail_msg("Write data differs at %zu", i);
    for (size_t i = 0; i < (size_t)NS * CHUNK; i++)
        if (s.e.mem[len / 2 + i] != pat((uint32_t)(i / CHUNK), (uint32_t)(i % CHUNK)))
            fail_msg("Send data differs at %zu", i);
    uint32_t recvs = 0;
    int n;
    while ((n = iwk_cq_poll(s.e.cq, 64, wc)) > 0)
        for (int i = 0; i < n; i++, recvs++) {
            assert_int_equal(wc[i].status, IWK_WC_SUCCESS);
            assert_int_equal(wc[i].opcode, IWK_WC_RECV);
            assert_int_equal(wc[i].wr_id, 5000 + recvs);
            assert_int_equal(wc[i].byte_len, CHUNK);
        }
    assert_int_equal(recvs, NS);
    iwk_listener_close(s.l);
    end_close(&c);
    end_close(&s.e);
}

/* IWK_SEND_FENCE: a fenced Send posted right after a 4 MiB RDMA Read goes out only when the Read
 * has completed, so when it arrives the responder has already handed the whole Read Response to
 * TCP (its tx_bytes counter says so). Without the fence the Send would arrive while the response
 * is still being written. */
struct fence_srv {
    struct end e;
    struct iwk_listener *l;
    int rc;
    uint64_t tx_at_send;
};

static void *fence_server(void *p)
{
    struct fence_srv *s = p;
    struct iwk_conn_request *r = NULL;
    s->rc = iwk_get_request(s->l, 10000, &r);
    if (s->rc != 0)
        return NULL;
    struct iwk_sge sg = { (uintptr_t)s->e.mem, 64, s->e.mr->lkey };
    struct iwk_recv_wr rw = { .wr_id = 1, .sg_list = &sg, .num_sge = 1 };
    s->rc = iwk_post_recv(s->e.qp, &rw);
    uint64_t adv[2] = { (uintptr_t)s->e.mem, s->e.mr->rkey };
    struct iwk_conn_param cp;
    iwk_conn_param_profile(&cp, "rfc");
    cp.private_data = adv;
    cp.private_data_len = sizeof adv;
    if (s->rc == 0)
        s->rc = iwk_accept(r, s->e.qp, &cp);
    struct iwk_wc wc;
    while (s->rc == 0 && iwk_cq_poll(s->e.cq, 1, &wc) == 0)
        s->rc = iwk_cq_wait(s->e.cq, 10000);
    if (s->rc == 0 && (wc.status != IWK_WC_SUCCESS || wc.opcode != IWK_WC_RECV))
        s->rc = -1;
    struct iwk_qp_info qi;
    iwk_qp_info(s->e.qp, &qi);
    s->tx_at_send = qi.tx_bytes;
    if (s->rc == 0)
        s->rc = iwk_qp_wait_closed(s->e.qp, 30000);
    return NULL;
}

static void test_fence(void **state)
{
    (void)state;
    const size_t len = 8u << 20;
    struct fence_srv s = { 0 };
    end_open(&s.e, len);
    assert_int_equal(iwk_listen(s.e.ctx, "127.0.0.1", 0, 4, &s.l), 0);
    pthread_t th;
    pthread_create(&th, NULL, fence_server, &s);
    struct end c;
    end_open(&c, len);
    assert_int_equal(iwk_connect(c.qp, "127.0.0.1", iwk_listener_port(s.l), NULL), 0);
    struct iwk_qp_info qi;
    iwk_qp_info(c.qp, &qi);
    uint64_t adv[2];
    memcpy(adv, qi.peer_private_data, sizeof adv);
    const uint32_t rlen = 4u << 20;
    struct iwk_sge rs = { (uintptr_t)c.mem, rlen, c.mr->lkey };
    struct iwk_send_wr rd = { .wr_id = 1, .opcode = IWK_WR_RDMA_READ, .flags = IWK_SEND_SIGNALED, .sg_list = &rs,
                              .num_sge = 1, .remote_addr = adv[0], .rkey = (uint32_t)adv[1] };
    struct iwk_sge ss = { (uintptr_t)c.mem + rlen, 64, c.mr->lkey };
    struct iwk_send_wr sd = { .wr_id = 2, .opcode = IWK_WR_SEND, .flags = IWK_SEND_SIGNALED | IWK_SEND_FENCE,
                              .sg_list = &ss, .num_sge = 1 };
    assert_int_equal(iwk_post_send(c.qp, &rd), 0);
    assert_int_equal(iwk_post_send(c.qp, &sd), 0);
    struct iwk_wc wc;
    for (uint64_t want = 1; want <= 2; want++) {
        while (iwk_cq_poll(c.cq, 1, &wc) == 0)
            assert_int_equal(iwk_cq_wait(c.cq, 10000), 0);
        assert_int_equal(wc.status, IWK_WC_SUCCESS);
        assert_int_equal(wc.wr_id, want);
    }
    assert_int_equal(iwk_disconnect(c.qp, 10000), 0);
    pthread_join(th, NULL);
    assert_int_equal(s.rc, 0);
    assert_true(s.tx_at_send >= rlen);
    iwk_listener_close(s.l);
    end_close(&c);
    end_close(&s.e);
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_many_outstanding), cmocka_unit_test(test_fence) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
