/* fuzz_rx.c - the runtime's whole receive path (runtime/ddp_rx.c, mpa_frame.c, qp.c) over real
 * loopback TCP. Hand-written harness: the frames it builds come from the generated serializers.
 *
 * Per input: two contexts in this process, queue pair "a" connects (MPA Initiator) to "b" (the
 * target, Responder) through a real listener and a full MPA exchange; b posts four receives; then a
 * sends the fuzz input as raw octets on its TCP stream (iwk_qp_inject_raw), closes gracefully, and
 * the harness waits for b to leave RTS.
 *
 * Memory of b (mapped once at a fixed address, so Tagged Offsets and STags are the same in every
 * run and the fuzzer can learn them): every registered region is surrounded by PROT_NONE pages, and
 * memory no incoming message may change is filled with a known octet and checked after each run.
 *   page 0 guard | 1-2 W: local+remote write, remote read, atomics | 3 guard | 4 RO: remote read
 *   only (octets 128..1151 registered) | 5 guard | 6 RECV: receives, four slots of 1,024 octets,
 *   each posted with its first 512 | 7 guard | 8 OTHER: remote write in another PD | 9 guard
 * Oracles: no fault in a guard page (ASan/SEGV), RO and OTHER unchanged, no receive slot changed
 * past its 512 posted octets; each of b's receives completes exactly once (success or flush) and no
 * unknown completion appears; b ends in IDLE or ERROR within 10 s of a's FIN (never stuck in RTS,
 * CLOSING or TERMINATE).
 *
 * Input: octet 0: bit 0 CRC required, bit 1 b asks for Markers (the input then has to carry them).
 * Then records: flags (bit 0 framed, bit 1 corrupt the CRC), a 16-bit big-endian length, and that
 * many octets (cut at the input's end). A raw record goes on the wire as it is; a framed one is an
 * ULPDU that the harness wraps in an FPDU (iwk_mpa_fpdu_serialize: length, pad, CRC32c when CRC is
 * on; no Markers).
 *
 * IWK_FUZZ_RX_SEEDS=DIR fuzz_rx_replay: writes seed inputs (built with the generated serializers,
 * with the real STags and addresses) into DIR and exits. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "iwk_ddp.h"
#include "iwk_mpa.h"
#include "iwk_rdmap.h"
#include "iwkit/crc32c.h"
#include "iwkit/verbs.h"

#define PAGES 10u
#define FILL 0x5Au
#define NRECV 4u
#define SLOT 1024u
#define POSTED 512u
#define WAIT_MS 10000
#define RECV_ID 100u
#define MAX_STREAM (256u * 1024u)

static size_t page;
static uint8_t *mem;
static struct iwk_context *ctx_a, *ctx_b;
static struct iwk_pd *pd_a, *pd_b, *pd_b2;
static struct iwk_cq *a_scq, *a_rcq, *b_scq, *b_rcq;
static struct iwk_mr *mr_w, *mr_ro, *mr_recv, *mr_other;
static struct iwk_listener *lst;
static uint8_t *stream;

static uint8_t *pg(unsigned i) { return mem + (size_t)i * page; }

static void setup_memory(void)
{
    page = (size_t)sysconf(_SC_PAGESIZE);
    void *want = (void *)(uintptr_t)0x6f0000000000ull;
    mem = mmap(want, PAGES * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (mem == MAP_FAILED)
        mem = mmap(NULL, PAGES * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    FUZZ_CHECK(mem != MAP_FAILED, "mmap: %s", strerror(errno));
    static const unsigned guards[] = { 0, 3, 5, 7, 9 };
    for (unsigned i = 0; i < sizeof guards / sizeof guards[0]; i++)
        FUZZ_CHECK(mprotect(pg(guards[i]), page, PROT_NONE) == 0, "mprotect: %s", strerror(errno));
}

static void setup_once(void)
{
    setup_memory();
    stream = malloc(MAX_STREAM);
    FUZZ_CHECK(stream != NULL, "out of memory");
    FUZZ_CHECK(iwk_context_open(NULL, &ctx_a) == 0 && iwk_context_open(NULL, &ctx_b) == 0, "context");
    FUZZ_CHECK(iwk_pd_alloc(ctx_a, &pd_a) == 0 && iwk_pd_alloc(ctx_b, &pd_b) == 0 && iwk_pd_alloc(ctx_b, &pd_b2) == 0,
               "pd");
    FUZZ_CHECK(iwk_cq_create(ctx_a, 64, &a_scq) == 0 && iwk_cq_create(ctx_a, 64, &a_rcq) == 0, "cq a");
    FUZZ_CHECK(iwk_cq_create(ctx_b, 64, &b_scq) == 0 && iwk_cq_create(ctx_b, 64, &b_rcq) == 0, "cq b");
    const uint32_t all = IWK_ACCESS_LOCAL_WRITE | IWK_ACCESS_REMOTE_WRITE | IWK_ACCESS_REMOTE_READ |
                         IWK_ACCESS_REMOTE_ATOMIC;
    FUZZ_CHECK(iwk_mr_reg(pd_b, pg(1), 2u * page, all, &mr_w) == 0, "mr w");
    FUZZ_CHECK(iwk_mr_reg(pd_b, pg(4) + 128, 1024, IWK_ACCESS_REMOTE_READ, &mr_ro) == 0, "mr ro");
    FUZZ_CHECK(iwk_mr_reg(pd_b, pg(6), page, IWK_ACCESS_LOCAL_WRITE, &mr_recv) == 0, "mr recv");
    FUZZ_CHECK(iwk_mr_reg(pd_b2, pg(8), page, IWK_ACCESS_LOCAL_WRITE | IWK_ACCESS_REMOTE_WRITE, &mr_other) == 0,
               "mr other");
    FUZZ_CHECK(iwk_listen(ctx_b, "127.0.0.1", 0, 8, &lst) == 0, "listen");
}

/* ---- one run ----------------------------------------------------------------------------------- */

