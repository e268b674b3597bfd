/* runtime/ddp_rx.c - the receive side of the iwkit runtime, run by the progress thread:
 * FPDU framing (RFC 5044 §4), DDP segment checks and placement (RFC 5041 §5, §7: tagged STag/TO,
 * untagged QN/MSN/MO), RDMAP message handling (RFC 5040 §5, RFC 7306) and the RFC 5042 checks.
 * Headers are read first (an untagged segment's MO included). Without CRC, payload goes straight
 * from the socket into the target memory (the registered region of a tagged segment, the posted
 * receive buffer of an untagged one), after the header has been checked; with CRC, the FPDU is
 * staged and verified first, then the header checked and the payload placed (RFC 5044 §6). Any
 * error ends the stream with the Terminate that names it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "iwk_ddp.h"
#include "iwk_internal.h"
#include "iwk_rdmap.h"
#include "iwkit/crc32c.h"

/* Terminate codes: layer << 12 | type << 8 | code (RFC 5040 §4.8, RFC 6580 §3). */
#define TERM(l, t, c) ((uint16_t)(((l) << 12) | ((t) << 8) | (c)))
#define T_RDMAP_PROT(c) TERM(0, 1, c)
#define T_RDMAP_OP(c) TERM(0, 2, c)
#define T_DDP_CAT TERM(1, 0, 0)
#define T_DDP_TAGGED(c) TERM(1, 1, c)
#define T_DDP_UNTAGGED(c) TERM(1, 2, c)
#define T_MPA(c) TERM(2, 0, c)

static uint16_t stag_term(enum iwk_stag_check c)
{
    switch (c) {
    case IWK_STAG_OTHER_PD: return T_RDMAP_PROT(IWK_RDMAP_TERM_PROT_STAG_NOT_ASSOC);
    case IWK_STAG_ACCESS: return T_RDMAP_PROT(IWK_RDMAP_TERM_PROT_ACCESS_RIGHTS);
    case IWK_STAG_BOUNDS: return T_RDMAP_PROT(IWK_RDMAP_TERM_PROT_BASE_BOUNDS);
    case IWK_STAG_WRAP: return T_RDMAP_PROT(IWK_RDMAP_TERM_PROT_TO_WRAP);
    default: return T_RDMAP_PROT(IWK_RDMAP_TERM_PROT_INVALID_STAG);
    }
}

/* A tagged segment (RDMA Write, Read Response) that cannot be placed: RFC 5040 §4.8 Figure 10 gives
 * RDMAP Remote Protection Errors to Read Requests and Sends with Invalidate only; placement checks
 * are DDP Tagged Buffer Errors (RFC 5041 §7.2). DDP has no access-rights code: a region that does
 * not allow the access is an invalid STag for it (as siw reports it). */
static uint16_t tagged_term(enum iwk_stag_check c)
{
    switch (c) {
    case IWK_STAG_OTHER_PD: return T_DDP_TAGGED(IWK_RDMAP_TERM_DDP_T_STAG_NOT_ASSOC);
    case IWK_STAG_BOUNDS: return T_DDP_TAGGED(IWK_RDMAP_TERM_DDP_T_BASE_BOUNDS);
    case IWK_STAG_WRAP: return T_DDP_TAGGED(IWK_RDMAP_TERM_DDP_T_TO_WRAP);
    default: return T_DDP_TAGGED(IWK_RDMAP_TERM_DDP_T_INVALID_STAG);
    }
}

static const char *stag_text(enum iwk_stag_check c)
{
    switch (c) {
    case IWK_STAG_OTHER_PD: return "STag of another protection domain";
    case IWK_STAG_ACCESS: return "STag lacks the access right";
    case IWK_STAG_BOUNDS: return "Tagged Offset and length outside the region";
    case IWK_STAG_WRAP: return "Tagged Offset plus length wraps";
    default: return "unknown or invalidated STag";
    }
}

static uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* ---- errors -------------------------------------------------------------------------------- */

/* The stream is in error: the machine decides on the Terminate (code = what we found). */
static int rx_fail(struct iwk_qp *qp, uint16_t code, const char *why)
{
    struct iwk_rx *rx = &qp->rx;
    uint8_t bad[IWK_DDP_UNTAGGED_HLEN + IWK_CTRL_MAX];
    uint32_t bad_len = 0;
    /* the segment in error (D bit) and a Read Request's header (R bit), also for errors found once
     * the segment is in (RFC 5040 §7.1 items 2, 3); none for LLP errors (§4.8 Figure 10) */
    if (rx->seg_hdr_len > 0 && (code >> 12) != 2u) {
        memcpy(bad, rx->seg_hdr, rx->seg_hdr_len);
        bad_len = rx->seg_hdr_len;
        if (!rx->tagged && rx->opcode == IWK_RDMAP_OP_RDMA_READ_REQ && rx->got >= IWK_RDMAP_READ_REQUEST_LEN) {
            memcpy(bad + bad_len, rx->ctrl, IWK_RDMAP_READ_REQUEST_LEN);
            bad_len += IWK_RDMAP_READ_REQUEST_LEN;
        }
    }
    pthread_mutex_lock(&qp->lock);
    if (qp->info.error == 0) {
        qp->info.error = -EPROTO;
        snprintf(qp->info.reason, sizeof qp->info.reason, "Terminate sent (%u/%u/0x%02x): %s", code >> 12,
                 (code >> 8) & 0xFu, code & 0xFFu, why);
    }
    qp->term_seg_len = rx->ulpdu_len;
    if (iwk_qp_event(qp, IWK_RDMAP_QP_EV_LOCAL_ERROR, code, bad, bad_len, why) != 0)
        iwk_tx_pump(qp);
    pthread_mutex_unlock(&qp->lock);
    rx->phase = RX_DEAD;
    return 1;
}

/* ---- destinations -------------------------------------------------------------------------- */

static void set_dst_one(struct iwk_rx *rx, uint8_t *p, uint32_t len)
{
    rx->dst[0].iov_base = p;
    rx->dst[0].iov_len = len;
    rx->ndst = 1;
}

/* An RDMA Write's payload: the Data Sink gets no completion for it (RFC 5040 §5.1), so an
 * application may wait in memory for its last octet, in another thread than this one. That octet
 * is read into rx->write_last_octet and stored last, with a release store, once the segment's CRC
 * and Markers checked (body_done): an acquire load that sees it sees the whole message. */
static void set_dst_write(struct iwk_rx *rx, uint8_t *p, uint32_t len)
{
    set_dst_one(rx, p, len);
    if (!rx->last)
        return;
    rx->dst[0].iov_len = len - 1u;
    rx->dst[1].iov_base = &rx->write_last_octet;
    rx->dst[1].iov_len = 1;
    rx->ndst = 2;
    rx->write_last = p + len - 1u;
}

