/* runtime/qp.c - queue pairs of the iwkit runtime: creation, posting work requests, completions
 * in posting order, the RDMAP Stream state (the generated rdmap_qp machine, spec/rdmap_stream.iws,
 * RFC 5040 §6), Terminate and flush, graceful and abortive close. */
#include <errno.h>
#include <stddef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "iwk_internal.h"

/* ---- creation ------------------------------------------------------------------------------ */

int iwk_qp_create(struct iwk_pd *pd, const struct iwk_qp_attr *attr, struct iwk_qp **out)
{
    if (attr == NULL || attr->send_cq == NULL || attr->recv_cq == NULL)
        return -EINVAL;
    uint32_t sw = attr->max_send_wr ? attr->max_send_wr : 128u;
    uint32_t rw = attr->max_recv_wr ? attr->max_recv_wr : 128u;
    uint32_t sg = attr->max_sge ? attr->max_sge : 8u;
    if (sw > IWK_MAX_SEND_WR || rw > IWK_MAX_RECV_WR || sg > IWK_MAX_SGE)
        return -EINVAL;
    struct iwk_qp *qp = calloc(1, sizeof *qp);
    if (qp == NULL)
        return -ENOMEM;
    qp->rq_stride = offsetof(struct iwk_recv_entry, dst) + (size_t)sg * sizeof(struct iovec);
    qp->rq = calloc(rw, qp->rq_stride);
    if (qp->rq == NULL) {
        free(qp);
        return -ENOMEM;
    }
    struct iwk_context *ctx = pd->ctx;
    qp->ctx = ctx;
    qp->pd = pd;
    qp->send_cq = attr->send_cq;
    qp->recv_cq = attr->recv_cq;
    qp->max_send_wr = sw;
    qp->max_recv_wr = rw;
    qp->max_sge = sg;
    qp->fd = -1;
    qp->rtr_timer_fd = -1;
    qp->state = IWK_QPS_IDLE;
    pthread_mutex_init(&qp->lock, NULL);
    pthread_mutex_init(&qp->rx_lock, NULL);
    pthread_cond_init(&qp->cond, NULL);
    iwk_rdmap_qp_init(&qp->fsm);
    pthread_mutex_lock(&ctx->lock);
    ctx->n_qp++;
    pd->n_users++;
    attr->send_cq->n_users++;
    attr->recv_cq->n_users++;
    pthread_mutex_unlock(&ctx->lock);
    iwk_cq_attach(attr->recv_cq, qp);
    if (attr->send_cq != attr->recv_cq)
        iwk_cq_attach(attr->send_cq, qp);
    *out = qp;
    return 0;
}

static void free_jobs(struct iwk_job *j)
{
    while (j != NULL) {
        struct iwk_job *n = j->next;
        free(j);
        j = n;
    }
}

/* Frees jobs while the FPDU of one of them may be half written: that FPDU is finished without its
 * job (its iovecs point into qp->tx_fpdu and registered memory, not into the job). */
static void drop_jobs(struct iwk_qp *qp, struct iwk_job *j)
{
    for (struct iwk_job *k = j; k != NULL; k = k->next)
        if (k == qp->tx_cur)
            qp->tx_cur = NULL;
    free_jobs(j);
}

static void llp_fin(struct iwk_qp *qp);

#define TERM_LINGER_MS 2000 /* how long iwk_qp_destroy waits for a queued Terminate to go out */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* RFC 5040 §5.4: a Terminate MUST be delivered, also when the application destroys the queue pair
 * right after the error: what is queued up to the Terminate, and the FIN after it, go out first
 * (for at most TERM_LINGER_MS while the peer does not read). qp->lock held; 1 when the FIN went. */
