/*
 * decode.c - DDP/RDMAP decoding of one ULPDU and the per-connection checks
 * (see decode.h).
 */
#include "decode.h"

#include <stdlib.h>
#include <string.h>

#define DC_QUEUES 4u         /* QN 0..3: Send, Read Request, Terminate, Atomic Response */
#define DC_PENDING 256u      /* outstanding Read Requests remembered per direction */
#define DC_STAGS 64u         /* STags seen in tagged messages (swap heuristic) */

typedef struct queue_state {
    bool known;          /* expect_msn is meaningful */
    bool in_msg;         /* a message with L = 0 segments is in progress */
    uint32_t expect_msn; /* MSN of the next message */
    uint32_t cur_msn;
    uint32_t next_mo;
} queue_state_t;

typedef struct pending_read {
    uint64_t offset;     /* stream offset of the request (its direction) */
    struct iwk_rdmap_read_request be, le;
    bool swapped;
} pending_read_t;

typedef struct dir_state {
    queue_state_t q[DC_QUEUES];
    uint64_t untagged_msgs;  /* completed untagged messages, every queue */
    uint64_t fpdus;
    bool tagged_in_msg;      /* tagged message with L = 0 in progress */
    uint32_t tagged_stag;
    uint64_t tagged_next_to;
    uint8_t tagged_opcode;
    /* Read Requests sent in this direction, oldest first (ring) */
    pending_read_t pend[DC_PENDING];
    unsigned pend_head, pend_count;
    bool resp_active;        /* a Read Response to pend[head] is in progress */
    uint64_t resp_remaining;
    bool rtr_read;           /* this side's RTR was a zero-length Read */
} dir_state_t;

struct decode_conn {
    dir_state_t d[2];
    bool p2p;
    uint32_t stags[DC_STAGS];
    unsigned nstags, stag_next;
};

/* ------------------------------------------------------------------------ */
/* Names */

const char *decode_opcode_str(uint8_t opcode)
{
    static const char *const names[16] = {
        "rdma_write", "rdma_read_request", "rdma_read_response", "send",
        "send_invalidate", "send_se", "send_se_invalidate", "terminate",
        "immediate_data", "immediate_data_se", "atomic_request", "atomic_response",
    };
    const char *n = opcode < 16u ? names[opcode] : NULL;
    return n ? n : "unknown";
}

const char *decode_term_layer_str(uint8_t layer)
{
    return iwk_rdmap_term_layer_name(layer);
}

const char *decode_term_etype_str(uint8_t layer, uint8_t etype)
{
    switch (layer) {
    case IWK_RDMAP_TERM_LAYER_RDMAP: return iwk_rdmap_term_rdmap_etype_name(etype);
    case IWK_RDMAP_TERM_LAYER_DDP: return iwk_rdmap_term_ddp_etype_name(etype);
    case IWK_RDMAP_TERM_LAYER_LLP: return iwk_rdmap_term_llp_etype_name(etype);
    default: return "?";
    }
}

const char *decode_term_ecode_str(uint8_t layer, uint8_t etype, uint8_t ecode)
{
    if (layer == IWK_RDMAP_TERM_LAYER_RDMAP) {
        if (etype == IWK_RDMAP_TERM_RDMAP_REMOTE_PROTECTION)
            return iwk_rdmap_term_prot_ecode_name(ecode);
        if (etype == IWK_RDMAP_TERM_RDMAP_REMOTE_OPERATION)
            return iwk_rdmap_term_oper_ecode_name(ecode);
        return etype == IWK_RDMAP_TERM_RDMAP_LOCAL_CATASTROPHIC ? "LOCAL_CATASTROPHIC" : "?";
    }
    if (layer == IWK_RDMAP_TERM_LAYER_DDP) {
        switch (etype) {
        case IWK_RDMAP_TERM_DDP_CATASTROPHIC: return iwk_rdmap_term_ddp_cat_ecode_name(ecode);
        case IWK_RDMAP_TERM_DDP_TAGGED: return iwk_rdmap_term_ddp_tagged_ecode_name(ecode);
        case IWK_RDMAP_TERM_DDP_UNTAGGED: return iwk_rdmap_term_ddp_untagged_ecode_name(ecode);
        default: return "?";
        }
    }
    if (layer == IWK_RDMAP_TERM_LAYER_LLP && etype == IWK_RDMAP_TERM_LLP_MPA)
        return iwk_rdmap_term_mpa_ecode_name(ecode);
    return "?";
}