/* [off, off + len) of a receive buffer's pieces. */
static void set_dst_slice(struct iwk_rx *rx, const struct iwk_recv_entry *e, uint64_t off, uint32_t len)
{
    int n = 0;
    for (int i = 0; i < e->ndst && len > 0; i++) {
        if (off >= e->dst[i].iov_len) {
            off -= e->dst[i].iov_len;
            continue;
        }
        size_t k = e->dst[i].iov_len - (size_t)off;
        if (k > len)
            k = len;
        rx->dst[n].iov_base = (uint8_t *)e->dst[i].iov_base + off;
        rx->dst[n].iov_len = k;
        n++;
        len -= (uint32_t)k;
        off = 0;
    }
    rx->ndst = n;
}

/* The oldest Read or atomic still waiting for its response. */
static struct iwk_job *oldest_read(struct iwk_qp *qp)
{
    for (struct iwk_job *j = qp->sq_head; j != NULL; j = j->next) {
        enum iwk_wr_opcode op = j->wr.opcode;
        if (!j->done && (op == IWK_WR_RDMA_READ || op == IWK_WR_FETCH_ADD || op == IWK_WR_CMP_SWAP))
            return j->issued ? j : NULL;
    }
    return NULL;
}

static int rtr_mode(const struct iwk_qp *qp)
{
    return qp->rx.rtr_pending && qp->mresp.p2p_neg;
}

/* ---- a segment's header is in: check it and choose where its payload goes ------------------- */

static int begin_tagged(struct iwk_qp *qp)
{
    struct iwk_rx *rx = &qp->rx;
    if (rx->plen == 0)
        return 0; /* nothing is placed: a zero-length Write or Read Response (RTR, RFC 6581 §9.2) */
    if (rx->opcode == IWK_RDMAP_OP_RDMA_WRITE) {
        if (rtr_mode(qp))
            return rx_fail(qp, IWK_MPA_TERM_NO_MATCHING_RTR, "peer-to-peer: first FPDU is not an RTR");
        uint8_t *p = NULL;
        enum iwk_stag_check c = iwk_stag_resolve(qp->ctx, qp->pd, rx->stag, rx->to, rx->plen,
                                                 IWK_ACCESS_REMOTE_WRITE, &p);
        if (c != IWK_STAG_OK)
            return rx_fail(qp, tagged_term(c), stag_text(c));
        set_dst_write(rx, p, rx->plen);
        return 0;
    }
    /* Read Response: it belongs to the oldest outstanding Read (RFC 5040 §5.2.2) */
    pthread_mutex_lock(&qp->lock);
    struct iwk_job *j = oldest_read(qp);
    uint16_t code = 0;
    const char *why = NULL;
    uint8_t *p = NULL;
    if (j == NULL || j->wr.opcode != IWK_WR_RDMA_READ) {
        code = T_RDMAP_OP(IWK_RDMAP_TERM_OPER_UNEXPECTED_OPCODE);
        why = "RDMA Read Response without an outstanding Read";
    } else if (j->wr.num_sge == 0 || rx->stag != j->wr.sg_list[0].lkey) {
        code = T_DDP_TAGGED(IWK_RDMAP_TERM_DDP_T_INVALID_STAG);
        why = "Read Response to another Data Sink STag";
    } else if (rx->to != j->wr.sg_list[0].addr + j->got || j->got + rx->plen > j->len) {
        code = T_DDP_TAGGED(IWK_RDMAP_TERM_DDP_T_BASE_BOUNDS);
        why = "Read Response outside the Data Sink buffer";
    } else {
        enum iwk_stag_check c = iwk_stag_resolve(qp->ctx, qp->pd, rx->stag, rx->to, rx->plen,
                                                 IWK_ACCESS_LOCAL_WRITE, &p);
        if (c != IWK_STAG_OK) {
            code = tagged_term(c);
            why = stag_text(c);
        }
    }
    pthread_mutex_unlock(&qp->lock);
    if (code != 0)
        return rx_fail(qp, code, why);
    set_dst_one(rx, p, rx->plen);
    return 0;
}

static int begin_send(struct iwk_qp *qp)
{
    struct iwk_rx *rx = &qp->rx;
    if (rtr_mode(qp)) {
        if (rx->plen == 0 && rx->opcode == IWK_RDMAP_OP_SEND)
            return 0; /* the Send RTR: no receive buffer is used (RFC 6581 §9.3) */
        return rx_fail(qp, IWK_MPA_TERM_NO_MATCHING_RTR, "peer-to-peer: first FPDU is not an RTR");
    }
    int imm = rx->opcode == IWK_RDMAP_OP_IMM_DATA || rx->opcode == IWK_RDMAP_OP_IMM_DATA_SE;
    if (imm && rx->plen != 8u)
        return rx_fail(qp, T_RDMAP_OP(IWK_RDMAP_TERM_OPER_UNSPECIFIED), "Immediate Data is not 8 octets (RFC 7306 §6.3)");
    if (!rx->cur_recv_valid) {
        if (rx->mo != 0)
            return rx_fail(qp, T_DDP_UNTAGGED(IWK_RDMAP_TERM_DDP_UT_INVALID_MO), "first segment of a message with MO != 0");
        pthread_mutex_lock(&qp->lock);
        if (qp->rq_count > 0) {
            iwk_rq_get(qp, qp->rq_head, &rx->cur_recv);
            qp->rq_head = (qp->rq_head + 1u) % qp->max_recv_wr;
            qp->rq_count--;
            rx->cur_recv_valid = 1;
            rx->msg_len = 0;
        }
        pthread_mutex_unlock(&qp->lock);
        if (!rx->cur_recv_valid)
            return rx_fail(qp, T_DDP_UNTAGGED(IWK_RDMAP_TERM_DDP_UT_MSN_NO_BUFFER), "Send without a posted receive buffer");
    }
    if (rx->mo != rx->msg_len)
        return rx_fail(qp, T_DDP_UNTAGGED(IWK_RDMAP_TERM_DDP_UT_INVALID_MO), "Message Offset out of sequence");
    if (imm) {
        set_dst_one(rx, rx->ctrl, rx->plen);
        return 0;
    }
    if ((uint64_t)rx->mo + rx->plen > rx->cur_recv.len) {
        /* that receive completes with a length error (verbs.h IWK_WC_LOC_LEN_ERR), not a flush */
        pthread_mutex_lock(&qp->lock);
        if (rx->cur_recv_valid) {
            struct iwk_wc wc = { .wr_id = rx->cur_recv.wr_id, .status = IWK_WC_LOC_LEN_ERR, .opcode = IWK_WC_RECV,
                                 .byte_len = (uint32_t)rx->msg_len, .qp = qp };
            rx->cur_recv_valid = 0;
            iwk_cq_push(qp->recv_cq, &wc, 0);
        }
        pthread_mutex_unlock(&qp->lock);
        return rx_fail(qp, T_DDP_UNTAGGED(IWK_RDMAP_TERM_DDP_UT_MSG_TOO_LONG), "Send longer than the posted receive buffer");
    }
    set_dst_slice(rx, &rx->cur_recv, rx->mo, rx->plen);
    return 0;
}