static int deliver_terminate(struct iwk_qp *qp)
{
    if (qp->fsm.state != IWK_RDMAP_QP_TERMINATE || qp->fd < 0)
        return 0;
    int64_t deadline = mono_ms() + TERM_LINGER_MS;
    for (;;) {
        iwk_tx_pump(qp);
        if (!qp->fin_sent && !qp->tx_fpdu_busy && qp->resp_head == NULL)
            llp_fin(qp);
        if (qp->fin_sent)
            return 1;
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            return 0;
        struct pollfd pfd = { .fd = qp->fd, .events = POLLOUT };
        pthread_mutex_unlock(&qp->lock);
        (void)poll(&pfd, 1, (int)left);
        pthread_mutex_lock(&qp->lock);
    }
}

/* After our FIN: takes in what the peer sent meanwhile so that close() sends no reset, which
 * could make the peer's stack drop the Terminate it has not read yet. */
static void drain_input(int fd)
{
    uint8_t sink[4096];
    for (int i = 0; i < 256; i++)
        if (recv(fd, sink, sizeof sink, MSG_DONTWAIT) <= 0)
            return;
}

int iwk_qp_destroy(struct iwk_qp *qp)
{
    struct iwk_context *ctx = qp->ctx;
    iwk_cq_detach(qp->recv_cq, qp);
    if (qp->send_cq != qp->recv_cq)
        iwk_cq_detach(qp->send_cq, qp);
    pthread_mutex_lock(&qp->lock);
    int fd = qp->fd;
    int watched = qp->watched;
    qp->watched = 0;
    int graceful = deliver_terminate(qp);
    if (!graceful && (qp->state == IWK_QPS_RTS || qp->state == IWK_QPS_CLOSING || qp->state == IWK_QPS_TERMINATE))
        iwk_qp_event(qp, IWK_RDMAP_QP_EV_LLP_ERROR, 0, NULL, 0, "queue pair destroyed");
    pthread_mutex_unlock(&qp->lock);
    if (watched)
        iwk_ctx_unwatch(ctx, fd);
    if (qp->rtr_timer_fd >= 0)
        iwk_ctx_unwatch(ctx, qp->rtr_timer_fd);
    iwk_ctx_quiesce(ctx);
    pthread_mutex_lock(&qp->rx_lock);
    pthread_mutex_unlock(&qp->rx_lock);
    if (fd >= 0) {
        iwk_pcap_flow_fin(&qp->rec, 0);
        if (graceful)
            drain_input(fd);
        close(fd);
    }
    if (qp->rtr_timer_fd >= 0)
        close(qp->rtr_timer_fd);
    pthread_mutex_lock(&ctx->lock);
    ctx->n_qp--;
    qp->pd->n_users--;
    qp->send_cq->n_users--;
    qp->recv_cq->n_users--;
    pthread_mutex_unlock(&ctx->lock);
    free_jobs(qp->sq_head);
    free_jobs(qp->resp_head);
    iwk_pcap_rx_free(&qp->rxrec);
    free(qp->rx.stage);
    free(qp->rq);
    pthread_cond_destroy(&qp->cond);
    pthread_mutex_destroy(&qp->rx_lock);
    pthread_mutex_destroy(&qp->lock);
    free(qp);
    return 0;
}

/* ---- completions --------------------------------------------------------------------------- */

static enum iwk_wc_opcode wc_opcode(enum iwk_wr_opcode op)
{
    switch (op) {
    case IWK_WR_RDMA_WRITE: return IWK_WC_RDMA_WRITE;
    case IWK_WR_RDMA_READ: return IWK_WC_RDMA_READ;
    case IWK_WR_FETCH_ADD: return IWK_WC_FETCH_ADD;
    case IWK_WR_CMP_SWAP: return IWK_WC_CMP_SWAP;
    case IWK_WR_WRITE_IMM: return IWK_WC_WRITE_IMM;
    case IWK_WR_IMM: return IWK_WC_IMM;
    default: return IWK_WC_SEND;
    }
}