/* ------------------------------------------------------------------------ */
/* Plausibility for resynchronisation (RFC 5041 §4.1, RFC 5040 §4.1) */

bool decode_plausible(const uint8_t *u, size_t avail, uint16_t ulpdu_len)
{
    size_t need = ulpdu_len < IWK_DDP_UNTAGGED_HDR_LEN ? ulpdu_len : IWK_DDP_UNTAGGED_HDR_LEN;
    if (ulpdu_len < IWK_DDP_TAGGED_HDR_LEN || avail < need)
        return false;
    struct iwk_ddp_ctrl dc;
    struct iwk_rdmap_ctrl rc;
    if (iwk_ddp_ctrl_decode(u, avail, &dc) != IWK_OK ||
        iwk_ddp_ctrl_validate(&dc, IWK_CHECK_ALL) != IWK_OK)
        return false;
    if (iwk_rdmap_ctrl_decode(u + 1, 1, &rc) != IWK_OK || rc.rv > 1u || rc.rsvd != 0)
        return false;
    if (!iwk_rdmap_opcode_valid(rc.opcode))
        return false;
    const struct iwk_rdmap_opcode_info *oi = &iwk_rdmap_opcode_info[rc.opcode];
    if (oi->tagged != dc.t)
        return false;
    if (dc.t)
        return true;
    if (ulpdu_len < IWK_DDP_UNTAGGED_HDR_LEN)
        return false;
    uint32_t qn = ((uint32_t)u[6] << 24) | ((uint32_t)u[7] << 16) | ((uint32_t)u[8] << 8) | u[9];
    return qn == oi->qn;
}

/* ------------------------------------------------------------------------ */
/* Connection state */

decode_conn_t *decode_conn_create(void)
{
    decode_conn_t *dc = calloc(1, sizeof *dc);
    if (dc == NULL)
        return NULL;
    for (unsigned d = 0; d < 2; d++)
        for (unsigned q = 0; q < DC_QUEUES; q++) {
            dc->d[d].q[q].known = true;
            dc->d[d].q[q].expect_msn = 1; /* RFC 5041 §4.3: the first MSN is 1 */
        }
    return dc;
}

void decode_conn_destroy(decode_conn_t *dc)
{
    free(dc);
}

void decode_conn_set_params(decode_conn_t *dc, const mpa_params_t *params)
{
    dc->p2p = params->p2p;
}

void decode_conn_gap(decode_conn_t *dc, mpa_dir_t dir)
{
    dir_state_t *ds = &dc->d[dir];
    for (unsigned q = 0; q < DC_QUEUES; q++) {
        ds->q[q].known = false;
        ds->q[q].in_msg = false;
    }
    ds->tagged_in_msg = false;
    dc->d[1 - dir].resp_active = false;
    ds->resp_active = false;
}

static void stag_remember(decode_conn_t *dc, uint32_t stag)
{
    for (unsigned i = 0; i < dc->nstags; i++)
        if (dc->stags[i] == stag)
            return;
    dc->stags[dc->stag_next] = stag;
    dc->stag_next = (dc->stag_next + 1u) % DC_STAGS;
    if (dc->nstags < DC_STAGS)
        dc->nstags++;
}

static bool stag_known(const decode_conn_t *dc, uint32_t stag)
{
    for (unsigned i = 0; i < dc->nstags; i++)
        if (dc->stags[i] == stag)
            return true;
    return false;
}

static uint32_t bswap32(uint32_t v)
{
    return ((v & 0xffu) << 24) | ((v & 0xff00u) << 8) | ((v >> 8) & 0xff00u) | (v >> 24);
}

static uint64_t bswap64(uint64_t v)
{
    return ((uint64_t)bswap32((uint32_t)v) << 32) | bswap32((uint32_t)(v >> 32));
}

/* ------------------------------------------------------------------------ */
/* Read Request byte order heuristic (RFC 5040 §4.4 fields are big-endian).
 * A host-order (LE) writer of a user-space address or a small size produces
 * BE readings with zero low octets and non-zero high octets; a known STag
 * (seen in a tagged message) that only matches byte-swapped is strong
 * evidence.  Score >= 2 means "swapped". */