/* Read Request, atomics, Terminate: their RDMAP header is read into rx->ctrl. */
static int begin_ctrl(struct iwk_qp *qp, uint32_t want_min, uint32_t want_max)
{
    struct iwk_rx *rx = &qp->rx;
    if (rx->plen < want_min || rx->plen > want_max)
        return rx_fail(qp, T_RDMAP_OP(IWK_RDMAP_TERM_OPER_UNSPECIFIED), "RDMAP header of the wrong length");
    if (rtr_mode(qp) && rx->opcode != IWK_RDMAP_OP_RDMA_READ_REQ && rx->opcode != IWK_RDMAP_OP_TERMINATE)
        return rx_fail(qp, IWK_MPA_TERM_NO_MATCHING_RTR, "peer-to-peer: first FPDU is not an RTR");
    set_dst_one(rx, rx->ctrl, rx->plen);
    return 0;
}

/* Checks the DDP and RDMAP header of the segment in rx->head and sets its destination. */
static int begin_segment(struct iwk_qp *qp)
{
    struct iwk_rx *rx = &qp->rx;
    const uint8_t *h = rx->head + 2;
    memcpy(rx->seg_hdr, h, rx->hdr_len);
    rx->seg_hdr_len = rx->hdr_len;
    rx->tagged = (h[0] >> 7) & 1u;
    rx->last = (h[0] >> 6) & 1u;
    rx->opcode = h[1] & 0xFu;
    rx->plen = rx->ulpdu_len - rx->hdr_len;
    rx->got = 0;
    rx->ndst = 0;
    rx->write_last = NULL;
    if ((h[0] & 3u) != IWK_DDP_VERSION)
        return rx_fail(qp, rx->tagged ? T_DDP_TAGGED(IWK_RDMAP_TERM_DDP_T_INVALID_VERSION)
                                      : T_DDP_UNTAGGED(IWK_RDMAP_TERM_DDP_UT_INVALID_VERSION), "DDP version is not 1");
    if ((h[1] >> 6) != IWK_RDMAP_VERSION)
        return rx_fail(qp, T_RDMAP_OP(IWK_RDMAP_TERM_OPER_INVALID_VERSION), "RDMAP version is not 1");
    const struct iwk_rdmap_opcode_info *oi = &iwk_rdmap_opcode_info[rx->opcode];
    if (!oi->valid || oi->tagged != rx->tagged)
        return rx_fail(qp, T_RDMAP_OP(IWK_RDMAP_TERM_OPER_UNEXPECTED_OPCODE), "unknown opcode or wrong T bit");
    if (rx->tagged) {
        rx->stag = be32(h + 2);
        rx->to = ((uint64_t)be32(h + 6) << 32) | be32(h + 10);
    } else {
        rx->inv_stag = be32(h + 2);
        rx->qn = be32(h + 6);
        rx->msn = be32(h + 10);
        rx->mo = be32(h + 14);
        if (rx->qn >= IWK_NQN)
            return rx_fail(qp, T_DDP_UNTAGGED(IWK_RDMAP_TERM_DDP_UT_INVALID_QN), "Queue Number not valid");
        if (rx->qn != oi->qn)
            return rx_fail(qp, T_DDP_UNTAGGED(IWK_RDMAP_TERM_DDP_UT_INVALID_QN), "opcode on the wrong queue");
        if (rx->msn != rx->expect_msn[rx->qn])
            return rx_fail(qp, T_DDP_UNTAGGED(IWK_RDMAP_TERM_DDP_UT_MSN_RANGE), "MSN out of sequence");
        if (!rx->last && rx->qn != IWK_QN_SEND)
            return rx_fail(qp, T_RDMAP_OP(IWK_RDMAP_TERM_OPER_UNSPECIFIED), "control message in several segments");
        if (rx->qn != IWK_QN_SEND && rx->mo != 0)
            return rx_fail(qp, T_DDP_UNTAGGED(IWK_RDMAP_TERM_DDP_UT_INVALID_MO), "control message with MO != 0");
    }
    pthread_mutex_lock(&qp->lock);
    int live = qp->fsm.state == IWK_RDMAP_QP_RTS || qp->fsm.state == IWK_RDMAP_QP_CLOSING;
    pthread_mutex_unlock(&qp->lock);
    if (!live) {
        rx->phase = RX_DEAD; /* after a Terminate nothing is placed (RFC 5040 §5.4) */
        return 1;
    }
    switch (rx->opcode) {
    case IWK_RDMAP_OP_RDMA_WRITE:
    case IWK_RDMAP_OP_RDMA_READ_RESP:
        return begin_tagged(qp);
    case IWK_RDMAP_OP_SEND: case IWK_RDMAP_OP_SEND_INV: case IWK_RDMAP_OP_SEND_SE: case IWK_RDMAP_OP_SEND_SE_INV:
    case IWK_RDMAP_OP_IMM_DATA: case IWK_RDMAP_OP_IMM_DATA_SE:
        return begin_send(qp);
    case IWK_RDMAP_OP_RDMA_READ_REQ:
        return begin_ctrl(qp, IWK_RDMAP_READ_REQUEST_LEN, IWK_RDMAP_READ_REQUEST_LEN);
    case IWK_RDMAP_OP_ATOMIC_REQ:
        return begin_ctrl(qp, 52u, 52u);
    case IWK_RDMAP_OP_ATOMIC_RESP:
        return begin_ctrl(qp, 12u, 12u);
    default: /* Terminate */
        return begin_ctrl(qp, 4u, IWK_CTRL_MAX);
    }
}

/* ---- a whole segment is in and its CRC checked: act on it ----------------------------------- */

static void complete_recv(struct iwk_qp *qp, enum iwk_wc_opcode op, uint32_t flags, uint32_t inv, uint64_t imm,
                          int solicited)
{
    struct iwk_rx *rx = &qp->rx;
    struct iwk_wc wc = { .wr_id = rx->cur_recv.wr_id, .status = IWK_WC_SUCCESS, .opcode = op,
                         .byte_len = (uint32_t)rx->msg_len, .flags = flags, .invalidated_rkey = inv,
                         .imm_data = imm, .qp = qp };
    rx->cur_recv_valid = 0;
    rx->msg_len = 0;
    iwk_cq_push(qp->recv_cq, &wc, solicited);
}

