/* The shim's libibverbs.so.1 / librdmacm.so.1 from a C program linked against them (so it also
 * runs in the ASan/UBSan build, where unmodified binaries cannot load the sanitized libraries):
 *   closed_port   rdma_connect to a port nobody listens on: ADDR_RESOLVED, ROUTE_RESOLVED, then
 *                 REJECTED with status -ECONNREFUSED, as the kernel's iw_cm reports it;
 *   listen_port0  rdma_listen on port 0, rdma_get_src_port reads the bound port back;
 *   nonblocking   an event channel with O_NONBLOCK: rdma_get_cm_event fails with EAGAIN;
 *   killed_peer   a forked client connects (the server's rdma_get_peer_addr is the client's
 *                 rdma_get_local_addr, passed back through a pipe), Sends 64 octets inline from
 *                 unregistered memory and is killed with SIGKILL: the server
 *                 gets the Send through its completion channel (ibv_req_notify_cq, channel fd,
 *                 ibv_get_cq_event), then DISCONNECTED and its other posted receives flushed
 *                 (IBV_WC_WR_FLUSH_ERR), with no hang (every wait bounded).
 * The forked process opens its own device after fork (nothing of the parent's stack is used). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rdma/rdma_cma.h>

#define WAIT_MS 15000
#define NRECV 4
#define MSG 64

static int failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: ", __func__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            failures++;                                                                            \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

/* A TCP port nobody listens on (bound, read back, closed). */
static uint16_t free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(s, (struct sockaddr *)&a, &l) < 0)
        return 0;
    close(s);
    return ntohs(a.sin_port);
}

static struct sockaddr_in loopback(uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    return a;
}

/* The next event of the channel within WAIT_MS; returns its type (or -1), acks it. */
static int next_event(struct rdma_event_channel *ch, int *status, struct rdma_cm_id **id)
{
    struct pollfd p = {.fd = ch->fd, .events = POLLIN};
    if (poll(&p, 1, WAIT_MS) != 1)
        return -1;
    struct rdma_cm_event *e;
    if (rdma_get_cm_event(ch, &e) != 0)
        return -1;
    int type = (int)e->event;
    if (status != NULL)
        *status = e->status;
    if (id != NULL)
        *id = e->id;
    rdma_ack_cm_event(e);
    return type;
}

struct qp_set {
    struct ibv_pd *pd;
    struct ibv_comp_channel *cc;
    struct ibv_cq *cq;
    struct ibv_mr *mr;
    char buf[NRECV][MSG];
};

static int make_qp(struct rdma_cm_id *id, struct qp_set *s)
{
    s->pd = ibv_alloc_pd(id->verbs);
    s->cc = ibv_create_comp_channel(id->verbs);
    s->cq = s->cc ? ibv_create_cq(id->verbs, 16, s, s->cc, 0) : NULL;
    s->mr = s->pd ? ibv_reg_mr(s->pd, s->buf, sizeof s->buf, IBV_ACCESS_LOCAL_WRITE) : NULL;
    CHECK(s->pd && s->cc && s->cq && s->mr, "pd/channel/cq/mr: %s", strerror(errno));
    struct ibv_qp_init_attr qa = {.send_cq = s->cq, .recv_cq = s->cq, .qp_type = IBV_QPT_RC,
                                  .cap = {.max_send_wr = 8, .max_recv_wr = NRECV, .max_send_sge = 1,
                                          .max_recv_sge = 1, .max_inline_data = MSG}};
    CHECK(rdma_create_qp(id, s->pd, &qa) == 0, "rdma_create_qp: %s", strerror(errno));
    return 0;
}

static void free_qp(struct rdma_cm_id *id, struct qp_set *s)
{
    if (id->qp != NULL)
        rdma_destroy_qp(id);
    if (s->mr)
        ibv_dereg_mr(s->mr);
    if (s->cq)
        ibv_destroy_cq(s->cq);
    if (s->cc)
        ibv_destroy_comp_channel(s->cc);
    if (s->pd)
        ibv_dealloc_pd(s->pd);
}

static int closed_port(void)
{
    struct rdma_event_channel *ch = rdma_create_event_channel();
    struct rdma_cm_id *id;
    CHECK(ch && rdma_create_id(ch, &id, NULL, RDMA_PS_TCP) == 0, "channel/id");
    struct sockaddr_in dst = loopback(free_port());
    CHECK(rdma_resolve_addr(id, NULL, (struct sockaddr *)&dst, 2000) == 0, "resolve_addr");
    CHECK(next_event(ch, NULL, NULL) == RDMA_CM_EVENT_ADDR_RESOLVED, "ADDR_RESOLVED");
    CHECK(rdma_resolve_route(id, 2000) == 0, "resolve_route");
    CHECK(next_event(ch, NULL, NULL) == RDMA_CM_EVENT_ROUTE_RESOLVED, "ROUTE_RESOLVED");
    struct qp_set s = {0};
    if (make_qp(id, &s) != 0)
        return -1;
    struct rdma_conn_param cp = {.responder_resources = 1, .initiator_depth = 1};
    CHECK(rdma_connect(id, &cp) == 0, "rdma_connect: %s", strerror(errno));
    int status = 0;
    int ev = next_event(ch, &status, NULL);
    CHECK(ev == RDMA_CM_EVENT_REJECTED && status == -ECONNREFUSED, "closed port: event %d (%s) status %d",
          ev, ev >= 0 ? rdma_event_str(ev) : "none", status);
    free_qp(id, &s);
    rdma_destroy_id(id);
    rdma_destroy_event_channel(ch);
    return 0;
}

