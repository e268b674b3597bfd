/* runtime/mpa_conn.c - MPA connection setup (RFC 5044 §7.1, RFC 6581) and the connection
 * management API of the iwkit runtime: connect, listen, get_request, accept, reject.
 * Every decision (accept a Reply, CRC, Markers per direction, IRD/ORD, RTR choice, reject,
 * Terminate) is taken by the generated machines mpa_initiator / mpa_responder
 * (spec/mpa_setup.iws); this file only moves frames between them and the socket. */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "iwk_internal.h"
#include "iwk_mpa.h"

#define MPA_FRAME_HDR 20u
#define MPA_DEFAULT_TIMEOUT_MS 10000
#define MPA_REQUEST_WAIT_MS 5000

#define LISTEN_PENDING 64u /* accepted connections whose Request is still on its way */

struct iwk_listener {
    struct iwk_context *ctx;
    int fd;
    uint16_t port;
    struct iwk_conn_request *pend[LISTEN_PENDING];
    uint32_t npend;
    uint64_t accepted;     /* connections accepted so far (gives each its arrival number) */
};

struct iwk_conn_request {
    struct iwk_context *ctx;
    int fd;
    uint8_t frame[MPA_FRAME_HDR + IWK_MPA_MAX_PD_LEN];
    size_t frame_len;
    size_t frame_have;     /* octets of the Request read so far */
    int ready;             /* a valid Request, waiting for iwk_get_request to hand it out */
    int64_t deadline;      /* RFC 5044 §7.1.2 rule 8: no Request in time, the connection is dropped */
    uint64_t arrival;      /* the listener's accept count when this one came */
    struct iwk_mpa_request req;
    struct iwk_mpa_responder_input in;
    struct iwk_conn_request_info info;
    struct iwk_pcap_flow rec;
};

/* ---- socket helpers -------------------------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void tune_socket(int fd)
{
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* iwk_conn_param.socket_buffer: fixed socket buffers instead of autotuning (0: leave them; the
 * kernel caps them at net.core.wmem_max / rmem_max). */
static int set_buffers(int fd, uint32_t bytes)
{
    int b = (int)bytes;
    if (bytes == 0)
        return 0;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &b, sizeof b) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &b, sizeof b) < 0)
        return -errno;
    return 0;
}

static int wait_fd(int fd, short ev, int64_t deadline)
{
    int64_t left = deadline - now_ms();
    if (left <= 0)
        return -ETIMEDOUT;
    struct pollfd p = { .fd = fd, .events = ev };
    int r = poll(&p, 1, (int)left);
    if (r < 0)
        return errno == EINTR ? 0 : -errno;
    return r == 0 ? -ETIMEDOUT : 0;
}

static int write_all(int fd, const struct iovec *iov0, int n, int64_t deadline)
{
    struct iovec iov[IWK_FPDU_MAX_IOV];
    memcpy(iov, iov0, (size_t)n * sizeof *iov);
    int i = 0;
    while (i < n) {
        ssize_t w = writev(fd, iov + i, n - i);
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            int rc = wait_fd(fd, POLLOUT, deadline);
            if (rc != 0)
                return rc;
            continue;
        }
        if (w < 0)
            return -errno;
        size_t left = (size_t)w;
        while (i < n && left >= iov[i].iov_len)
            left -= iov[i++].iov_len;
        if (i < n) {
            iov[i].iov_base = (uint8_t *)iov[i].iov_base + left;
            iov[i].iov_len -= left;
        }
    }
    return 0;
}

/* 0, -ETIMEDOUT, -ECONNRESET (EOF), -errno */
static int read_exact(int fd, uint8_t *buf, size_t len, int64_t deadline)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            int rc = wait_fd(fd, POLLIN, deadline);
            if (rc != 0)
                return rc;
            continue;
        }
        if (r < 0)
            return -errno;
        if (r == 0)
            return -ECONNRESET;
        got += (size_t)r;
    }
    return 0;
}

/* Reads an MPA Request or Reply frame: the 20-octet header, then PD_Length octets (at most 512;
 * a longer PD_Length is left for the parser to reject). */
static int read_frame(int fd, uint8_t *buf, size_t *len, int64_t deadline)
{
    int rc = read_exact(fd, buf, MPA_FRAME_HDR, deadline);
    if (rc != 0)
        return rc;
    size_t pd = ((size_t)buf[18] << 8) | buf[19];
    if (pd > IWK_MPA_MAX_PD_LEN)
        pd = 0;
    rc = read_exact(fd, buf + MPA_FRAME_HDR, pd, deadline);
    *len = MPA_FRAME_HDR + pd;
    return rc;
}

static void record_tx(struct iwk_pcap_flow *rec, const void *buf, size_t len)
{
    struct iovec v = { .iov_base = (void *)(uintptr_t)buf, .iov_len = len };
    iwk_pcap_flow_data(rec, 0, &v, 1, len);
}

