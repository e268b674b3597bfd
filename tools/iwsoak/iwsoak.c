/* tools/iwsoak/iwsoak.c - soak: many queue pairs of one context move checksummed Sends for a while
 * (issue 16), while connections are killed (abortive iwk_qp_destroy) and opened again. Each client
 * queue pair sends its next message once the server acknowledged the last one with a zero-length
 * Send (a Send completes when TCP has it, RFC 5040 §5.5: without the acknowledgement the client
 * would outrun the server's receives).
 *   iwsoak [--qps N] [--seconds S] [--kill-ms MS] [--size N]
 * Two contexts in one process over loopback TCP: the client's N queue pairs (main thread) each keep
 * one Send in flight; the server (a thread) accepts, keeps two receives per queue pair and checks
 * every message: its slot, generation and sequence number, and a CRC32c over the rest. Every kill-ms
 * one client queue pair is destroyed mid-stream and reconnected. At the end the killing stops, every
 * slot is connected again, and the process's resident memory and open descriptors are compared with
 * what they were once all N were first connected. Exit 0 only with no mismatch, every Send completed
 * exactly once (success or flush), and as many descriptors as at the start. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "iwkit/crc32c.h"
#include "iwkit/verbs.h"

#define HDR 16u /* slot, generation, sequence (u32, u32, u64) before the payload; CRC32c last */

struct opts {
    uint32_t qps, seconds, kill_ms, size;
};

struct side {
    struct iwk_context *ctx;
    struct iwk_pd *pd;
    struct iwk_cq *cq;
    uint8_t *buf;
    struct iwk_mr *mr;
};

struct client_slot {
    struct iwk_qp *qp;
    uint32_t gen;
    uint64_t seq;
    int busy;
};

struct server_slot {
    struct iwk_qp *qp;
    uint32_t gen;
    uint64_t next_seq;
};

