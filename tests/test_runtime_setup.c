/* tests/test_runtime_setup.c - MPA setup timing of the software stack over real loopback TCP
 * (suite runtime), against a hand-driven peer on a plain socket: a peer-to-peer Initiator that
 * sends its Request and then never its RTR makes the Responder close after its setup timeout
 * (RFC 5044 §7.1.2 rule 10, machine mpa_responder WAIT_RTR TIMEOUT); the same peer that does send
 * a zero-length Write RTR gets a working connection. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "iwk_mpa.h"
#include "iwkit/crc32c.h"
#include "iwkit/verbs.h"

static int raw_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(0x7f000001) };
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* An MPA rev 2 Request, C=1, peer-to-peer offering only the zero-length Write RTR. */
static void send_request(int fd)
{
    uint8_t pd[4], frame[64];
    struct iwk_mpa_v2_params v = { .p2p = 1, .rtr_write = 1, .ird = 4, .ord = 4 };
    assert_int_equal(iwk_mpa_v2_params_serialize(&v, pd, sizeof pd), IWK_OK);
    struct iwk_mpa_request r = { .c = 1, .s = 1, .rev = 2, .pd_length = 4, .private_data = pd, .private_data_len = 4 };
    memcpy(r.key, IWK_MPA_KEY_REQ, 16);
    assert_int_equal(iwk_mpa_request_serialize(&r, frame, sizeof frame), IWK_OK);
    assert_int_equal(write(fd, frame, iwk_mpa_request_size(&r)), (ssize_t)iwk_mpa_request_size(&r));
}

static void read_reply(int fd)
{
    uint8_t buf[24];
    size_t got = 0;
    while (got < sizeof buf) {
        ssize_t r = read(fd, buf + got, sizeof buf - got);
        assert_true(r > 0);
        got += (size_t)r;
    }
    assert_memory_equal(buf, IWK_MPA_KEY_REP, 16);
    assert_int_equal(buf[16] & 0x20, 0); /* R=0: accepted */
}

struct server {
    struct iwk_context *ctx;
    struct iwk_pd *pd;
    struct iwk_cq *cq;
    struct iwk_qp *qp;
    struct iwk_listener *l;
};

static void server_open(struct server *s)
{
    assert_int_equal(iwk_context_open(NULL, &s->ctx), 0);
    assert_int_equal(iwk_pd_alloc(s->ctx, &s->pd), 0);
    assert_int_equal(iwk_cq_create(s->ctx, 16, &s->cq), 0);
    struct iwk_qp_attr qa = { .send_cq = s->cq, .recv_cq = s->cq };
    assert_int_equal(iwk_qp_create(s->pd, &qa, &s->qp), 0);
    assert_int_equal(iwk_listen(s->ctx, "127.0.0.1", 0, 4, &s->l), 0);
}

static void server_close(struct server *s)
{
    iwk_qp_destroy(s->qp);
    iwk_listener_close(s->l);
    iwk_cq_destroy(s->cq);
    iwk_pd_free(s->pd);
    iwk_context_close(s->ctx);
}