static int listen_port0_nonblocking(void)
{
    struct rdma_event_channel *ch = rdma_create_event_channel();
    struct rdma_cm_id *id;
    CHECK(ch && rdma_create_id(ch, &id, NULL, RDMA_PS_TCP) == 0, "channel/id");
    struct sockaddr_in a = loopback(0);
    CHECK(rdma_bind_addr(id, (struct sockaddr *)&a) == 0 && rdma_listen(id, 4) == 0, "listen: %s",
          strerror(errno));
    CHECK(ntohs(rdma_get_src_port(id)) != 0, "rdma_get_src_port after listening on port 0");
    CHECK(fcntl(ch->fd, F_SETFL, fcntl(ch->fd, F_GETFL) | O_NONBLOCK) == 0, "O_NONBLOCK");
    struct rdma_cm_event *e;
    errno = 0;
    CHECK(rdma_get_cm_event(ch, &e) == -1 && errno == EAGAIN, "nonblocking channel: errno %d", errno);
    rdma_destroy_id(id);
    rdma_destroy_event_channel(ch);
    return 0;
}

/* The forked client: waits for the go, connects, Sends MSG octets, reports, waits to be killed. */
static void client(uint16_t port, int go_fd, int done_fd)
{
    char b;
    if (read(go_fd, &b, 1) != 1)
        _exit(2);
    struct rdma_event_channel *ch = rdma_create_event_channel();
    struct rdma_cm_id *id;
    if (ch == NULL || rdma_create_id(ch, &id, NULL, RDMA_PS_TCP) != 0)
        _exit(3);
    struct sockaddr_in dst = loopback(port);
    struct qp_set s = {0};
    if (rdma_resolve_addr(id, NULL, (struct sockaddr *)&dst, 2000) != 0 ||
        next_event(ch, NULL, NULL) != RDMA_CM_EVENT_ADDR_RESOLVED || rdma_resolve_route(id, 2000) != 0 ||
        next_event(ch, NULL, NULL) != RDMA_CM_EVENT_ROUTE_RESOLVED || make_qp(id, &s) != 0)
        _exit(4);
    struct rdma_conn_param cp = {.responder_resources = 1, .initiator_depth = 1};
    if (rdma_connect(id, &cp) != 0 || next_event(ch, NULL, NULL) != RDMA_CM_EVENT_ESTABLISHED)
        _exit(5);
    /* an inline Send from memory that is not registered: the shim copies it */
    char inl[MSG];
    memset(inl, 'k', MSG);
    struct ibv_sge sge = {.addr = (uintptr_t)inl, .length = MSG, .lkey = 0};
    struct ibv_send_wr wr = {.wr_id = 7, .sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_SEND,
                             .send_flags = IBV_SEND_SIGNALED | IBV_SEND_INLINE}, *bad;
    struct ibv_wc wc;
    if (ibv_post_send(id->qp, &wr, &bad) != 0)
        _exit(6);
    for (int i = 0; i < WAIT_MS && ibv_poll_cq(s.cq, 1, &wc) == 0; i++)
        usleep(1000);
    if (wc.status != IBV_WC_SUCCESS || wc.opcode != IBV_WC_SEND || wc.wr_id != 7)
        _exit(7);
    struct sockaddr_in *local = (struct sockaddr_in *)rdma_get_local_addr(id);
    if (write(done_fd, &local->sin_port, sizeof local->sin_port) != (ssize_t)sizeof local->sin_port)
        _exit(8);
    pause();
    _exit(0);
}

