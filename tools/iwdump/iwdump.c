/*
 * iwdump - decode iWARP (MPA/DDP/RDMAP, RFC 5044/5041/5040/6581/7306) from a
 * pcap file or a live interface.  See docs/iwdump.md.
 *
 *   iwdump [--json] [--port N] [--strict] [--summary] [-f FILTER] FILE
 *   iwdump [options] -i IFACE
 *
 * Pipeline: pcap_input (link/IP/TCP) -> tcp_reasm (ordered byte streams,
 * gaps) -> mpa_stream (MPA negotiation, Markers, FPDUs, CRC, resync) ->
 * decode (DDP/RDMAP, semantic checks) -> one output line per PDU.
 *
 * Exit status: 0 decoded, no error; 1 usage or I/O error; 2 malformed traffic
 * (or, with --strict, any warning).
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "mpa_stream.h"
#include "pcap_input.h"
#include "tcp_reasm.h"

#define EXIT_USAGE 1
#define EXIT_MALFORMED 2

typedef struct options {
    const char *file;
    const char *iface;
    const char *filter;
    bool json, strict, summary, quiet;
    long port;            /* -1: every connection that starts with an MPA Request */
} options_t;

typedef struct app {
    options_t opt;
    FILE *out;
    uint64_t errors, warnings, flows_mpa;
    bool oom;
} app_t;

typedef struct flow_ctx {
    app_t *app;
    tcpr_flow_t *flow;
    uint64_t id;
    mpa_conn_t *mpa;
    decode_conn_t *dec;
    char ep[2][TCPR_ENDPOINT_STRLEN]; /* source endpoint per TCP direction */
    uint64_t warnings[2], errors[2], pdus[2];
} flow_ctx_t;

/* The only file-scope state: the live source, for the signal handler. */
static pcapin_t *volatile g_live_in;

static void on_signal(int sig)
{
    (void)sig;
    if (g_live_in)
        pcapin_break(g_live_in);
}

/* ------------------------------------------------------------------------ */
/* JSON output: one object per line */

typedef struct jw {
    FILE *f;
    bool first;
} jw_t;