struct soak {
    struct opts o;
    struct side cli, srv;
    struct iwk_listener *l;
    struct client_slot *cs;
    struct server_slot *ss;
    int stop;                  /* atomic: the server thread ends */
    uint64_t posted, completed;  /* client Sends posted, and their completions (any status) */
    uint64_t sent, failed_sends, received, mismatches, kills, connects, accepts, unexpected;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

static int side_open(struct side *s, size_t len, uint32_t cq_depth)
{
    s->buf = calloc(1, len);
    if (s->buf == NULL || iwk_context_open(NULL, &s->ctx) != 0 || iwk_pd_alloc(s->ctx, &s->pd) != 0 ||
        iwk_cq_create(s->ctx, cq_depth, &s->cq) != 0 ||
        iwk_mr_reg(s->pd, s->buf, len, IWK_ACCESS_LOCAL_WRITE, &s->mr) != 0)
        return -1;
    return 0;
}

static void side_close(struct side *s)
{
    if (s->mr) iwk_mr_dereg(s->mr);
    if (s->cq) iwk_cq_destroy(s->cq);
    if (s->pd) iwk_pd_free(s->pd);
    iwk_context_close(s->ctx);
    free(s->buf);
}

static struct iwk_qp *new_qp(struct side *s, uint32_t depth)
{
    struct iwk_qp *qp = NULL;
    struct iwk_qp_attr qa = { .send_cq = s->cq, .recv_cq = s->cq, .max_send_wr = depth, .max_recv_wr = depth,
                              .max_sge = 1 };
    return iwk_qp_create(s->pd, &qa, &qp) == 0 ? qp : NULL;
}

static void conn_param(struct iwk_conn_param *cp)
{
    iwk_conn_param_profile(cp, "rfc");
    cp->rtr = 0;
    cp->socket_buffer = 65536; /* 2 x N sockets in one process: small fixed buffers (README) */
}

/* ---- server ----------------------------------------------------------------------------------- */

static uint8_t *srv_buf(struct soak *k, uint32_t slot, uint32_t i)
{
    return k->srv.buf + ((size_t)slot * 2u + i) * k->o.size;
}

static int srv_post(struct soak *k, uint32_t slot, uint32_t i)
{
    struct server_slot *s = &k->ss[slot];
    struct iwk_sge sg = { (uintptr_t)srv_buf(k, slot, i), k->o.size, k->srv.mr->lkey };
    struct iwk_recv_wr wr = { .wr_id = ((uint64_t)s->gen << 32) | (slot << 1) | i, .sg_list = &sg, .num_sge = 1 };
    return iwk_post_recv(s->qp, &wr);
}

static void srv_accept(struct soak *k, struct iwk_conn_request *req)
{
    const struct iwk_conn_request_info *ri = iwk_conn_request_info(req);
    uint32_t slot = 0, gen = 0;
    if (ri->private_data_len < 8 || (slot = get32(ri->private_data)) >= k->o.qps) {
        iwk_reject(req, NULL, 0);
        return;
    }
    gen = get32(ri->private_data + 4);
    struct server_slot *s = &k->ss[slot];
    if (s->qp != NULL) /* the client killed the last one: it is dead anyway */
        iwk_qp_destroy(s->qp);
    s->qp = new_qp(&k->srv, 4);
    s->gen = gen;
    s->next_seq = 0;
    struct iwk_conn_param cp;
    conn_param(&cp);
    if (s->qp == NULL || srv_post(k, slot, 0) != 0 || srv_post(k, slot, 1) != 0 || iwk_accept(req, s->qp, &cp) != 0) {
        if (s->qp != NULL)
            iwk_qp_destroy(s->qp);
        s->qp = NULL;
        return;
    }
    k->accepts++;
}

/* A message of slot `slot`: its header and its CRC32c. */
static int srv_check(struct soak *k, uint32_t slot, const uint8_t *p, uint32_t len)
{
    struct server_slot *s = &k->ss[slot];
    uint64_t seq;
    memcpy(&seq, p + 8, 8);
    int ok = len == k->o.size && get32(p) == slot && get32(p + 4) == s->gen && seq == s->next_seq &&
             iwk_crc32c(p, len - 4u) == get32(p + len - 4u);
    s->next_seq++;
    return ok;
}

/* The zero-length acknowledgement of a message (unsignaled). */
static int srv_ack(struct server_slot *s)
{
    struct iwk_send_wr wr = { .wr_id = 0, .opcode = IWK_WR_SEND, .flags = 0, .num_sge = 0 };
    return iwk_post_send(s->qp, &wr);
}

static void srv_completion(struct soak *k, const struct iwk_wc *wc)
{
    if (wc->opcode != IWK_WC_RECV)
        return; /* an acknowledgement's (only errors are reported: flushes of a queue pair that ends) */
    uint32_t slot = (uint32_t)(wc->wr_id & 0xFFFFFFFFu) >> 1, i = (uint32_t)wc->wr_id & 1u;
    uint32_t gen = (uint32_t)(wc->wr_id >> 32);
    struct server_slot *s = &k->ss[slot];
    if (s->qp == NULL || gen != s->gen)
        return; /* a flush of a queue pair already gone */
    if (wc->status != IWK_WC_SUCCESS) {
        iwk_qp_destroy(s->qp);
        s->qp = NULL;
        return;
    }
    k->received++;
    if (!srv_check(k, slot, srv_buf(k, slot, i), wc->byte_len)) {
        k->mismatches++;
        fprintf(stderr, "iwsoak: slot %u generation %u: message %" PRIu64 " differs\n", slot, gen, s->next_seq - 1);
    }
    int prc = srv_post(k, slot, i);
    if (prc == 0)
        prc = srv_ack(s);
    if (prc != 0) { /* the connection ended (the client killed it) */
        iwk_qp_destroy(s->qp);
        s->qp = NULL;
    }
}

static void *server_main(void *arg)
{
    struct soak *k = arg;
    struct iwk_wc wc[64];
    while (!__atomic_load_n(&k->stop, __ATOMIC_SEQ_CST)) {
        struct iwk_conn_request *req = NULL;
        if (iwk_get_request(k->l, 1, &req) == 0)
            srv_accept(k, req);
        int n = iwk_cq_poll(k->srv.cq, 64, wc);
        for (int j = 0; j < n; j++)
            srv_completion(k, &wc[j]);
        if (n == 0)
            iwk_cq_wait(k->srv.cq, 1);
    }
    return NULL;
}

/* ---- client ----------------------------------------------------------------------------------- */

static void cli_kill(struct soak *k, uint32_t slot);

#define ACK_BIT 0x80000000u /* in a client wr_id: the acknowledgement's receive */

static int cli_post_ack(struct soak *k, uint32_t slot)
{
    struct client_slot *c = &k->cs[slot];
    struct iwk_recv_wr wr = { .wr_id = ((uint64_t)c->gen << 32) | ACK_BIT | slot, .num_sge = 0 };
    return iwk_post_recv(c->qp, &wr);
}

static int cli_connect(struct soak *k, uint32_t slot)
{
    struct client_slot *c = &k->cs[slot];
    c->qp = new_qp(&k->cli, 4);
    if (c->qp == NULL)
        return -1;
    uint8_t pd[8];
    put32(pd, slot);
    put32(pd + 4, c->gen);
    struct iwk_conn_param cp;
    conn_param(&cp);
    cp.private_data = pd;
    cp.private_data_len = sizeof pd;
    int rc = iwk_connect(c->qp, "127.0.0.1", iwk_listener_port(k->l), &cp);
    if (rc == 0)
        rc = cli_post_ack(k, slot);
    if (rc != 0) {
        fprintf(stderr, "iwsoak: slot %u: connect failed (%d)\n", slot, rc);
        iwk_qp_destroy(c->qp);
        c->qp = NULL;
        return -1;
    }
    c->seq = 0;
    c->busy = 0;
    k->connects++;
    return 0;
}

static void cli_send(struct soak *k, uint32_t slot)
{
    struct client_slot *c = &k->cs[slot];
    uint8_t *p = k->cli.buf + (size_t)slot * k->o.size;
    uint32_t len = k->o.size;
    put32(p, slot);
    put32(p + 4, c->gen);
    memcpy(p + 8, &c->seq, 8);
    for (uint32_t i = HDR; i < len - 4u; i++)
        p[i] = (uint8_t)(c->seq * 131u + i * 7u + slot);
    put32(p + len - 4u, iwk_crc32c(p, len - 4u));
    struct iwk_sge sg = { (uintptr_t)p, len, k->cli.mr->lkey };
    struct iwk_send_wr wr = { .wr_id = ((uint64_t)c->gen << 32) | slot, .opcode = IWK_WR_SEND,
                              .flags = IWK_SEND_SIGNALED, .sg_list = &sg, .num_sge = 1 };
    if (iwk_post_send(c->qp, &wr) == 0) {
        c->busy = 1;
        k->posted++;
    }
}

static void cli_completions(struct soak *k)
{
    struct iwk_wc wc[64];
    int n = iwk_cq_poll(k->cli.cq, 64, wc);
    for (int j = 0; j < n; j++) {
        uint32_t low = (uint32_t)wc[j].wr_id, slot = low & ~ACK_BIT, gen = (uint32_t)(wc[j].wr_id >> 32);
        struct client_slot *c = &k->cs[slot];
        int ok = wc[j].status == IWK_WC_SUCCESS;
        if (!(low & ACK_BIT)) { /* a Send: exactly one completion each, success or flush */
            k->completed++;
            k->sent += ok;
            k->failed_sends += !ok;
            continue;
        }
        if (gen != c->gen || c->qp == NULL)
            continue; /* the flush of a killed queue pair's receive */
        if (!ok || cli_post_ack(k, slot) != 0) {
            k->unexpected++; /* the connection failed without being killed */
            fprintf(stderr, "iwsoak: slot %u generation %u failed (status %d)\n", slot, gen, (int)wc[j].status);
            cli_kill(k, slot);
            continue;
        }
        c->busy = 0;
        c->seq++;
    }
    if (n == 0)
        iwk_cq_wait(k->cli.cq, 1);
}

static void cli_kill(struct soak *k, uint32_t slot)
{
    struct client_slot *c = &k->cs[slot];
    if (c->qp == NULL)
        return;
    iwk_qp_destroy(c->qp); /* abortive: flushes what is posted, resets the connection */
    c->qp = NULL;
    c->busy = 0;
    c->gen++;
    k->kills++;
}

static int connect_all(struct soak *k)
{
    for (uint32_t i = 0; i < k->o.qps; i++)
        if (k->cs[i].qp == NULL && cli_connect(k, i) != 0)
            return -1;
    return 0;
}

/* ---- process figures -------------------------------------------------------------------------- */

static long rss_kib(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
        rss = -1;
    fclose(f);
    return rss < 0 ? -1 : rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static int open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static int parse(int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = { { "qps", required_argument, NULL, 'q' },
                                        { "seconds", required_argument, NULL, 's' },
                                        { "kill-ms", required_argument, NULL, 'k' },
                                        { "size", required_argument, NULL, 'z' },
                                        { 0, 0, 0, 0 } };
    *o = (struct opts){ .qps = 1024, .seconds = 60, .kill_ms = 20, .size = 1024 };
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        uint32_t v = (uint32_t)strtoul(optarg, NULL, 10);
        switch (c) {
        case 'q': o->qps = v; break;
        case 's': o->seconds = v; break;
        case 'k': o->kill_ms = v; break;
        case 'z': o->size = v; break;
        default: return -1;
        }
    }
    return o->qps >= 1 && o->qps <= 65536 && o->size >= HDR + 4u && o->size <= (1u << 20) && o->kill_ms >= 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
    static struct soak k;
    if (parse(argc, argv, &k.o) != 0) {
        fprintf(stderr, "usage: iwsoak [--qps N] [--seconds S] [--kill-ms MS] [--size N (20..1M)]\n");
        return 2;
    }
    k.cs = calloc(k.o.qps, sizeof *k.cs);
    k.ss = calloc(k.o.qps, sizeof *k.ss);
    if (k.cs == NULL || k.ss == NULL || side_open(&k.cli, (size_t)k.o.qps * k.o.size, 4u * k.o.qps + 64u) != 0 ||
        side_open(&k.srv, (size_t)k.o.qps * 2u * k.o.size, 4u * k.o.qps + 64u) != 0 ||
        iwk_listen(k.srv.ctx, "127.0.0.1", 0, 1024, &k.l) != 0) {
        fprintf(stderr, "iwsoak: setup failed\n");
        return 1;
    }
    pthread_t th;
    pthread_create(&th, NULL, server_main, &k);
    int rc = connect_all(&k);
    long rss0 = rss_kib();
    int fds0 = open_fds();
    double t0 = now_s(), next_kill = t0, end = t0 + k.o.seconds;
    uint32_t victim = 0;
    while (rc == 0 && now_s() < end) {
        for (uint32_t i = 0; i < k.o.qps; i++)
            if (k.cs[i].qp != NULL && !k.cs[i].busy)
                cli_send(&k, i);
        cli_completions(&k);
        if (now_s() >= next_kill) {
            victim = (victim * 1103515245u + 12345u) % k.o.qps;
            cli_kill(&k, victim);
            next_kill += k.o.kill_ms / 1000.0;
        }
        for (uint32_t i = 0; i < k.o.qps && rc == 0; i++) /* killed ones come back at once */
            if (k.cs[i].qp == NULL)
                rc = cli_connect(&k, i);
    }
    /* settle: every slot connected, nothing in flight */
    double settle = now_s() + 10.0;
    for (int busy = 1; busy && now_s() < settle;) {
        cli_completions(&k);
        busy = 0;
        for (uint32_t i = 0; i < k.o.qps; i++)
            busy |= k.cs[i].busy;
    }
    long rss1 = rss_kib();
    int fds1 = open_fds();
    double secs = now_s() - t0;
    for (uint32_t i = 0; i < k.o.qps; i++)
        if (k.cs[i].qp != NULL)
            iwk_qp_destroy(k.cs[i].qp);
    for (int n = 1; n > 0;) { /* what the destroys flushed */
        struct iwk_wc wc[64];
        n = iwk_cq_poll(k.cli.cq, 64, wc);
        for (int j = 0; j < n; j++)
            k.completed += !(((uint32_t)wc[j].wr_id) & ACK_BIT);
    }
    __atomic_store_n(&k.stop, 1, __ATOMIC_SEQ_CST);
    pthread_join(th, NULL);
    for (uint32_t i = 0; i < k.o.qps; i++)
        if (k.ss[i].qp != NULL)
            iwk_qp_destroy(k.ss[i].qp);
    iwk_listener_close(k.l);
    side_close(&k.cli);
    side_close(&k.srv);
    printf("iwsoak: %u QPs, %.1f s, %u-octet Sends: %" PRIu64 " sent, %" PRIu64 " received and checked, %" PRIu64
           " mismatches, %" PRIu64 " flushed by kills; %" PRIu64 " kills, %" PRIu64 " connects, %" PRIu64
           " accepts; %" PRIu64 " posted, %" PRIu64 " completed; %" PRIu64 " unexpected failures; RSS %ld -> %ld KiB,"
           " descriptors %d -> %d\n",
           k.o.qps, secs, k.o.size, k.sent, k.received, k.mismatches, k.failed_sends, k.kills, k.connects, k.accepts,
           k.posted, k.completed, k.unexpected, rss0, rss1, fds0, fds1);
    free(k.cs);
    free(k.ss);
    int ok = rc == 0 && k.mismatches == 0 && k.unexpected == 0 && k.posted == k.completed && fds1 == fds0 &&
             k.received > 0;
    printf("iwsoak: %s\n", ok ? "OK" : "FAILED");
    return ok ? 0 : 1;
}
