/*
 * mpa_stream.c - MPA connection state machine for iwdump (see mpa_stream.h).
 *
 * Each TCP direction ("side") keeps a buffer of not yet consumed stream
 * octets: buf[0] is stream offset `base`.  A side goes through
 *   SIDE_FRAME  waiting for / parsing its MPA Request or Reply (RFC 5044 §7.1)
 *   SIDE_FPDU   framing FPDUs (RFC 5044 §4), synced or hunting after a gap
 *   SIDE_DONE   after a rejected Reply (RFC 5044 §7.1.2): nothing more expected
 *   SIDE_DEAD   the stream cannot be followed (malformed frame, gap in it)
 */
#include "mpa_stream.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "iwkit/crc32c.h"
#include "iwk_mpa_stream.h"

#define MPA_FRAME_HDR_LEN 20u    /* key, flags, rev, PD_Length: RFC 5044 §7.1.1 */
#define MPA_KEY_LEN 16u
#define MPA_MAX_FPDU (IWK_MPA_STREAM_LENGTH_LEN + IWK_MPA_STREAM_MAX_BODY + 3u + IWK_MPA_STREAM_CRC_LEN)
#define MPA_MAX_WAIT_BYTES ((size_t)8u << 20) /* bound while waiting for the peer */

/* ------------------------------------------------------------------------ */
/* Notes */

void iwd_notes_clear(iwd_notes_t *notes)
{
    notes->n = 0;
    notes->dropped = 0;
}