/* Moves completed jobs from the head of the send queue to the CQ, in posting order. */
void iwk_qp_reap(struct iwk_qp *qp)
{
    while (qp->sq_head != NULL && qp->sq_head->done) {
        struct iwk_job *j = qp->sq_head;
        qp->sq_head = j->next;
        if (qp->sq_head == NULL)
            qp->sq_tail = NULL;
        if (qp->sq_tx == j)
            qp->sq_tx = j->next;
        qp->sq_count--;
        if (j->status != IWK_WC_SUCCESS || (j->wr.flags & IWK_SEND_SIGNALED)) {
            struct iwk_wc wc = { .wr_id = j->wr.wr_id, .status = j->status, .opcode = wc_opcode(j->wr.opcode),
                                 .byte_len = (uint32_t)j->len, .qp = qp };
            iwk_cq_push(qp->send_cq, &wc, 0);
        }
        if (qp->tx_cur == j)
            qp->tx_cur = NULL; /* flushed while its FPDU is half written: the FPDU is finished without it */
        free(j);
    }
    pthread_cond_broadcast(&qp->cond);
}

/* The receives complete with WR_FLUSH_ERR, in order: first the one a Send was being placed into,
 * then the posted ones (RFC 5040 §5.4, §6.2.1). Only the thread that holds rx_lock does this: it
 * owns rx.cur_recv and is not placing into it meanwhile (an application must not get a buffer
 * back that is still being written). qp->lock held; nothing to do unless flush_all asked. */
void iwk_qp_flush_recvs(struct iwk_qp *qp)
{
    if (!qp->rx_flush)
        return;
    qp->rx_flush = 0;
    if (qp->rx.cur_recv_valid) {
        struct iwk_wc wc = { .wr_id = qp->rx.cur_recv.wr_id, .status = IWK_WC_WR_FLUSH_ERR,
                             .opcode = IWK_WC_RECV, .qp = qp };
        iwk_cq_push(qp->recv_cq, &wc, 0);
        qp->rx.cur_recv_valid = 0;
    }
    while (qp->rq_count > 0) {
        struct iwk_recv_entry e0;
        iwk_rq_get(qp, qp->rq_head, &e0);
        const struct iwk_recv_entry *e = &e0;
        struct iwk_wc wc = { .wr_id = e->wr_id, .status = IWK_WC_WR_FLUSH_ERR, .opcode = IWK_WC_RECV, .qp = qp };
        iwk_cq_push(qp->recv_cq, &wc, 0);
        qp->rq_head = (qp->rq_head + 1u) % qp->max_recv_wr;
        qp->rq_count--;
    }
}

/* Every job that has not completed completes now with `first` (the oldest outstanding one) and
 * WR_FLUSH_ERR (the rest); the receives are flushed too, at once when no thread is receiving,
 * else by the receiving thread before it lets go of rx_lock (iwk_qp_rx_drive, iwk_qp_on_timer;
 * trylock: qp->lock is held, and the receiving thread takes rx_lock before qp->lock). */
static void flush_all(struct iwk_qp *qp, enum iwk_wc_status first)
{
    int k = 0;
    for (struct iwk_job *j = qp->sq_head; j != NULL; j = j->next) {
        if (!j->done) {
            j->done = 1;
            j->status = k++ == 0 ? first : IWK_WC_WR_FLUSH_ERR;
        }
    }
    qp->sq_tx = NULL;
    iwk_qp_reap(qp);
    drop_jobs(qp, qp->resp_head);
    qp->resp_head = qp->resp_tail = NULL;
    qp->rx_flush = 1;
    if (pthread_mutex_trylock(&qp->rx_lock) == 0) {
        iwk_qp_flush_recvs(qp);
        pthread_mutex_unlock(&qp->rx_lock);
    }
}

/* ---- the RDMAP Stream machine -------------------------------------------------------------- */

static enum iwk_qp_state qp_state_of(uint8_t s)
{
    switch (s) {
    case IWK_RDMAP_QP_RTS: return IWK_QPS_RTS;
    case IWK_RDMAP_QP_CLOSING: return IWK_QPS_CLOSING;
    case IWK_RDMAP_QP_TERMINATE: return IWK_QPS_TERMINATE;
    case IWK_RDMAP_QP_ERROR: return IWK_QPS_ERROR;
    default: return IWK_QPS_IDLE;
    }
}