static int finish_send(struct iwk_qp *qp)
{
    struct iwk_rx *rx = &qp->rx;
    const uint8_t op = rx->opcode;
    if (rtr_mode(qp))
        return 0;
    rx->msg_len += rx->plen;
    if (!rx->last)
        return 0;
    rx->expect_msn[IWK_QN_SEND]++;
    int se = op == IWK_RDMAP_OP_SEND_SE || op == IWK_RDMAP_OP_SEND_SE_INV || op == IWK_RDMAP_OP_IMM_DATA_SE;
    uint32_t flags = se ? IWK_WC_WITH_SE : 0u;
    if (op == IWK_RDMAP_OP_IMM_DATA || op == IWK_RDMAP_OP_IMM_DATA_SE) {
        uint64_t imm;
        memcpy(&imm, rx->ctrl, 8);
        rx->msg_len = 0;
        complete_recv(qp, IWK_WC_RECV_IMM, flags | IWK_WC_WITH_IMM, 0, imm, se);
        return 0;
    }
    if (op == IWK_RDMAP_OP_SEND_INV || op == IWK_RDMAP_OP_SEND_SE_INV) {
        /* RFC 5040 §5.3: invalidate the named STag, which must be of this stream's PD */
        if (iwk_stag_invalidate(qp->ctx, qp->pd, rx->inv_stag) != 0)
            return rx_fail(qp, T_RDMAP_OP(IWK_RDMAP_TERM_OPER_STAG_CANNOT_INV), "Send with Invalidate: STag cannot be invalidated");
        flags |= IWK_WC_WITH_INV;
    }
    complete_recv(qp, IWK_WC_RECV, flags, rx->inv_stag, 0, se);
    return 0;
}

static int finish_read_resp(struct iwk_qp *qp)
{
    struct iwk_rx *rx = &qp->rx;
    if (rx->rtr_resp_pending && rx->plen == 0) {
        rx->rtr_resp_pending = 0; /* the answer to our Read RTR (RFC 6581 §9.3) */
        return 0;
    }
    pthread_mutex_lock(&qp->lock);
    struct iwk_job *j = oldest_read(qp);
    if (j == NULL || j->wr.opcode != IWK_WR_RDMA_READ) {
        pthread_mutex_unlock(&qp->lock);
        return rx_fail(qp, T_RDMAP_OP(IWK_RDMAP_TERM_OPER_UNEXPECTED_OPCODE), "RDMA Read Response without an outstanding Read");
    }
    j->got += rx->plen;
    int rc = 0;
    if (rx->last) {
        if (j->got != j->len) {
            pthread_mutex_unlock(&qp->lock);
            return rx_fail(qp, T_RDMAP_OP(IWK_RDMAP_TERM_OPER_UNSPECIFIED), "Read Response shorter than the Read");
        }
        if (iwk_qp_event(qp, IWK_RDMAP_QP_EV_RX_READ_RESP, 0, NULL, 0, NULL) != 0 && qp->fsm.state != IWK_RDMAP_QP_TERMINATE) {
            j->done = 1;
            j->status = IWK_WC_SUCCESS;
            iwk_qp_reap(qp);
            iwk_tx_pump(qp); /* a Read waiting for ORD may go now */
        }
    }
    pthread_mutex_unlock(&qp->lock);
    return rc;
}

/* Responds to an RDMA Read Request (RFC 5040 §5.2.1, §7.2). */
static int finish_read_req(struct iwk_qp *qp)
{
    struct iwk_rx *rx = &qp->rx;
    struct iwk_rdmap_read_request rr;
    (void)iwk_rdmap_read_request_decode(rx->ctrl, rx->plen, &rr);
    rx->expect_msn[IWK_QN_READ]++;
    pthread_mutex_lock(&qp->lock);
    if (iwk_qp_event(qp, IWK_RDMAP_QP_EV_RX_READ_REQ, 0, rx->seg_hdr, rx->seg_hdr_len, "more Read Requests than IRD") == 0 ||
        qp->fsm.state != IWK_RDMAP_QP_RTS) {
        iwk_tx_pump(qp);
        pthread_mutex_unlock(&qp->lock);
        rx->phase = RX_DEAD;
        return 1;
    }
    pthread_mutex_unlock(&qp->lock);
    uint8_t *src = NULL;
    if (rr.read_size > 0) {
        enum iwk_stag_check c = iwk_stag_resolve(qp->ctx, qp->pd, rr.src_stag, rr.src_to, rr.read_size,
                                                 IWK_ACCESS_REMOTE_READ, &src);
        if (c != IWK_STAG_OK)
            return rx_fail(qp, stag_term(c), stag_text(c));
    }
    struct iwk_job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return rx_fail(qp, T_RDMAP_OP(IWK_RDMAP_TERM_OPER_CATASTROPHIC_STREAM), "out of memory");
    j->kind = IWK_JOB_READ_RESP;
    j->sink_stag = rr.sink_stag;
    j->sink_to = rr.sink_to;
    j->src[0].iov_base = src;
    j->src[0].iov_len = rr.read_size;
    j->nsrc = 1;
    j->len = rr.read_size;
    j->counts_ird = 1;
    pthread_mutex_lock(&qp->lock);
    if (qp->resp_tail != NULL)
        qp->resp_tail->next = j;
    else
        qp->resp_head = j;
    qp->resp_tail = j;
    iwk_tx_pump(qp);
    pthread_mutex_unlock(&qp->lock);
    return 0;
}

/* RFC 7306 §5.1.1: FetchAdd; a 1 in the Add Mask ends a field (no carry out of that bit). */
static uint64_t masked_add(uint64_t a, uint64_t b, uint64_t mask)
{
    if (mask == 0)
        return a + b;
    uint64_t r = 0, carry = 0;
    for (unsigned i = 0; i < 64; i++) {
        uint64_t x = (a >> i) & 1u, y = (b >> i) & 1u;
        uint64_t s = x ^ y ^ carry;
        carry = (x & y) | (x & carry) | (y & carry);
        if ((mask >> i) & 1u)
            carry = 0;
        r |= s << i;
    }
    return r;
}