static void accept_p2p(struct server *s, int timeout_ms)
{
    struct iwk_conn_request *req = NULL;
    assert_int_equal(iwk_get_request(s->l, 5000, &req), 0);
    assert_int_equal(iwk_conn_request_info(req)->rtr, IWK_RTR_WRITE);
    struct iwk_conn_param cp;
    assert_int_equal(iwk_conn_param_profile(&cp, "rfc"), 0);
    cp.timeout_ms = timeout_ms;
    assert_int_equal(iwk_accept(req, s->qp, &cp), 0);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void test_no_rtr_times_out(void **state)
{
    (void)state;
    struct server s;
    server_open(&s);
    int fd = raw_connect(iwk_listener_port(s.l));
    send_request(fd);
    double t0 = now_s();
    accept_p2p(&s, 300);
    read_reply(fd);
    /* the Initiator stays silent: the Responder gives up after 300 ms */
    assert_int_equal(iwk_qp_wait_closed(s.qp, 5000), 0);
    double dt = now_s() - t0;
    assert_true(dt >= 0.25 && dt < 3.0);
    struct iwk_qp_info qi;
    iwk_qp_info(s.qp, &qi);
    assert_int_equal(qi.state, IWK_QPS_ERROR);
    assert_int_equal(qi.error, -ETIMEDOUT);
    assert_non_null(strstr(qi.reason, "RTR"));
    /* and the peer sees its connection end */
    uint8_t b[16];
    ssize_t r = read(fd, b, sizeof b);
    assert_true(r <= 0);
    close(fd);
    server_close(&s);
}

static void test_write_rtr_connects(void **state)
{
    (void)state;
    struct server s;
    server_open(&s);
    int fd = raw_connect(iwk_listener_port(s.l));
    send_request(fd);
    accept_p2p(&s, 300);
    read_reply(fd);
    /* zero-length RDMA Write RTR (RFC 6581 §9.2 C): DDP tagged header, STag 0, TO 0, CRC */
    uint8_t f[2 + 14 + 4] = { 0, 14, 0xC1, 0x40 };
    iwk_crc32c_put_wire(f + 16, iwk_crc32c(f, 16));
    assert_int_equal(write(fd, f, sizeof f), (ssize_t)sizeof f);
    /* well past the timeout the connection is still up, and the RTR was taken as such */
    struct timespec ts = { 0, 600 * 1000000L };
    nanosleep(&ts, NULL);
    struct iwk_qp_info qi;
    iwk_qp_info(s.qp, &qi);
    assert_int_equal(qi.state, IWK_QPS_RTS);
    assert_int_equal(qi.rtr, IWK_RTR_WRITE);
    assert_int_equal(qi.error, 0);
    close(fd);
    assert_int_equal(iwk_qp_wait_closed(s.qp, 5000), 0);
    server_close(&s);
}

/* iwk_conn_param.socket_buffer (for many QPs per process, README "iwperf"): out of 4096..64 MiB it is
 * refused before anything is sent; in range, the socket's buffers are fixed at that size (Linux
 * reports twice the value set, socket(7)) and the connection works. */
static void test_socket_buffer(void **state)
{
    (void)state;
    struct server s;
    server_open(&s);
    int fd = raw_connect(iwk_listener_port(s.l));
    send_request(fd);
    struct iwk_conn_request *req = NULL;
    assert_int_equal(iwk_get_request(s.l, 5000, &req), 0);
    struct iwk_conn_param cp;
    assert_int_equal(iwk_conn_param_profile(&cp, "rfc"), 0);
    cp.socket_buffer = 100;
    assert_int_equal(iwk_accept(req, s.qp, &cp), -EINVAL);
    cp.socket_buffer = 65536;
    assert_int_equal(iwk_accept(req, s.qp, &cp), 0);
    read_reply(fd);
    uint8_t f[2 + 14 + 4] = { 0, 14, 0xC1, 0x40 }; /* the Write RTR */
    iwk_crc32c_put_wire(f + 16, iwk_crc32c(f, 16));
    assert_int_equal(write(fd, f, sizeof f), (ssize_t)sizeof f);
    struct iwk_qp_info qi;
    iwk_qp_info(s.qp, &qi);
    assert_int_equal(qi.state, IWK_QPS_RTS);
    assert_int_equal(qi.socket_sndbuf, 2u * 65536u);
    assert_int_equal(qi.socket_rcvbuf, 2u * 65536u);
    close(fd);
    assert_int_equal(iwk_qp_wait_closed(s.qp, 5000), 0);
    server_close(&s);
}

/* iwk_conn_request_addrs and iwk_qp_addrs give the connection's TCP endpoints: the request's peer
 * is the raw client's socket, and the QP reports the same pair once it owns the socket. */
static void test_addresses(void **state)
{
    (void)state;
    struct server s;
    server_open(&s);
    struct sockaddr_storage l0, p0;
    assert_int_equal(iwk_qp_addrs(s.qp, &l0, &p0), -ENOTCONN);
    int fd = raw_connect(iwk_listener_port(s.l));
    struct sockaddr_in mine;
    socklen_t ml = sizeof mine;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&mine, &ml), 0);
    send_request(fd);
    struct iwk_conn_request *req = NULL;
    assert_int_equal(iwk_get_request(s.l, 5000, &req), 0);
    assert_int_equal(iwk_conn_request_addrs(req, &l0, &p0), 0);
    const struct sockaddr_in *l = (const struct sockaddr_in *)&l0, *p = (const struct sockaddr_in *)&p0;
    assert_int_equal(l->sin_family, AF_INET);
    assert_int_equal(ntohs(l->sin_port), iwk_listener_port(s.l));
    assert_int_equal(p->sin_port, mine.sin_port);
    assert_int_equal(p->sin_addr.s_addr, mine.sin_addr.s_addr);
    struct iwk_conn_param cp;
    assert_int_equal(iwk_conn_param_profile(&cp, "rfc"), 0);
    assert_int_equal(iwk_accept(req, s.qp, &cp), 0);
    struct sockaddr_storage l1, p1;
    assert_int_equal(iwk_qp_addrs(s.qp, &l1, NULL), 0);
    assert_int_equal(iwk_qp_addrs(s.qp, NULL, &p1), 0);
    assert_memory_equal(&l1, &l0, sizeof(struct sockaddr_in));
    assert_memory_equal(&p1, &p0, sizeof(struct sockaddr_in));
    close(fd);
    assert_int_equal(iwk_qp_wait_closed(s.qp, 5000), 0);
    server_close(&s);
}

/* A client that sends half a Request and then nothing does not hold up the next one: iwk_get_request
 * serves every pending connection at once (the silent one is dropped after its own timeout). */
static void test_slow_client_does_not_block(void **state)
{
    (void)state;
    struct server s;
    server_open(&s);
    int slow = raw_connect(iwk_listener_port(s.l));
    assert_int_equal(write(slow, IWK_MPA_KEY_REQ, 10), 10);
    int fast = raw_connect(iwk_listener_port(s.l));
    send_request(fast);
    double t0 = now_s();
    struct iwk_conn_request *req = NULL;
    assert_int_equal(iwk_get_request(s.l, 3000, &req), 0);
    assert_true(now_s() - t0 < 1.0);
    assert_int_equal(iwk_conn_request_info(req)->rtr, IWK_RTR_WRITE); /* the fast client's Request */
    assert_int_equal(iwk_reject(req, NULL, 0), 0);
    close(fast);
    close(slow);
    server_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_client_does_not_block),
        cmocka_unit_test(test_no_rtr_times_out),
        cmocka_unit_test(test_write_rtr_connects),
        cmocka_unit_test(test_socket_buffer),
        cmocka_unit_test(test_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