static void queue_terminate(struct iwk_qp *qp, uint16_t code, const uint8_t *bad, uint32_t bad_len)
{
    struct iwk_job *t = calloc(1, sizeof *t);
    if (t == NULL)
        return;
    t->kind = IWK_JOB_TERMINATE;
    t->ctrl_len = iwk_terminate_header(t->ctrl, qp->tx_msn[IWK_QN_TERM]++, code, bad, bad_len,
                                       bad != NULL ? qp->term_seg_len : 0);
    /* nothing else is sent after a Terminate (RFC 5040 §5.4) */
    drop_jobs(qp, qp->resp_head);
    qp->resp_head = qp->resp_tail = t;
    qp->info.term_sent = 1;
    qp->info.term_layer = (uint8_t)(code >> 12);
    qp->info.term_etype = (uint8_t)((code >> 8) & 0xFu);
    qp->info.term_ecode = (uint8_t)code;
}

static void llp_fin(struct iwk_qp *qp)
{
    if (qp->fin_sent || qp->fd < 0)
        return;
    if (qp->tx_fpdu_busy || qp->resp_head != NULL) {
        qp->fin_pending = 1;
        return;
    }
    qp->fin_sent = 1;
    (void)shutdown(qp->fd, SHUT_WR);
    iwk_pcap_flow_fin(&qp->rec, 0);
}

int iwk_qp_event(struct iwk_qp *qp, enum iwk_rdmap_qp_event ev, uint16_t term_code, const uint8_t *bad,
                 uint32_t bad_len, const char *why)
{
    struct iwk_rdmap_qp_actions act;
    struct iwk_rdmap_qp_input none = { 0 };
    int t = iwk_rdmap_qp_step(&qp->fsm, ev, &none, &act);
    if (t == 0)
        return 0;
    if (act.send_term) {
        /* the machine decides that a Terminate goes out; the code names the error found
         * (RFC 5040 §7.1, RFC 5042), or the machine's own for the errors it detects itself */
        uint16_t code = term_code != 0 ? term_code : act.term_code;
        queue_terminate(qp, code, bad, bad_len);
        if (qp->info.error == 0) {
            qp->info.error = -EPROTO;
            snprintf(qp->info.reason, sizeof qp->info.reason, "Terminate sent (%u/%u/0x%02x): %s",
                     code >> 12, (code >> 8) & 0xFu, code & 0xFFu, why != NULL ? why : "local error");
        }
    }
    /* (IDLE: after a graceful close, RFC 5040 §6.2: no message can arrive for the posted receives) */
    if (act.complete_err > 0 || act.llp_reset || qp->fsm.state == IWK_RDMAP_QP_ERROR ||
        qp->fsm.state == IWK_RDMAP_QP_TERMINATE || qp->fsm.state == IWK_RDMAP_QP_IDLE) {
        enum iwk_wc_status first = IWK_WC_WR_FLUSH_ERR;
        if (qp->info.term_received)
            first = qp->info.term_etype == 1 && qp->info.term_layer <= 1 ? IWK_WC_REM_ACCESS_ERR : IWK_WC_REM_OP_ERR;
        else if (act.send_term)
            first = IWK_WC_FATAL_ERR;
        struct iwk_job *keep = qp->resp_head;
        if (act.send_term)
            qp->resp_head = qp->resp_tail = NULL;
        flush_all(qp, first);
        if (act.send_term)
            qp->resp_head = qp->resp_tail = keep;
    }
    if (act.llp_reset && qp->fd >= 0) {
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };
        (void)setsockopt(qp->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        (void)shutdown(qp->fd, SHUT_RDWR);
    }
    if (act.llp_close)
        llp_fin(qp);
    if (why != NULL && qp->info.error == 0 && (ev == IWK_RDMAP_QP_EV_LLP_ERROR || ev == IWK_RDMAP_QP_EV_LLP_CLOSED) &&
        qp->fsm.state == IWK_RDMAP_QP_ERROR) {
        qp->info.error = -ECONNRESET;
        snprintf(qp->info.reason, sizeof qp->info.reason, "%s", why);
    }
    qp->state = qp_state_of(qp->fsm.state);
    pthread_cond_broadcast(&qp->cond);
    return t;
}