struct acceptor {
    pthread_t th;
    struct iwk_qp *qp;
    struct iwk_conn_param param;
    int rc;
};

static void *accept_main(void *arg)
{
    struct acceptor *ac = arg;
    struct iwk_conn_request *req = NULL;
    ac->rc = iwk_get_request(lst, WAIT_MS, &req);
    if (ac->rc == 0) ac->rc = iwk_accept(req, ac->qp, &ac->param);
    return NULL;
}

static void params(struct iwk_conn_param *p, uint8_t cfg, int initiator)
{
    FUZZ_CHECK(iwk_conn_param_profile(p, "rfc") == 0, "profile");
    p->rtr = 0;
    p->timeout_ms = WAIT_MS;
    p->crc = (cfg & 1u) ? IWK_CRC_REQUIRED : IWK_CRC_OFF;
    p->markers = initiator ? 0u : (uint8_t)((cfg >> 1) & 1u);
}

static void fill_memory(void)
{
    memset(pg(1), FILL, 2u * page);
    for (unsigned i = 4; i < PAGES - 1u; i += 2u) memset(pg(i), FILL, page); /* RO, RECV, OTHER */
}

static void check_unchanged(unsigned p, size_t from, size_t to, const char *what)
{
    for (size_t i = from; i < to; i++)
        FUZZ_CHECK(pg(p)[i] == FILL, "%s: octet %zu changed to 0x%02x", what, i, pg(p)[i]);
}

static void check_memory(void)
{
    check_unchanged(4, 0, page, "remote-read-only region (and the unregistered octets around it)");
    check_unchanged(8, 0, page, "region of another protection domain");
    for (unsigned k = 0; k < NRECV; k++)
        check_unchanged(6, k * SLOT + POSTED, (k + 1u) * SLOT, "receive slot past its posted length");
}

static void post_recvs(struct iwk_qp *qp)
{
    for (unsigned k = 0; k < NRECV; k++) {
        struct iwk_sge sge = { (uintptr_t)(pg(6) + k * SLOT), POSTED, mr_recv->lkey };
        struct iwk_recv_wr wr = { RECV_ID + k, &sge, 1 };
        FUZZ_CHECK(iwk_post_recv(qp, &wr) == 0, "post_recv");
    }
}