static void jw_str_raw(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void jw_key(jw_t *w, const char *k)
{
    if (!w->first)
        fputc(',', w->f);
    w->first = false;
    jw_str_raw(w->f, k);
    fputc(':', w->f);
}

static void jw_u64(jw_t *w, const char *k, uint64_t v)
{
    jw_key(w, k);
    fprintf(w->f, "%" PRIu64, v);
}

static void jw_str(jw_t *w, const char *k, const char *v)
{
    jw_key(w, k);
    jw_str_raw(w->f, v);
}

static void jw_bool(jw_t *w, const char *k, bool v)
{
    jw_key(w, k);
    fputs(v ? "true" : "false", w->f);
}

static void jw_hex32(jw_t *w, const char *k, uint32_t v)
{
    char b[16];
    snprintf(b, sizeof b, "0x%08" PRIx32, v);
    jw_str(w, k, b);
}

static void jw_hex64(jw_t *w, const char *k, uint64_t v)
{
    char b[24];
    snprintf(b, sizeof b, "0x%016" PRIx64, v);
    jw_str(w, k, b);
}

static void jw_hexbytes(jw_t *w, const char *k, const uint8_t *p, size_t n)
{
    jw_key(w, k);
    fputc('"', w->f);
    for (size_t i = 0; i < n; i++)
        fprintf(w->f, "%02x", p[i]);
    fputc('"', w->f);
}

static void jw_begin(jw_t *w, FILE *f)
{
    w->f = f;
    w->first = true;
    fputc('{', f);
}

static void jw_end(jw_t *w)
{
    fputs("}\n", w->f);
}

static void jw_notes(jw_t *w, const char *k, const iwd_notes_t *const *lists, size_t nlists,
                     iwd_sev_t sev)
{
    bool any = false;
    for (size_t l = 0; l < nlists; l++)
        any = any || (lists[l] && iwd_notes_count(lists[l], sev) > 0);
    if (!any)
        return;
    jw_key(w, k);
    fputc('[', w->f);
    bool first = true;
    for (size_t l = 0; l < nlists; l++) {
        if (lists[l] == NULL)
            continue;
        for (unsigned i = 0; i < lists[l]->n; i++) {
            const iwd_note_t *n = &lists[l]->v[i];
            if (n->sev != (uint8_t)sev)
                continue;
            char b[IWD_NOTE_CODE_LEN + IWD_NOTE_TEXT_LEN + 4];
            snprintf(b, sizeof b, "%s: %s", n->code, n->text);
            if (!first)
                fputc(',', w->f);
            first = false;
            jw_str_raw(w->f, b);
        }
    }
    fputc(']', w->f);
}

/* ------------------------------------------------------------------------ */
/* Notes: counting, stderr, text */

static unsigned tcp_dir_of(const flow_ctx_t *fc, mpa_dir_t dir)
{
    return mpa_conn_role(fc->mpa, 0) == dir ? 0u : 1u;
}

/* Counts the notes; errors (and warnings with --strict) go to stderr. */
static void report_notes(flow_ctx_t *fc, mpa_dir_t dir, uint64_t off, const iwd_notes_t *n)
{
    app_t *a = fc->app;
    for (unsigned i = 0; i < n->n; i++) {
        const iwd_note_t *e = &n->v[i];
        bool err = e->sev == IWD_ERROR;
        if (err) {
            a->errors++;
            fc->errors[dir]++;
        } else {
            a->warnings++;
            fc->warnings[dir]++;
        }
        if (err || a->opt.strict)
            fprintf(stderr, "iwdump: flow %" PRIu64 " %s offset %" PRIu64 ": %s: %s: %s\n",
                    fc->id, mpa_dir_name(dir), off,
                    err ? "error" : "warning (--strict)", e->code, e->text);
    }
}

static void text_notes(FILE *f, const iwd_notes_t *n)
{
    for (unsigned i = 0; i < n->n; i++)
        fprintf(f, " [%s %s: %s]", n->v[i].sev == IWD_ERROR ? "ERROR" : "warning",
                n->v[i].code, n->v[i].text);
}

static void jw_common(jw_t *w, const flow_ctx_t *fc, mpa_dir_t dir, const char *kind,
                      uint64_t off)
{
    jw_u64(w, "flow", fc->id);
    jw_str(w, "dir", mpa_dir_name(dir));
    jw_str(w, "kind", kind);
    jw_u64(w, "stream_offset", off);
}

/* ------------------------------------------------------------------------ */
/* MPA frames */

static bool printable(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((p[i] < 0x20 || p[i] > 0x7e) && !(p[i] == 0 && i + 1 == n))
            return false;
    return n > 0;
}

static void json_frame(flow_ctx_t *fc, mpa_dir_t dir, const mpa_frame_t *fr,
                       const iwd_notes_t *notes)
{
    jw_t w;
    jw_begin(&w, fc->app->out);
    jw_common(&w, fc, dir, fr->is_reply ? "mpa_rep" : "mpa_req", fr->stream_offset);
    unsigned td = tcp_dir_of(fc, dir);
    jw_str(&w, "src", fc->ep[td]);
    jw_str(&w, "dst", fc->ep[1u - td]);
    jw_u64(&w, "rev", fr->rev);
    jw_bool(&w, "marker_flag", fr->m);
    jw_bool(&w, "crc_flag", fr->c);
    jw_bool(&w, "reject", fr->r);
    jw_bool(&w, "s_flag", fr->s);
    jw_u64(&w, "pd_len", fr->pd_length);
    if (fr->has_v2) {
        jw_u64(&w, "ird", fr->v2.ird);
        jw_u64(&w, "ord", fr->v2.ord);
        jw_bool(&w, "p2p", fr->v2.p2p);
        jw_key(&w, "rtr");
        fprintf(w.f, "[%s%s%s%s%s]", fr->v2.rtr_send ? "\"send\"" : "",
                fr->v2.rtr_send && (fr->v2.rtr_write || fr->v2.rtr_read) ? "," : "",
                fr->v2.rtr_write ? "\"write\"" : "", fr->v2.rtr_write && fr->v2.rtr_read ? "," : "",
                fr->v2.rtr_read ? "\"read\"" : "");
    }
    if (fr->pd_len > 0) {
        jw_hexbytes(&w, "pd", fr->pd, fr->pd_len);
        if (printable(fr->pd, fr->pd_len)) {
            char s[IWK_MPA_MAX_PD_LEN + 1];
            size_t n = fr->pd_len < IWK_MPA_MAX_PD_LEN ? fr->pd_len : IWK_MPA_MAX_PD_LEN;
            memcpy(s, fr->pd, n);
            s[n] = 0;
            jw_str(&w, "pd_text", s);
        }
    }
    const iwd_notes_t *l[1] = { notes };
    jw_notes(&w, "warnings", l, 1, IWD_WARN);
    jw_notes(&w, "errors", l, 1, IWD_ERROR);
    jw_end(&w);
}

static void text_frame(flow_ctx_t *fc, mpa_dir_t dir, const mpa_frame_t *fr,
                       const iwd_notes_t *notes)
{
    FILE *f = fc->app->out;
    unsigned td = tcp_dir_of(fc, dir);
    fprintf(f, "flow %" PRIu64 " %s @%" PRIu64 " %s %s -> %s rev=%u M=%u C=%u R=%u S=%u pd_len=%u",
            fc->id, mpa_dir_name(dir), fr->stream_offset, fr->is_reply ? "MPA-Reply" : "MPA-Request",
            fc->ep[td], fc->ep[1u - td], fr->rev, fr->m, fr->c, fr->r, fr->s, fr->pd_length);
    if (fr->has_v2)
        fprintf(f, " ird=%u ord=%u p2p=%u rtr=%s%s%s", fr->v2.ird, fr->v2.ord, fr->v2.p2p,
                fr->v2.rtr_send ? "S" : "", fr->v2.rtr_write ? "W" : "", fr->v2.rtr_read ? "R" : "");
    else if (printable(fr->pd, fr->pd_len))
        fprintf(f, " pd=\"%.*s\"", (int)strnlen((const char *)fr->pd, fr->pd_len), fr->pd);
    if (fr->r)
        fputs(" REJECTED", f);
    text_notes(f, notes);
    fputc('\n', f);
}

static void cb_frame(void *user, mpa_dir_t dir, const mpa_frame_t *fr, const iwd_notes_t *notes)
{
    flow_ctx_t *fc = user;
    fc->pdus[dir]++;
    decode_conn_set_params(fc->dec, mpa_conn_params(fc->mpa));
    if (fc->app->opt.json)
        json_frame(fc, dir, fr, notes);
    else
        text_frame(fc, dir, fr, notes);
    report_notes(fc, dir, fr->stream_offset, notes);
}

/* ------------------------------------------------------------------------ */
/* FPDUs */

static void json_rr(jw_t *w, const struct iwk_rdmap_read_request *rr)
{
    jw_hex32(w, "sink_stag", rr->sink_stag);
    jw_hex64(w, "sink_to", rr->sink_to);
    jw_u64(w, "size", rr->read_size);
    jw_hex32(w, "src_stag", rr->src_stag);
    jw_hex64(w, "src_to", rr->src_to);
}

static void json_term(jw_t *w, const decode_rec_t *r)
{
    const struct iwk_rdmap_terminate *t = &r->term;
    jw_u64(w, "layer", t->elayer);
    jw_str(w, "layer_name", decode_term_layer_str(t->elayer));
    jw_u64(w, "etype", t->etype);
    jw_str(w, "etype_name", decode_term_etype_str(t->elayer, t->etype));
    jw_u64(w, "ecode", t->ecode);
    jw_str(w, "ecode_name", decode_term_ecode_str(t->elayer, t->etype, t->ecode));
    jw_bool(w, "term_m", t->m);
    jw_bool(w, "term_d", t->d);
    jw_bool(w, "term_r", t->r);
    if (t->m || t->d)
        jw_u64(w, "ddp_seg_len", t->ddp_seg_len);
    if (t->d) {
        jw_key(w, "term_ddp");
        jw_t s = { w->f, true };
        fputc('{', w->f);
        jw_bool(&s, "tagged", t->term_t);
        jw_bool(&s, "last", t->term_l);
        jw_u64(&s, "dv", t->term_dv);
        jw_u64(&s, "rv", t->term_rv);
        jw_str(&s, "opcode", decode_opcode_str(t->term_opcode));
        jw_hexbytes(&s, "rest", t->term_ddp_rest, t->term_ddp_rest_len);
        fputc('}', w->f);
    }
    if (t->r) {
        jw_hexbytes(w, "term_rdma_hdr", t->term_rdma_hdr, t->term_rdma_hdr_len);
        if (r->term_rr_ok) {
            jw_key(w, "term_read_request");
            jw_t s = { w->f, true };
            fputc('{', w->f);
            json_rr(&s, &r->term_rr);
            fputc('}', w->f);
        }
    }
}

static void json_rdmap(jw_t *w, const decode_rec_t *r)
{
    if (r->has_rr) {
        json_rr(w, r->rr_swapped ? &r->rr_le : &r->rr);
        if (r->rr_swapped) {
            jw_bool(w, "byteswapped", true);
            jw_key(w, "as_sent");
            jw_t s = { w->f, true };
            fputc('{', w->f);
            json_rr(&s, &r->rr);
            fputc('}', w->f);
        }
    }
    if (r->has_term)
        json_term(w, r);
    if (r->has_areq) {
        jw_str(w, "aopcode", iwk_rdmap_atomic_opcode_name(r->areq.aopcode));
        jw_hex32(w, "req_id", r->areq.req_id);
        jw_hex32(w, "remote_stag", r->areq.remote_stag);
        jw_hex64(w, "remote_to", r->areq.remote_to);
        jw_hex64(w, "add_swap_data", r->areq.add_swap_data);
        jw_hex64(w, "add_swap_mask", r->areq.add_swap_mask);
        jw_hex64(w, "compare_data", r->areq.compare_data);
        jw_hex64(w, "compare_mask", r->areq.compare_mask);
    }
    if (r->has_aresp) {
        jw_hex32(w, "orig_req_id", r->aresp.orig_req_id);
        jw_hex64(w, "orig_value", r->aresp.orig_value);
    }
    if (r->has_imm)
        jw_hexbytes(w, "immediate_data", r->imm.data, sizeof r->imm.data);
}

static void json_fpdu(flow_ctx_t *fc, mpa_dir_t dir, const mpa_fpdu_t *f,
                      const iwd_notes_t *notes, const decode_rec_t *r)
{
    jw_t w;
    jw_begin(&w, fc->app->out);
    jw_common(&w, fc, dir, "fpdu", f->stream_offset);
    jw_u64(&w, "ulpdu_len", f->ulpdu_len);
    jw_u64(&w, "wire_len", f->wire_len);
    jw_u64(&w, "markers", f->markers);
    jw_str(&w, "crc", mpa_crc_state_name(f->crc));
    if (f->crc != MPA_CRC_ABSENT)
        jw_hex32(&w, "crc_value", f->crc_wire);
    if (f->resync_skipped)
        jw_u64(&w, "resync_skipped", f->resync_skipped);
    if (r->hdr_ok || r->t || r->l) {
        jw_bool(&w, "tagged", r->t);
        jw_bool(&w, "last", r->l);
    }
    if (r->hdr_ok) {
        jw_str(&w, "opcode", decode_opcode_str(r->opcode));
        jw_u64(&w, "rv", r->rv);
        if (r->t) {
            jw_hex32(&w, "stag", r->stag);
            jw_hex64(&w, "to", r->to);
        } else {
            jw_u64(&w, "qn", r->qn);
            jw_u64(&w, "msn", r->msn);
            jw_u64(&w, "mo", r->mo);
            if (iwk_rdmap_opcode_info[r->opcode].inv)
                jw_hex32(&w, "inv_stag", r->inv_stag);
        }
        jw_u64(&w, "payload_len", r->payload_len);
        if (r->rtr)
            jw_bool(&w, "rtr", true);
        json_rdmap(&w, r);
    }
    if (r->status != IWK_OK)
        jw_str(&w, "status", iwk_status_name(r->status));
    const iwd_notes_t *l[2] = { notes, &r->notes };
    jw_notes(&w, "warnings", l, 2, IWD_WARN);
    jw_notes(&w, "errors", l, 2, IWD_ERROR);
    jw_end(&w);
}

static void text_fpdu(flow_ctx_t *fc, mpa_dir_t dir, const mpa_fpdu_t *f,
                      const iwd_notes_t *notes, const decode_rec_t *r)
{
    FILE *o = fc->app->out;
    fprintf(o, "flow %" PRIu64 " %s @%" PRIu64 " FPDU len=%u crc=%s markers=%u", fc->id,
            mpa_dir_name(dir), f->stream_offset, f->ulpdu_len, mpa_crc_state_name(f->crc),
            f->markers);
    if (f->resync_skipped)
        fprintf(o, " resync_skipped=%" PRIu64, f->resync_skipped);
    if (r->hdr_ok) {
        fprintf(o, " %s%s L=%u", decode_opcode_str(r->opcode), r->rtr ? "(RTR)" : "", r->l);
        if (r->t)
            fprintf(o, " stag=0x%08" PRIx32 " to=0x%" PRIx64, r->stag, r->to);
        else
            fprintf(o, " qn=%" PRIu32 " msn=%" PRIu32 " mo=%" PRIu32, r->qn, r->msn, r->mo);
        fprintf(o, " payload=%zu", r->payload_len);
        if (r->has_rr) {
            const struct iwk_rdmap_read_request *rr = r->rr_swapped ? &r->rr_le : &r->rr;
            fprintf(o, " sink=0x%08" PRIx32 "/0x%" PRIx64 " size=%" PRIu32 " src=0x%08" PRIx32
                       "/0x%" PRIx64 "%s",
                    rr->sink_stag, rr->sink_to, rr->read_size, rr->src_stag, rr->src_to,
                    r->rr_swapped ? " (byte-swapped)" : "");
        }
        if (r->has_term)
            fprintf(o, " layer=%s etype=%s ecode=%s", decode_term_layer_str(r->term.elayer),
                    decode_term_etype_str(r->term.elayer, r->term.etype),
                    decode_term_ecode_str(r->term.elayer, r->term.etype, r->term.ecode));
    }
    text_notes(o, notes);
    text_notes(o, &r->notes);
    fputc('\n', o);
}

static void cb_fpdu(void *user, mpa_dir_t dir, const mpa_fpdu_t *f, const iwd_notes_t *notes)
{
    flow_ctx_t *fc = user;
    decode_rec_t *r = malloc(sizeof *r);
    if (r == NULL) {
        fc->app->oom = true;
        return;
    }
    decode_ulpdu(fc->dec, dir, f->stream_offset, f->ulpdu, f->ulpdu_len, r);
    fc->pdus[dir]++;
    if (fc->app->opt.json)
        json_fpdu(fc, dir, f, notes, r);
    else
        text_fpdu(fc, dir, f, notes, r);
    report_notes(fc, dir, f->stream_offset, notes);
    report_notes(fc, dir, f->stream_offset, &r->notes);
    free(r);
}

static void cb_gap(void *user, mpa_dir_t dir, uint64_t off, uint64_t len, uint64_t lost,
                   const iwd_notes_t *notes)
{
    flow_ctx_t *fc = user;
    decode_conn_gap(fc->dec, dir);
    if (fc->app->opt.json) {
        jw_t w;
        jw_begin(&w, fc->app->out);
        jw_common(&w, fc, dir, "gap", off);
        jw_u64(&w, "len", len);
        jw_u64(&w, "lost", lost);
        const iwd_notes_t *l[1] = { notes };
        jw_notes(&w, "warnings", l, 1, IWD_WARN);
        jw_end(&w);
    } else {
        fprintf(fc->app->out, "flow %" PRIu64 " %s @%" PRIu64 " GAP len=%" PRIu64
                " lost=%" PRIu64 "\n", fc->id, mpa_dir_name(dir), off, len, lost);
    }
    report_notes(fc, dir, off, notes);
}

static void cb_problem(void *user, mpa_dir_t dir, uint64_t off, const iwd_notes_t *notes)
{
    flow_ctx_t *fc = user;
    if (fc->app->opt.json) {
        jw_t w;
        jw_begin(&w, fc->app->out);
        jw_common(&w, fc, dir, "problem", off);
        const iwd_notes_t *l[1] = { notes };
        jw_notes(&w, "warnings", l, 1, IWD_WARN);
        jw_notes(&w, "errors", l, 1, IWD_ERROR);
        jw_end(&w);
    } else {
        fprintf(fc->app->out, "flow %" PRIu64 " %s @%" PRIu64 " PROBLEM", fc->id,
                mpa_dir_name(dir), off);
        text_notes(fc->app->out, notes);
        fputc('\n', fc->app->out);
    }
    report_notes(fc, dir, off, notes);
}

/* ------------------------------------------------------------------------ */
/* Summary */

static void summary_text(FILE *f, const flow_ctx_t *fc)
{
    const mpa_params_t *p = mpa_conn_params(fc->mpa);
    unsigned ti = tcp_dir_of(fc, MPA_DIR_C2S);
    fprintf(f, "iwdump: summary flow %" PRIu64 " %s -> %s rev=%u crc=%s markers=%s/%s%s:",
            fc->id, fc->ep[ti], fc->ep[1u - ti], p->rev, p->crc ? "on" : "off",
            p->markers[0] ? "c2s" : "-", p->markers[1] ? "s2c" : "-",
            p->rejected ? " REJECTED" : "");
    for (unsigned d = 0; d < 2; d++) {
        const mpa_dir_stats_t *s = mpa_conn_stats(fc->mpa, (mpa_dir_t)d);
        fprintf(f, " %s pdus=%" PRIu64 " fpdus=%" PRIu64 " crc=%" PRIu64 "/%" PRIu64 "/%" PRIu64
                   " markers=%" PRIu64 " warnings=%" PRIu64 " errors=%" PRIu64 " gaps=%" PRIu64
                   " skipped=%" PRIu64 "%s",
                mpa_dir_name((mpa_dir_t)d), fc->pdus[d], s->fpdus, s->crc_valid, s->crc_invalid,
                s->crc_absent, s->markers, fc->warnings[d], fc->errors[d], s->gaps,
                s->skipped_bytes, d == 0 ? ";" : "\n");
    }
}

static void summary_json(FILE *f, const flow_ctx_t *fc)
{
    const mpa_params_t *p = mpa_conn_params(fc->mpa);
    unsigned ti = tcp_dir_of(fc, MPA_DIR_C2S);
    jw_t w;
    jw_begin(&w, f);
    jw_u64(&w, "flow", fc->id);
    jw_str(&w, "kind", "summary");
    jw_str(&w, "client", fc->ep[ti]);
    jw_str(&w, "server", fc->ep[1u - ti]);
    jw_u64(&w, "rev", p->rev);
    jw_bool(&w, "crc_on", p->crc);
    jw_bool(&w, "rejected", p->rejected);
    for (unsigned d = 0; d < 2; d++) {
        const mpa_dir_stats_t *s = mpa_conn_stats(fc->mpa, (mpa_dir_t)d);
        jw_key(&w, mpa_dir_name((mpa_dir_t)d));
        jw_t x = { f, true };
        fputc('{', f);
        jw_u64(&x, "pdus", fc->pdus[d]);
        jw_u64(&x, "fpdus", s->fpdus);
        jw_u64(&x, "crc_valid", s->crc_valid);
        jw_u64(&x, "crc_invalid", s->crc_invalid);
        jw_u64(&x, "crc_absent", s->crc_absent);
        jw_u64(&x, "markers", s->markers);
        jw_u64(&x, "warnings", fc->warnings[d]);
        jw_u64(&x, "errors", fc->errors[d]);
        jw_u64(&x, "gaps", s->gaps);
        jw_u64(&x, "gap_bytes", s->gap_bytes);
        jw_u64(&x, "skipped_bytes", s->skipped_bytes);
        jw_bool(&x, "markers_on", p->markers[d]);
        fputc('}', f);
    }
    jw_end(&w);
}

/* ------------------------------------------------------------------------ */
/* tcp_reasm callbacks */

static bool port_selected(const app_t *a, tcpr_flow_t *flow)
{
    if (a->opt.port < 0)
        return true;
    return tcpr_flow_src(flow, TCPR_DIR_C2S)->port == a->opt.port ||
           tcpr_flow_dst(flow, TCPR_DIR_C2S)->port == a->opt.port;
}

static void on_open(void *user, tcpr_flow_t *flow)
{
    app_t *a = user;
    if (!port_selected(a, flow))
        return;
    flow_ctx_t *fc = calloc(1, sizeof *fc);
    static const mpa_callbacks_t cbs = { cb_frame, cb_fpdu, cb_gap, cb_problem };
    if (fc == NULL || (fc->mpa = mpa_conn_create(&cbs, fc)) == NULL ||
        (fc->dec = decode_conn_create()) == NULL) {
        if (fc)
            mpa_conn_destroy(fc->mpa);
        free(fc);
        a->oom = true;
        return;
    }
    fc->app = a;
    fc->flow = flow;
    fc->id = tcpr_flow_id(flow);
    for (unsigned d = 0; d < 2; d++)
        tcpr_endpoint_str(tcpr_flow_src(flow, (tcpr_dir_t)d), fc->ep[d], sizeof fc->ep[d]);
    tcpr_flow_set_user(flow, fc);
}

static void on_data(void *user, tcpr_flow_t *flow, tcpr_dir_t dir, uint64_t off,
                    const uint8_t *data, size_t len, const tcpr_time_t *ts)
{
    (void)ts;
    flow_ctx_t *fc = tcpr_flow_user(flow);
    if (fc && mpa_conn_data(fc->mpa, (unsigned)dir, off, data, len) != 0)
        ((app_t *)user)->oom = true;
}

static void on_gap(void *user, tcpr_flow_t *flow, tcpr_dir_t dir, uint64_t off, size_t missing)
{
    (void)user;
    flow_ctx_t *fc = tcpr_flow_user(flow);
    if (fc)
        mpa_conn_gap(fc->mpa, (unsigned)dir, off, missing);
}

static void on_close(void *user, tcpr_flow_t *flow, tcpr_dir_t dir, tcpr_close_reason_t reason)
{
    (void)user;
    flow_ctx_t *fc = tcpr_flow_user(flow);
    if (fc)
        mpa_conn_close(fc->mpa, (unsigned)dir, reason == TCPR_CLOSE_FIN);
}

static void on_flow_end(void *user, tcpr_flow_t *flow)
{
    app_t *a = user;
    flow_ctx_t *fc = tcpr_flow_user(flow);
    if (fc == NULL)
        return;
    if (mpa_conn_kind(fc->mpa) == MPA_CONN_MPA) {
        a->flows_mpa++;
        if (!a->opt.quiet)
            summary_text(stderr, fc);
        if (a->opt.summary) {
            if (a->opt.json)
                summary_json(a->out, fc);
            else
                summary_text(a->out, fc);
        }
    } else if (a->opt.port >= 0) {
        fprintf(stderr, "iwdump: flow %" PRIu64 " %s -> %s: not an MPA connection (no MPA "
                        "Request at the start of the stream)\n",
                fc->id, fc->ep[0], fc->ep[1]);
    }
    mpa_conn_destroy(fc->mpa);
    decode_conn_destroy(fc->dec);
    free(fc);
    tcpr_flow_set_user(flow, NULL);
}

/* ------------------------------------------------------------------------ */
/* main */

static void usage(FILE *f)
{
    fputs("usage: iwdump [--json] [--port N] [--strict] [--summary] [--quiet] [-f FILTER] FILE\n"
          "       iwdump [options] -i IFACE\n"
          "Decodes iWARP (MPA/DDP/RDMAP) from a pcap file or a live interface.\n"
          "  --json        one JSON object per PDU per line\n"
          "  --port N      only TCP connections with port N (default: every connection that\n"
          "                starts with an MPA Request)\n"
          "  --strict      warnings (RFC deviations) are errors\n"
          "  --summary     also print the per-flow summary on stdout\n"
          "  --quiet       no summary lines on stderr\n"
          "  -f FILTER     BPF capture filter\n"
          "  -i IFACE      live capture (stop with Ctrl-C)\n"
          "Exit: 0 ok, 1 usage/I/O error, 2 malformed traffic (or warnings with --strict)\n",
          f);
}

static int parse_args(int argc, char **argv, options_t *o)
{
    static const struct option lo[] = {
        { "json", no_argument, NULL, 'j' },     { "port", required_argument, NULL, 'p' },
        { "strict", no_argument, NULL, 's' },   { "summary", no_argument, NULL, 'S' },
        { "quiet", no_argument, NULL, 'q' },    { "help", no_argument, NULL, 'h' },
        { "interface", required_argument, NULL, 'i' },
        { "filter", required_argument, NULL, 'f' }, { NULL, 0, NULL, 0 },
    };
    memset(o, 0, sizeof *o);
    o->port = -1;
    int c;
    while ((c = getopt_long(argc, argv, "i:f:hq", lo, NULL)) != -1) {
        switch (c) {
        case 'j': o->json = true; break;
        case 's': o->strict = true; break;
        case 'S': o->summary = true; break;
        case 'q': o->quiet = true; break;
        case 'i': o->iface = optarg; break;
        case 'f': o->filter = optarg; break;
        case 'p': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end != 0 || v < 0 || v > 65535) {
                fprintf(stderr, "iwdump: bad port '%s'\n", optarg);
                return -1;
            }
            o->port = v;
            break;
        }
        case 'h': usage(stdout); exit(0);
        default: return -1;
        }
    }
    if (optind < argc)
        o->file = argv[optind++];
    if (optind != argc || (o->file == NULL) == (o->iface == NULL)) {
        usage(stderr);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    app_t app;
    memset(&app, 0, sizeof app);
    if (parse_args(argc, argv, &app.opt) != 0)
        return EXIT_USAGE;
    app.out = stdout;

    char err[PCAPIN_ERRBUF_SIZE] = "";
    pcapin_t *in = app.opt.file ? pcapin_open_file(app.opt.file, app.opt.filter, err, sizeof err)
                                : pcapin_open_live(app.opt.iface, app.opt.filter, NULL, err, sizeof err);
    if (in == NULL) {
        fprintf(stderr, "iwdump: %s: %s\n", app.opt.file ? app.opt.file : app.opt.iface, err);
        return EXIT_USAGE;
    }
    tcpr_callbacks_t cb = { on_open, on_data, on_gap, on_close, on_flow_end };
    tcpr_ctx_t *reasm = tcpr_create(NULL, &cb, &app);
    if (reasm == NULL) {
        fprintf(stderr, "iwdump: out of memory\n");
        pcapin_close(in);
        return EXIT_USAGE;
    }
    if (app.opt.iface) {
        g_live_in = in;
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
    }
    pcapin_status_t st = pcapin_run(in, reasm, 0);
    int rc = 0;
    if (st == PCAPIN_ERROR) {
        fprintf(stderr, "iwdump: read error: %s\n", pcapin_error(in));
        rc = EXIT_USAGE;
    }
    tcpr_flush(reasm);
    tcpr_destroy(reasm);
    g_live_in = NULL;
    pcapin_close(in);
    if (fflush(app.out) != 0) {
        fprintf(stderr, "iwdump: write error\n");
        rc = EXIT_USAGE;
    }
    if (app.oom) {
        fprintf(stderr, "iwdump: out of memory: some data was not decoded\n");
        rc = EXIT_USAGE;
    }
    if (rc == 0 && (app.errors > 0 || (app.opt.strict && app.warnings > 0)))
        rc = EXIT_MALFORMED;
    if (!app.opt.quiet)
        fprintf(stderr, "iwdump: %" PRIu64 " MPA connection(s), %" PRIu64 " error(s), %" PRIu64
                        " warning(s)%s\n",
                app.flows_mpa, app.errors, app.warnings, app.opt.strict ? " (--strict)" : "");
    return rc;
}