/* ---- start (after MPA setup) ----------------------------------------------------------------- */

int iwk_qp_start(struct iwk_qp *qp, int fd, const struct iwk_qp_info *neg, int responder_waits,
                 int rtr_kind_to_send, int rtr_read_pending)
{
    (void)rtr_read_pending;
    int rc = 0;
    uint32_t mss = 0;
    socklen_t sl = sizeof mss;
    if (getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, &sl) < 0 || mss == 0)
        mss = 1460;
    pthread_mutex_lock(&qp->lock);
    qp->fd = fd;
    qp->rxrec.flow = &qp->rec;
    qp->info.mpa_rev = neg->mpa_rev;
    qp->info.crc = neg->crc;
    qp->info.tx_markers = neg->tx_markers;
    qp->info.rx_markers = neg->rx_markers;
    qp->info.rtr = neg->rtr;
    qp->info.ird = neg->ird;
    qp->info.ord = neg->ord;
    qp->mtx.crc = neg->crc;
    qp->mtx.markers = neg->tx_markers;
    qp->mrx.crc = neg->crc;
    qp->mrx.markers = neg->rx_markers;
    qp->mulpdu = iwk_mpa_mulpdu(mss, neg->tx_markers);
    qp->info.mulpdu = qp->mulpdu;
    for (uint32_t q = 0; q < IWK_NQN; q++)
        qp->tx_msn[q] = qp->rx.expect_msn[q] = 1u; /* RFC 5041 §5.1: MSN starts at 1 */
    iwk_rdmap_qp_init(&qp->fsm);
    qp->fsm.sq_depth = (uint8_t)qp->max_send_wr;
    /* 0x3FFF: not negotiated (RFC 6581 §9.1): the machine counts up to 16383 */
    qp->fsm.ord = neg->ord;
    qp->fsm.ird = neg->ird;
    iwk_qp_event(qp, IWK_RDMAP_QP_EV_CONNECT, 0, NULL, 0, NULL);
    qp->tx_allowed = !responder_waits;
    qp->rx.rtr_pending = (uint8_t)responder_waits;
    qp->rx.phase = RX_HEAD;
    if (rtr_kind_to_send != 0) {
        struct iwk_job *j = calloc(1, sizeof *j);
        if (j == NULL) {
            rc = -ENOMEM;
        } else {
            j->kind = IWK_JOB_RTR;
            j->rtr_kind = (uint8_t)rtr_kind_to_send;
            qp->resp_head = qp->resp_tail = j;
            qp->rx.rtr_resp_pending = rtr_kind_to_send == IWK_FPDU_RTR_READ;
        }
    }
    qp->watched = 1;
    pthread_mutex_unlock(&qp->lock);
    if (rc == 0)
        rc = iwk_ctx_start_progress(qp->ctx);
    if (rc == 0)
        rc = iwk_ctx_watch(qp->ctx, fd, qp, iwk_qp_rx_events(qp) | EPOLLET, 1);
    pthread_mutex_lock(&qp->lock);
    if (rc == 0)
        iwk_tx_pump(qp);
    else
        qp->watched = 0;
    pthread_mutex_unlock(&qp->lock);
    return rc;
}

/* ---- the responder's RTR timer --------------------------------------------------------------- */

int iwk_qp_arm_rtr_timer(struct iwk_qp *qp, int timeout_ms)
{
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (tfd < 0)
        return -errno;
    struct itimerspec its = { .it_value = { .tv_sec = timeout_ms / 1000, .tv_nsec = (long)(timeout_ms % 1000) * 1000000L } };
    int rc = timerfd_settime(tfd, 0, &its, NULL) < 0 ? -errno : 0;
    pthread_mutex_lock(&qp->lock);
    qp->rtr_timer_fd = tfd;
    pthread_mutex_unlock(&qp->lock);
    if (rc == 0)
        rc = iwk_ctx_watch_timer(qp->ctx, tfd, qp);
    return rc;
}