static void record_rx(struct iwk_pcap_flow *rec, const void *buf, size_t len)
{
    struct iovec v = { .iov_base = (void *)(uintptr_t)buf, .iov_len = len };
    iwk_pcap_flow_data(rec, 1, &v, 1, len);
}

/* ---- frames ---------------------------------------------------------------------------------- */

struct frame_fields {
    uint8_t m, c, r, rev;
    uint8_t p2p, rtr_w, rtr_r, rtr_s;
    uint16_t ird, ord;
    const void *pd;
    uint16_t pd_len;
};

/* Serializes a Request (reply == 0) or Reply; rev 2 frames carry the RFC 6581 §9 prefix. */
static int build_frame(int reply, const struct frame_fields *ff, uint8_t *out, size_t cap, size_t *len)
{
    uint8_t pdbuf[IWK_MPA_MAX_PD_LEN];
    size_t pdl = 0;
    if (ff->rev == 2) {
        struct iwk_mpa_v2_params v = { .p2p = ff->p2p, .rtr_send = ff->rtr_s, .ird = ff->ird,
                                       .rtr_write = ff->rtr_w, .rtr_read = ff->rtr_r, .ord = ff->ord };
        if (iwk_mpa_v2_params_serialize(&v, pdbuf, sizeof pdbuf) != IWK_OK)
            return -EINVAL;
        pdl = 4;
    }
    if (pdl + ff->pd_len > IWK_MPA_MAX_PD_LEN)
        return -EMSGSIZE;
    if (ff->pd_len > 0)
        memcpy(pdbuf + pdl, ff->pd, ff->pd_len);
    pdl += ff->pd_len;
    iwk_status st;
    if (reply) {
        struct iwk_mpa_reply h = { .m = ff->m, .c = ff->c, .r = ff->r, .s = ff->rev == 2, .rev = ff->rev,
                                   .pd_length = (uint16_t)pdl, .private_data = pdbuf, .private_data_len = pdl };
        memcpy(h.key, IWK_MPA_KEY_REP, 16);
        st = iwk_mpa_reply_serialize(&h, out, cap);
        *len = iwk_mpa_reply_size(&h);
    } else {
        struct iwk_mpa_request h = { .m = ff->m, .c = ff->c, .s = ff->rev == 2, .rev = ff->rev,
                                     .pd_length = (uint16_t)pdl, .private_data = pdbuf, .private_data_len = pdl };
        memcpy(h.key, IWK_MPA_KEY_REQ, 16);
        st = iwk_mpa_request_serialize(&h, out, cap);
        *len = iwk_mpa_request_size(&h);
    }
    return st == IWK_OK ? 0 : -EINVAL;
}

/* The rev-2 prefix of a frame's Private Data, when S=1 and it parses; the ULP part after it. */
static void split_pd(uint8_t rev, uint8_t s, const uint8_t *pd, size_t pdl, struct iwk_mpa_v2_params *v,
                     int *has_v2, const uint8_t **ulp, uint16_t *ulp_len)
{
    *has_v2 = rev == 2 && s && iwk_mpa_v2_params_parse(pd, pdl, v) == IWK_OK;
    *ulp = *has_v2 ? pd + 4 : pd;
    *ulp_len = (uint16_t)(*has_v2 ? pdl - 4 : pdl);
}

static int send_setup_terminate(int fd, uint16_t code, int crc, int markers, struct iwk_pcap_flow *rec,
                                int64_t deadline)
{
    uint8_t hdr[IWK_DDP_UNTAGGED_HLEN + IWK_CTRL_MAX];
    uint32_t hlen = iwk_terminate_header(hdr, 1, code, NULL, 0, 0);
    struct iwk_mpa_tx tx = { .crc = (uint8_t)crc, .markers = (uint8_t)markers, .pos = 0 };
    struct iwk_fpdu *f = malloc(sizeof *f);
    if (f == NULL)
        return -ENOMEM;
    iwk_fpdu_build(&tx, f, hdr, hlen, NULL, 0, 0);
    int rc = write_all(fd, f->iov, f->iovcnt, deadline);
    if (rc == 0)
        iwk_pcap_flow_data(rec, 0, f->iov, f->iovcnt, f->total);
    free(f);
    return rc;
}

static void set_reason(struct iwk_qp *qp, int err, const char *text)
{
    pthread_mutex_lock(&qp->lock);
    qp->info.error = err;
    snprintf(qp->info.reason, sizeof qp->info.reason, "%s", text);
    pthread_mutex_unlock(&qp->lock);
}