static int score64(uint64_t v)
{
    if (v == 0)
        return 0;
    if ((v & 0xffffffffu) == 0 && (v >> 48) != 0)
        return 1;
    return (v >> 48) == 0 ? -1 : 0;
}

static int score32(uint32_t v)
{
    if (v == 0)
        return 0;
    if ((v & 0xffu) == 0 && bswap32(v) < v)
        return 1;
    uint32_t s = bswap32(v);
    return ((s & 0xffu) == 0 && v < s) ? -1 : 0;
}

static int score_stag(const decode_conn_t *dc, uint32_t v)
{
    if (stag_known(dc, v))
        return -2;
    return stag_known(dc, bswap32(v)) ? 2 : 0;
}

static bool rr_looks_swapped(const decode_conn_t *dc, const struct iwk_rdmap_read_request *rr)
{
    int s = score64(rr->sink_to) + score64(rr->src_to) + score32(rr->read_size) +
            score_stag(dc, rr->sink_stag) + score_stag(dc, rr->src_stag);
    return s >= 2;
}

static void rr_swap(const struct iwk_rdmap_read_request *in, struct iwk_rdmap_read_request *out)
{
    out->sink_stag = bswap32(in->sink_stag);
    out->sink_to = bswap64(in->sink_to);
    out->read_size = bswap32(in->read_size);
    out->src_stag = bswap32(in->src_stag);
    out->src_to = bswap64(in->src_to);
}

static void pend_push(dir_state_t *ds, uint64_t off, const decode_rec_t *rec)
{
    if (ds->pend_count == DC_PENDING) { /* forget the oldest */
        ds->pend_head = (ds->pend_head + 1u) % DC_PENDING;
        ds->pend_count--;
    }
    pending_read_t *p = &ds->pend[(ds->pend_head + ds->pend_count) % DC_PENDING];
    p->offset = off;
    p->be = rec->rr;
    p->le = rec->rr_le;
    p->swapped = rec->rr_swapped;
    ds->pend_count++;
}

static void pend_pop(dir_state_t *ds)
{
    ds->pend_head = (ds->pend_head + 1u) % DC_PENDING;
    ds->pend_count--;
}

/* A Read Response segment in `dir` answers the oldest Read Request sent in
 * the other direction (RFC 5040 §5.2.1: responses come in request order). */
static void match_read_response(decode_conn_t *dc, mpa_dir_t dir, decode_rec_t *rec)
{
    dir_state_t *req = &dc->d[1 - dir];
    dir_state_t *rsp = &dc->d[dir];
    if (!rsp->resp_active) {
        if (req->pend_count == 0) {
            iwd_note_add(&rec->notes, IWD_WARN, "read_response_unmatched",
                         "RDMA Read Response STag 0x%08x TO 0x%016llx without an outstanding "
                         "Read Request (RFC 5040 §4.4)",
                         rec->stag, (unsigned long long)rec->to);
            return;
        }
        const pending_read_t *p = &req->pend[req->pend_head];
        if (p->be.sink_stag == rec->stag && p->be.sink_to == rec->to) {
            rsp->resp_remaining = p->be.read_size;
        } else if (p->le.sink_stag == rec->stag && p->le.sink_to == rec->to) {
            iwd_note_add(&rec->notes, IWD_WARN, "read_response_matches_le_request",
                         "answers the Read Request at %s offset %llu only with its fields read "
                         "little-endian (size %u, not %u; RFC 5040 §4.4 says big-endian)",
                         mpa_dir_name((mpa_dir_t)(1 - dir)), (unsigned long long)p->offset,
                         p->le.read_size, p->be.read_size);
            rsp->resp_remaining = p->le.read_size;
        } else {
            iwd_note_add(&rec->notes, IWD_WARN, "read_response_mismatch",
                         "STag 0x%08x TO 0x%016llx do not match the outstanding Read Request "
                         "at %s offset %llu (sink 0x%08x/0x%016llx; RFC 5040 §4.4)",
                         rec->stag, (unsigned long long)rec->to,
                         mpa_dir_name((mpa_dir_t)(1 - dir)), (unsigned long long)p->offset,
                         p->be.sink_stag, (unsigned long long)p->be.sink_to);
            rsp->resp_remaining = rec->payload_len;
        }
        rsp->resp_active = true;
    }
    if (rec->payload_len > rsp->resp_remaining) {
        iwd_note_add(&rec->notes, IWD_WARN, "read_response_size",
                     "Read Response carries %zu octets more than requested (RFC 5040 §4.4)",
                     (size_t)(rec->payload_len - rsp->resp_remaining));
        rsp->resp_remaining = 0;
    } else {
        rsp->resp_remaining -= rec->payload_len;
    }
    if (rec->l) {
        if (rsp->resp_remaining != 0)
            iwd_note_add(&rec->notes, IWD_WARN, "read_response_size",
                         "Read Response ends %llu octets short of the requested size",
                         (unsigned long long)rsp->resp_remaining);
        rsp->resp_active = false;
        if (req->pend_count > 0)
            pend_pop(req);
    }
}