/* The MPA machine's TIMEOUT event while the Responder waits for the RTR: it closes. */
void iwk_qp_on_timer(struct iwk_qp *qp)
{
    uint64_t v;
    pthread_mutex_lock(&qp->rx_lock);
    pthread_mutex_lock(&qp->lock);
    if (read(qp->rtr_timer_fd, &v, sizeof v) < 0) { /* spurious: nothing to read */ }
    if (qp->rx.rtr_pending && qp->mresp.state == IWK_MPA_RESPONDER_WAIT_RTR) {
        struct iwk_mpa_responder_input none = { 0 };
        struct iwk_mpa_responder_actions act;
        iwk_mpa_responder_step(&qp->mresp, IWK_MPA_RESPONDER_EV_TIMEOUT, &none, &act);
        if (act.close) {
            qp->info.error = -ETIMEDOUT;
            snprintf(qp->info.reason, sizeof qp->info.reason,
                     "peer-to-peer: no RTR from the Initiator in time (RFC 5044 §7.1.2 rule 10)");
            iwk_qp_event(qp, IWK_RDMAP_QP_EV_LLP_ERROR, 0, NULL, 0, NULL);
        }
    }
    iwk_qp_flush_recvs(qp); /* this thread holds rx_lock: the flush above left the receives to it */
    pthread_mutex_unlock(&qp->lock);
    pthread_mutex_unlock(&qp->rx_lock);
}

/* ---- posting ----------------------------------------------------------------------------------- */

static int resolve_sgl(struct iwk_qp *qp, const struct iwk_sge *sg, uint32_t n, uint32_t access,
                       struct iovec *out, uint64_t *total)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *p = NULL;
        if (sg[i].length == 0) {
            out[i].iov_base = NULL;
            out[i].iov_len = 0;
            continue;
        }
        if (iwk_stag_resolve(qp->ctx, qp->pd, sg[i].lkey, sg[i].addr, sg[i].length, access, &p) != IWK_STAG_OK)
            return -EACCES;
        out[i].iov_base = p;
        out[i].iov_len = sg[i].length;
        sum += sg[i].length;
    }
    *total = sum;
    return 0;
}

static int check_send_wr(const struct iwk_qp *qp, const struct iwk_send_wr *wr)
{
    if (wr->num_sge > qp->max_sge || (wr->num_sge > 0 && wr->sg_list == NULL))
        return -EINVAL;
    switch (wr->opcode) {
    case IWK_WR_SEND: case IWK_WR_SEND_INV: case IWK_WR_RDMA_WRITE: case IWK_WR_WRITE_IMM:
        return 0;
    case IWK_WR_IMM:
        return wr->num_sge == 0 ? 0 : -EINVAL;
    case IWK_WR_RDMA_READ:
        return wr->num_sge <= 1 ? 0 : -EINVAL; /* one Data Sink STag (RFC 5040 §4.4) */
    case IWK_WR_FETCH_ADD: case IWK_WR_CMP_SWAP:
        return wr->num_sge == 1 && wr->sg_list[0].length == 8 ? 0 : -EINVAL; /* RFC 7306 §5 */
    default:
        return -EINVAL;
    }
}