static const char *report_text(uint8_t report)
{
    switch (report) {
    case IWK_MPA_REPORT_REJECTED: return "rejected by the peer (MPA R=1, RFC 5044 §7.1.2)";
    case IWK_MPA_REPORT_INVALID: return "malformed MPA Request/Reply (RFC 5044 §7.1.1)";
    case IWK_MPA_REPORT_REVISION: return "MPA revision not supported by the peer (RFC 5044 §7.1.1)";
    case IWK_MPA_REPORT_TIMEOUT: return "MPA setup timed out (RFC 5044 §7.1.2 rule 10)";
    case IWK_MPA_REPORT_CLOSED: return "peer closed TCP during MPA setup";
    case IWK_MPA_REPORT_TERMINATED: return "Terminate during MPA setup (RFC 6581 §8, §9)";
    case IWK_MPA_REPORT_EARLY_FPDU: return "FPDU before FPDU mode (RFC 5044 §7.1.2 rule 4)";
    case IWK_MPA_REPORT_NO_MARKERS: return "peer requires Markers, which we do not send (RFC 5044 §4.3)";
    default: return "MPA setup failed";
    }
}

static int report_errno(uint8_t report)
{
    switch (report) {
    case IWK_MPA_REPORT_REJECTED: return -IWK_ECONNREJECTED;
    case IWK_MPA_REPORT_TIMEOUT: return -ETIMEDOUT;
    case IWK_MPA_REPORT_CLOSED: return -ECONNRESET;
    default: return -EPROTO;
    }
}

/* ---- parameters and profiles ---------------------------------------------------------------- */

static void param_defaults(struct iwk_conn_param *p)
{
    memset(p, 0, sizeof *p);
    p->mpa_rev = 2;
    p->crc = IWK_CRC_REQUIRED;
    p->markers = 0;
    p->can_markers = 1;
    p->rtr = 0;
    p->ird = 16;
    p->ord = 16;
    p->timeout_ms = MPA_DEFAULT_TIMEOUT_MS;
}

int iwk_conn_param_profile(struct iwk_conn_param *p, const char *name)
{
    param_defaults(p);
    if (strcmp(name, "rfc") == 0) {
        p->rtr = IWK_RTR_WRITE | IWK_RTR_READ | IWK_RTR_SEND;
    } else if (strcmp(name, "siw") == 0) {
        p->crc = IWK_CRC_OPTIONAL;
        p->can_markers = 0;
        p->rtr = IWK_RTR_WRITE | IWK_RTR_READ;
        p->first_fpdu_delay_ms = 200; /* siw's Responder race (siw_accept): see verbs.h */
    } else if (strcmp(name, "chelsio") == 0) {
        p->can_markers = 0;
        p->rtr = IWK_RTR_READ;
    } else {
        return -ENOENT;
    }
    return 0;
}

static struct iwk_conn_param effective(const struct iwk_conn_param *p)
{
    struct iwk_conn_param e;
    if (p != NULL)
        e = *p;
    else
        param_defaults(&e);
    if (e.timeout_ms <= 0)
        e.timeout_ms = MPA_DEFAULT_TIMEOUT_MS;
    if (e.ird == 0)
        e.ird = 1;
    if (e.ord == 0)
        e.ord = 1;
    return e;
}

static int check_param(const struct iwk_conn_param *p)
{
    if (p->mpa_rev != 1 && p->mpa_rev != 2)
        return -EINVAL;
    if (p->rtr != 0 && p->mpa_rev != 2)
        return -EINVAL; /* peer-to-peer needs rev 2 (RFC 6581 §9.2) */
    if (p->ird > IWK_MPA_MAX_IRD_ORD || p->ord > IWK_MPA_MAX_IRD_ORD)
        return -EINVAL;
    if ((size_t)p->private_data_len + (p->mpa_rev == 2 ? 4u : 0u) > IWK_MPA_MAX_PD_LEN)
        return -EMSGSIZE;
    if (p->socket_buffer != 0 && (p->socket_buffer < 4096u || p->socket_buffer > (64u << 20)))
        return -EINVAL;
    return 0;
}

/* ---- initiator --------------------------------------------------------------------------------- */

static int tcp_connect(const char *host, uint16_t port, int64_t deadline, int *out)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL;
    char ps[8];
    snprintf(ps, sizeof ps, "%u", port);
    int rc = getaddrinfo(host, ps, &hints, &res);
    if (rc != 0)
        return -EHOSTUNREACH;
    rc = -ECONNREFUSED;
    for (struct addrinfo *a = res; a != NULL; a = a->ai_next) {
        int fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            rc = -errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) < 0 && errno != EINPROGRESS) {
            rc = -errno;
            close(fd);
            continue;
        }
        rc = wait_fd(fd, POLLOUT, deadline);
        int err = 0;
        socklen_t el = sizeof err;
        if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err != 0)
            rc = -err;
        if (rc == 0) {
            tune_socket(fd);
            *out = fd;
            break;
        }
        close(fd);
    }
    freeaddrinfo(res);
    return rc;
}