static int verbose; /* IWK_FUZZ_RX_VERBOSE set: each run's outcome on stderr */

/* Every receive completes once; nothing else completes on b. */
static void check_completions(void)
{
    unsigned seen[NRECV] = { 0 };
    struct iwk_wc wc[16];
    int n;
    while ((n = iwk_cq_poll(b_rcq, 16, wc)) > 0) {
        for (int i = 0; i < n; i++) {
            FUZZ_CHECK(wc[i].wr_id >= RECV_ID && wc[i].wr_id < RECV_ID + NRECV, "unknown receive completion %llu",
                       (unsigned long long)wc[i].wr_id);
            seen[wc[i].wr_id - RECV_ID]++;
            if (verbose)
                fprintf(stderr, "  receive %llu: status %d, %u octets\n", (unsigned long long)wc[i].wr_id,
                        (int)wc[i].status, wc[i].byte_len);
            if (wc[i].status == IWK_WC_SUCCESS)
                FUZZ_CHECK(wc[i].byte_len <= POSTED, "receive of %u octets into %u", wc[i].byte_len, POSTED);
        }
    }
    for (unsigned k = 0; k < NRECV; k++)
        FUZZ_CHECK(seen[k] == 1u, "receive %u completed %u times", k, seen[k]);
    FUZZ_CHECK(iwk_cq_poll(b_scq, 16, wc) == 0, "a completion on b's send queue, where nothing was posted");
    while (iwk_cq_poll(a_scq, 16, wc) > 0 || iwk_cq_poll(a_rcq, 16, wc) > 0) {
    }
}

/* The stream a sends: records as described at the top. */
static size_t build_stream(const uint8_t *d, size_t n, int crc)
{
    size_t out = 0, i = 0;
    while (i + 3u <= n && out < MAX_STREAM) {
        uint8_t flags = d[i];
        size_t len = (size_t)d[i + 1] << 8 | d[i + 2];
        i += 3u;
        if (len > n - i) len = n - i;
        const uint8_t *p = d + i;
        i += len;
        if (!(flags & 1u)) {
            if (len > MAX_STREAM - out) len = MAX_STREAM - out;
            memcpy(stream + out, p, len);
            out += len;
            continue;
        }
        struct iwk_mpa_fpdu f = { (uint16_t)len, p, len, 0 };
        size_t sz = iwk_mpa_fpdu_size(&f);
        if (sz > MAX_STREAM - out) break;
        FUZZ_CHECK(iwk_mpa_fpdu_serialize(&f, stream + out, sz) == IWK_OK, "fpdu serialize");
        if (crc) {
            uint32_t c = iwk_crc32c(stream + out, sz - IWK_CRC32C_WIRE_LEN);
            if (flags & 2u) c ^= 1u;
            iwk_crc32c_put_wire(stream + out + sz - IWK_CRC32C_WIRE_LEN, c);
        }
        out += sz;
    }
    return out;
}