/* ------------------------------------------------------------------------ */
/* Sequencing checks */

/* MSN per queue from 1 (RFC 5041 §4.3, §5.3), MO from 0 and continuous. */
static void check_untagged_seq(dir_state_t *ds, decode_rec_t *rec, size_t ddp_payload)
{
    if (rec->qn >= DC_QUEUES)
        return;
    queue_state_t *q = &ds->q[rec->qn];
    if (q->in_msg) {
        if (rec->msn != q->cur_msn)
            iwd_note_add(&rec->notes, IWD_WARN, "msn_unexpected",
                         "QN %u MSN %u inside message MSN %u (RFC 5041 §4.3)", rec->qn,
                         rec->msn, q->cur_msn);
        else if (rec->mo != q->next_mo)
            iwd_note_add(&rec->notes, IWD_WARN, "mo_unexpected",
                         "QN %u MSN %u MO %u, expected %u (RFC 5041 §4.3)", rec->qn, rec->msn,
                         rec->mo, q->next_mo);
    } else {
        if (q->known && rec->msn != q->expect_msn) {
            bool shared = (uint64_t)rec->msn == ds->untagged_msgs + 1u;
            iwd_note_add(&rec->notes, IWD_WARN, shared ? "msn_shared_counter" : "msn_unexpected",
                         "QN %u MSN %u, expected %u (RFC 5041 §4.3: MSNs count per queue from 1)%s",
                         rec->qn, rec->msn, q->expect_msn,
                         shared ? "; the sender numbers all queues with one counter" : "");
        }
        if (rec->mo != 0)
            iwd_note_add(&rec->notes, IWD_WARN, "mo_unexpected",
                         "first segment of QN %u MSN %u has MO %u (RFC 5041 §4.3)", rec->qn,
                         rec->msn, rec->mo);
    }
    q->cur_msn = rec->msn;
    q->next_mo = rec->mo + (uint32_t)ddp_payload;
    q->in_msg = !rec->l;
    if (rec->l) {
        q->expect_msn = rec->msn + 1u;
        q->known = true;
        ds->untagged_msgs++;
    }
}

/* Tagged segments of one message: same STag, TO advancing (RFC 5041 §4.2). */
static void check_tagged_seq(dir_state_t *ds, decode_rec_t *rec)
{
    if (ds->tagged_in_msg && ds->tagged_opcode == rec->opcode &&
        (rec->stag != ds->tagged_stag || rec->to != ds->tagged_next_to))
        iwd_note_add(&rec->notes, IWD_WARN, "to_unexpected",
                     "tagged segment STag 0x%08x TO 0x%016llx, expected continuation at "
                     "0x%08x/0x%016llx (RFC 5041 §4.2)",
                     rec->stag, (unsigned long long)rec->to, ds->tagged_stag,
                     (unsigned long long)ds->tagged_next_to);
    ds->tagged_in_msg = !rec->l;
    ds->tagged_stag = rec->stag;
    ds->tagged_next_to = rec->to + rec->payload_len;
    ds->tagged_opcode = rec->opcode;
}

/* ------------------------------------------------------------------------ */
/* Headers */

static void note_status(decode_rec_t *rec, iwd_sev_t sev, const char *what, iwk_status st,
                        const char *ref)
{
    if (sev == IWD_ERROR && rec->status == IWK_OK)
        rec->status = st;
    iwd_note_add(&rec->notes, sev, sev == IWD_ERROR ? "malformed" : "reserved_or_sender_rule",
                 "%s: %s (%s)", what, iwk_status_name(st), ref);
}