static void initiator_config(struct iwk_mpa_initiator *m, const struct iwk_conn_param *p)
{
    iwk_mpa_initiator_init(m);
    m->rev = p->mpa_rev;
    m->want_m = p->markers ? 1 : 0;
    m->want_c = p->crc == IWK_CRC_REQUIRED;
    m->p2p = p->rtr != 0;
    m->rtr_w = (p->rtr & IWK_RTR_WRITE) != 0;
    m->rtr_r = (p->rtr & IWK_RTR_READ) != 0;
    m->rtr_s = (p->rtr & IWK_RTR_SEND) != 0;
    m->ird = p->ird;
    m->ord = p->ord;
}

static uint8_t rtr_flag(uint8_t kind)
{
    return kind == IWK_FPDU_RTR_WRITE ? IWK_RTR_WRITE
         : kind == IWK_FPDU_RTR_READ ? IWK_RTR_READ
         : kind == IWK_FPDU_RTR_SEND ? IWK_RTR_SEND : 0;
}

/* Feeds the Reply to the machine; fills the negotiated info. */
static int initiator_reply(struct iwk_qp *qp, struct iwk_mpa_initiator *m, int fd, const uint8_t *frame,
                           size_t flen, struct iwk_mpa_initiator_actions *act, struct iwk_qp_info *neg)
{
    struct iwk_mpa_reply rep;
    struct iwk_mpa_initiator_input in = { 0 };
    iwk_status st = iwk_mpa_reply_parse(frame, flen, &rep);
    in.valid = st == IWK_OK || (st != IWK_OK && iwk_mpa_reply_decode(frame, flen, &rep) == IWK_OK &&
                                rep.rev > 2 && memcmp(rep.key, IWK_MPA_KEY_REP, 16) == 0);
    struct iwk_mpa_v2_params v = { 0 };
    int has_v2 = 0;
    const uint8_t *ulp = NULL;
    uint16_t ulp_len = 0;
    if (in.valid) {
        in.p_m = rep.m;
        in.p_c = rep.c;
        in.p_r = rep.r;
        in.p_s = rep.s;
        in.p_rev = rep.rev;
        split_pd(rep.rev, rep.s, rep.private_data, rep.private_data_len, &v, &has_v2, &ulp, &ulp_len);
        if (rep.rev == 2 && rep.s && !has_v2)
            in.valid = 0; /* S=1 without the 4-octet prefix: malformed (RFC 6581 §5) */
        in.p_p2p = v.p2p;
        in.p_rtr_w = v.rtr_write;
        in.p_rtr_r = v.rtr_read;
        in.p_rtr_s = v.rtr_send;
        in.p_ird = v.ird;
        in.p_ord = v.ord;
    }
    (void)fd;
    iwk_mpa_initiator_step(m, IWK_MPA_INITIATOR_EV_RX_REPLY, &in, act);
    if (ulp_len > 0) {
        pthread_mutex_lock(&qp->lock);
        memcpy(qp->info.peer_private_data, ulp, ulp_len);
        qp->info.peer_private_data_len = ulp_len;
        pthread_mutex_unlock(&qp->lock);
    }
    neg->mpa_rev = rep.rev;
    neg->crc = m->crc;
    neg->tx_markers = m->tx_markers;
    neg->rx_markers = m->rx_markers;
    neg->rtr = rtr_flag(m->rtr);
    neg->ird = m->neg_ird;
    neg->ord = m->neg_ord;
    return 0;
}