static int connect_pair(struct iwk_qp *a, struct iwk_qp *b, uint8_t cfg)
{
    struct acceptor ac = { .qp = b };
    params(&ac.param, cfg, 0);
    struct iwk_conn_param pa;
    params(&pa, cfg, 1);
    FUZZ_CHECK(pthread_create(&ac.th, NULL, accept_main, &ac) == 0, "pthread_create");
    int rc = iwk_connect(a, "127.0.0.1", iwk_listener_port(lst), &pa);
    pthread_join(ac.th, NULL);
    FUZZ_CHECK(rc == 0 && ac.rc == 0, "MPA setup failed: connect %d, accept %d", rc, ac.rc);
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1u) return 0;
    if (mem == NULL) setup_once();
    uint8_t cfg = data[0];
    fill_memory();
    struct iwk_qp_attr qa = { .send_cq = a_scq, .recv_cq = a_rcq, .max_send_wr = 16, .max_recv_wr = 16 };
    struct iwk_qp_attr qb = { .send_cq = b_scq, .recv_cq = b_rcq, .max_send_wr = 16, .max_recv_wr = 16 };
    struct iwk_qp *a = NULL, *b = NULL;
    FUZZ_CHECK(iwk_qp_create(pd_a, &qa, &a) == 0 && iwk_qp_create(pd_b, &qb, &b) == 0, "qp_create");
    post_recvs(b);
    connect_pair(a, b, cfg);
    size_t n = build_stream(data + 1, size - 1u, cfg & 1u);
    if (n > 0) (void)iwk_qp_inject_raw(a, stream, n); /* fails only once b closed: not an oracle */
    iwk_disconnect(a, WAIT_MS);
    int wc = iwk_qp_wait_closed(b, WAIT_MS);
    struct iwk_qp_info bi;
    iwk_qp_info(b, &bi);
    FUZZ_CHECK(wc == 0, "b still in state %d %d ms after a's FIN (%s)", (int)bi.state, WAIT_MS, bi.reason);
    FUZZ_CHECK(bi.state == IWK_QPS_IDLE || bi.state == IWK_QPS_ERROR, "b ends in state %d", (int)bi.state);
    if (verbose)
        fprintf(stderr, "b: state %d, Terminate sent %u received %u (%u/%u/0x%02x), %s; W[100] = 0x%02x\n",
                (int)bi.state, bi.term_sent, bi.term_received, bi.term_layer, bi.term_etype, bi.term_ecode,
                bi.reason, pg(1)[100]);
    FUZZ_CHECK(iwk_qp_destroy(a) == 0 && iwk_qp_destroy(b) == 0, "qp_destroy");
    check_completions();
    check_memory();
    return 0;
}

/* ---- seeds -------------------------------------------------------------------------------------- */

static size_t rec(uint8_t *out, uint8_t flags, const uint8_t *p, size_t n)
{
    out[0] = flags;
    out[1] = (uint8_t)(n >> 8);
    out[2] = (uint8_t)n;
    memcpy(out + 3, p, n);
    return n + 3u;
}

static uint8_t ctrl(uint8_t opcode)
{
    struct iwk_rdmap_ctrl c = { IWK_RDMAP_VERSION, 0, opcode };
    uint8_t b = 0;
    FUZZ_CHECK(iwk_rdmap_ctrl_serialize(&c, &b, 1) == IWK_OK, "ctrl");
    return b;
}

static size_t tagged(uint8_t *out, uint8_t op, uint32_t stag, uint64_t to, const uint8_t *pl, size_t n)
{
    struct iwk_ddp_tagged t = { 1, 1, 0, IWK_DDP_VERSION, ctrl(op), stag, to, pl, n };
    size_t sz = iwk_ddp_tagged_size(&t);
    FUZZ_CHECK(iwk_ddp_tagged_serialize(&t, out, sz) == IWK_OK, "tagged");
    return sz;
}

static size_t untagged(uint8_t *out, uint8_t op, uint32_t inv, uint32_t qn, uint32_t msn, const uint8_t *pl,
                       size_t n)
{
    struct iwk_ddp_untagged u = { 0, 1, 0, IWK_DDP_VERSION, ctrl(op), inv, qn, msn, 0, pl, n };
    size_t sz = iwk_ddp_untagged_size(&u);
    FUZZ_CHECK(iwk_ddp_untagged_serialize(&u, out, sz) == IWK_OK, "untagged");
    return sz;
}

static void write_seed(const char *dir, const char *name, uint8_t cfg, const uint8_t *recs, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s-cfg%u", dir, name, cfg);
    FILE *fp = fopen(path, "wb");
    FUZZ_CHECK(fp != NULL, "%s: %s", path, strerror(errno));
    fputc(cfg, fp);
    fwrite(recs, 1, n, fp);
    fclose(fp);
}