/* RX rules are errors, the sender-only rules (reserved bits) warnings. */
static void check_rules(decode_rec_t *rec, const char *what, iwk_status rx, iwk_status all,
                        const char *ref)
{
    if (rx != IWK_OK)
        note_status(rec, IWD_ERROR, what, rx, ref);
    else if (all != IWK_OK)
        note_status(rec, IWD_WARN, what, all, ref);
}

/* DDP header (RFC 5041 §4.2/§4.3); returns the DDP payload or NULL. */
static const uint8_t *decode_ddp(const uint8_t *u, size_t len, decode_rec_t *rec, size_t *plen)
{
    if (rec->t) {
        struct iwk_ddp_tagged h;
        iwk_status st = iwk_ddp_tagged_decode(u, len, &h);
        if (st != IWK_OK) {
            note_status(rec, IWD_ERROR, "tagged DDP header", st, "RFC 5041 §4.2");
            return NULL;
        }
        check_rules(rec, "tagged DDP header", iwk_ddp_tagged_validate(&h, IWK_CHECK_RX),
                    iwk_ddp_tagged_validate(&h, IWK_CHECK_ALL), "RFC 5041 §4.2");
        rec->stag = h.stag;
        rec->to = h.to;
        *plen = h.payload_len;
        return h.payload;
    }
    struct iwk_ddp_untagged h;
    iwk_status st = iwk_ddp_untagged_decode(u, len, &h);
    if (st != IWK_OK) {
        note_status(rec, IWD_ERROR, "untagged DDP header", st, "RFC 5041 §4.3");
        return NULL;
    }
    check_rules(rec, "untagged DDP header", iwk_ddp_untagged_validate(&h, IWK_CHECK_RX),
                iwk_ddp_untagged_validate(&h, IWK_CHECK_ALL), "RFC 5041 §4.3");
    rec->inv_stag = h.rsvdulp_ext;
    rec->qn = h.qn;
    rec->msn = h.msn;
    rec->mo = h.mo;
    *plen = h.payload_len;
    return h.payload;
}

/* RDMAP control (RFC 5040 §4.1, §4.2). */
static bool decode_rdmap_ctrl(const uint8_t *u, size_t len, decode_rec_t *rec)
{
    struct iwk_rdmap_ctrl rc;
    (void)iwk_rdmap_ctrl_decode(u + 1, 1, &rc);
    rec->rv = rc.rv;
    rec->rdmap_rsvd = rc.rsvd;
    rec->opcode = rc.opcode;
    iwk_status st = iwk_rdmap_ctrl_validate(&rc, IWK_CHECK_RX);
    if (st == IWK_E_RDMAP_CTRL_RV_EQ && rc.rv == 0) {
        iwd_note_add(&rec->notes, IWD_WARN, "rdmac_version",
                     "RV = 0: the pre-IETF RDMA Consortium RDMAP (RFC 5040 §4.1 says 1)");
        rc.rv = IWK_RDMAP_VERSION;
        st = iwk_rdmap_ctrl_validate(&rc, IWK_CHECK_RX);
    }
    check_rules(rec, "RDMAP control", st, iwk_rdmap_ctrl_validate(&rc, IWK_CHECK_ALL),
                "RFC 5040 §4.1");
    if (st != IWK_OK)
        return false;
    const struct iwk_rdmap_opcode_info *oi = &iwk_rdmap_opcode_info[rc.opcode];
    if (oi->tagged != rec->t) {
        if (rec->status == IWK_OK)
            rec->status = IWK_E_DDP_CTRL_T_WIDTH;
        iwd_note_add(&rec->notes, IWD_ERROR, "malformed",
                     "%s needs T = %u (RFC 5040 §4.1 Figure 4)", decode_opcode_str(rc.opcode),
                     oi->tagged);
        return false;
    }
    if (!rec->t) {
        struct iwk_rdmap_untagged_ulp ul;
        if (iwk_rdmap_untagged_ulp_decode(u + 1, len - 1, &ul) == IWK_OK) {
            iwk_status a = iwk_rdmap_untagged_ulp_validate(&ul, IWK_CHECK_ALL);
            if (a == IWK_E_RDMAP_UNTAGGED_ULP_INV_RSVD_EQ)
                iwd_note_add(&rec->notes, IWD_WARN, "inv_stag_nonzero",
                             "Invalidate STag field 0x%08x on %s (reserved: RFC 5040 §4.1)",
                             ul.inv_rsvd, decode_opcode_str(rc.opcode));
        }
        if (rec->qn != oi->qn)
            iwd_note_add(&rec->notes, IWD_ERROR, "queue_mismatch",
                         "%s on QN %u, RFC 5040 §5.1 puts it on QN %u",
                         decode_opcode_str(rc.opcode), rec->qn, oi->qn);
    }
    return true;
}