int iwk_connect(struct iwk_qp *qp, const char *host, uint16_t port, const struct iwk_conn_param *p0)
{
    struct iwk_conn_param p = effective(p0);
    int rc = check_param(&p);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&qp->lock);
    int busy = qp->state != IWK_QPS_IDLE;
    if (!busy)
        qp->state = IWK_QPS_CONNECTING;
    pthread_mutex_unlock(&qp->lock);
    if (busy)
        return -EISCONN;
    int64_t deadline = now_ms() + p.timeout_ms;
    int fd = -1;
    rc = tcp_connect(host, port, deadline, &fd);
    if (rc != 0) {
        set_reason(qp, rc, "TCP connect failed");
        goto fail;
    }
    (void)set_buffers(fd, p.socket_buffer); /* a limit, not a requirement: if refused, autotuning stays */
    struct iwk_pcap_flow rec = { 0 };
    iwk_pcap_flow_start(qp->ctx->pcap, &rec, fd, 1);

    struct iwk_mpa_initiator m;
    struct iwk_mpa_initiator_actions act;
    initiator_config(&m, &p);
    struct iwk_mpa_initiator_input none = { 0 };
    iwk_mpa_initiator_step(&m, IWK_MPA_INITIATOR_EV_START, &none, &act);
    uint8_t frame[MPA_FRAME_HDR + IWK_MPA_MAX_PD_LEN];
    size_t flen = 0;
    struct frame_fields ff = { .m = m.want_m, .c = m.want_c, .rev = m.rev, .p2p = m.p2p, .rtr_w = m.rtr_w,
                               .rtr_r = m.rtr_r, .rtr_s = m.rtr_s, .ird = m.ird, .ord = m.ord,
                               .pd = p.private_data, .pd_len = p.private_data_len };
    rc = build_frame(0, &ff, frame, sizeof frame, &flen);
    struct iovec v = { .iov_base = frame, .iov_len = flen };
    if (rc == 0 && act.send_request)
        rc = write_all(fd, &v, 1, deadline);
    if (rc != 0) {
        set_reason(qp, rc, "could not send the MPA Request");
        goto fail_fd;
    }
    record_tx(&rec, frame, flen);
    rc = read_frame(fd, frame, &flen, deadline);
    struct iwk_qp_info neg = { 0 };
    if (rc == -ETIMEDOUT) {
        iwk_mpa_initiator_step(&m, IWK_MPA_INITIATOR_EV_TIMEOUT, &none, &act);
    } else if (rc != 0) {
        iwk_mpa_initiator_step(&m, IWK_MPA_INITIATOR_EV_LLP_CLOSED, &none, &act);
    } else {
        record_rx(&rec, frame, flen);
        initiator_reply(qp, &m, fd, frame, flen, &act, &neg);
    }
    if (act.send_term)
        (void)send_setup_terminate(fd, act.term_code, m.want_c || (frame[16] & 0x40), (frame[16] & 0x80) != 0,
                                   &rec, deadline);
    if (m.state != IWK_MPA_INITIATOR_RTS) {
        rc = report_errno(act.report);
        set_reason(qp, rc, report_text(act.report));
        if (act.send_term) {
            pthread_mutex_lock(&qp->lock);
            qp->info.term_sent = 1;
            qp->info.term_layer = (uint8_t)(act.term_code >> 12);
            qp->info.term_etype = (uint8_t)((act.term_code >> 8) & 0xF);
            qp->info.term_ecode = (uint8_t)act.term_code;
            pthread_mutex_unlock(&qp->lock);
        }
        iwk_pcap_flow_fin(&rec, 0);
        goto fail_fd;
    }
    neg.mpa_rev = m.rev == 2 && m.enhanced ? 2 : (uint8_t)(frame[17] < m.rev ? frame[17] : m.rev);
    qp->rec = rec;
    if (p.first_fpdu_delay_ms > 0) {
        /* Linux siw sends its Reply before it hooks the socket to the QP (siw_accept): an FPDU that
         * arrives in between is left in the socket until more data comes, and the connection
         * stalls. Nothing is sent by a Responder before our first FPDU (RFC 5044 §7.1.2 rule 4,
         * RFC 6581 §9.3), so waiting here loses nothing. */
        struct timespec ts = { .tv_sec = p.first_fpdu_delay_ms / 1000,
                               .tv_nsec = (long)(p.first_fpdu_delay_ms % 1000) * 1000000L };
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
    rc = iwk_qp_start(qp, fd, &neg, 0, act.send_fpdu ? act.fpdu_kind : 0, 0);
    if (rc != 0)
        goto fail_fd;
    return 0;
fail_fd:
    close(fd);
fail:
    pthread_mutex_lock(&qp->lock);
    qp->state = IWK_QPS_ERROR;
    pthread_mutex_unlock(&qp->lock);
    return rc;
}

/* ---- responder ----------------------------------------------------------------------------- */