static void write_seeds(const char *dir)
{
    setup_once();
    uint8_t pl[64], u[128], r[512];
    memset(pl, 0x33, sizeof pl);
    uint64_t w = (uintptr_t)pg(1), ro = (uintptr_t)(pg(4) + 128), other = (uintptr_t)pg(8);
    /* a Write into W, then a Send (MSN 1) and a Send with Solicited Event (MSN 2) */
    size_t n = rec(r, 1, u, tagged(u, IWK_RDMAP_OP_RDMA_WRITE, mr_w->rkey, w + 100, pl, 40));
    n += rec(r + n, 1, u, untagged(u, IWK_RDMAP_OP_SEND, 0, 0, 1, pl, 32));
    n += rec(r + n, 1, u, untagged(u, IWK_RDMAP_OP_SEND_SE, 0, 0, 2, pl, 8));
    for (uint8_t cfg = 0; cfg < 2u; cfg++) write_seed(dir, "write-send", cfg, r, n);
    /* a Read Request of RO into an STag of a (answered by b) */
    struct iwk_rdmap_read_request rq = { 0x100u, 0, 64, mr_ro->rkey, ro };
    uint8_t rqb[IWK_RDMAP_READ_REQUEST_LEN];
    FUZZ_CHECK(iwk_rdmap_read_request_serialize(&rq, rqb, sizeof rqb) == IWK_OK, "read request");
    n = rec(r, 1, u, untagged(u, IWK_RDMAP_OP_RDMA_READ_REQ, 0, 1, 1, rqb, sizeof rqb));
    for (uint8_t cfg = 0; cfg < 2u; cfg++) write_seed(dir, "read-request", cfg, r, n);
    /* Writes that must be refused: read-only region, other PD, past W's end */
    n = rec(r, 1, u, tagged(u, IWK_RDMAP_OP_RDMA_WRITE, mr_ro->rkey, ro, pl, 16));
    write_seed(dir, "write-ro", 0, r, n);
    n = rec(r, 1, u, tagged(u, IWK_RDMAP_OP_RDMA_WRITE, mr_other->rkey, other, pl, 16));
    write_seed(dir, "write-other-pd", 0, r, n);
    n = rec(r, 1, u, tagged(u, IWK_RDMAP_OP_RDMA_WRITE, mr_w->rkey, w + 2u * page - 8u, pl, 16));
    write_seed(dir, "write-past-end", 0, r, n);
    /* Send with Invalidate of W, then a Write to it */
    n = rec(r, 1, u, untagged(u, IWK_RDMAP_OP_SEND_INV, mr_w->rkey, 0, 1, pl, 4));
    n += rec(r + n, 1, u, tagged(u, IWK_RDMAP_OP_RDMA_WRITE, mr_w->rkey, w, pl, 4));
    write_seed(dir, "send-inv", 0, r, n);
    /* a bad CRC, a raw short frame */
    n = rec(r, 3, u, untagged(u, IWK_RDMAP_OP_SEND, 0, 0, 1, pl, 8));
    write_seed(dir, "bad-crc", 1, r, n);
    n = rec(r, 0, (const uint8_t *)"\x00\x02\x41", 3);
    write_seed(dir, "raw-short", 0, r, n);
    /* a Send longer than the posted receive, one to an unknown queue */
    uint8_t big[600];
    memset(big, 0x44, sizeof big);
    uint8_t ul[IWK_DDP_UNTAGGED_HDR_LEN + sizeof big], rr[sizeof ul + 3u];
    n = rec(rr, 1, ul, untagged(ul, IWK_RDMAP_OP_SEND, 0, 0, 1, big, sizeof big));
    write_seed(dir, "send-too-long", 0, rr, n);
    n = rec(r, 1, u, untagged(u, IWK_RDMAP_OP_SEND, 0, 5, 1, pl, 8));
    write_seed(dir, "send-bad-queue", 0, r, n);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    verbose = getenv("IWK_FUZZ_RX_VERBOSE") != NULL;
    const char *dir = getenv("IWK_FUZZ_RX_SEEDS");
    if (dir != NULL) {
        write_seeds(dir);
        exit(0);
    }
    return 0;
}