static int killed_peer(void)
{
    uint16_t port = free_port();
    int go[2], done[2];
    CHECK(port != 0 && pipe(go) == 0 && pipe(done) == 0, "port/pipes");
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0)
        client(port, go[0], done[1]);
    struct rdma_event_channel *ch = rdma_create_event_channel();
    struct rdma_cm_id *lid, *cid = NULL;
    CHECK(ch && rdma_create_id(ch, &lid, NULL, RDMA_PS_TCP) == 0, "channel/id");
    struct sockaddr_in a = loopback(port);
    CHECK(rdma_bind_addr(lid, (struct sockaddr *)&a) == 0 && rdma_listen(lid, 4) == 0, "listen");
    CHECK(write(go[1], "g", 1) == 1, "go");
    CHECK(next_event(ch, NULL, &cid) == RDMA_CM_EVENT_CONNECT_REQUEST, "CONNECT_REQUEST");
    struct qp_set s = {0};
    if (make_qp(cid, &s) != 0)
        return -1;
    for (uint64_t i = 0; i < NRECV; i++) {
        struct ibv_sge sge = {.addr = (uintptr_t)s.buf[i], .length = MSG, .lkey = s.mr->lkey};
        struct ibv_recv_wr wr = {.wr_id = 100 + i, .sg_list = &sge, .num_sge = 1}, *bad;
        CHECK(ibv_post_recv(cid->qp, &wr, &bad) == 0, "post_recv");
    }
    CHECK(ibv_req_notify_cq(s.cq, 0) == 0, "req_notify_cq");
    struct rdma_conn_param cp = {.responder_resources = 1, .initiator_depth = 1};
    CHECK(rdma_accept(cid, &cp) == 0, "rdma_accept: %s", strerror(errno));
    CHECK(next_event(ch, NULL, NULL) == RDMA_CM_EVENT_ESTABLISHED, "ESTABLISHED");
    /* the Send arrives through the completion channel */
    struct pollfd p = {.fd = s.cc->fd, .events = POLLIN};
    CHECK(poll(&p, 1, WAIT_MS) == 1, "completion channel not readable");
    struct ibv_cq *ecq;
    void *ectx;
    CHECK(ibv_get_cq_event(s.cc, &ecq, &ectx) == 0 && ecq == s.cq && ectx == &s, "ibv_get_cq_event");
    ibv_ack_cq_events(ecq, 1);
    struct ibv_wc wc;
    CHECK(ibv_poll_cq(s.cq, 1, &wc) == 1 && wc.status == IBV_WC_SUCCESS && wc.opcode == IBV_WC_RECV &&
              wc.byte_len == MSG && wc.wr_id == 100 && wc.qp_num == cid->qp->qp_num,
          "Send completion: status %d opcode %d len %u", wc.status, wc.opcode, wc.byte_len);
    CHECK(memcmp(s.buf[0], "kkkkkkkk", 8) == 0, "Send payload");
    in_port_t client_port;
    CHECK(read(done[0], &client_port, sizeof client_port) == (ssize_t)sizeof client_port, "client did not report");
    const struct sockaddr_in *peer = (const struct sockaddr_in *)rdma_get_peer_addr(cid);
    const struct sockaddr_in *mine = (const struct sockaddr_in *)rdma_get_local_addr(cid);
    CHECK(peer->sin_family == AF_INET && client_port != 0 && peer->sin_port == client_port &&
              peer->sin_addr.s_addr == htonl(INADDR_LOOPBACK),
          "rdma_get_peer_addr: port %u, the client's local port %u", ntohs(peer->sin_port), ntohs(client_port));
    CHECK(mine->sin_port == htons(port) && rdma_get_src_port(cid) == htons(port) && rdma_get_dst_port(cid) == client_port,
          "rdma_get_local_addr / src / dst port on the accepted id");
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    CHECK(next_event(ch, NULL, NULL) == RDMA_CM_EVENT_DISCONNECTED, "DISCONNECTED after the peer was killed");
    int flushed = 0;
    for (int i = 0; i < WAIT_MS && flushed < NRECV - 1; i++) {
        int n = ibv_poll_cq(s.cq, 1, &wc);
        if (n == 1) {
            CHECK(wc.status == IBV_WC_WR_FLUSH_ERR, "receive %llu: status %s", (unsigned long long)wc.wr_id,
                  ibv_wc_status_str(wc.status));
            flushed++;
        } else {
            usleep(1000);
        }
    }
    CHECK(flushed == NRECV - 1, "%d of %d receives flushed", flushed, NRECV - 1);
    struct ibv_sge sge = {.addr = (uintptr_t)s.buf[0], .length = MSG, .lkey = s.mr->lkey};
    struct ibv_send_wr wr = {.sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_SEND}, *bad;
    CHECK(ibv_post_send(cid->qp, &wr, &bad) != 0, "post_send after the connection ended succeeded");
    free_qp(cid, &s);
    rdma_destroy_id(cid);
    rdma_destroy_id(lid);
    rdma_destroy_event_channel(ch);
    return 0;
}

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "all";
    struct { const char *name; int (*fn)(void); } cases[] = {
        {"closed_port", closed_port}, {"listen_port0", listen_port0_nonblocking}, {"killed_peer", killed_peer}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (strcmp(which, "all") != 0 && strcmp(which, cases[i].name) != 0)
            continue;
        /* each case in its own process: the stack of one never leaks into the next */
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0)
            exit(cases[i].fn() == 0 && failures == 0 ? 0 : 1); /* exit: LeakSanitizer runs */
        int st = 0;
        waitpid(pid, &st, 0);
        int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
        printf("%s %s\n", ok ? "ok" : "FAIL", cases[i].name);
        failures += !ok;
    }
    return failures ? 1 : 0;
}