int iwk_listen(struct iwk_context *ctx, const char *host, uint16_t port, int backlog, struct iwk_listener **out)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
    struct addrinfo *res = NULL;
    char ps[8];
    snprintf(ps, sizeof ps, "%u", port);
    if (getaddrinfo(host, ps, &hints, &res) != 0)
        return -EADDRNOTAVAIL;
    int rc = -EADDRNOTAVAIL;
    int fd = -1;
    for (struct addrinfo *a = res; a != NULL && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            continue;
        int one = 1;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) < 0 || listen(fd, backlog > 0 ? backlog : 128) < 0) {
            rc = -errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return rc;
    struct iwk_listener *l = calloc(1, sizeof *l);
    if (l == NULL) {
        close(fd);
        return -ENOMEM;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    l->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                       : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    l->ctx = ctx;
    l->fd = fd;
    *out = l;
    return 0;
}

uint16_t iwk_listener_port(const struct iwk_listener *l)
{
    return l->port;
}

int iwk_listener_fd(const struct iwk_listener *l)
{
    return l->fd;
}

static void drop_request(struct iwk_conn_request *r)
{
    iwk_pcap_flow_fin(&r->rec, 0);
    close(r->fd);
    free(r);
}

void iwk_listener_close(struct iwk_listener *l)
{
    if (l == NULL)
        return;
    for (uint32_t i = 0; i < l->npend; i++)
        drop_request(l->pend[i]);
    close(l->fd);
    free(l);
}

/* Reads and checks one Request; a malformed one is answered by the machine (close) here. */
/* Reads what has arrived of a pending Request: 1 complete, 0 not yet, -1 closed or failed. */
static int request_read(struct iwk_conn_request *r)
{
    for (;;) {
        size_t need = MPA_FRAME_HDR;
        if (r->frame_have >= MPA_FRAME_HDR) {
            size_t pd = ((size_t)r->frame[18] << 8) | r->frame[19];
            need += pd > IWK_MPA_MAX_PD_LEN ? 0 : pd; /* a longer PD_Length is the parser's to reject */
        }
        if (r->frame_have == need && r->frame_have >= MPA_FRAME_HDR) {
            r->frame_len = need;
            return 1;
        }
        if (r->frame_have >= IWK_MPA_KEY_REQ_LEN && memcmp(r->frame, IWK_MPA_KEY_REQ, IWK_MPA_KEY_REQ_LEN) != 0) {
            r->frame_len = r->frame_have; /* not an MPA Request: the machine closes at once */
            return 1;
        }
        ssize_t n = read(r->fd, r->frame + r->frame_have, need - r->frame_have);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        if (n <= 0)
            return -1;
        r->frame_have += (size_t)n;
    }
}

/* Checks a complete Request; a malformed one is answered by the machine (close) here. */
static int take_request(struct iwk_conn_request *r)
{
    record_rx(&r->rec, r->frame, r->frame_len);
    struct iwk_mpa_responder_input *in = &r->in;
    memset(in, 0, sizeof *in);
    iwk_status st = iwk_mpa_request_parse(r->frame, r->frame_len, &r->req);
    in->valid = st == IWK_OK || (iwk_mpa_request_decode(r->frame, r->frame_len, &r->req) == IWK_OK &&
                                 r->req.rev > 2 && memcmp(r->req.key, IWK_MPA_KEY_REQ, 16) == 0);
    struct iwk_mpa_v2_params v = { 0 };
    int has_v2 = 0;
    const uint8_t *ulp = NULL;
    uint16_t ulp_len = 0;
    if (in->valid) {
        split_pd(r->req.rev, r->req.s, r->req.private_data, r->req.private_data_len, &v, &has_v2, &ulp, &ulp_len);
        if (r->req.rev == 2 && r->req.s && !has_v2)
            in->valid = 0;
    }
    in->p_m = r->req.m;
    in->p_c = r->req.c;
    in->p_s = r->req.s;
    in->p_rev = r->req.rev;
    in->p_p2p = v.p2p;
    in->p_rtr_w = v.rtr_write;
    in->p_rtr_r = v.rtr_read;
    in->p_rtr_s = v.rtr_send;
    in->p_ird = v.ird;
    in->p_ord = v.ord;
    r->info.mpa_rev = r->req.rev;
    r->info.crc = r->req.c;
    r->info.markers = r->req.m;
    r->info.rtr = v.p2p ? (uint8_t)((v.rtr_write ? IWK_RTR_WRITE : 0) | (v.rtr_read ? IWK_RTR_READ : 0) |
                                    (v.rtr_send ? IWK_RTR_SEND : 0))
                        : 0;
    r->info.ird = v.ird;
    r->info.ord = v.ord;
    r->info.private_data = ulp;
    r->info.private_data_len = ulp_len;
    if (!in->valid || r->req.rev > 2) {
        /* the machine closes on these whatever the configuration (RFC 5044 §7.1.2 rule 5) */
        struct iwk_mpa_responder m;
        struct iwk_mpa_responder_actions act;
        iwk_mpa_responder_init(&m);
        iwk_mpa_responder_step(&m, IWK_MPA_RESPONDER_EV_RX_REQUEST, in, &act);
        return -EPROTO;
    }
    return 0;
}

static void pend_remove(struct iwk_listener *l, uint32_t i)
{
    l->pend[i] = l->pend[--l->npend];
}

/* The pending connection to drop for a new one: the oldest that has not sent a complete Request
 * (a trickle of silent connects cannot keep newer clients out), else the oldest. */
static uint32_t pend_victim(const struct iwk_listener *l)
{
    uint32_t v = 0;
    for (uint32_t i = 1; i < l->npend; i++) {
        const struct iwk_conn_request *a = l->pend[i], *b = l->pend[v];
        if (a->ready != b->ready ? !a->ready : a->arrival < b->arrival)
            v = i;
    }
    return v;
}

/* Accepts every waiting connection; when the pending list is full pend_victim's one goes. */
static int accept_all(struct iwk_listener *l, int64_t now)
{
    for (;;) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            return errno == EAGAIN || errno == EINTR || errno == ECONNABORTED ? 0 : -errno;
        tune_socket(fd);
        struct iwk_conn_request *r = calloc(1, sizeof *r);
        if (r == NULL) {
            close(fd);
            return -ENOMEM;
        }
        r->ctx = l->ctx;
        r->fd = fd;
        r->deadline = now + MPA_REQUEST_WAIT_MS;
        r->arrival = l->accepted++;
        iwk_pcap_flow_start(l->ctx->pcap, &r->rec, fd, 0);
        if (l->npend == LISTEN_PENDING) {
            uint32_t v = pend_victim(l);
            drop_request(l->pend[v]);
            pend_remove(l, v);
        }
        l->pend[l->npend++] = r;
    }
}