static void decode_read_request(decode_conn_t *dc, const uint8_t *p, size_t plen,
                                decode_rec_t *rec)
{
    iwk_status st = iwk_rdmap_read_request_parse(p, plen, &rec->rr);
    if (st != IWK_OK) {
        note_status(rec, IWD_ERROR, "RDMA Read Request", st, "RFC 5040 §4.4");
        return;
    }
    rec->has_rr = true;
    rr_swap(&rec->rr, &rec->rr_le);
    rec->rr_swapped = rr_looks_swapped(dc, &rec->rr);
    if (rec->rr_swapped)
        iwd_note_add(&rec->notes, IWD_WARN, "read_request_byteswapped",
                     "fields look little-endian (RFC 5040 §4.4: big-endian): as sent size %u "
                     "sink 0x%08x/0x%016llx; swapped size %u sink 0x%08x/0x%016llx",
                     rec->rr.read_size, rec->rr.sink_stag, (unsigned long long)rec->rr.sink_to,
                     rec->rr_le.read_size, rec->rr_le.sink_stag,
                     (unsigned long long)rec->rr_le.sink_to);
    if (plen > IWK_RDMAP_READ_REQUEST_LEN)
        iwd_note_add(&rec->notes, IWD_WARN, "trailing_octets",
                     "%zu octets after the Read Request header", plen - IWK_RDMAP_READ_REQUEST_LEN);
}

static void decode_terminate(const uint8_t *p, size_t plen, decode_rec_t *rec)
{
    iwk_status st = iwk_rdmap_terminate_parse(p, plen, &rec->term);
    if (st != IWK_OK) {
        note_status(rec, IWD_ERROR, "Terminate", st, "RFC 5040 §4.8");
        return;
    }
    rec->has_term = true;
    iwk_status a = iwk_rdmap_terminate_validate(&rec->term, IWK_CHECK_ALL);
    if (a != IWK_OK)
        note_status(rec, IWD_WARN, "Terminate", a, "RFC 5040 §4.8");
    if (strcmp(decode_term_etype_str(rec->term.elayer, rec->term.etype), "?") == 0)
        iwd_note_add(&rec->notes, IWD_WARN, "term_etype",
                     "Terminate Error Type %u is not defined for layer %u (RFC 5040 §4.8)",
                     rec->term.etype, rec->term.elayer);
    if (rec->term.term_rdma_hdr_len == IWK_RDMAP_READ_REQUEST_LEN)
        rec->term_rr_ok = iwk_rdmap_read_request_decode(rec->term.term_rdma_hdr,
                                                        rec->term.term_rdma_hdr_len,
                                                        &rec->term_rr) == IWK_OK;
}

/* RFC 7306 headers and the RDMAP payload length. */
static void decode_rdmap_body(decode_conn_t *dc, const uint8_t *p, size_t plen,
                              decode_rec_t *rec)
{
    iwk_status st = IWK_OK;
    size_t hdr = 0;
    switch (rec->opcode) {
    case IWK_RDMAP_OP_RDMA_READ_REQ:
        decode_read_request(dc, p, plen, rec);
        hdr = plen;
        break;
    case IWK_RDMAP_OP_TERMINATE:
        decode_terminate(p, plen, rec);
        hdr = plen;
        break;
    case IWK_RDMAP_OP_ATOMIC_REQ:
        st = iwk_rdmap_atomic_request_parse(p, plen, &rec->areq);
        rec->has_areq = st == IWK_OK;
        hdr = iwk_rdmap_opcode_info[rec->opcode].hdr_len;
        if (st == IWK_OK && iwk_rdmap_atomic_request_validate(&rec->areq, IWK_CHECK_ALL) != IWK_OK)
            note_status(rec, IWD_WARN, "Atomic Request",
                        iwk_rdmap_atomic_request_validate(&rec->areq, IWK_CHECK_ALL), "RFC 7306 §5.2.1");
        break;
    case IWK_RDMAP_OP_ATOMIC_RESP:
        st = iwk_rdmap_atomic_response_parse(p, plen, &rec->aresp);
        rec->has_aresp = st == IWK_OK;
        hdr = iwk_rdmap_opcode_info[rec->opcode].hdr_len;
        break;
    case IWK_RDMAP_OP_IMM_DATA:
    case IWK_RDMAP_OP_IMM_DATA_SE:
        st = iwk_rdmap_immediate_data_parse(p, plen, &rec->imm);
        rec->has_imm = st == IWK_OK;
        hdr = iwk_rdmap_opcode_info[rec->opcode].hdr_len;
        break;
    default:
        break;
    }
    if (st != IWK_OK)
        note_status(rec, IWD_ERROR, decode_opcode_str(rec->opcode), st, "RFC 7306");
    rec->payload_len = plen > hdr ? plen - hdr : 0;
}