int iwk_post_send(struct iwk_qp *qp, const struct iwk_send_wr *wr)
{
    int rc = check_send_wr(qp, wr);
    if (rc != 0)
        return rc;
    struct iwk_job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return -ENOMEM;
    j->kind = IWK_JOB_WR;
    j->wr = *wr;
    if (wr->num_sge > 0)
        memcpy(j->sge, wr->sg_list, wr->num_sge * sizeof *j->sge);
    j->wr.sg_list = j->sge;
    int sink = wr->opcode == IWK_WR_RDMA_READ || wr->opcode == IWK_WR_FETCH_ADD || wr->opcode == IWK_WR_CMP_SWAP;
    rc = resolve_sgl(qp, j->sge, wr->num_sge, sink ? IWK_ACCESS_LOCAL_WRITE : 0u, j->src, &j->len);
    j->nsrc = (int)wr->num_sge;
    if (rc == 0 && j->len > UINT32_MAX)
        rc = -EMSGSIZE;
    if (rc == 0 && (wr->opcode == IWK_WR_FETCH_ADD || wr->opcode == IWK_WR_CMP_SWAP)) {
        j->result = j->src[0].iov_base;
        if (((uintptr_t)j->result & 7u) != 0)
            rc = -EINVAL;
    }
    if (rc != 0) {
        free(j);
        return rc;
    }
    pthread_mutex_lock(&qp->lock);
    if (qp->state != IWK_QPS_RTS)
        rc = -ENOTCONN;
    else if (qp->sq_count >= qp->max_send_wr)
        rc = -ENOMEM;
    if (rc == 0) {
        if (qp->sq_tail != NULL)
            qp->sq_tail->next = j;
        else
            qp->sq_head = j;
        qp->sq_tail = j;
        if (qp->sq_tx == NULL)
            qp->sq_tx = j;
        qp->sq_count++;
        iwk_tx_pump(qp);
    }
    pthread_mutex_unlock(&qp->lock);
    if (rc != 0)
        free(j);
    return rc;
}

int iwk_post_recv(struct iwk_qp *qp, const struct iwk_recv_wr *wr)
{
    if (wr->num_sge > qp->max_sge || (wr->num_sge > 0 && wr->sg_list == NULL))
        return -EINVAL;
    struct iwk_recv_entry e = { .wr_id = wr->wr_id, .ndst = (int)wr->num_sge };
    int rc = resolve_sgl(qp, wr->sg_list, wr->num_sge, IWK_ACCESS_LOCAL_WRITE, e.dst, &e.len);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&qp->lock);
    if (qp->state == IWK_QPS_ERROR || qp->state == IWK_QPS_TERMINATE)
        rc = -ENOTCONN;
    else if (qp->rq_count >= qp->max_recv_wr)
        rc = -ENOMEM;
    else {
        iwk_rq_put(qp, (qp->rq_head + qp->rq_count) % qp->max_recv_wr, &e);
        qp->rq_count++;
    }
    pthread_mutex_unlock(&qp->lock);
    return rc;
}

void iwk_rq_put(struct iwk_qp *qp, uint32_t i, const struct iwk_recv_entry *e)
{
    memcpy(qp->rq + (size_t)i * qp->rq_stride, e, offsetof(struct iwk_recv_entry, dst) +
           (size_t)e->ndst * sizeof(struct iovec));
}

void iwk_rq_get(const struct iwk_qp *qp, uint32_t i, struct iwk_recv_entry *e)
{
    const uint8_t *slot = qp->rq + (size_t)i * qp->rq_stride;
    memcpy(e, slot, offsetof(struct iwk_recv_entry, dst));
    memcpy(e->dst, slot + offsetof(struct iwk_recv_entry, dst), (size_t)e->ndst * sizeof(struct iovec));
}

/* ---- close and information ------------------------------------------------------------------- */

static void deadline_of(struct timespec *dl, int timeout_ms)
{
    clock_gettime(CLOCK_REALTIME, dl);
    dl->tv_sec += timeout_ms / 1000;
    dl->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl->tv_nsec >= 1000000000L) {
        dl->tv_sec++;
        dl->tv_nsec -= 1000000000L;
    }
}

int iwk_disconnect(struct iwk_qp *qp, int timeout_ms)
{
    struct timespec dl;
    deadline_of(&dl, timeout_ms < 0 ? 3600000 : timeout_ms);
    int rc = 0;
    pthread_mutex_lock(&qp->lock);
    /* outstanding work first (RFC 5040 §6.2: the ULP's graceful termination) */
    while (qp->state == IWK_QPS_RTS && qp->sq_head != NULL && rc == 0)
        if (pthread_cond_timedwait(&qp->cond, &qp->lock, &dl) == ETIMEDOUT)
            rc = -ETIMEDOUT;
    if (qp->state == IWK_QPS_RTS)
        iwk_qp_event(qp, IWK_RDMAP_QP_EV_CLOSE, 0, NULL, 0, NULL);
    while ((qp->state == IWK_QPS_CLOSING || qp->state == IWK_QPS_RTS) && rc == 0)
        if (pthread_cond_timedwait(&qp->cond, &qp->lock, &dl) == ETIMEDOUT)
            rc = -ETIMEDOUT;
    if (rc != 0 && (qp->state == IWK_QPS_CLOSING || qp->state == IWK_QPS_RTS))
        iwk_qp_event(qp, IWK_RDMAP_QP_EV_LLP_ERROR, 0, NULL, 0, "disconnect timed out: connection reset");
    pthread_mutex_unlock(&qp->lock);
    return rc;
}