/* Hands out the longest-waiting valid Request, if any. */
static int take_ready(struct iwk_listener *l, struct iwk_conn_request **out)
{
    uint32_t best = l->npend;
    for (uint32_t i = 0; i < l->npend; i++)
        if (l->pend[i]->ready && (best == l->npend || l->pend[i]->deadline < l->pend[best]->deadline))
            best = i;
    if (best == l->npend)
        return 0;
    *out = l->pend[best];
    pend_remove(l, best);
    return 1;
}

/* Serves every connection at once: a slow or silent client does not hold up the others. */
int iwk_get_request(struct iwk_listener *l, int timeout_ms, struct iwk_conn_request **out)
{
    int64_t deadline = timeout_ms < 0 ? INT64_MAX / 2 : now_ms() + timeout_ms;
    if (take_ready(l, out))
        return 0;
    for (;;) {
        int64_t now = now_ms();
        for (uint32_t i = 0; i < l->npend;) { /* silent too long (RFC 5044 §7.1.2 rule 8) */
            if (!l->pend[i]->ready && l->pend[i]->deadline <= now) {
                drop_request(l->pend[i]);
                pend_remove(l, i);
            } else {
                i++;
            }
        }
        int64_t wake = deadline;
        struct pollfd pfd[1 + LISTEN_PENDING];
        pfd[0] = (struct pollfd){ .fd = l->fd, .events = POLLIN };
        for (uint32_t i = 0; i < l->npend; i++) {
            pfd[1 + i] = (struct pollfd){ .fd = l->pend[i]->ready ? -1 : l->pend[i]->fd, .events = POLLIN };
            if (l->pend[i]->deadline < wake)
                wake = l->pend[i]->deadline;
        }
        if (now >= deadline)
            return -ETIMEDOUT;
        int r = poll(pfd, 1 + l->npend, (int)(wake - now > 60000 ? 60000 : wake - now));
        if (r < 0 && errno != EINTR)
            return -errno;
        if (r <= 0)
            continue;
        uint32_t n = l->npend; /* pfd[1..n] are the connections polled */
        for (uint32_t i = n; i-- > 0;) {
            if (pfd[1 + i].revents == 0)
                continue;
            struct iwk_conn_request *q = l->pend[i];
            int rc = request_read(q);
            if (rc == 0)
                continue;
            if (rc > 0 && take_request(q) == 0) {
                q->ready = 1;
                continue;
            }
            pend_remove(l, i);
            drop_request(q); /* closed, or malformed (RFC 5044 §7.1.2 rule 5) */
        }
        if (pfd[0].revents) {
            int rc = accept_all(l, now);
            if (rc != 0)
                return rc;
        }
        if (take_ready(l, out))
            return 0;
    }
}

const struct iwk_conn_request_info *iwk_conn_request_info(const struct iwk_conn_request *r)
{
    return &r->info;
}

int iwk_conn_request_addrs(const struct iwk_conn_request *r, struct sockaddr_storage *local,
                           struct sockaddr_storage *peer)
{
    return iwk_socket_addrs(r->fd, local, peer);
}

static void responder_config(struct iwk_mpa_responder *m, const struct iwk_conn_param *p)
{
    iwk_mpa_responder_init(m);
    m->rev = p->mpa_rev;
    m->want_m = p->markers ? 1 : 0;
    m->can_markers = p->can_markers ? 1 : 0;
    m->want_c = p->crc == IWK_CRC_REQUIRED;
    m->rtr_w = (p->rtr & IWK_RTR_WRITE) != 0;
    m->rtr_r = (p->rtr & IWK_RTR_READ) != 0;
    m->rtr_s = (p->rtr & IWK_RTR_SEND) != 0;
    if (m->rev == 2 && !m->rtr_w && !m->rtr_r && !m->rtr_s) {
        /* an enhanced Responder supports at least one RTR option (RFC 6581 §9.2) */
        m->rtr_w = m->rtr_r = m->rtr_s = 1;
    }
    m->ird = p->ird;
    m->ord = p->ord;
}

static int send_reply(struct iwk_conn_request *r, const struct iwk_mpa_responder *m, int rej,
                      const void *pd, uint16_t pdl, int64_t deadline)
{
    uint8_t frame[MPA_FRAME_HDR + IWK_MPA_MAX_PD_LEN];
    size_t flen = 0;
    /* C of the Reply: 1 when CRCs will be used (the machine's crc = want_c || C of the Request),
     * not only when we require them. RFC 5044 §7.1.1 makes C=1 in either frame enough, but Linux
     * siw as Initiator with mpa_crc_required refuses a Reply with C=0 (siw_proc_mpareply); siw as
     * Responder echoes the Request's C=1 itself. Same outcome for an RFC peer. */
    struct frame_fields ff = { .m = m->want_m, .c = (uint8_t)(m->want_c || m->crc), .r = (uint8_t)rej,
                               .rev = m->rep_rev ? m->rep_rev : r->req.rev,
                               .p2p = m->p2p_neg, .rtr_w = m->offer_w, .rtr_r = m->offer_r, .rtr_s = m->offer_s,
                               .ird = m->rep_ird, .ord = m->rep_ord, .pd = pd, .pd_len = pdl };
    int rc = build_frame(1, &ff, frame, sizeof frame, &flen);
    struct iovec v = { .iov_base = frame, .iov_len = flen };
    if (rc == 0)
        rc = write_all(r->fd, &v, 1, deadline);
    if (rc == 0)
        record_tx(&r->rec, frame, flen);
    return rc;
}