/* RFC 6581 §7: in peer-to-peer mode the Initiator's first FPDU is a
 * zero-length RTR message; the Responder answers a Read RTR with a
 * zero-length Read Response. */
static void check_rtr(decode_conn_t *dc, mpa_dir_t dir, decode_rec_t *rec, size_t ddp_payload)
{
    dir_state_t *ds = &dc->d[dir];
    if (!dc->p2p || ds->fpdus != 0)
        return;
    if (dir == MPA_DIR_C2S) {
        bool zero = (rec->opcode == IWK_RDMAP_OP_SEND && ddp_payload == 0) ||
                    (rec->opcode == IWK_RDMAP_OP_RDMA_WRITE && ddp_payload == 0) ||
                    (rec->opcode == IWK_RDMAP_OP_RDMA_READ_REQ && rec->has_rr &&
                     rec->rr.read_size == 0);
        rec->rtr = zero;
        ds->rtr_read = zero && rec->opcode == IWK_RDMAP_OP_RDMA_READ_REQ;
        if (!zero)
            iwd_note_add(&rec->notes, IWD_WARN, "rtr_missing",
                         "peer-to-peer mode but the first FPDU is not a zero-length RTR "
                         "(RFC 6581 §7)");
    } else if (dc->d[MPA_DIR_C2S].rtr_read && rec->opcode == IWK_RDMAP_OP_RDMA_READ_RESP &&
               ddp_payload == 0) {
        rec->rtr = true;
    }
}

void decode_ulpdu(decode_conn_t *dc, mpa_dir_t dir, uint64_t off, const uint8_t *u, size_t len,
                  decode_rec_t *rec)
{
    memset(rec, 0, sizeof *rec);
    dir_state_t *ds = &dc->d[dir];
    struct iwk_ddp_ctrl ctrl;
    iwk_status st = iwk_ddp_ctrl_decode(u, len, &ctrl);
    if (st != IWK_OK) {
        note_status(rec, IWD_ERROR, "DDP control", st, "RFC 5041 §4.1");
        ds->fpdus++;
        return;
    }
    rec->t = ctrl.t;
    rec->l = ctrl.l;
    rec->ddp_rsvd = ctrl.rsvd;
    rec->dv = ctrl.dv;
    size_t plen = 0;
    const uint8_t *p = decode_ddp(u, len, rec, &plen);
    if (p == NULL || !decode_rdmap_ctrl(u, len, rec)) {
        ds->fpdus++;
        return;
    }
    rec->hdr_ok = true;
    decode_rdmap_body(dc, p, plen, rec);

    /* RFC 5044 §7.1.2 rule 4: the Responder waits for the Initiator's first FPDU. */
    if (dir == MPA_DIR_S2C && ds->fpdus == 0 && dc->d[MPA_DIR_C2S].fpdus == 0)
        iwd_note_add(&rec->notes, IWD_WARN, "responder_first",
                     "the Responder sends an FPDU before receiving the Initiator's first "
                     "(RFC 5044 §7.1.2)");
    check_rtr(dc, dir, rec, plen);
    if (rec->t) {
        stag_remember(dc, rec->stag);
        check_tagged_seq(ds, rec);
        if (rec->opcode == IWK_RDMAP_OP_RDMA_READ_RESP)
            match_read_response(dc, dir, rec);
    } else {
        check_untagged_seq(ds, rec, plen);
        if (rec->has_rr)
            pend_push(ds, off, rec);
    }
    ds->fpdus++;
}