int iwk_qp_wait_closed(struct iwk_qp *qp, int timeout_ms)
{
    struct timespec dl;
    deadline_of(&dl, timeout_ms < 0 ? 3600000 : timeout_ms);
    int rc = 0;
    pthread_mutex_lock(&qp->lock);
    while ((qp->state == IWK_QPS_RTS || qp->state == IWK_QPS_CLOSING || qp->state == IWK_QPS_TERMINATE ||
            qp->state == IWK_QPS_CONNECTING) && rc == 0)
        if (pthread_cond_timedwait(&qp->cond, &qp->lock, &dl) == ETIMEDOUT)
            rc = -ETIMEDOUT;
    pthread_mutex_unlock(&qp->lock);
    return rc;
}

int iwk_socket_addrs(int fd, struct sockaddr_storage *local, struct sockaddr_storage *peer)
{
    if (fd < 0)
        return -ENOTCONN;
    socklen_t l = sizeof *local;
    if (local != NULL && getsockname(fd, (struct sockaddr *)local, &l) < 0)
        return -errno;
    l = sizeof *peer;
    if (peer != NULL && getpeername(fd, (struct sockaddr *)peer, &l) < 0)
        return -errno;
    return 0;
}

int iwk_qp_addrs(const struct iwk_qp *qp, struct sockaddr_storage *local, struct sockaddr_storage *peer)
{
    struct iwk_qp *q = (struct iwk_qp *)(uintptr_t)qp;
    pthread_mutex_lock(&q->lock);
    int rc = iwk_socket_addrs(q->fd, local, peer);
    pthread_mutex_unlock(&q->lock);
    return rc;
}

int iwk_qp_info(const struct iwk_qp *qp, struct iwk_qp_info *out)
{
    struct iwk_qp *q = (struct iwk_qp *)(uintptr_t)qp;
    pthread_mutex_lock(&q->lock);
    *out = q->info;
    /* written by the receiving thread without qp->lock (ddp_rx.c rx_count) */
    out->rx_fpdus = __atomic_load_n(&q->rx_fpdus, __ATOMIC_RELAXED);
    out->rx_bytes = __atomic_load_n(&q->rx_bytes, __ATOMIC_RELAXED);
    out->state = q->state;
    int fd = q->fd;
    out->socket_sndbuf = out->socket_rcvbuf = 0;
    int v = 0;
    socklen_t vl = sizeof v;
    if (fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, &vl) == 0 && v > 0)
        out->socket_sndbuf = (uint32_t)v;
    vl = sizeof v;
    if (fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &vl) == 0 && v > 0)
        out->socket_rcvbuf = (uint32_t)v;
    pthread_mutex_unlock(&q->lock);
    return 0;
}

int iwk_qp_inject_raw(struct iwk_qp *qp, const void *buf, size_t len)
{
    int rc = 0;
    pthread_mutex_lock(&qp->lock);
    if (qp->fd < 0 || qp->tx_fpdu_busy)
        rc = -EBUSY;
    else if (send(qp->fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len)
        rc = -EIO;
    else {
        struct iovec v = { .iov_base = (void *)(uintptr_t)buf, .iov_len = len };
        iwk_pcap_flow_data(&qp->rec, 0, &v, 1, len);
        qp->mtx.pos += len;
    }
    pthread_mutex_unlock(&qp->lock);
    return rc;
}