void iwd_note_add(iwd_notes_t *notes, iwd_sev_t sev, const char *code,
                  const char *fmt, ...)
{
    if (notes->n >= IWD_MAX_NOTES) {
        notes->dropped++;
        return;
    }
    iwd_note_t *n = &notes->v[notes->n++];
    n->sev = (uint8_t)sev;
    snprintf(n->code, sizeof n->code, "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(n->text, sizeof n->text, fmt, ap);
    va_end(ap);
}

unsigned iwd_notes_count(const iwd_notes_t *notes, iwd_sev_t sev)
{
    unsigned k = 0;
    for (unsigned i = 0; i < notes->n; i++)
        if (notes->v[i].sev == (uint8_t)sev)
            k++;
    return k;
}

const char *mpa_dir_name(mpa_dir_t dir)
{
    return dir == MPA_DIR_C2S ? "c2s" : "s2c";
}

const char *mpa_crc_state_name(mpa_crc_state_t st)
{
    switch (st) {
    case MPA_CRC_VALID: return "valid";
    case MPA_CRC_INVALID: return "invalid";
    default: return "absent";
    }
}

/* ------------------------------------------------------------------------ */
/* State */

typedef enum side_state { SIDE_FRAME, SIDE_FPDU, SIDE_DONE, SIDE_DEAD } side_state_t;

typedef enum step { STEP_NEED = 0, STEP_PROGRESS = 1 } step_t;

typedef enum frame_res { FR_OK = 0, FR_NEED = 1, FR_BAD = 2 } frame_res_t;

typedef struct side {
    mpa_dir_t role;
    side_state_t state;
    bool synced;              /* FPDU boundaries known */
    bool closed, clean, finished;
    bool extra_reported;      /* data after a reject / in a dead stream */
    uint8_t *buf;
    size_t len, cap;
    uint64_t base;            /* stream offset of buf[0] */
    uint64_t fpdu_mode_start; /* first octet after the MPA frame (§4.3) */
    uint64_t skipped;         /* octets skipped while hunting */
    uint64_t ignored;         /* octets dropped in DONE/DEAD */
    uint8_t conv;             /* Marker convention (enum iwk_mpa_stream_conv); ANY until an FPDU tells */
    mpa_dir_stats_t st;
} side_t;

struct mpa_conn {
    mpa_callbacks_t cb;
    void *user;
    mpa_conn_kind_t kind;
    unsigned init_tcp_dir;    /* TCP direction of the Initiator */
    side_t side[2];           /* indexed by TCP direction */
    mpa_params_t params;
    bool req_v2, rep_v2;
    struct iwk_mpa_v2_params req_p, rep_p;
    uint8_t scratch[MPA_MAX_FPDU]; /* one FPDU, Markers removed */
};

static unsigned tcp_dir_of_role(const mpa_conn_t *c, mpa_dir_t role)
{
    return role == MPA_DIR_C2S ? c->init_tcp_dir : 1u - c->init_tcp_dir;
}

static bool params_ready(const mpa_conn_t *c)
{
    return c->params.req_seen && c->params.rep_seen;
}

/* ------------------------------------------------------------------------ */
/* Buffer */

static int side_append(side_t *s, uint64_t off, const uint8_t *data, size_t len)
{
    if (s->len == 0)
        s->base = off;
    if (s->len + len > s->cap) {
        size_t ncap = s->cap ? s->cap : 4096u;
        while (ncap < s->len + len)
            ncap *= 2u;
        uint8_t *nb = realloc(s->buf, ncap);
        if (nb == NULL)
            return -1;
        s->buf = nb;
        s->cap = ncap;
    }
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    return 0;
}

static void side_consume(side_t *s, size_t n)
{
    if (n >= s->len) {
        s->base += s->len;
        s->len = 0;
        return;
    }
    memmove(s->buf, s->buf + n, s->len - n);
    s->len -= n;
    s->base += n;
}

static uint64_t side_end(const side_t *s)
{
    return s->base + s->len;
}

static const uint8_t *side_at(const side_t *s, uint64_t off)
{
    return s->buf + (size_t)(off - s->base);
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(((unsigned)p[0] << 8) | p[1]);
}

/* ------------------------------------------------------------------------ */
/* FPDUs and Markers: the generated stream core (spec/mpa.iws stream mpa_stream,
 * RFC 5044 §4) decides where Markers sit, what FPDUPTR must say, the pad and
 * what the CRC covers; this file only keeps the octets and reports. */

static bool side_markers(const mpa_conn_t *c, const side_t *s)
{
    return c->params.markers[s->role];
}

/* The first Marker at or after `off` (UINT64_MAX without Markers). */
static uint64_t marker_at_or_after(const mpa_conn_t *c, const side_t *s, uint64_t off)
{
    if (!side_markers(c, s))
        return UINT64_MAX;
    if (off < s->fpdu_mode_start)
        return s->fpdu_mode_start;
    return off + iwk_mpa_stream_to_marker(off, s->fpdu_mode_start);
}

static void marker_notes(const struct iwk_mpa_stream_event *ev, iwd_notes_t *notes)
{
    if (!ev->marker_ok)
        iwd_note_add(notes, IWD_ERROR, "marker_fpduptr",
                     "Marker at offset %llu has FPDUPTR %u, expected %u (RFC 5044 §4.3, %s)",
                     (unsigned long long)ev->marker_pos, ev->marker.fpduptr, ev->expected,
                     iwk_mpa_stream_conv_name(ev->conv));
    iwk_status vs = iwk_mpa_marker_validate(&ev->marker, IWK_CHECK_ALL);
    if (vs != IWK_OK)
        iwd_note_add(notes, IWD_WARN, "marker_reserved",
                     "Marker at offset %llu: Reserved = 0x%04x (%s, RFC 5044 §4.2)",
                     (unsigned long long)ev->marker_pos, ev->marker.reserved, iwk_status_name(vs));
}

/* Runs the stream core over the side's octets from `start` as if an FPDU began
 * there. Body octets go to c->scratch + 2, pad octets after them. Stops after
 * `want_body` body octets (FR_OK with f->ulpdu_len set and f->crc ABSENT), or at
 * the end of the FPDU (FR_OK, *f complete), or when the octets run out (FR_NEED). */
static frame_res_t frame_run(mpa_conn_t *c, const side_t *s, uint64_t start, uint32_t want_body,
                             mpa_fpdu_t *f, bool *markers_ok, uint8_t *conv, iwd_notes_t *notes)
{
    struct iwk_mpa_stream_rx rx;
    iwk_mpa_stream_rx_init(&rx, s->fpdu_mode_start, side_markers(c, s), c->params.crc, s->conv);
    iwk_mpa_stream_rx_restart(&rx, start);
    memset(f, 0, sizeof *f);
    f->stream_offset = start;
    f->ulpdu = c->scratch + 2;
    const uint8_t *p = side_at(s, start);
    size_t left = (size_t)(side_end(s) - start);
    uint32_t body = 0, pad = 0;
    *markers_ok = true;
    while (left > 0) {
        struct iwk_mpa_stream_event ev;
        size_t k = iwk_mpa_stream_rx_feed(&rx, p, left, &ev);
        p += k;
        left -= k;
        switch (ev.kind) {
        case IWK_MPA_STREAM_EV_LENGTH:
            f->ulpdu_len = (uint16_t)ev.body_len;
            f->pad_len = iwk_mpa_stream_pad(ev.body_len);
            break;
        case IWK_MPA_STREAM_EV_BODY:
            memcpy(c->scratch + 2u + ev.body_off, ev.data, ev.len);
            body += ev.len;
            if (body >= want_body)
                return FR_OK;
            break;
        case IWK_MPA_STREAM_EV_PAD:
            memcpy(c->scratch + 2u + f->ulpdu_len + pad, ev.data, ev.len);
            pad += ev.len;
            break;
        case IWK_MPA_STREAM_EV_MARKER:
            *markers_ok = *markers_ok && ev.marker_ok;
            marker_notes(&ev, notes);
            break;
        case IWK_MPA_STREAM_EV_PDU:
            f->wire_len = (size_t)ev.wire_len;
            f->markers = ev.markers;
            f->crc_wire = ev.crc_wire;
            f->crc_calc = ev.crc_calc;
            f->crc = ev.crc == IWK_MPA_STREAM_CRC_VALID ? MPA_CRC_VALID
                   : ev.crc == IWK_MPA_STREAM_CRC_INVALID ? MPA_CRC_INVALID : MPA_CRC_ABSENT;
            *markers_ok = ev.markers_ok != 0;
            *conv = ev.conv;
            return FR_OK;
        default:
            break;
        }
    }
    return FR_NEED;
}

/* Frames the FPDU that starts at stream offset `start` (RFC 5044 §4.1); fills *f. */
static frame_res_t frame_at(mpa_conn_t *c, const side_t *s, uint64_t start,
                            mpa_fpdu_t *f, bool *markers_ok, uint8_t *conv, iwd_notes_t *notes)
{
    iwd_notes_clear(notes);
    return frame_run(c, s, start, UINT32_MAX, f, markers_ok, conv, notes);
}

/* ------------------------------------------------------------------------ */
/* MPA Request / Reply: RFC 5044 §7.1.1, RFC 6581 §5, §9 */

static int classify(const uint8_t *buf, size_t len)
{
    /* 1 = Request, 2 = Reply, 0 = need more, -1 = not MPA */
    size_t n = len < MPA_KEY_LEN ? len : MPA_KEY_LEN;
    bool req = memcmp(buf, IWK_MPA_KEY_REQ, n) == 0;
    bool rep = memcmp(buf, IWK_MPA_KEY_REP, n) == 0;
    if (!req && !rep)
        return -1;
    if (n < MPA_KEY_LEN)
        return 0;
    return req ? 1 : 2;
}

/* Fills *fr from the first 20 + PD_Length octets of buf; notes get the
 * receiver (error) and sender (warning) rule violations.  Returns false if
 * the key is wrong (the stream is not followed further). */
static bool parse_frame(const uint8_t *buf, size_t len, bool reply, mpa_frame_t *fr,
                        iwd_notes_t *notes)
{
    struct iwk_mpa_request h; /* same layout as iwk_mpa_reply */
    iwk_status st;
    if (reply) {
        struct iwk_mpa_reply rp;
        st = iwk_mpa_reply_decode(buf, len, &rp);
        memcpy(h.key, rp.key, sizeof h.key);
        h.m = rp.m; h.c = rp.c; h.r = rp.r; h.s = rp.s; h.res = rp.res; h.rev = rp.rev;
        h.pd_length = rp.pd_length;
        h.private_data = rp.private_data;
        h.private_data_len = rp.private_data_len;
    } else {
        st = iwk_mpa_request_decode(buf, len, &h);
    }
    memset(fr, 0, sizeof *fr);
    fr->is_reply = reply;
    if (st != IWK_OK) {
        iwd_note_add(notes, IWD_ERROR, "mpa_frame", "MPA %s: %s", reply ? "Reply" : "Request",
                     iwk_status_name(st));
        return false;
    }
    fr->m = h.m; fr->c = h.c; fr->r = h.r; fr->res = h.res; fr->rev = h.rev;
    fr->s = h.s != 0;
    fr->pd_length = h.pd_length;
    fr->pd = h.private_data;
    fr->pd_len = h.private_data_len;
    fr->frame_len = MPA_FRAME_HDR_LEN + h.pd_length;

    /* Receiver rules (key, Rev, PD_Length <= 512): errors. */
    struct iwk_mpa_reply rp2;
    memcpy(rp2.key, h.key, sizeof h.key);
    rp2.m = h.m; rp2.c = h.c; rp2.r = h.r; rp2.s = h.s; rp2.res = h.res; rp2.rev = h.rev;
    rp2.pd_length = h.pd_length;
    rp2.private_data = h.private_data; rp2.private_data_len = h.private_data_len;
    st = reply ? iwk_mpa_reply_validate(&rp2, IWK_CHECK_RX) : iwk_mpa_request_validate(&h, IWK_CHECK_RX);
    if (st != IWK_OK)
        iwd_note_add(notes, IWD_ERROR, "mpa_frame", "MPA %s: %s (RFC 5044 §7.1.1)",
                     reply ? "Reply" : "Request", iwk_status_name(st));
    if (st == IWK_E_MPA_REQUEST_KEY_EQ || st == IWK_E_MPA_REPLY_KEY_EQ)
        return false;
    if (fr->s && fr->rev == IWK_MPA_REV_1)
        iwd_note_add(notes, IWD_ERROR, "mpa_s_rev1",
                     "S = 1 in a Rev 1 frame (RFC 6581 §5 defines S for Rev 2)");
    else if (st == IWK_OK) {
        st = reply ? iwk_mpa_reply_validate(&rp2, IWK_CHECK_ALL)
                   : iwk_mpa_request_validate(&h, IWK_CHECK_ALL);
        if (st != IWK_OK)
            iwd_note_add(notes, IWD_WARN, "mpa_reserved",
                         "MPA %s flags: %s (set to zero by the sender, RFC 5044 §7.1.1)",
                         reply ? "Reply" : "Request", iwk_status_name(st));
    }
    if (fr->rev == IWK_MPA_REV_2 && fr->s) {
        st = iwk_mpa_v2_params_parse(fr->pd, fr->pd_len, &fr->v2);
        if (st != IWK_OK)
            iwd_note_add(notes, IWD_ERROR, "mpa_v2_params",
                         "Rev 2 with S = 1 but no IRD/ORD word: %s (RFC 6581 §9)",
                         iwk_status_name(st));
        else {
            fr->has_v2 = true;
            if (!fr->v2.p2p && (fr->v2.rtr_send || fr->v2.rtr_write || fr->v2.rtr_read))
                iwd_note_add(notes, IWD_WARN, "mpa_rtr_without_p2p",
                             "RTR flags set with A = 0 (RFC 6581 §9)");
        }
    }
    return true;
}

/* RFC 6581 §9: the Initiator's ORD must not exceed the Responder's IRD and
 * vice versa. */
static void check_ird_ord(const mpa_conn_t *c, iwd_notes_t *notes)
{
    if (!c->req_v2 || !c->rep_v2)
        return;
    if (c->req_p.ord > c->rep_p.ird)
        iwd_note_add(notes, IWD_WARN, "mpa_ord_gt_ird",
                     "Initiator ORD %u > Responder IRD %u (RFC 6581 §9)",
                     c->req_p.ord, c->rep_p.ird);
    if (c->rep_p.ord > c->req_p.ird)
        iwd_note_add(notes, IWD_WARN, "mpa_ord_gt_ird",
                     "Responder ORD %u > Initiator IRD %u (RFC 6581 §9)",
                     c->rep_p.ord, c->req_p.ird);
}

static void apply_frame(mpa_conn_t *c, const mpa_frame_t *fr, bool ok)
{
    mpa_params_t *p = &c->params;
    if (!fr->is_reply) {
        p->req_seen = true;
        p->markers[MPA_DIR_S2C] = fr->m != 0; /* Request M: Markers from the Responder */
        c->req_v2 = ok && fr->has_v2;
        c->req_p = fr->v2;
        if (!p->rep_seen)
            p->rev = fr->rev;
    } else {
        p->rep_seen = true;
        p->markers[MPA_DIR_C2S] = fr->m != 0; /* Reply M: Markers from the Initiator */
        p->rejected = fr->r != 0;
        c->rep_v2 = ok && fr->has_v2;
        c->rep_p = fr->v2;
        p->rev = fr->rev;
    }
    p->crc = p->crc || fr->c != 0;
    p->p2p = c->req_v2 && c->rep_v2 && c->req_p.p2p && c->rep_p.p2p;
}

static step_t frame_step(mpa_conn_t *c, side_t *s)
{
    iwd_notes_t notes;
    iwd_notes_clear(&notes);
    if (s->len < MPA_FRAME_HDR_LEN)
        return STEP_NEED;
    size_t total = MPA_FRAME_HDR_LEN + rd16(s->buf + 18);
    if (s->len < total)
        return STEP_NEED;
    bool reply = s->role == MPA_DIR_S2C;
    mpa_frame_t fr;
    bool ok = parse_frame(s->buf, total, reply, &fr, &notes);
    fr.stream_offset = s->base;
    if (reply && c->params.req_seen)
        check_ird_ord(c, &notes);
    if (ok)
        apply_frame(c, &fr, ok);
    if (reply && c->params.req_seen && fr.rev > c->params.rev)
        iwd_note_add(&notes, IWD_WARN, "mpa_rev", "Reply Rev %u above the Request's", fr.rev);
    s->st.frames++;
    if (c->cb.on_frame)
        c->cb.on_frame(c->user, s->role, &fr, &notes);
    side_consume(s, total);
    s->fpdu_mode_start = s->base;
    s->synced = true;
    if (!ok) {
        s->state = SIDE_DEAD;
        return STEP_PROGRESS;
    }
    s->state = SIDE_FPDU;
    if (c->params.rejected) {
        /* RFC 5044 §7.1.2: a rejected connection carries no FPDUs. */
        c->side[0].state = c->side[0].state == SIDE_FPDU ? SIDE_DONE : c->side[0].state;
        c->side[1].state = c->side[1].state == SIDE_FPDU ? SIDE_DONE : c->side[1].state;
    }
    return STEP_PROGRESS;
}

/* ------------------------------------------------------------------------ */
/* FPDUs */

static void emit_fpdu(mpa_conn_t *c, side_t *s, mpa_fpdu_t *f, iwd_notes_t *notes)
{
    const uint8_t *pad = f->ulpdu + f->ulpdu_len;
    for (unsigned i = 0; i < f->pad_len; i++) {
        if (pad[i] != 0) {
            char hex[8] = "";
            for (unsigned k = 0; k < f->pad_len; k++)
                snprintf(hex + 2 * k, sizeof hex - 2 * k, "%02x", pad[k]);
            iwd_note_add(notes, IWD_WARN, "pad_nonzero",
                         "PAD octets %s are not zero (RFC 5044 §4.1)", hex);
            break;
        }
    }
    if (f->crc == MPA_CRC_INVALID)
        iwd_note_add(notes, IWD_ERROR, "crc_mismatch",
                     "CRC field 0x%08x, computed CRC32c 0x%08x (RFC 5044 §4.4)",
                     f->crc_wire, f->crc_calc);
    f->resync_skipped = s->skipped;
    s->skipped = 0;
    s->st.fpdus++;
    s->st.markers += f->markers;
    if (f->crc == MPA_CRC_VALID)
        s->st.crc_valid++;
    else if (f->crc == MPA_CRC_INVALID)
        s->st.crc_invalid++;
    else
        s->st.crc_absent++;
    if (c->cb.on_fpdu)
        c->cb.on_fpdu(c->user, s->role, f, notes);
    side_consume(s, f->wire_len);
}

/* Is there a plausible FPDU header at stream offset `off` (Markers removed)?
 * 1 yes, 0 no, -1 need more data. */
static int header_plausible_at(mpa_conn_t *c, const side_t *s, uint64_t off)
{
    iwd_notes_t tmp;
    iwd_notes_clear(&tmp);
    mpa_fpdu_t f;
    bool mk_ok;
    uint8_t conv;
    frame_res_t r = frame_run(c, s, off, IWK_DDP_UNTAGGED_HDR_LEN, &f, &mk_ok, &conv, &tmp);
    if (r != FR_OK)
        return -1;
    uint32_t avail = f.ulpdu_len < IWK_DDP_UNTAGGED_HDR_LEN ? f.ulpdu_len : IWK_DDP_UNTAGGED_HDR_LEN;
    return decode_plausible(f.ulpdu, avail, f.ulpdu_len) ? 1 : 0;
}

/* Does the FPDU at f line up with what follows it (the next header, or the
 * end of the stream)?  1 yes, 0 no, -1 need more data. */
static int next_lines_up(mpa_conn_t *c, const side_t *s, const mpa_fpdu_t *f)
{
    uint64_t next = f->stream_offset + f->wire_len;
    int r = header_plausible_at(c, s, next);
    if (r >= 0)
        return r;
    if (!s->closed)
        return -1;
    return 1; /* the stream ends before a whole next header: accept */
}

/* Synced: the FPDU at `base` (RFC 5044 §4.1, §4.3, §4.4). */
static step_t fpdu_step(mpa_conn_t *c, side_t *s)
{
    mpa_fpdu_t f;
    bool mk_ok;
    uint8_t conv = s->conv;
    iwd_notes_t notes;
    if (frame_at(c, s, s->base, &f, &mk_ok, &conv, &notes) != FR_OK)
        return STEP_NEED;
    bool plausible = decode_plausible(f.ulpdu, f.ulpdu_len, f.ulpdu_len);
    bool trust;
    if (f.crc == MPA_CRC_VALID)
        trust = true;
    else if (f.crc == MPA_CRC_INVALID)
        trust = plausible && mk_ok;
    else {
        trust = plausible && mk_ok;
        if (!trust && mk_ok) {
            int r = next_lines_up(c, s, &f);
            if (r < 0)
                return STEP_NEED;
            trust = r == 1;
        }
    }
    if (trust) {
        s->conv = conv; /* the Marker convention, once an FPDU has told it */
        emit_fpdu(c, s, &f, &notes);
        return STEP_PROGRESS;
    }
    iwd_notes_clear(&notes);
    iwd_note_add(&notes, IWD_ERROR, "framing_lost",
                 "no valid FPDU at offset %llu (ULPDU_Length %u%s%s): resynchronising "
                 "(RFC 5044 §4)",
                 (unsigned long long)s->base, f.ulpdu_len,
                 f.crc == MPA_CRC_INVALID ? ", bad CRC" : "", mk_ok ? "" : ", Marker mismatch");
    if (c->cb.on_problem)
        c->cb.on_problem(c->user, s->role, s->base, &notes);
    s->synced = false;
    s->skipped++;
    side_consume(s, 1);
    return STEP_PROGRESS;
}

/* Is the candidate FPDU at `start` valid?  1 yes, 0 no, -1 need more.
 * With CRCs: the CRC matches.  Without: the headers are sane and the next
 * FPDU lines up (or, with Markers, every Marker inside points at it). */
static int candidate(mpa_conn_t *c, const side_t *s, uint64_t start, mpa_fpdu_t *f,
                     iwd_notes_t *notes)
{
    bool mk_ok;
    uint8_t conv = s->conv;
    int h = header_plausible_at(c, s, start); /* cheap filter before framing */
    if (h <= 0)
        return h < 0 && !s->closed ? -1 : 0;
    frame_res_t r = frame_at(c, s, start, f, &mk_ok, &conv, notes);
    if (r == FR_NEED)
        return -1;
    if (r != FR_OK || !mk_ok)
        return 0;
    if (f->ulpdu_len < IWK_DDP_TAGGED_HDR_LEN)
        return 0;
    if (c->params.crc)
        return f->crc == MPA_CRC_VALID ? 1 : 0;
    if (!decode_plausible(f->ulpdu, f->ulpdu_len, f->ulpdu_len))
        return 0;
    if (side_markers(c, s) && f->markers > 0)
        return 1;
    return next_lines_up(c, s, f);
}

static void skip_to(side_t *s, uint64_t off)
{
    s->skipped += off - s->base;
    s->st.skipped_bytes += off - s->base;
    side_consume(s, (size_t)(off - s->base));
}

/* Hunting with Markers: each Marker's FPDUPTR names an FPDU start
 * (RFC 5044 §4.3); try them in order. */
static step_t hunt_markers(mpa_conn_t *c, side_t *s)
{
    mpa_fpdu_t f;
    iwd_notes_t notes;
    const uint64_t org = s->fpdu_mode_start;
    uint64_t m = marker_at_or_after(c, s, s->base);
    for (;; m += IWK_MPA_STREAM_INTERVAL) {
        if (m + IWK_MPA_STREAM_MARKER_LEN > side_end(s))
            break;
        struct iwk_mpa_marker mk;
        (void)iwk_mpa_marker_decode(side_at(s, m), IWK_MPA_STREAM_MARKER_LEN, &mk);
        uint64_t ptr = mk.fpduptr & IWK_MPA_STREAM_POINTER_MASK;
        if (ptr > m - org)
            continue;
        /* FPDUPTR names the ULPDU_Length field (rfc5044) or the FPDU's first octet
           (fpdu_start); a Marker right before the field is the FPDU's own (§4.3). */
        uint64_t start = m - ptr;
        if (start >= org + IWK_MPA_STREAM_MARKER_LEN &&
            iwk_mpa_stream_to_marker(start - IWK_MPA_STREAM_MARKER_LEN, org) == 0)
            start -= IWK_MPA_STREAM_MARKER_LEN;
        if (start < s->base)
            continue;
        int r = candidate(c, s, start, &f, &notes);
        if (r < 0 && !s->closed)
            return STEP_NEED;
        if (r == 1) {
            skip_to(s, start);
            s->synced = true;
            return STEP_PROGRESS;
        }
    }
    if (!s->closed)
        return STEP_NEED;
    skip_to(s, side_end(s));
    return STEP_NEED;
}

/* Hunting without Markers: scan octet by octet. */
static step_t hunt_scan(mpa_conn_t *c, side_t *s)
{
    mpa_fpdu_t f;
    iwd_notes_t notes;
    while (s->len > 0) {
        int r = candidate(c, s, s->base, &f, &notes);
        if (r < 0 && !s->closed)
            return STEP_NEED;
        if (r == 1) {
            s->synced = true;
            return STEP_PROGRESS;
        }
        skip_to(s, s->base + 1u);
    }
    return STEP_NEED;
}

static step_t drop_extra(mpa_conn_t *c, side_t *s)
{
    if (s->len == 0)
        return STEP_NEED;
    if (!s->extra_reported) {
        iwd_notes_t notes;
        iwd_notes_clear(&notes);
        if (s->state == SIDE_DONE)
            /* no count: what has arrived so far depends on the TCP segmentation */
            iwd_note_add(&notes, IWD_ERROR, "data_after_reject",
                         "data after the connection was rejected (RFC 5044 §7.1.2)");
        else
            iwd_note_add(&notes, IWD_ERROR, "not_decoded",
                         "stream not followed after an earlier error");
        if (c->cb.on_problem)
            c->cb.on_problem(c->user, s->role, s->base, &notes);
        s->extra_reported = true;
    }
    s->ignored += s->len;
    side_consume(s, s->len);
    return STEP_NEED;
}

static void side_run(mpa_conn_t *c, side_t *s)
{
    for (;;) {
        step_t r;
        switch (s->state) {
        case SIDE_FRAME:
            r = frame_step(c, s);
            if (r == STEP_PROGRESS) {
                side_t *o = &c->side[s == &c->side[0] ? 1 : 0];
                if (o->state == SIDE_FPDU || o->state == SIDE_DONE)
                    side_run(c, o);
            }
            break;
        case SIDE_FPDU:
            if (!params_ready(c))
                return;
            if (s->synced)
                r = fpdu_step(c, s);
            else
                /* With CRCs a scan finds the first FPDU after the hole; without
                   them the Markers' FPDUPTRs are the reliable anchor (§4.3). */
                r = side_markers(c, s) && !c->params.crc ? hunt_markers(c, s) : hunt_scan(c, s);
            break;
        default:
            r = drop_extra(c, s);
            break;
        }
        if (r == STEP_NEED)
            return;
    }
}

/* ------------------------------------------------------------------------ */
/* Public API */

mpa_conn_t *mpa_conn_create(const mpa_callbacks_t *cb, void *user)
{
    mpa_conn_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    if (cb)
        c->cb = *cb;
    c->user = user;
    c->kind = MPA_CONN_UNKNOWN;
    c->side[0].conv = c->side[1].conv = IWK_MPA_STREAM_CONV_ANY;
    return c;
}

void mpa_conn_destroy(mpa_conn_t *c)
{
    if (c == NULL)
        return;
    free(c->side[0].buf);
    free(c->side[1].buf);
    free(c);
}

static void set_roles(mpa_conn_t *c, unsigned init_tcp_dir)
{
    c->kind = MPA_CONN_MPA;
    c->init_tcp_dir = init_tcp_dir;
    c->side[init_tcp_dir].role = MPA_DIR_C2S;
    c->side[1u - init_tcp_dir].role = MPA_DIR_S2C;
}

/* Decide which TCP direction is the Initiator from the first key seen. */
static void try_classify(mpa_conn_t *c, unsigned d, bool final)
{
    side_t *s = &c->side[d];
    if (c->kind != MPA_CONN_UNKNOWN || s->len == 0)
        return;
    int k = s->base == 0 ? classify(s->buf, s->len) : -1;
    if (k == 0 && final)
        k = -1;
    if (k == 1)
        set_roles(c, d);
    else if (k == 2)
        set_roles(c, 1u - d);
    else if (k < 0) {
        c->kind = MPA_CONN_NOT_MPA;
        for (unsigned i = 0; i < 2; i++) {
            c->side[i].len = 0;
            c->side[i].state = SIDE_DEAD;
        }
    }
}

int mpa_conn_data(mpa_conn_t *c, unsigned tcp_dir, uint64_t off, const uint8_t *data,
                  size_t len)
{
    side_t *s = &c->side[tcp_dir & 1u];
    /* A dead side still takes its data: drop_extra() reports it once and counts it, whether it
       came with the frame that killed the side or in a later call. */
    if (c->kind == MPA_CONN_NOT_MPA || len == 0)
        return 0;
    if (s->len + len > MPA_MAX_WAIT_BYTES && s->state == SIDE_FPDU && !params_ready(c)) {
        s->ignored += len;
        return 0;
    }
    if (side_append(s, off, data, len) != 0)
        return -1;
    if (c->kind == MPA_CONN_UNKNOWN) {
        try_classify(c, tcp_dir & 1u, false);
        if (c->kind != MPA_CONN_MPA)
            return 0;
        /* The Request first: the Reply's checks compare against it. */
        side_run(c, &c->side[tcp_dir_of_role(c, MPA_DIR_C2S)]);
        side_run(c, &c->side[tcp_dir_of_role(c, MPA_DIR_S2C)]);
        return 0;
    }
    side_run(c, s);
    return 0;
}

/* Report what is left in a side that will get no more data. */
static void side_finish(mpa_conn_t *c, side_t *s)
{
    if (s->finished)
        return;
    s->finished = true;
    if (s->len == 0 && s->skipped == 0)
        return;
    iwd_notes_t notes;
    iwd_notes_clear(&notes);
    iwd_sev_t sev = s->clean ? IWD_ERROR : IWD_WARN;
    uint64_t off = s->base;
    if (s->state == SIDE_FRAME)
        iwd_note_add(&notes, sev, "truncated_mpa_frame",
                     "stream ends inside the MPA %s frame (%zu octets)",
                     s->role == MPA_DIR_C2S ? "Request" : "Reply", s->len);
    else if (s->state == SIDE_FPDU && !params_ready(c))
        iwd_note_add(&notes, IWD_WARN, "not_decoded",
                     "%zu octets not decoded: the peer's MPA frame was not seen", s->len);
    else if (s->state == SIDE_FPDU && s->synced)
        iwd_note_add(&notes, sev, "truncated_fpdu",
                     "stream ends inside an FPDU (%zu octets, ULPDU_Length %u)", s->len,
                     s->len >= 2 ? rd16(s->buf) : 0u);
    else if (s->state == SIDE_FPDU) {
        off -= s->skipped;
        iwd_note_add(&notes, IWD_WARN, "resync_failed",
                     "%llu octets skipped without finding a valid FPDU",
                     (unsigned long long)(s->skipped + s->len));
    }
    if (notes.n > 0 && c->cb.on_problem)
        c->cb.on_problem(c->user, s->role, off, &notes);
    side_consume(s, s->len);
}

void mpa_conn_gap(mpa_conn_t *c, unsigned tcp_dir, uint64_t off, uint64_t len)
{
    side_t *s = &c->side[tcp_dir & 1u];
    if (c->kind == MPA_CONN_UNKNOWN) {
        try_classify(c, tcp_dir & 1u, true);
        if (c->kind == MPA_CONN_MPA)
            side_run(c, s);
    }
    if (c->kind != MPA_CONN_MPA || s->state == SIDE_DEAD || s->state == SIDE_DONE)
        return;
    iwd_notes_t notes;
    iwd_notes_clear(&notes);
    /* Decode what can be decoded before the hole, as if the stream ended. */
    bool was_closed = s->closed;
    s->closed = true;
    side_run(c, s);
    s->closed = was_closed;
    uint64_t lost = s->len;
    iwd_note_add(&notes, IWD_WARN, "capture_gap",
                 "%llu octets missing from the capture at offset %llu%s",
                 (unsigned long long)len, (unsigned long long)off,
                 lost ? " (a partial PDU before it is dropped)" : "");
    s->st.gaps++;
    s->st.gap_bytes += len;
    if (c->cb.on_gap)
        c->cb.on_gap(c->user, s->role, off, len, lost, &notes);
    if (s->state == SIDE_FRAME) {
        iwd_notes_clear(&notes);
        iwd_note_add(&notes, IWD_ERROR, "gap_in_mpa_frame",
                     "the MPA frame is incomplete: the stream cannot be followed");
        if (c->cb.on_problem)
            c->cb.on_problem(c->user, s->role, off, &notes);
        s->state = SIDE_DEAD;
    }
    s->len = 0;
    s->base = off + len;
    s->skipped = 0;
    s->synced = false;
}

void mpa_conn_close(mpa_conn_t *c, unsigned tcp_dir, bool clean)
{
    side_t *s = &c->side[tcp_dir & 1u];
    s->closed = true;
    s->clean = clean;
    if (c->kind == MPA_CONN_UNKNOWN)
        try_classify(c, tcp_dir & 1u, true);
    if (c->kind != MPA_CONN_MPA)
        return;
    side_run(c, s);
    side_t *o = &c->side[1u - (tcp_dir & 1u)];
    /* A side waiting for the peer's frame can finish once the peer is closed. */
    if (s->state != SIDE_FPDU || params_ready(c) || o->closed || o->state == SIDE_DEAD)
        side_finish(c, s);
    if (o->closed && !o->finished)
        side_finish(c, o);
}

mpa_conn_kind_t mpa_conn_kind(const mpa_conn_t *c)
{
    return c->kind;
}

mpa_dir_t mpa_conn_role(const mpa_conn_t *c, unsigned tcp_dir)
{
    return c->side[tcp_dir & 1u].role;
}

const mpa_params_t *mpa_conn_params(const mpa_conn_t *c)
{
    return &c->params;
}

const mpa_dir_stats_t *mpa_conn_stats(const mpa_conn_t *c, mpa_dir_t dir)
{
    return &c->side[tcp_dir_of_role(c, dir)].st;
}