static uint64_t do_atomic(uint64_t *target, const struct iwk_rdmap_atomic_request *ar)
{
    uint64_t old = __atomic_load_n(target, __ATOMIC_SEQ_CST);
    for (;;) {
        uint64_t nv;
        if (ar->aopcode == IWK_RDMAP_AOP_FETCH_ADD)
            nv = masked_add(old, ar->add_swap_data, ar->add_swap_mask);
        else if (((old ^ ar->compare_data) & ar->compare_mask) == 0)
            nv = (old & ~ar->add_swap_mask) | (ar->add_swap_data & ar->add_swap_mask);
        else
            nv = old;
        if (__atomic_compare_exchange_n(target, &old, nv, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            return old;
    }
}

static int finish_atomic_req(struct iwk_qp *qp)
{
    struct iwk_rx *rx = &qp->rx;
    struct iwk_rdmap_atomic_request ar;
    iwk_status st = iwk_rdmap_atomic_request_parse(rx->ctrl, rx->plen, &ar);
    rx->expect_msn[IWK_QN_READ]++;
    if (st != IWK_OK)
        return rx_fail(qp, T_RDMAP_OP(IWK_RDMAP_TERM_OPER_UNEXPECTED_OPCODE), "unsupported atomic operation (RFC 7306 §5.2.1)");
    pthread_mutex_lock(&qp->lock);
    if (iwk_qp_event(qp, IWK_RDMAP_QP_EV_RX_READ_REQ, 0, rx->seg_hdr, rx->seg_hdr_len, "more atomics than IRD") == 0 ||
        qp->fsm.state != IWK_RDMAP_QP_RTS) {
        iwk_tx_pump(qp);
        pthread_mutex_unlock(&qp->lock);
        rx->phase = RX_DEAD;
        return 1;
    }
    pthread_mutex_unlock(&qp->lock);
    uint8_t *p = NULL;
    enum iwk_stag_check c = iwk_stag_resolve(qp->ctx, qp->pd, ar.remote_stag, ar.remote_to, 8u,
                                             IWK_ACCESS_REMOTE_ATOMIC, &p);
    if (c != IWK_STAG_OK)
        return rx_fail(qp, stag_term(c), stag_text(c));
    if (((uintptr_t)p & 7u) != 0)
        return rx_fail(qp, T_RDMAP_OP(IWK_RDMAP_TERM_OPER_CATASTROPHIC_STREAM), "atomic target not 64-bit aligned (RFC 7306 §8.2)");
    uint64_t old = do_atomic((uint64_t *)(void *)p, &ar);
    struct iwk_job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return rx_fail(qp, T_RDMAP_OP(IWK_RDMAP_TERM_OPER_CATASTROPHIC_STREAM), "out of memory");
    j->kind = IWK_JOB_ATOMIC_RESP;
    struct iwk_rdmap_atomic_response resp = { .orig_req_id = ar.req_id, .orig_value = old };
    (void)iwk_rdmap_atomic_response_serialize(&resp, j->ctrl, sizeof j->ctrl);
    j->ctrl_len = 12;
    j->counts_ird = 1;
    pthread_mutex_lock(&qp->lock);
    if (qp->resp_tail != NULL)
        qp->resp_tail->next = j;
    else
        qp->resp_head = j;
    qp->resp_tail = j;
    iwk_tx_pump(qp);
    pthread_mutex_unlock(&qp->lock);
    return 0;
}

static int finish_atomic_resp(struct iwk_qp *qp)
{
    struct iwk_rx *rx = &qp->rx;
    struct iwk_rdmap_atomic_response resp;
    (void)iwk_rdmap_atomic_response_decode(rx->ctrl, rx->plen, &resp);
    rx->expect_msn[IWK_QN_ATOMIC_RESP]++;
    pthread_mutex_lock(&qp->lock);
    struct iwk_job *j = oldest_read(qp);
    if (j == NULL || j->wr.opcode == IWK_WR_RDMA_READ || j->req_id != resp.orig_req_id) {
        pthread_mutex_unlock(&qp->lock);
        return rx_fail(qp, T_RDMAP_OP(IWK_RDMAP_TERM_OPER_UNEXPECTED_OPCODE), "Atomic Response without a matching request");
    }
    memcpy(j->result, &resp.orig_value, 8);
    if (iwk_qp_event(qp, IWK_RDMAP_QP_EV_RX_READ_RESP, 0, NULL, 0, NULL) != 0 && qp->fsm.state != IWK_RDMAP_QP_TERMINATE) {
        j->done = 1;
        j->status = IWK_WC_SUCCESS;
        iwk_qp_reap(qp);
        iwk_tx_pump(qp);
    }
    pthread_mutex_unlock(&qp->lock);
    return 0;
}

/* The work request of ours that a Terminate names in its Terminated DDP Header (RFC 5040 §4.8, §7.1):
 * an RDMA Read or atomic by its MSN on queue 1, a Send by its MSN on queue 0, an RDMA Write by STag
 * and Tagged Offset. Only one that has not completed can be named; NULL when none is. */
static struct iwk_job *term_names(struct iwk_qp *qp, const struct iwk_rdmap_terminate *t)
{
    const uint8_t *h = t->term_ddp_rest;
    for (struct iwk_job *j = qp->sq_head; j != NULL; j = j->next) {
        enum iwk_wr_opcode op = j->wr.opcode;
        if (j->done || !j->issued)
            continue;
        if (t->term_t == 0 && t->term_ddp_rest_len >= 12u) {
            uint32_t qn = be32(h + 4), msn = be32(h + 8);
            int rd = op == IWK_WR_RDMA_READ || op == IWK_WR_FETCH_ADD || op == IWK_WR_CMP_SWAP;
            int snd = op == IWK_WR_SEND || op == IWK_WR_SEND_INV;
            if (((qn == IWK_QN_READ && rd) || (qn == IWK_QN_SEND && snd)) && j->msn == msn)
                return j;
        } else if (t->term_t == 1 && t->term_ddp_rest_len >= 12u && t->term_opcode == IWK_RDMAP_OP_RDMA_WRITE &&
                   (op == IWK_WR_RDMA_WRITE || op == IWK_WR_WRITE_IMM) && j->phase == 0) {
            uint64_t to = ((uint64_t)be32(h + 4) << 32) | be32(h + 8);
            uint64_t span = j->len > 0 ? j->len : 1u;
            if (be32(h) == j->wr.rkey && to >= j->wr.remote_addr && to - j->wr.remote_addr < span)
                return j;
        }
    }
    return NULL;
}

static int finish_terminate(struct iwk_qp *qp)
{
    struct iwk_rx *rx = &qp->rx;
    struct iwk_rdmap_terminate t;
    iwk_status st = iwk_rdmap_terminate_parse(rx->ctrl, rx->plen, &t);
    pthread_mutex_lock(&qp->lock);
    qp->info.term_received = 1;
    qp->info.term_layer = st == IWK_OK ? t.elayer : (uint8_t)(rx->ctrl[0] >> 4);
    qp->info.term_etype = st == IWK_OK ? t.etype : (uint8_t)(rx->ctrl[0] & 0xFu);
    qp->info.term_ecode = st == IWK_OK ? t.ecode : rx->ctrl[1];
    if (qp->info.error == 0) {
        qp->info.error = -ECONNABORTED;
        snprintf(qp->info.reason, sizeof qp->info.reason, "Terminate received (%u/%u/0x%02x)%s",
                 qp->info.term_layer, qp->info.term_etype, qp->info.term_ecode,
                 st == IWK_OK ? "" : " (malformed header)");
    }
    if (st == IWK_OK && t.d && (qp->fsm.state == IWK_RDMAP_QP_RTS || qp->fsm.state == IWK_RDMAP_QP_CLOSING)) {
        /* the Terminate names the segment in error: the work request that sent it completes with
         * the remote error, every other outstanding one is flushed (RFC 5040 §6.2.1, §7) */
        struct iwk_job *bad = term_names(qp, &t);
        for (struct iwk_job *j = qp->sq_head; j != NULL; j = j->next) {
            if (j->done)
                continue;
            j->done = 1;
            j->status = j != bad ? IWK_WC_WR_FLUSH_ERR
                      : t.etype == 1 && t.elayer <= 1 ? IWK_WC_REM_ACCESS_ERR : IWK_WC_REM_OP_ERR;
        }
    }
    iwk_qp_event(qp, IWK_RDMAP_QP_EV_RX_TERM, 0, NULL, 0, NULL);
    iwk_tx_pump(qp);
    pthread_mutex_unlock(&qp->lock);
    rx->phase = RX_DEAD;
    return 1;
}

/* Responder in peer-to-peer or client-server mode: the first FPDU goes to the MPA machine
 * (RFC 5044 §7.1.2 rule 4, RFC 6581 §9.3) before anything else is done with it. Returns 1 when
 * the FPDU was the RTR (consumed), 0 when it is ULP data, -1 when setup failed. */
static int first_fpdu(struct iwk_qp *qp)
{
    struct iwk_rx *rx = &qp->rx;
    struct iwk_mpa_responder_input in = { 0 };
    uint8_t kind = IWK_FPDU_DATA;
    struct iwk_rdmap_read_request rr = { 0 };
    if (rx->opcode == IWK_RDMAP_OP_TERMINATE) {
        /* not an RTR but the Initiator's Terminate (no RTR option in common, too little IRD: RFC 6581
         * §9.1, §9.2; mpa_responder WAIT_RTR RX_TERM -> CLOSED): delivered as a Terminate */
        struct iwk_mpa_responder_actions ta;
        pthread_mutex_lock(&qp->lock);
        iwk_mpa_responder_step(&qp->mresp, IWK_MPA_RESPONDER_EV_RX_TERM, &in, &ta);
        pthread_mutex_unlock(&qp->lock);
        return 0;
    }
    if (rx->opcode == IWK_RDMAP_OP_RDMA_WRITE && rx->plen == 0)
        kind = IWK_FPDU_RTR_WRITE;
    else if (rx->opcode == IWK_RDMAP_OP_SEND && rx->plen == 0)
        kind = IWK_FPDU_RTR_SEND;
    else if (rx->opcode == IWK_RDMAP_OP_RDMA_READ_REQ) {
        (void)iwk_rdmap_read_request_decode(rx->ctrl, rx->plen, &rr);
        if (rr.read_size == 0)
            kind = IWK_FPDU_RTR_READ;
    }
    if (!qp->mresp.p2p_neg)
        kind = IWK_FPDU_DATA;
    in.kind = kind;
    in.stag = 0;
    struct iwk_mpa_responder_actions act;
    pthread_mutex_lock(&qp->lock);
    iwk_mpa_responder_step(&qp->mresp, IWK_MPA_RESPONDER_EV_RX_FPDU, &in, &act);
    int r = 0;
    if (qp->mresp.state == IWK_MPA_RESPONDER_RTS) {
        rx->rtr_pending = 0;
        qp->tx_allowed = qp->mresp.tx_fpdu;
        if (act.send_fpdu && act.fpdu_kind == IWK_FPDU_READ_RESP) {
            struct iwk_job *j = calloc(1, sizeof *j);
            if (j != NULL) {
                j->kind = IWK_JOB_RTR;
                j->rtr_kind = IWK_FPDU_READ_RESP;
                j->sink_stag = rr.sink_stag;
                j->sink_to = rr.sink_to;
                if (qp->resp_tail != NULL)
                    qp->resp_tail->next = j;
                else
                    qp->resp_head = j;
                qp->resp_tail = j;
            }
        }
        if (kind != IWK_FPDU_DATA) {
            r = 1;
            qp->info.rtr = kind == IWK_FPDU_RTR_WRITE ? IWK_RTR_WRITE : kind == IWK_FPDU_RTR_READ ? IWK_RTR_READ
                                                                                              : IWK_RTR_SEND;
            if (kind == IWK_FPDU_RTR_READ)
                rx->expect_msn[IWK_QN_READ]++;
            else if (kind == IWK_FPDU_RTR_SEND)
                rx->expect_msn[IWK_QN_SEND]++;
        }
        iwk_tx_pump(qp);
        pthread_mutex_unlock(&qp->lock);
        return r;
    }
    pthread_mutex_unlock(&qp->lock);
    if (act.send_term) {
        rx_fail(qp, act.term_code, "peer-to-peer: the first FPDU is not an RTR we offered (RFC 6581 §9.2)");
        return -1;
    }
    return 0;
}

static int act_on_segment(struct iwk_qp *qp)
{
    struct iwk_rx *rx = &qp->rx;
    if (rx->rtr_pending) {
        int r = first_fpdu(qp);
        if (r != 0)
            return r < 0 ? 1 : 0;
    }
    switch (rx->opcode) {
    case IWK_RDMAP_OP_RDMA_WRITE:
        pthread_mutex_lock(&qp->lock);
        iwk_qp_event(qp, IWK_RDMAP_QP_EV_RX_MSG, 0, NULL, 0, NULL);
        pthread_mutex_unlock(&qp->lock);
        return 0;
    case IWK_RDMAP_OP_RDMA_READ_RESP:
        return finish_read_resp(qp);
    case IWK_RDMAP_OP_RDMA_READ_REQ:
        return finish_read_req(qp);
    case IWK_RDMAP_OP_ATOMIC_REQ:
        return finish_atomic_req(qp);
    case IWK_RDMAP_OP_ATOMIC_RESP:
        return finish_atomic_resp(qp);
    case IWK_RDMAP_OP_TERMINATE:
        return finish_terminate(qp);
    default:
        pthread_mutex_lock(&qp->lock);
        iwk_qp_event(qp, IWK_RDMAP_QP_EV_RX_MSG, 0, NULL, 0, NULL);
        pthread_mutex_unlock(&qp->lock);
        return finish_send(qp);
    }
}

static int finish_segment(struct iwk_qp *qp)
{
    int r = act_on_segment(qp);
    qp->rx.seg_hdr_len = 0; /* done with: a later error names no segment */
    return r;
}

/* ---- the FPDU reader ------------------------------------------------------------------------ */

/* The receive counters belong to the receiving thread (the rx_lock holder); iwk_qp_info reads
 * them from any thread, so they are stored atomically (relaxed: they order nothing else). */
static void rx_count(uint64_t *counter, uint64_t n)
{
    __atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/* Reads into head[have, need): 1 complete, 0 would block / closed (handled), */
static void on_closed(struct iwk_qp *qp, long r)
{
    pthread_mutex_lock(&qp->lock);
    if (r == 0)
        iwk_qp_event(qp, IWK_RDMAP_QP_EV_LLP_CLOSED, 0, NULL, 0, "peer closed the connection");
    else
        iwk_qp_event(qp, IWK_RDMAP_QP_EV_LLP_ERROR, 0, NULL, 0, "connection reset");
    iwk_pcap_rx_flush(&qp->rxrec);
    iwk_pcap_flow_fin(&qp->rec, 1);
    qp->rx_closed = 1;
    if (qp->watched && !qp->fin_sent && (qp->tx_fpdu_busy || qp->resp_head != NULL || qp->fin_pending)) {
        /* the peer closed its direction, ours still has to finish an FPDU, the Terminate and the
         * FIN (RFC 5040 §6.2.1: graceful LLP teardown so that the Terminate is delivered) */
        qp->want_out = 1;
        (void)iwk_ctx_watch(qp->ctx, qp->fd, qp, EPOLLOUT, 0);
    } else if (qp->watched) {
        qp->watched = 0;
        iwk_ctx_unwatch(qp->ctx, qp->fd);
    }
    pthread_cond_broadcast(&qp->cond);
    pthread_mutex_unlock(&qp->lock);
}

/* The octets the FPDU's head needs: ULPDU_Length and the whole DDP header (MO included, so that
 * it is validated before anything is placed, RFC 5041 §7.1); 16 until the T bit is in. */
static uint32_t head_need(const struct iwk_rx *rx)
{
    if (rx->head_have < 3u)
        return IWK_RX_HEAD_LEN;
    return 2u + ((rx->head[2] & 0x80u) ? IWK_DDP_TAGGED_HLEN : IWK_DDP_UNTAGGED_HLEN);
}

/* With CRCs on, the payload goes to the QP's staging buffer first and reaches its target only once
 * the FPDU is verified (RFC 5044 §6: stage, check, place); 0, or 1 when the stream ended. */
static int stage_for(struct iwk_qp *qp, uint32_t len)
{
    struct iwk_rx *rx = &qp->rx;
    if (len > rx->stage_cap) {
        uint8_t *p = realloc(rx->stage, len);
        if (p == NULL)
            return rx_fail(qp, T_RDMAP_OP(IWK_RDMAP_TERM_OPER_CATASTROPHIC_STREAM), "out of memory for staging");
        rx->stage = p;
        rx->stage_cap = len;
    }
    set_dst_one(rx, rx->stage, len);
    return 0;
}

/* The head of an FPDU is in. Without CRC the segment is checked now and its payload goes straight
 * to its destination; with CRC everything waits until the FPDU is verified (body_done). */
static int head_done(struct iwk_qp *qp)
{
    struct iwk_rx *rx = &qp->rx;
    rx->ulpdu_len = ((uint32_t)rx->head[0] << 8) | rx->head[1];
    qp->term_seg_len = rx->ulpdu_len; /* what a Terminate about this segment reports (M bit) */
    rx->hdr_len = (rx->head[2] & 0x80u) ? IWK_DDP_TAGGED_HLEN : IWK_DDP_UNTAGGED_HLEN;
    if (rx->ulpdu_len < rx->hdr_len)
        return rx_fail(qp, T_DDP_CAT, "ULPDU shorter than its DDP header");
    rx->phase = RX_BODY;
    rx->body_got = 0;
    rx->pad = (4u - ((2u + rx->ulpdu_len) & 3u)) & 3u;
    rx->plen = rx->ulpdu_len - rx->hdr_len;
    rx->staged = qp->mrx.crc;
    if (rx->staged)
        return stage_for(qp, rx->plen);
    if (begin_segment(qp) != 0)
        return 1;
    if (rx->ndst == 0 && rx->plen > 0)
        set_dst_one(rx, rx->discard, rx->plen); /* not reached: every kind sets one */
    return 0;
}

/* The body's pieces from octet `from` on: [payload][pad][CRC][next FPDU's first 16]. */
static int body_iov(struct iwk_rx *rx, uint32_t from, struct iovec *v)
{
    int n = 0;
    struct iovec parts[2] = {
        { rx->trailer, rx->pad + 4u },
        { rx->next_head, IWK_RX_HEAD_LEN },
    };
    uint32_t off = from;
    for (int i = 0; i < rx->ndst; i++) {
        if (off >= rx->dst[i].iov_len) {
            off -= (uint32_t)rx->dst[i].iov_len;
            continue;
        }
        v[n].iov_base = (uint8_t *)rx->dst[i].iov_base + off;
        v[n].iov_len = rx->dst[i].iov_len - off;
        n++;
        off = 0;
    }
    for (int i = 0; i < 2; i++) {
        if (off >= parts[i].iov_len) {
            off -= (uint32_t)parts[i].iov_len;
            continue;
        }
        v[n].iov_base = (uint8_t *)parts[i].iov_base + off;
        v[n].iov_len = parts[i].iov_len - off;
        n++;
        off = 0;
    }
    return n;
}

/* A verified FPDU's segment: checked as without CRC, then its staged payload is placed. */
static int place_staged(struct iwk_qp *qp)
{
    struct iwk_rx *rx = &qp->rx;
    const uint8_t *src = rx->stage;
    if (begin_segment(qp) != 0)
        return 1;
    for (int i = 0; i < rx->ndst; i++) {
        memcpy(rx->dst[i].iov_base, src, rx->dst[i].iov_len);
        src += rx->dst[i].iov_len;
    }
    rx->got = rx->plen;
    return 0;
}

/* Pad and CRC are in (and maybe the next FPDU's first octets): check, then act. */
static int body_done(struct iwk_qp *qp, uint32_t prefetched)
{
    struct iwk_rx *rx = &qp->rx;
    rx_count(&qp->rx_fpdus, 1u);
    uint32_t crc = qp->mrx.crc_prev;
    qp->mrx.switched = 0;
    uint8_t head[2u + IWK_DDP_UNTAGGED_HLEN];
    memcpy(head, rx->head, sizeof head);
    memcpy(rx->head, rx->next_head, prefetched);
    rx->head_have = prefetched;
    rx->phase = RX_HEAD;
    /* the CRC first: it covers the Markers too, a damaged one is a CRC error (RFC 5044 §4.4) */
    if (qp->mrx.crc && crc != iwk_crc32c_get_wire(rx->trailer + rx->pad))
        return rx_fail(qp, T_MPA(IWK_RDMAP_TERM_MPA_CRC), "FPDU CRC32c mismatch (RFC 5044 §4.4)");
    if (qp->mrx.marker_error)
        return rx_fail(qp, T_MPA(IWK_RDMAP_TERM_MPA_MARKER), "Marker does not point at the FPDU start");
    if (rx->staged) {
        memcpy(rx->head, head, sizeof head); /* begin_segment reads the header from there */
        int r = place_staged(qp);
        memcpy(rx->head, rx->next_head, prefetched);
        if (r != 0)
            return 1;
    }
    if (rx->write_last != NULL) /* set_dst_write */
        __atomic_store_n(rx->write_last, rx->write_last_octet, __ATOMIC_RELEASE);
    finish_segment(qp);
    return 0;
}

/* The octets in so far show a ULPDU shorter than its DDP header: the FPDU may end before the 16
 * octets RX_HEAD waits for, so head_done reports it now rather than wait for octets that may never
 * come. */
static int head_short(const struct iwk_rx *rx)
{
    if (rx->head_have < 3u)
        return 0;
    uint32_t ulen = ((uint32_t)rx->head[0] << 8) | rx->head[1];
    return ulen < ((rx->head[2] & 0x80u) ? IWK_DDP_TAGGED_HLEN : IWK_DDP_UNTAGGED_HLEN);
}

/* One step of the reader: 1 progress, 0 would block, -1 stream ended. */
static int rx_step(struct iwk_qp *qp)
{
    struct iwk_rx *rx = &qp->rx;
    long r = 1;
    rx->short_read = 0;
    switch (rx->phase) {
    case RX_HEAD: {
        if (!rx->fpdu_open) {
            iwk_mpa_rx_fpdu_begin(&qp->mrx);
            rx->fpdu_open = 1;
        }
        if (rx->head_have < head_need(rx) && !head_short(rx)) {
            struct iovec v = { rx->head + rx->head_have, head_need(rx) - rx->head_have };
            r = iwk_mpa_rx_read(&qp->mrx, qp->fd, &v, 1, v.iov_len, SIZE_MAX, SIZE_MAX, &qp->rxrec);
            if (r > 0) {
                rx->short_read = iwk_mpa_rx_emptied(&qp->mrx, r);
                rx->head_have += (uint32_t)r;
                rx_count(&qp->rx_bytes, (uint64_t)r);
            }
        }
        if (r > 0 && (rx->head_have >= head_need(rx) || head_short(rx)))
            (void)head_done(qp);
        break;
    }
    case RX_BODY: {
        struct iovec v[IWK_MAX_SGE + 4];
        uint32_t crc_end = rx->plen + rx->pad;
        uint32_t total = crc_end + 4u + IWK_RX_HEAD_LEN;
        int n = body_iov(rx, rx->body_got, v);
        size_t ce = rx->body_got < crc_end ? crc_end - rx->body_got : 0;
        size_t ns = crc_end + 4u - rx->body_got;
        r = iwk_mpa_rx_read(&qp->mrx, qp->fd, v, n, total - rx->body_got, rx->body_got < crc_end ? ce : 0, ns,
                            &qp->rxrec);
        if (r > 0) {
            rx->short_read = iwk_mpa_rx_emptied(&qp->mrx, r);
            rx->body_got += (uint32_t)r;
            rx_count(&qp->rx_bytes, (uint64_t)r);
            if (!rx->staged)
                rx->got = rx->body_got < rx->plen ? rx->body_got : rx->plen;
            if (rx->body_got >= crc_end + 4u)
                (void)body_done(qp, rx->body_got - (crc_end + 4u));
        }
        break;
    }
    case RX_DEAD: {
        /* after a Terminate: read and drop until the peer closes (RFC 5040 §5.4) */
        struct iovec v = { .iov_base = rx->discard, .iov_len = sizeof rx->discard };
        ssize_t k = readv(qp->fd, &v, 1);
        r = k < 0 ? (errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno) : (long)k;
        if (k > 0)
            rx_count(&qp->rx_bytes, (uint64_t)k); /* received, and dropped */
        break;
    }
    }
    if (r == -EAGAIN)
        return 0;
    if (r <= 0) {
        on_closed(qp, r);
        return -1;
    }
    return 1;
}

/* Receives until the socket is empty (a short read or EAGAIN). Two threads may be woken for the
 * same data (the progress thread by epoll, edge-triggered, and a thread in iwk_cq_wait by poll):
 * one receives, the other leaves a kick that makes the receiver read once more, so nothing
 * that arrives while the lock is held is left behind. */
void iwk_qp_rx_drive(struct iwk_qp *qp)
{
    for (;;) {
        __atomic_store_n(&qp->rx_kick, 1, __ATOMIC_SEQ_CST);
        if (pthread_mutex_trylock(&qp->rx_lock) != 0)
            return;
        int budget = 256;
        while (__atomic_exchange_n(&qp->rx_kick, 0, __ATOMIC_SEQ_CST)) {
            /* past the budget only what is read ahead already (nobody would be told of it) */
            for (; (budget > 0 || qp->mrx.stash_len > 0) && !qp->rx_closed; budget--)
                if (rx_step(qp) <= 0 || (qp->rx.short_read && !__atomic_load_n(&qp->rx_hup, __ATOMIC_SEQ_CST)))
                    break;
            if (budget <= 0)
                break;
        }
        int closed = qp->rx_closed;
        /* receives that a flush in another thread left to us (it found rx_lock held) complete
         * before rx_lock is let go, under qp->lock, where that thread asked for it */
        pthread_mutex_lock(&qp->lock);
        iwk_qp_flush_recvs(qp);
        pthread_mutex_unlock(&qp->rx_lock);
        if (budget <= 0 && !closed)
            iwk_qp_rearm(qp); /* fairness: let other connections run; re-arming reports the rest again */
        pthread_mutex_unlock(&qp->lock);
        if (budget <= 0 && !closed)
            return;
        if (closed || !__atomic_load_n(&qp->rx_kick, __ATOMIC_SEQ_CST))
            return;
    }
}

/* The progress thread (edge-triggered epoll). While a thread in iwk_cq_wait polls this socket,
 * that thread receives; the kick, set before looking, makes sure one of the two reads. */
void iwk_qp_on_readable(struct iwk_qp *qp)
{
    __atomic_store_n(&qp->rx_kick, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&qp->app_driving, __ATOMIC_SEQ_CST) > 0)
        return;
    iwk_qp_rx_drive(qp);
}

/* FIN, reset or error came with this wake-up (edge-triggered: it is reported once): the end
 * of the stream is read even after a short read. */
void iwk_qp_on_hangup(struct iwk_qp *qp)
{
    __atomic_store_n(&qp->rx_hup, 1, __ATOMIC_SEQ_CST);
    iwk_qp_on_readable(qp);
}