int iwk_reject(struct iwk_conn_request *r, const void *private_data, uint16_t len)
{
    struct iwk_mpa_responder m;
    struct iwk_mpa_responder_actions act;
    struct iwk_conn_param p;
    param_defaults(&p);
    p.mpa_rev = r->req.rev == 1 ? 1 : 2;
    responder_config(&m, &p);
    iwk_mpa_responder_step(&m, IWK_MPA_RESPONDER_EV_RX_REQUEST, &r->in, &act);
    struct iwk_mpa_responder_input none = { 0 };
    iwk_mpa_responder_step(&m, IWK_MPA_RESPONDER_EV_ULP_REJECT, &none, &act);
    int rc = 0;
    if (act.send_reply)
        rc = send_reply(r, &m, act.reply_r, private_data, len, now_ms() + MPA_DEFAULT_TIMEOUT_MS);
    /* MPA is exited and TCP stays open for the ULP (RFC 5044 §7.1.2 rule 6); this API has no
     * use for it afterwards, so it closes gracefully. */
    iwk_pcap_flow_fin(&r->rec, 0);
    shutdown(r->fd, SHUT_WR);
    close(r->fd);
    free(r);
    return rc;
}

int iwk_accept(struct iwk_conn_request *r, struct iwk_qp *qp, const struct iwk_conn_param *p0)
{
    struct iwk_conn_param p = effective(p0);
    int rc = check_param(&p);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&qp->lock);
    int busy = qp->state != IWK_QPS_IDLE;
    if (!busy)
        qp->state = IWK_QPS_CONNECTING;
    pthread_mutex_unlock(&qp->lock);
    if (busy)
        return -EISCONN;
    int64_t deadline = now_ms() + p.timeout_ms;
    (void)set_buffers(r->fd, p.socket_buffer); /* a limit, not a requirement: if refused, autotuning stays */
    struct iwk_mpa_responder *m = &qp->mresp;
    struct iwk_mpa_responder_actions act;
    responder_config(m, &p);
    iwk_mpa_responder_step(m, IWK_MPA_RESPONDER_EV_RX_REQUEST, &r->in, &act);
    if (act.send_reply) /* refused at once (Markers we cannot send): R=1 */
        (void)send_reply(r, m, act.reply_r, NULL, 0, deadline);
    if (m->state != IWK_MPA_RESPONDER_WAIT_ULP) {
        rc = report_errno(act.report);
        set_reason(qp, rc, report_text(act.report));
        goto fail;
    }
    struct iwk_mpa_responder_input none = { 0 };
    iwk_mpa_responder_step(m, IWK_MPA_RESPONDER_EV_ULP_ACCEPT, &none, &act);
    rc = send_reply(r, m, act.reply_r, p.private_data, p.private_data_len, deadline);
    if (rc != 0) {
        set_reason(qp, rc, "could not send the MPA Reply");
        goto fail;
    }
    if (r->info.private_data_len > 0) {
        pthread_mutex_lock(&qp->lock);
        memcpy(qp->info.peer_private_data, r->info.private_data, r->info.private_data_len);
        qp->info.peer_private_data_len = r->info.private_data_len;
        pthread_mutex_unlock(&qp->lock);
    }
    struct iwk_qp_info neg = { 0 };
    neg.mpa_rev = m->rep_rev;
    neg.crc = m->crc;
    neg.tx_markers = m->tx_markers;
    neg.rx_markers = m->rx_markers;
    neg.ird = m->neg_ird;
    neg.ord = m->neg_ord;
    qp->rec = r->rec;
    rc = iwk_qp_start(qp, r->fd, &neg, 1, 0, 0);
    if (rc != 0)
        goto fail;
    if (m->p2p_neg) /* WAIT_RTR TIMEOUT of the machine: no RTR in time */
        (void)iwk_qp_arm_rtr_timer(qp, p.timeout_ms);
    free(r);
    return 0;
fail:
    iwk_pcap_flow_fin(&r->rec, 0);
    close(r->fd);
    free(r);
    pthread_mutex_lock(&qp->lock);
    qp->state = IWK_QPS_ERROR;
    pthread_mutex_unlock(&qp->lock);
    return rc;
}
