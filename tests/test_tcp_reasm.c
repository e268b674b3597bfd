/*
 * test_tcp_reasm.c - unit and end-to-end tests for iwdump's TCP reassembler
 * (tools/iwdump/tcp_reasm.c) and packet decoder (tools/iwdump/pcap_input.c).
 *
 * Build (from the repository root):
 *   gcc -std=c11 -Wall -Wextra -Werror -D_DEFAULT_SOURCE -g \
 *       -fsanitize=address,undefined -Itools/iwdump \
 *       tests/test_tcp_reasm.c tools/iwdump/tcp_reasm.c tools/iwdump/pcap_input.c \
 *       -lcmocka -lpcap -o test_tcp_reasm
 *
 * The end-to-end test reads the captures in $IWDUMP_CAPTURES_DIR (default
 * IWDUMP_CAPTURES_DIR below); it is skipped if that directory is missing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "pcap_input.h"
#include "tcp_reasm.h"

#ifndef IWDUMP_CAPTURES_DIR
#define IWDUMP_CAPTURES_DIR "/work/shared/captures"
#endif

/* ======================================================================== */
/* Event recorder: callbacks that check the delivery contract and keep the
 * reassembled streams.  Gap bytes are stored as GAP_FILL in the stream copy. */

#define MAX_FLOWS 16
#define MAX_GAPS 8
#define GAP_FILL 0xEEu

typedef struct rec_dir {
    uint8_t *buf;            /* stream copy: data, GAP_FILL for gaps */
    size_t len;
    size_t cap;
    bool nocopy;             /* stream copy abandoned (huge gap) */
    uint64_t next;           /* expected next offset */
    uint64_t data_bytes;
    uint64_t gap_bytes;
    unsigned data_events;
    unsigned gap_events;
    uint64_t gap_off[MAX_GAPS];
    size_t gap_len[MAX_GAPS];
    uint64_t fnv;            /* FNV-1a-64 of the data bytes */
    int close_count;
    tcpr_close_reason_t reason;
} rec_dir_t;

typedef struct rec_flow {
    uint64_t id;
    tcpr_endpoint_t client;
    tcpr_endpoint_t server;
    bool from_syn;
    bool ended;
    rec_dir_t d[2];
    tcpr_dir_stats_t st[2];  /* copied at on_flow_end */
} rec_flow_t;

typedef struct rec {
    rec_flow_t f[MAX_FLOWS];
    unsigned nflows;
    unsigned errors;         /* contract violations seen in callbacks */
    tcpr_ctx_t *ctx;         /* for the re-entrancy test */
    tcpr_err_t reentry_rc;
} rec_t;

static uint64_t fnv_step(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

static rec_flow_t *rec_flow(rec_t *r, const tcpr_flow_t *flow)
{
    const uint64_t id = tcpr_flow_id(flow);
    assert_true(id < MAX_FLOWS);
    return &r->f[id];
}

static void rec_append(rec_dir_t *d, const uint8_t *p, size_t n)
{
    if (p == NULL && n > (1u << 20)) {
        d->nocopy = true; /* keep memory small in the 10 GiB test */
    }
    if (d->nocopy) {
        return;
    }
    if (d->len + n > d->cap) {
        size_t nc = d->cap ? d->cap : 256;
        while (nc < d->len + n) {
            nc *= 2;
        }
        d->buf = realloc(d->buf, nc);
        assert_non_null(d->buf);
        d->cap = nc;
    }
    if (p != NULL) {
        memcpy(d->buf + d->len, p, n);
    } else {
        memset(d->buf + d->len, GAP_FILL, n);
    }
    d->len += n;
}

static void cb_open(void *user, tcpr_flow_t *flow)
{
    rec_t *r = user;
    rec_flow_t *f = rec_flow(r, flow);
    assert_int_equal(tcpr_flow_id(flow), r->nflows);
    r->nflows++;
    memset(f, 0, sizeof *f);
    f->id = tcpr_flow_id(flow);
    f->client = *tcpr_flow_src(flow, TCPR_DIR_C2S);
    f->server = *tcpr_flow_dst(flow, TCPR_DIR_C2S);
    f->from_syn = tcpr_flow_client_from_syn(flow);
    f->d[0].fnv = f->d[1].fnv = UINT64_C(0xcbf29ce484222325);
}

static void cb_data(void *user, tcpr_flow_t *flow, tcpr_dir_t dir, uint64_t off,
                    const uint8_t *data, size_t len, const tcpr_time_t *ts)
{
    rec_t *r = user;
    rec_dir_t *d = &rec_flow(r, flow)->d[dir];
    r->errors += (off != d->next) + (len == 0) + (d->close_count != 0) + (ts == NULL);
    rec_append(d, data, len);
    d->fnv = fnv_step(d->fnv, data, len);
    d->next = off + len;
    d->data_bytes += len;
    d->data_events++;
    if (r->ctx != NULL) { /* must be refused from inside a callback */
        tcpr_segment_t s;
        memset(&s, 0, sizeof s);
        s.src = *tcpr_flow_src(flow, dir);
        s.dst = *tcpr_flow_dst(flow, dir);
        r->reentry_rc = tcpr_input(r->ctx, &s);
    }
}

static void cb_gap(void *user, tcpr_flow_t *flow, tcpr_dir_t dir, uint64_t off,
                   size_t missing)
{
    rec_t *r = user;
    rec_dir_t *d = &rec_flow(r, flow)->d[dir];
    r->errors += (off != d->next) + (missing == 0) + (d->close_count != 0);
    if (d->gap_events < MAX_GAPS) {
        d->gap_off[d->gap_events] = off;
        d->gap_len[d->gap_events] = missing;
    }
    rec_append(d, NULL, missing);
    d->next = off + missing;
    d->gap_bytes += missing;
    d->gap_events++;
}

static void cb_close(void *user, tcpr_flow_t *flow, tcpr_dir_t dir,
                     tcpr_close_reason_t reason)
{
    rec_t *r = user;
    rec_dir_t *d = &rec_flow(r, flow)->d[dir];
    d->close_count++;
    d->reason = reason;
    r->errors += d->close_count != 1;
}

static void cb_end(void *user, tcpr_flow_t *flow)
{
    rec_t *r = user;
    rec_flow_t *f = rec_flow(r, flow);
    r->errors += f->ended || f->d[0].close_count != 1 || f->d[1].close_count != 1;
    f->ended = true;
    f->st[0] = *tcpr_flow_stats(flow, TCPR_DIR_C2S);
    f->st[1] = *tcpr_flow_stats(flow, TCPR_DIR_S2C);
}

static const tcpr_callbacks_t rec_cbs = {cb_open, cb_data, cb_gap, cb_close, cb_end};

static void rec_free(rec_t *r)
{
    for (unsigned i = 0; i < MAX_FLOWS; i++) {
        free(r->f[i].d[0].buf);
        free(r->f[i].d[1].buf);
    }
    memset(r, 0, sizeof *r);
}

/* ======================================================================== */
/* Segment construction helpers. */

static const uint8_t IP_A[4] = {192, 168, 1, 1};
static const uint8_t IP_B[4] = {192, 168, 1, 2};
static const uint8_t IP6_A[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
static const uint8_t IP6_B[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

/** Deterministic content of stream byte `off` of a test stream. */
static uint8_t pat(uint64_t off) { return (uint8_t)(off * 7u + 3u); }

/** Pattern buffer: byte i is pat(i); large enough for every test. */
static uint8_t PATTERN[70000];

static void init_pattern(void)
{
    for (size_t i = 0; i < sizeof PATTERN; i++) {
        PATTERN[i] = pat(i);
    }
}

typedef struct conn {
    tcpr_endpoint_t a;  /* client */
    tcpr_endpoint_t b;  /* server */
    uint32_t isn_a;
    uint32_t isn_b;
} conn_t;

static conn_t conn_v4(uint16_t pa, uint16_t pb, uint32_t isn_a, uint32_t isn_b)
{
    conn_t c;
    tcpr_endpoint_v4(&c.a, IP_A, pa);
    tcpr_endpoint_v4(&c.b, IP_B, pb);
    c.isn_a = isn_a;
    c.isn_b = isn_b;
    return c;
}

static int64_t g_time; /* monotonically increasing fake clock (ns) */

/** Send one segment. dir 0: a->b, 1: b->a. off = stream offset. */
static tcpr_err_t send_seg(tcpr_ctx_t *ctx, const conn_t *c, int dir, uint8_t flags,
                           uint64_t off, const uint8_t *data, size_t len)
{
    tcpr_segment_t s;
    memset(&s, 0, sizeof s);
    s.src = dir == 0 ? c->a : c->b;
    s.dst = dir == 0 ? c->b : c->a;
    const uint32_t isn = dir == 0 ? c->isn_a : c->isn_b;
    s.seq = (flags & TCPR_SYN) ? isn : (uint32_t)(isn + 1u + (uint32_t)off);
    /* Acknowledge the peer's SYN (enough for these tests). */
    s.ack = (uint32_t)((dir == 0 ? c->isn_b : c->isn_a) + 1u);
    s.flags = flags;
    s.payload = data;
    s.payload_len = len;
    g_time += 1000;
    s.ts.sec = g_time / 1000000000;
    s.ts.nsec = (uint32_t)(g_time % 1000000000);
    return tcpr_input(ctx, &s);
}

/** Send pattern bytes [off, off+len) of the stream in direction dir. */
static void send_pat(tcpr_ctx_t *ctx, const conn_t *c, int dir, uint64_t off, size_t len)
{
    assert_int_equal(send_seg(ctx, c, dir, TCPR_ACK, off, PATTERN + off, len), TCPR_OK);
}

static void handshake(tcpr_ctx_t *ctx, const conn_t *c)
{
    assert_int_equal(send_seg(ctx, c, 0, TCPR_SYN, 0, NULL, 0), TCPR_OK);
    assert_int_equal(send_seg(ctx, c, 1, TCPR_SYN | TCPR_ACK, 0, NULL, 0), TCPR_OK);
    assert_int_equal(send_seg(ctx, c, 0, TCPR_ACK, 0, NULL, 0), TCPR_OK);
}

/** Assert that stream bytes [from, to) of d equal the pattern. */
static void assert_pattern(const rec_dir_t *d, size_t from, size_t to)
{
    assert_true(to <= d->len);
    for (size_t i = from; i < to; i++) {
        if (d->buf[i] != pat(i)) {
            fail_msg("stream byte %zu is 0x%02x, expected 0x%02x", i, d->buf[i], pat(i));
        }
    }
}

static tcpr_ctx_t *new_ctx(rec_t *r, const tcpr_config_t *cfg)
{
    memset(r, 0, sizeof *r);
    tcpr_ctx_t *ctx = tcpr_create(cfg, &rec_cbs, r);
    assert_non_null(ctx);
    return ctx;
}

static void finish(tcpr_ctx_t *ctx, rec_t *r)
{
    assert_int_equal(tcpr_flush(ctx), TCPR_OK);
    assert_int_equal(r->errors, 0);
    tcpr_destroy(ctx);
}

/* ======================================================================== */
/* Unit tests. */

static void test_in_order(void **state)
{
    (void)state;
    rec_t r;
    tcpr_ctx_t *ctx = new_ctx(&r, NULL);
    const conn_t c = conn_v4(40000, 4210, 1000, 5000);
    handshake(ctx, &c);
    send_pat(ctx, &c, 0, 0, 100);
    send_pat(ctx, &c, 0, 100, 1460);
    send_pat(ctx, &c, 1, 0, 20);
    send_pat(ctx, &c, 0, 1560, 1);
    assert_int_equal(send_seg(ctx, &c, 0, TCPR_FIN | TCPR_ACK, 1561, NULL, 0), TCPR_OK);
    /* The FIN closed the c2s direction right away; s2c is still open. */
    assert_int_equal(r.f[0].d[0].close_count, 1);
    assert_int_equal(r.f[0].d[0].reason, TCPR_CLOSE_FIN);
    assert_int_equal(r.f[0].d[1].close_count, 0);
    assert_int_equal(send_seg(ctx, &c, 1, TCPR_FIN | TCPR_ACK, 20, NULL, 0), TCPR_OK);
    assert_int_equal(r.f[0].d[1].reason, TCPR_CLOSE_FIN);
    /* A late ACK must not create a new flow. */
    assert_int_equal(send_seg(ctx, &c, 0, TCPR_ACK, 1562, NULL, 0), TCPR_OK);
    assert_int_equal(r.nflows, 1);

    const rec_flow_t *f = &r.f[0];
    assert_true(f->from_syn);
    assert_int_equal(f->client.port, 40000);
    assert_int_equal(f->server.port, 4210);
    assert_int_equal(f->d[0].len, 1561);
    assert_pattern(&f->d[0], 0, 1561);
    assert_int_equal(f->d[1].len, 20);
    assert_pattern(&f->d[1], 0, 20);
    assert_int_equal(f->d[0].data_events, 3); /* in-order data is not merged */
    assert_int_equal(f->d[0].gap_events + f->d[1].gap_events, 0);
    finish(ctx, &r);
    assert_true(r.f[0].ended);
    assert_int_equal(r.f[0].st[0].retransmitted_bytes, 0);
    assert_int_equal(r.f[0].st[0].out_of_order_segments, 0);
    assert_int_equal(r.f[0].st[0].delivered_bytes, 1561);
    rec_free(&r);
}

static void test_retransmission_exact(void **state)
{
    (void)state;
    rec_t r;
    tcpr_ctx_t *ctx = new_ctx(&r, NULL);
    const conn_t c = conn_v4(40001, 4210, 77, 99);
    handshake(ctx, &c);
    send_pat(ctx, &c, 0, 0, 500);
    send_pat(ctx, &c, 0, 0, 500);   /* exact duplicate */
    send_pat(ctx, &c, 0, 500, 500);
    send_pat(ctx, &c, 0, 500, 500); /* duplicate again */
    send_pat(ctx, &c, 0, 0, 1000);  /* retransmission covering both */
    assert_int_equal(send_seg(ctx, &c, 0, TCPR_SYN, 0, NULL, 0), TCPR_OK); /* dup SYN */
    assert_int_equal(r.nflows, 1);
    const rec_dir_t *d = &r.f[0].d[0];
    assert_int_equal(d->len, 1000);
    assert_pattern(d, 0, 1000);
    assert_int_equal(d->data_events, 2);
    finish(ctx, &r);
    assert_int_equal(r.f[0].st[0].retransmitted_bytes, 2000);
    assert_int_equal(r.f[0].st[0].retransmitted_segments, 3);
    assert_int_equal(r.f[0].d[0].reason, TCPR_CLOSE_END_OF_CAPTURE);
    rec_free(&r);
}

static void test_retransmission_overlap(void **state)
{
    (void)state;
    rec_t r;
    tcpr_ctx_t *ctx = new_ctx(&r, NULL);
    const conn_t c = conn_v4(40002, 4210, 1, 2);
    handshake(ctx, &c);
    send_pat(ctx, &c, 0, 0, 100);
    send_pat(ctx, &c, 0, 50, 100);   /* overlaps delivered bytes 50..99 */
    send_pat(ctx, &c, 0, 300, 100);  /* out of order: 300..399 */
    send_pat(ctx, &c, 0, 250, 100);  /* overlaps the buffered chunk */
    /* Conflicting copy of buffered bytes 300..309: the first copy wins. */
    uint8_t junk[10];
    for (size_t i = 0; i < sizeof junk; i++) {
        junk[i] = (uint8_t)~pat(300 + i); /* every byte differs */
    }
    assert_int_equal(send_seg(ctx, &c, 0, TCPR_ACK, 300, junk, sizeof junk), TCPR_OK);
    send_pat(ctx, &c, 0, 140, 130);  /* fills 150..249, overlaps both sides */
    const rec_dir_t *d = &r.f[0].d[0];
    assert_int_equal(d->len, 400);
    assert_pattern(d, 0, 400);
    assert_int_equal(d->gap_events, 0);
    finish(ctx, &r);
    const tcpr_dir_stats_t *st = &r.f[0].st[0];
    /* 50 (delivered) + 50 (300..349) + 10 (junk) + 10 (140..149) + 20 (250..269) */
    assert_int_equal(st->retransmitted_bytes, 140);
    assert_int_equal(st->overlap_conflict_bytes, 10);
    assert_int_equal(st->delivered_bytes, 400);
    rec_free(&r);
}

static void test_out_of_order(void **state)
{
    (void)state;
    rec_t r;
    tcpr_ctx_t *ctx = new_ctx(&r, NULL);
    const conn_t c = conn_v4(40003, 4210, 0x12345678u, 0x9abcdef0u);
    handshake(ctx, &c);
    send_pat(ctx, &c, 0, 300, 100);
    send_pat(ctx, &c, 0, 100, 100);
    send_pat(ctx, &c, 0, 200, 100);
    assert_int_equal(r.f[0].d[0].len, 0); /* nothing before the hole arrives */
    send_pat(ctx, &c, 0, 0, 100);
    const rec_dir_t *d = &r.f[0].d[0];
    assert_int_equal(d->len, 400);
    assert_pattern(d, 0, 400);
    assert_int_equal(d->gap_events, 0);
    finish(ctx, &r);
    assert_int_equal(r.f[0].st[0].out_of_order_segments, 3);
    assert_int_equal(r.f[0].st[0].retransmitted_bytes, 0);
    assert_true(r.f[0].st[0].max_buffered_bytes >= 300);
    rec_free(&r);
}

/** A hole that is never filled: one GAP with the exact size, then the rest. */
static void test_permanent_hole(void **state)
{
    (void)state;
    rec_t r;
    tcpr_ctx_t *ctx = new_ctx(&r, NULL);
    const conn_t c = conn_v4(40004, 4210, 10, 20);
    handshake(ctx, &c);
    send_pat(ctx, &c, 0, 0, 1000);
    send_pat(ctx, &c, 0, 1777, 223);  /* hole 1000..1776 (777 bytes) */
    send_pat(ctx, &c, 0, 2000, 1000);
    assert_int_equal(r.f[0].d[0].len, 1000);
    assert_int_equal(send_seg(ctx, &c, 0, TCPR_FIN | TCPR_ACK, 3000, NULL, 0), TCPR_OK);
    assert_int_equal(r.f[0].d[0].close_count, 0); /* FIN waits behind the hole */
    assert_int_equal(tcpr_flush(ctx), TCPR_OK);
    const rec_dir_t *d = &r.f[0].d[0];
    assert_int_equal(d->gap_events, 1);
    assert_int_equal(d->gap_off[0], 1000);
    assert_int_equal(d->gap_len[0], 777);
    assert_int_equal(d->len, 3000);
    assert_pattern(d, 0, 1000);
    assert_pattern(d, 1777, 3000);
    assert_int_equal(d->reason, TCPR_CLOSE_FIN); /* the FIN was reached */
    assert_int_equal(r.f[0].d[1].reason, TCPR_CLOSE_END_OF_CAPTURE);
    assert_int_equal(r.f[0].st[0].gap_bytes, 777);
    assert_int_equal(r.errors, 0);
    tcpr_destroy(ctx);
    rec_free(&r);
}

/** The hole is declared when the buffer bound would be exceeded. */
static void test_hole_buffer_bound(void **state)
{
    (void)state;
    rec_t r;
    tcpr_config_t cfg;
    tcpr_config_init(&cfg);
    cfg.max_buffer_bytes = 4096; /* data + per-chunk overhead */
    tcpr_ctx_t *ctx = new_ctx(&r, &cfg);
    const conn_t c = conn_v4(40005, 4210, 0, 0);
    handshake(ctx, &c);
    send_pat(ctx, &c, 0, 0, 100);
    /* hole 100..199; then 1000-byte segments: the 4th cannot be buffered */
    for (uint64_t off = 200; off < 200 + 6000; off += 1000) {
        send_pat(ctx, &c, 0, off, 1000);
    }
    const rec_dir_t *d = &r.f[0].d[0];
    assert_int_equal(d->gap_events, 1);
    assert_int_equal(d->gap_off[0], 100);
    assert_int_equal(d->gap_len[0], 100);
    assert_int_equal(d->len, 6200); /* everything after the hole delivered */
    assert_pattern(d, 200, 6200);
    /* Late arrival of the lost bytes is a retransmission now. */
    send_pat(ctx, &c, 0, 100, 100);
    assert_int_equal(d->len, 6200);
    /* A hole followed by a segment larger than the whole bound. */
    send_pat(ctx, &c, 0, 7000, 5000);
    assert_int_equal(d->gap_events, 2);
    assert_int_equal(d->gap_off[1], 6200);
    assert_int_equal(d->gap_len[1], 800);
    assert_int_equal(d->len, 12000);
    assert_pattern(d, 7000, 12000);

    /* Under pressure, a segment that lands in the FIRST hole (before the
       buffered data) is delivered: only the bytes before it are lost. */
    const conn_t c2 = conn_v4(40025, 4210, 0, 0);
    handshake(ctx, &c2);
    send_pat(ctx, &c2, 0, 0, 100);
    send_pat(ctx, &c2, 0, 3000, 1000);
    send_pat(ctx, &c2, 0, 4000, 1000);
    send_pat(ctx, &c2, 0, 5000, 1000);
    send_pat(ctx, &c2, 0, 1000, 1000); /* does not fit: hole 100..999 lost */
    const rec_dir_t *d2 = &r.f[1].d[0];
    assert_int_equal(d2->gap_events, 1);
    assert_int_equal(d2->gap_off[0], 100);
    assert_int_equal(d2->gap_len[0], 900);
    assert_int_equal(d2->len, 2000);
    assert_pattern(d2, 1000, 2000);
    assert_int_equal(tcpr_flush(ctx), TCPR_OK);
    assert_int_equal(d2->gap_events, 2);
    assert_int_equal(d2->gap_off[1], 2000);
    assert_int_equal(d2->gap_len[1], 1000);
    assert_int_equal(d2->len, 6000);
    assert_pattern(d2, 3000, 6000);
    assert_int_equal(r.errors, 0);
    tcpr_destroy(ctx);
    assert_true(r.f[0].st[0].max_buffered_bytes <= 4096);
    assert_true(r.f[1].st[0].max_buffered_bytes <= 4096);
    rec_free(&r);
}

/** gap_after_bytes declares a hole once enough data piled up behind it. */
static void test_hole_gap_after(void **state)
{
    (void)state;
    rec_t r;
    tcpr_config_t cfg;
    tcpr_config_init(&cfg);
    cfg.gap_after_bytes = 2500;
    tcpr_ctx_t *ctx = new_ctx(&r, &cfg);
    const conn_t c = conn_v4(40006, 4210, 0, 0);
    handshake(ctx, &c);
    send_pat(ctx, &c, 0, 0, 10);
    send_pat(ctx, &c, 0, 1010, 1000);
    send_pat(ctx, &c, 0, 2010, 1000);
    assert_int_equal(r.f[0].d[0].gap_events, 0);
    send_pat(ctx, &c, 0, 3010, 1000); /* > 2500 buffered: hole 10..1009 lost */
    const rec_dir_t *d = &r.f[0].d[0];
    assert_int_equal(d->gap_events, 1);
    assert_int_equal(d->gap_off[0], 10);
    assert_int_equal(d->gap_len[0], 1000);
    assert_int_equal(d->len, 4010);
    assert_pattern(d, 1010, 4010);
    finish(ctx, &r);
    rec_free(&r);
}

/** gap_on_ack: the peer acknowledged bytes the capture never saw. */
static void test_hole_acked(void **state)
{
    (void)state;
    rec_t r;
    tcpr_config_t cfg;
    tcpr_config_init(&cfg);
    cfg.gap_on_ack = true;
    tcpr_ctx_t *ctx = new_ctx(&r, &cfg);
    const conn_t c = conn_v4(40007, 4210, 1000, 2000);
    handshake(ctx, &c);
    send_pat(ctx, &c, 0, 0, 100);
    send_pat(ctx, &c, 0, 150, 50); /* hole 100..149 */
    tcpr_segment_t s;
    memset(&s, 0, sizeof s);
    s.src = c.b;
    s.dst = c.a;
    s.seq = c.isn_b + 1u;
    s.flags = TCPR_ACK;
    s.ack = c.isn_a + 1u + 120u; /* acks into the hole */
    assert_int_equal(tcpr_input(ctx, &s), TCPR_OK);
    /* Only the acknowledged part of the hole is certainly lost: 100..119.
       120..149 may still come (a retransmission). */
    const rec_dir_t *d = &r.f[0].d[0];
    assert_int_equal(d->gap_events, 1);
    assert_int_equal(d->gap_off[0], 100);
    assert_int_equal(d->gap_len[0], 20);
    assert_int_equal(d->len, 120);
    s.ack = c.isn_a + 1u + 260u; /* acks the rest, and 60 bytes never seen */
    assert_int_equal(tcpr_input(ctx, &s), TCPR_OK);
    assert_int_equal(d->gap_events, 3);
    assert_int_equal(d->gap_off[1], 120);
    assert_int_equal(d->gap_len[1], 30);
    assert_int_equal(d->gap_off[2], 200);
    assert_int_equal(d->gap_len[2], 60);
    assert_pattern(d, 150, 200);
    finish(ctx, &r);
    rec_free(&r);
}

/** Sequence numbers wrap around 2^32 inside the stream. */
static void test_seq_wraparound(void **state)
{
    (void)state;
    rec_t r;
    tcpr_ctx_t *ctx = new_ctx(&r, NULL);
    const conn_t c = conn_v4(40008, 4210, 0xFFFFFE00u, 0xFFFFFFFFu);
    handshake(ctx, &c);
    /* c2s: base 0xFFFFFE01: offset 510 is seq 0xFFFFFFFF, 511 is seq 0. */
    send_pat(ctx, &c, 0, 0, 400);
    send_pat(ctx, &c, 0, 800, 400);  /* beyond the wrap, out of order */
    send_pat(ctx, &c, 0, 400, 400);  /* crosses the wrap */
    send_pat(ctx, &c, 0, 300, 200);  /* retransmission across nothing new */
    /* s2c: ISN 0xFFFFFFFF, so offset 0 is seq 0 exactly. */
    send_pat(ctx, &c, 1, 0, 10);
    const rec_dir_t *d = &r.f[0].d[0];
    assert_int_equal(d->len, 1200);
    assert_pattern(d, 0, 1200);
    assert_int_equal(r.f[0].d[1].len, 10);
    finish(ctx, &r);
    assert_int_equal(r.f[0].st[0].retransmitted_bytes, 200);
    assert_int_equal(r.f[0].st[0].gap_bytes, 0);
    rec_free(&r);
}

/**
 * Offsets stay 64-bit across many sequence-space wraps: ten 1 GiB holes,
 * each declared lost (tiny buffer bound) when the next segment arrives,
 * move the stream past 10 GiB, i.e. two and a half wraps of 2^32.
 */
static void test_seq_many_wraps(void **state)
{
    (void)state;
    rec_t r;
    tcpr_config_t cfg;
    tcpr_config_init(&cfg);
    cfg.max_buffer_bytes = 64;
    tcpr_ctx_t *ctx = new_ctx(&r, &cfg);
    const conn_t c = conn_v4(40009, 4210, 0xFFFFFF9Bu, 1);
    handshake(ctx, &c);
    send_pat(ctx, &c, 0, 0, 100);
    const uint64_t step = UINT64_C(0x40000000) + 100u; /* < 2^31 ahead */
    uint64_t off = 0;
    for (unsigned k = 1; k <= 10; k++) {
        off += step;
        assert_int_equal(send_seg(ctx, &c, 0, TCPR_ACK, off, PATTERN, 100), TCPR_OK);
    }
    const rec_dir_t *d = &r.f[0].d[0];
    assert_int_equal(d->gap_events, 10);
    assert_int_equal(d->gap_off[0], 100);
    assert_int_equal(d->gap_len[0], step - 100u);
    assert_int_equal(d->next, off + 100u);
    assert_true(d->next > UINT64_C(10) * 1024u * 1024u * 1024u);
    assert_int_equal(d->data_bytes, 1100);
    assert_int_equal(d->gap_bytes, 10u * (step - 100u));
    finish(ctx, &r);
    rec_free(&r);
}

/** Two connections interleaved segment by segment. */
static void test_two_flows_interleaved(void **state)
{
    (void)state;
    rec_t r;
    tcpr_ctx_t *ctx = new_ctx(&r, NULL);
    const conn_t c1 = conn_v4(40010, 4210, 100, 200);
    const conn_t c2 = conn_v4(40011, 4210, 300, 400);
    handshake(ctx, &c1);
    handshake(ctx, &c2);
    for (uint64_t off = 0; off < 3000; off += 500) {
        send_pat(ctx, &c1, 0, off, 500);
        send_pat(ctx, &c2, 1, off + 10, 500);  /* c2 s2c: hole 0..9 for now */
        send_pat(ctx, &c2, 0, off / 2, 250);
        send_pat(ctx, &c1, 1, off / 2, 250);
    }
    send_pat(ctx, &c2, 1, 0, 10);              /* fill c2's hole */
    assert_int_equal(r.nflows, 2);
    assert_int_equal(r.f[0].client.port, 40010);
    assert_int_equal(r.f[1].client.port, 40011);
    assert_int_equal(r.f[0].d[0].len, 3000);
    assert_int_equal(r.f[0].d[1].len, 1500);
    assert_int_equal(r.f[1].d[0].len, 1500);
    assert_int_equal(r.f[1].d[1].len, 3010);
    assert_pattern(&r.f[0].d[0], 0, 3000);
    assert_pattern(&r.f[1].d[1], 0, 3010);
    finish(ctx, &r);
    assert_int_equal(r.f[0].st[0].gap_bytes + r.f[1].st[1].gap_bytes, 0);
    rec_free(&r);
}

static void test_ipv6(void **state)
{
    (void)state;
    rec_t r;
    tcpr_ctx_t *ctx = new_ctx(&r, NULL);
    conn_t c;
    tcpr_endpoint_v6(&c.a, IP6_A, 50000);
    tcpr_endpoint_v6(&c.b, IP6_B, 4210);
    c.isn_a = 7;
    c.isn_b = 8;
    /* An IPv4 connection with the same ports must be a different flow. */
    const conn_t c4 = conn_v4(50000, 4210, 7, 8);
    handshake(ctx, &c);
    handshake(ctx, &c4);
    send_pat(ctx, &c, 0, 100, 100);
    send_pat(ctx, &c4, 0, 0, 50);
    send_pat(ctx, &c, 0, 0, 100);
    assert_int_equal(r.nflows, 2);
    assert_int_equal(r.f[0].client.family, TCPR_AF_INET6);
    assert_memory_equal(r.f[0].client.addr, IP6_A, 16);
    assert_int_equal(r.f[0].d[0].len, 200);
    assert_pattern(&r.f[0].d[0], 0, 200);
    assert_int_equal(r.f[1].d[0].len, 50);
    char buf[TCPR_ENDPOINT_STRLEN];
    assert_string_equal(tcpr_endpoint_str(&r.f[0].client, buf, sizeof buf), "[2001:db8::1]:50000");
    assert_string_equal(tcpr_endpoint_str(&r.f[1].server, buf, sizeof buf), "192.168.1.2:4210");
    finish(ctx, &r);
    rec_free(&r);
}

/** RST closes both directions at once, announcing a pending hole. */
static void test_rst(void **state)
{
    (void)state;
    rec_t r;
    tcpr_ctx_t *ctx = new_ctx(&r, NULL);
    const conn_t c = conn_v4(40012, 4210, 5, 6);
    handshake(ctx, &c);
    send_pat(ctx, &c, 0, 0, 10);
    send_pat(ctx, &c, 0, 20, 10);  /* hole 10..19 */
    send_pat(ctx, &c, 1, 0, 5);
    assert_int_equal(send_seg(ctx, &c, 1, TCPR_RST, 5, NULL, 0), TCPR_OK);
    const rec_flow_t *f = &r.f[0];
    assert_int_equal(f->d[0].close_count, 1);
    assert_int_equal(f->d[1].close_count, 1);
    assert_int_equal(f->d[0].reason, TCPR_CLOSE_RST);
    assert_int_equal(f->d[1].reason, TCPR_CLOSE_RST);
    assert_int_equal(f->d[0].gap_events, 1);
    assert_int_equal(f->d[0].gap_len[0], 10);
    assert_int_equal(f->d[0].len, 30);
    /* Data after the RST is ignored and counted. */
    send_pat(ctx, &c, 0, 30, 10);
    assert_int_equal(f->d[0].len, 30);
    finish(ctx, &r);
    assert_int_equal(r.f[0].st[0].after_close_bytes, 10);
    rec_free(&r);
}

/** FIN out of order and FIN beyond a hole that is filled later. */
static void test_fin_out_of_order(void **state)
{
    (void)state;
    rec_t r;
    tcpr_ctx_t *ctx = new_ctx(&r, NULL);
    const conn_t c = conn_v4(40013, 4210, 5, 6);
    handshake(ctx, &c);
    send_pat(ctx, &c, 0, 0, 10);
    /* FIN carried by a data segment that arrives before its predecessor */
    assert_int_equal(send_seg(ctx, &c, 0, TCPR_FIN | TCPR_ACK, 20, PATTERN + 20, 10), TCPR_OK);
    assert_int_equal(r.f[0].d[0].close_count, 0);
    send_pat(ctx, &c, 0, 10, 10);
    assert_int_equal(r.f[0].d[0].close_count, 1);
    assert_int_equal(r.f[0].d[0].reason, TCPR_CLOSE_FIN);
    assert_int_equal(r.f[0].d[0].len, 30);
    assert_pattern(&r.f[0].d[0], 0, 30);
    /* Data beyond the FIN is ignored. */
    send_pat(ctx, &c, 0, 30, 5);
    assert_int_equal(r.f[0].d[0].len, 30);
    finish(ctx, &r);
    assert_int_equal(r.f[0].st[0].after_close_bytes, 5);
    rec_free(&r);
}

/** Bytes cut by the snapshot length become a gap right away. */
static void test_snapped_segment(void **state)
{
    (void)state;
    rec_t r;
    tcpr_ctx_t *ctx = new_ctx(&r, NULL);
    const conn_t c = conn_v4(40014, 4210, 5, 6);
    handshake(ctx, &c);
    tcpr_segment_t s;
    memset(&s, 0, sizeof s);
    s.src = c.a;
    s.dst = c.b;
    s.seq = c.isn_a + 1u;
    s.flags = TCPR_ACK;
    s.payload = PATTERN;
    s.payload_len = 40;
    s.missing_len = 1420;
    assert_int_equal(tcpr_input(ctx, &s), TCPR_OK);
    const rec_dir_t *d = &r.f[0].d[0];
    assert_int_equal(d->gap_events, 1);
    assert_int_equal(d->gap_off[0], 40);
    assert_int_equal(d->gap_len[0], 1420);
    send_pat(ctx, &c, 0, 1460, 40);
    assert_int_equal(d->len, 1500);
    assert_pattern(d, 1460, 1500);
    /* A snapped out-of-order segment after a hole: hole + snap = ONE gap. */
    s.seq = c.isn_a + 1u + 1600u;
    s.payload = NULL;
    s.payload_len = 0;
    s.missing_len = 100;
    assert_int_equal(tcpr_input(ctx, &s), TCPR_OK);
    send_pat(ctx, &c, 0, 1700, 10);
    assert_int_equal(tcpr_flush(ctx), TCPR_OK);
    assert_int_equal(d->gap_events, 2);
    assert_int_equal(d->gap_off[1], 1500);
    assert_int_equal(d->gap_len[1], 200);
    assert_int_equal(d->len, 1710);
    assert_int_equal(r.errors, 0);
    tcpr_destroy(ctx);
    rec_free(&r);
}

/** No SYN in the capture: the first sender is the client, offset 0 is its
 *  first byte; a SYN+ACK-only start makes the receiver the client. */
static void test_mid_stream_start(void **state)
{
    (void)state;
    rec_t r;
    tcpr_ctx_t *ctx = new_ctx(&r, NULL);
    const conn_t c = conn_v4(40015, 4210, 1000, 2000);
    send_pat(ctx, &c, 1, 500, 100);  /* server speaks first */
    send_pat(ctx, &c, 0, 50, 10);
    send_pat(ctx, &c, 1, 450, 50);   /* before the stream origin: dropped */
    send_pat(ctx, &c, 1, 600, 10);
    const rec_flow_t *f = &r.f[0];
    assert_false(f->from_syn);
    assert_int_equal(f->client.port, 4210); /* first sender */
    assert_int_equal(f->d[0].len, 110);
    assert_memory_equal(f->d[0].buf, PATTERN + 500, 110);
    assert_int_equal(f->d[1].len, 10);

    const conn_t c2 = conn_v4(40016, 4210, 3000, 4000);
    assert_int_equal(send_seg(ctx, &c2, 1, TCPR_SYN | TCPR_ACK, 0, NULL, 0), TCPR_OK);
    send_pat(ctx, &c2, 0, 5, 5);     /* the client's ISN comes from the */
    send_pat(ctx, &c2, 0, 0, 5);     /* SYN+ACK's ACK field: no gap */
    assert_int_equal(r.nflows, 2);
    assert_true(r.f[1].from_syn);
    assert_int_equal(r.f[1].client.port, 40016);
    assert_int_equal(r.f[1].d[0].len, 10);
    assert_int_equal(r.f[1].d[0].gap_events, 0);
    assert_pattern(&r.f[1].d[0], 0, 10);
    finish(ctx, &r);
    rec_free(&r);
}

/** A new SYN on a finished 4-tuple starts a new flow. */
static void test_port_reuse(void **state)
{
    (void)state;
    rec_t r;
    tcpr_ctx_t *ctx = new_ctx(&r, NULL);
    const conn_t c = conn_v4(40017, 4210, 5, 6);
    handshake(ctx, &c);
    send_pat(ctx, &c, 0, 0, 10);
    const conn_t c2 = conn_v4(40017, 4210, 900, 901);
    handshake(ctx, &c2);  /* the old one never closed */
    send_pat(ctx, &c2, 0, 0, 20);
    assert_int_equal(r.nflows, 2);
    assert_true(r.f[0].ended);
    assert_int_equal(r.f[0].d[0].reason, TCPR_CLOSE_SUPERSEDED);
    assert_int_equal(r.f[1].d[0].len, 20);
    assert_int_equal(tcpr_ctx_stats(ctx)->flows_active, 1);
    finish(ctx, &r);
    rec_free(&r);
}

static void test_reentrancy_and_errors(void **state)
{
    (void)state;
    rec_t r;
    tcpr_ctx_t *ctx = new_ctx(&r, NULL);
    r.ctx = ctx;
    r.reentry_rc = TCPR_OK;
    const conn_t c = conn_v4(40018, 4210, 5, 6);
    handshake(ctx, &c);
    send_pat(ctx, &c, 0, 0, 10);
    assert_int_equal(r.reentry_rc, TCPR_ERR_REENTRANT);
    r.ctx = NULL;
    assert_int_equal(tcpr_input(NULL, NULL), TCPR_ERR_INVALID);
    tcpr_segment_t s;
    memset(&s, 0, sizeof s); /* family 0 */
    assert_int_equal(tcpr_input(ctx, &s), TCPR_ERR_INVALID);
    tcpr_config_t cfg;
    tcpr_config_init(&cfg);
    cfg.max_buffer_bytes = 0;
    assert_null(tcpr_create(&cfg, NULL, NULL));
    assert_string_equal(tcpr_close_reason_str(TCPR_CLOSE_RST), "RST");
    assert_string_equal(tcpr_strerror(TCPR_ERR_NOMEM), "out of memory");
    finish(ctx, &r);
    rec_free(&r);
}

/** Idle expiry ends flows the same way as a flush. */
static void test_expire(void **state)
{
    (void)state;
    rec_t r;
    tcpr_ctx_t *ctx = new_ctx(&r, NULL);
    const conn_t c = conn_v4(40019, 4210, 5, 6);
    handshake(ctx, &c);
    send_pat(ctx, &c, 0, 10, 10);    /* hole 0..9 */
    const tcpr_time_t now = {g_time / 1000000000 + 100, 0};
    assert_int_equal(tcpr_expire(ctx, &now, UINT64_C(200) * 1000000000u), TCPR_OK);
    assert_false(r.f[0].ended);
    assert_int_equal(tcpr_expire(ctx, &now, UINT64_C(50) * 1000000000u), TCPR_OK);
    assert_true(r.f[0].ended);
    assert_int_equal(r.f[0].d[0].reason, TCPR_CLOSE_IDLE);
    assert_int_equal(r.f[0].d[0].gap_len[0], 10);
    assert_int_equal(tcpr_ctx_stats(ctx)->flows_active, 0);
    finish(ctx, &r);
    rec_free(&r);
}

/** xorshift64: deterministic pseudo-random numbers for the property test. */
static uint64_t rnd_state;

static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

/**
 * Property test: a stream is cut into random segments; segments are
 * duplicated, locally shuffled, partly overlapping and some are dropped; the
 * FIN segment always arrives.  With the default (large) buffer every byte
 * that arrived in any copy must be delivered as data, every byte that never
 * arrived must be reported in a gap, and the data must match the pattern.
 * With a tiny buffer the weaker contract must still hold: correct data,
 * contiguous offsets, data + gap bytes == stream length.
 */
static void test_random_property(void **state)
{
    (void)state;
    enum { L = 20000, MAXSEG = 2048, NSEG_MAX = 4096 };
    static uint64_t seg_off[NSEG_MAX];
    static uint32_t seg_len[NSEG_MAX];
    static uint8_t covered[L];
    rnd_state = UINT64_C(0x9e3779b97f4a7c15);
    for (unsigned trial = 0; trial < 200; trial++) {
        const bool small = (trial % 4) == 3;
        tcpr_config_t cfg;
        tcpr_config_init(&cfg);
        if (small) {
            cfg.max_buffer_bytes = 1024 + (size_t)(rnd() % 4096);
        }
        rec_t r;
        tcpr_ctx_t *ctx = new_ctx(&r, &cfg);
        const conn_t c = conn_v4(41000, 4210, (uint32_t)rnd(), (uint32_t)rnd());
        handshake(ctx, &c);
        /* Cut [0, L) into segments; add overlapping retransmissions. */
        unsigned n = 0;
        for (uint64_t off = 0; off < L && n < NSEG_MAX;) {
            const uint32_t len = 1u + (uint32_t)(rnd() % MAXSEG);
            seg_off[n] = off;
            seg_len[n] = (uint32_t)(off + len > L ? L - off : len);
            n++;
            if (rnd() % 8 == 0 && n < NSEG_MAX) { /* overlapping copy */
                const uint64_t o2 = off > 100 ? off - rnd() % 100 : off;
                seg_off[n] = o2;
                seg_len[n] = (uint32_t)((o2 + 3 * len > L) ? L - o2 : 3 * len);
                n++;
            }
            off += len;
        }
        /* Local shuffle (reordering within a window of 8). */
        for (unsigned i = 0; i + 1 < n; i++) {
            const unsigned j = i + (unsigned)(rnd() % 8u);
            if (j < n) {
                const uint64_t to = seg_off[i];
                const uint32_t tl = seg_len[i];
                seg_off[i] = seg_off[j];
                seg_len[i] = seg_len[j];
                seg_off[j] = to;
                seg_len[j] = tl;
            }
        }
        memset(covered, 0, sizeof covered);
        for (unsigned i = 0; i < n; i++) {
            const unsigned copies = rnd() % 10 == 0 ? 0u : (rnd() % 10 == 0 ? 2u : 1u);
            for (unsigned k = 0; k < copies; k++) {
                send_pat(ctx, &c, 0, seg_off[i], seg_len[i]);
            }
            if (copies > 0) {
                memset(covered + seg_off[i], 1, seg_len[i]);
            }
        }
        assert_int_equal(send_seg(ctx, &c, 0, TCPR_FIN | TCPR_ACK, L, NULL, 0), TCPR_OK);
        assert_int_equal(tcpr_flush(ctx), TCPR_OK);
        assert_int_equal(r.errors, 0);
        const rec_dir_t *d = &r.f[0].d[0];
        assert_int_equal(d->next, L);
        assert_int_equal(d->data_bytes + d->gap_bytes, L);
        assert_int_equal(d->reason, TCPR_CLOSE_FIN);
        size_t want_data = 0;
        for (size_t i = 0; i < L; i++) {
            want_data += covered[i];
            if (d->buf[i] != GAP_FILL || covered[i]) {
                /* every byte not reported as gap must be the right data */
                if (d->buf[i] != pat(i) && !(small && d->buf[i] == GAP_FILL)) {
                    fail_msg("trial %u: byte %zu = 0x%02x", trial, i, d->buf[i]);
                }
            }
            if (!small && covered[i] && d->buf[i] != pat(i)) {
                fail_msg("trial %u: received byte %zu not delivered", trial, i);
            }
        }
        if (!small) {
            assert_int_equal(d->data_bytes, want_data);
        } else {
            assert_true(r.f[0].st[0].max_buffered_bytes <= cfg.max_buffer_bytes);
        }
        tcpr_destroy(ctx);
        rec_free(&r);
    }
}

/* ======================================================================== */
/* Packet decoder tests (pcapin_decode): hand-built frames. */

#include <pcap/dlt.h>

/** Build IPv4+TCP (20-byte IP header + `ipopt` option bytes) into p. */
static size_t build_ipv4_tcp(uint8_t *p, size_t ipopt, size_t payload, uint16_t frag)
{
    const size_t ihl = 20 + ipopt;
    const size_t total = ihl + 24 + payload; /* TCP with a 4-byte MSS option */
    memset(p, 0, total);
    p[0] = (uint8_t)(0x40 | (ihl / 4));
    p[2] = (uint8_t)(total >> 8);
    p[3] = (uint8_t)total;
    p[6] = (uint8_t)(frag >> 8);
    p[7] = (uint8_t)frag;
    p[8] = 64;
    p[9] = 6;
    memcpy(p + 12, IP_A, 4);
    memcpy(p + 16, IP_B, 4);
    for (size_t i = 0; i < ipopt; i++) {
        p[20 + i] = 1; /* IP NOP options */
    }
    uint8_t *t = p + ihl;
    t[0] = 0x9c; t[1] = 0x40;               /* 40000 */
    t[2] = 0x10; t[3] = 0x72;               /* 4210 */
    t[4] = 0x01; t[5] = 0x02; t[6] = 0x03; t[7] = 0x04;
    t[8] = 0x0a; t[9] = 0x0b; t[10] = 0x0c; t[11] = 0x0d;
    t[12] = 0x60;                           /* data offset 6 (24 bytes) */
    t[13] = 0x18;                           /* PSH|ACK */
    t[20] = 2; t[21] = 4; t[22] = 0x05; t[23] = 0xb4; /* MSS 1460 */
    memcpy(t + 24, PATTERN, payload);
    return total;
}

static void check_tcp_seg(const tcpr_segment_t *s, size_t payload, size_t missing)
{
    assert_int_equal(s->src.port, 40000);
    assert_int_equal(s->dst.port, 4210);
    assert_int_equal(s->seq, 0x01020304u);
    assert_int_equal(s->ack, 0x0a0b0c0du);
    assert_int_equal(s->flags, TCPR_PSH | TCPR_ACK);
    assert_int_equal(s->payload_len, payload);
    assert_int_equal(s->missing_len, missing);
    if (payload > 0) {
        assert_memory_equal(s->payload, PATTERN, payload);
    }
}

static void test_decode_ethernet_vlan_padding(void **state)
{
    (void)state;
    uint8_t f[256];
    tcpr_segment_t s;
    pcapin_stats_t st;
    memset(&st, 0, sizeof st);
    memset(f, 0, sizeof f);
    /* Ethernet + two VLAN tags (802.1ad outer, 802.1Q inner) */
    f[12] = 0x88; f[13] = 0xa8; f[16] = 0x81; f[17] = 0x00; f[20] = 0x08; f[21] = 0x00;
    size_t n = 22 + build_ipv4_tcp(f + 22, 4, 3, 0);
    n += 20; /* trailing Ethernet padding / FCS-like junk */
    memset(f + n - 20, 0xff, 20);
    assert_int_equal(pcapin_decode(DLT_EN10MB, f, n, n, NULL, &s, &st), PCAPIN_DEC_TCP);
    check_tcp_seg(&s, 3, 0);
    assert_int_equal(s.src.family, TCPR_AF_INET4);
    assert_memory_equal(s.src.addr, IP_A, 4);
    /* Snapped: only 2 payload bytes captured of 3 */
    const size_t full = 22 + 20 + 4 + 24 + 3;
    assert_int_equal(pcapin_decode(DLT_EN10MB, f, full - 1, full, NULL, &s, &st), PCAPIN_DEC_TCP);
    check_tcp_seg(&s, 2, 1);
    assert_int_equal(st.snapped_packets, 1);
    /* Headers cut: truncated */
    assert_int_equal(pcapin_decode(DLT_EN10MB, f, 40, full, NULL, &s, &st), PCAPIN_DEC_TRUNCATED);
    /* Fragment (MF set) */
    n = 14 + build_ipv4_tcp(f + 14, 0, 3, 0x2000);
    f[12] = 0x08; f[13] = 0x00;
    assert_int_equal(pcapin_decode(DLT_EN10MB, f, n, n, NULL, &s, &st), PCAPIN_DEC_FRAGMENT);
    assert_int_equal(st.ipv4_fragments, 1);
    /* ARP is not IP */
    f[12] = 0x08; f[13] = 0x06;
    assert_int_equal(pcapin_decode(DLT_EN10MB, f, n, n, NULL, &s, &st), PCAPIN_DEC_NON_IP);
    assert_int_equal(st.truncated, 1);
    assert_int_equal(st.non_ip, 1);
}

static void test_decode_other_links(void **state)
{
    (void)state;
    uint8_t f[256];
    tcpr_segment_t s;
    memset(f, 0, sizeof f);
    /* DLT_NULL, little-endian AF_INET (2) */
    size_t n = 4 + build_ipv4_tcp(f + 4, 0, 5, 0);
    f[0] = 2; f[1] = 0; f[2] = 0; f[3] = 0;
    assert_int_equal(pcapin_decode(DLT_NULL, f, n, n, NULL, &s, NULL), PCAPIN_DEC_TCP);
    check_tcp_seg(&s, 5, 0);
    /* DLT_LOOP, big-endian AF_INET */
    f[0] = 0; f[3] = 2;
    assert_int_equal(pcapin_decode(DLT_LOOP, f, n, n, NULL, &s, NULL), PCAPIN_DEC_TCP);
    /* DLT_RAW / DLT_IPV4 */
    n = build_ipv4_tcp(f, 8, 5, 0);
    assert_int_equal(pcapin_decode(DLT_RAW, f, n, n, NULL, &s, NULL), PCAPIN_DEC_TCP);
    check_tcp_seg(&s, 5, 0);
    assert_int_equal(pcapin_decode(DLT_IPV4, f, n, n, NULL, &s, NULL), PCAPIN_DEC_TCP);
    /* Linux cooked v1: protocol at 14..15 */
    memset(f, 0, 16);
    n = 16 + build_ipv4_tcp(f + 16, 0, 1, 0);
    f[14] = 0x08;
    assert_int_equal(pcapin_decode(DLT_LINUX_SLL, f, n, n, NULL, &s, NULL), PCAPIN_DEC_TCP);
    check_tcp_seg(&s, 1, 0);
    /* Linux cooked v2: protocol at 0..1 */
    memset(f, 0, 20);
    n = 20 + build_ipv4_tcp(f + 20, 0, 1, 0);
    f[0] = 0x08;
    assert_int_equal(pcapin_decode(DLT_LINUX_SLL2, f, n, n, NULL, &s, NULL), PCAPIN_DEC_TCP);
    check_tcp_seg(&s, 1, 0);
    assert_int_equal(pcapin_decode(DLT_IEEE802_11, f, n, n, NULL, &s, NULL), PCAPIN_DEC_UNSUPPORTED_DLT);
    assert_false(pcapin_dlt_supported(DLT_IEEE802_11));
}

static void test_decode_ipv6(void **state)
{
    (void)state;
    uint8_t f[256];
    tcpr_segment_t s;
    pcapin_stats_t st;
    memset(&st, 0, sizeof st);
    memset(f, 0, sizeof f);
    /* IPv6 + Hop-by-Hop (8) + Destination Options (16) + atomic Fragment (8) + TCP */
    uint8_t *p = f;
    const size_t ext = 8 + 16 + 8, tcp = 20, payload = 7;
    p[0] = 0x60;
    p[4] = 0;
    p[5] = (uint8_t)(ext + tcp + payload);
    p[6] = 0;   /* Hop-by-Hop */
    p[7] = 64;
    memcpy(p + 8, IP6_A, 16);
    memcpy(p + 24, IP6_B, 16);
    uint8_t *e = p + 40;
    e[0] = 60; e[1] = 0;              /* HBH -> DstOpts, 8 bytes */
    e[8] = 44; e[9] = 1;              /* DstOpts -> Fragment, 16 bytes */
    e[24] = 6; e[26] = 0; e[27] = 0;  /* Fragment -> TCP, offset 0, M=0 */
    uint8_t *t = e + ext;
    t[0] = 0x9c; t[1] = 0x40; t[2] = 0x10; t[3] = 0x72;
    t[7] = 9;
    t[12] = 0x50;
    t[13] = 0x02; /* SYN */
    memcpy(t + 20, PATTERN, payload);
    size_t n = 40 + ext + tcp + payload;
    assert_int_equal(pcapin_decode(DLT_RAW, f, n, n, NULL, &s, &st), PCAPIN_DEC_TCP);
    assert_int_equal(s.src.family, TCPR_AF_INET6);
    assert_memory_equal(s.dst.addr, IP6_B, 16);
    assert_int_equal(s.seq, 9);
    assert_int_equal(s.flags, TCPR_SYN);
    assert_int_equal(s.payload_len, payload);
    assert_int_equal(pcapin_decode(DLT_IPV6, f, n, n, NULL, &s, &st), PCAPIN_DEC_TCP);
    /* A real fragment (offset 8) is dropped and counted */
    e[26] = 0x00; e[27] = 0x40;
    assert_int_equal(pcapin_decode(DLT_RAW, f, n, n, NULL, &s, &st), PCAPIN_DEC_FRAGMENT);
    assert_int_equal(st.ipv6_fragments, 1);
    /* The first fragment (offset 0, M=1) too */
    e[26] = 0x00; e[27] = 0x01;
    assert_int_equal(pcapin_decode(DLT_RAW, f, n, n, NULL, &s, &st), PCAPIN_DEC_FRAGMENT);
    assert_int_equal(st.ipv6_fragments, 2);
    /* ESP is not decodable */
    p[6] = 50;
    assert_int_equal(pcapin_decode(DLT_RAW, f, n, n, NULL, &s, &st), PCAPIN_DEC_NON_TCP);
    /* In Ethernet with an 802.1Q tag */
    p[6] = 0; e[27] = 0;
    uint8_t g[300];
    memset(g, 0, 18);
    g[12] = 0x81; g[13] = 0x00; g[16] = 0x86; g[17] = 0xdd;
    memcpy(g + 18, f, n);
    assert_int_equal(pcapin_decode(DLT_EN10MB, g, n + 18, n + 18, NULL, &s, &st), PCAPIN_DEC_TCP);
    assert_int_equal(s.payload_len, payload);
}

/* ======================================================================== */
/* End to end over the shared captures. */

/*
 * Expected flows and byte counts per capture.  Obtained independently of
 * this code with tshark 4.0.17 (/tmp script, not in the tree):
 *   - flows and client/server ports: `tshark -r F -T fields -e tcp.stream
 *     -e tcp.srcport -e tcp.dstport -e tcp.len -e tcp.flags.syn
 *     -e tcp.flags.ack` (the client is the sender of the SYN without ACK);
 *   - bytes per direction: sum of tcp.len per stream and source port
 *     (cross-checked with the payload length of `tshark -q -z
 *     follow,tcp,raw,N`, and consistent with `-z conv,tcp`);
 *   - content: FNV-1a-64 (offset basis 0xcbf29ce484222325, prime
 *     0x100000001b3) of each direction's bytes from `-z follow,tcp,raw,N`.
 * tshark `-2` analysis reports no retransmission, out-of-order, lost or
 * ACKed-unseen segment in any of these captures, none has caplen < len,
 * every connection has its SYN, SYN+ACK and both FINs, and none has a RST;
 * the test therefore also expects zero gaps, retransmitted bytes and
 * out-of-order segments, and FIN as the close reason of every direction.
 */
typedef struct expect_flow {
    const char *file;   /* relative to the captures directory */
    uint16_t cport;     /* client (SYN sender) port */
    uint16_t sport;     /* server port */
    uint64_t c2s;       /* payload bytes client -> server */
    uint64_t s2c;       /* payload bytes server -> client */
    uint64_t fnv_c2s;
    uint64_t fnv_s2c;
} expect_flow_t;

static const expect_flow_t EXPECT[] = {
    {"siw-6.1/ib_read_bw_s1000_mpa2_crcon_mtu1500.pcap", 40970, 18515, 868, 868, UINT64_C(0x5498ee4aaaddbfbb), UINT64_C(0x66d039a429d7adc9)},
    {"siw-6.1/ib_read_bw_s1000_mpa2_crcon_mtu1500.pcap", 38355, 18515, 284, 5124, UINT64_C(0xb80f44f65541909f), UINT64_C(0x92be83c6851318d2)},
    {"siw-6.1/ib_read_bw_s65536_mpa2_crcoff_mtu1500.pcap", 44165, 18515, 868, 868, UINT64_C(0x6928ae6bcbdbc485), UINT64_C(0x8cdf335120f5cbff)},
    {"siw-6.1/ib_read_bw_s65536_mpa2_crcoff_mtu1500.pcap", 56141, 18515, 284, 332304, UINT64_C(0x084c5efdf197be74), UINT64_C(0xc0c15e3422f5b9c4)},
    {"siw-6.1/ib_send_bw_s1000_mpa2_crcon_mtu1500.pcap", 37848, 18515, 708, 708, UINT64_C(0x56557803335e5c02), UINT64_C(0x853b396b977d0a94)},
    {"siw-6.1/ib_send_bw_s1000_mpa2_crcon_mtu1500.pcap", 48290, 18515, 5144, 72, UINT64_C(0x151acb42d12a7454), UINT64_C(0x47740a6d444f169f)},
    {"siw-6.1/ib_send_bw_s4_mpa2_crcoff_mtu1500.pcap", 48255, 18515, 708, 708, UINT64_C(0x06f3e1548d2e7d38), UINT64_C(0x4df8a0be6bfd10eb)},
    {"siw-6.1/ib_send_bw_s4_mpa2_crcoff_mtu1500.pcap", 55340, 18515, 164, 72, UINT64_C(0xa2df986b8a47cb39), UINT64_C(0xa109fc12642c6cfa)},
    {"siw-6.1/ib_write_bw_s1000_mpa1_crcon_mtu1500.pcap", 37792, 18515, 864, 864, UINT64_C(0xc198b1890c50dfee), UINT64_C(0xc18c1cd7ff3726eb)},
    {"siw-6.1/ib_write_bw_s1000_mpa1_crcon_mtu1500.pcap", 55985, 18515, 5120, 20, UINT64_C(0x4ad7c983ee4d9700), UINT64_C(0xa0a9a39478269141)},
    {"siw-6.1/ib_write_bw_s1000_mpa2_crcoff_mtu1500.pcap", 55100, 18515, 868, 868, UINT64_C(0x5360b046aeff14e6), UINT64_C(0xb68be0808cc6f5b3)},
    {"siw-6.1/ib_write_bw_s1000_mpa2_crcoff_mtu1500.pcap", 48972, 18515, 5124, 24, UINT64_C(0x8bb59b86761400d8), UINT64_C(0xe76025e1559918fc)},
    {"siw-6.1/ib_write_bw_s1000_mpa2_crcoff_p2prtr1_mtu1500.pcap", 50719, 18515, 920, 888, UINT64_C(0x6785fb4073fd259e), UINT64_C(0xb8d200fdec09c3f1)},
    {"siw-6.1/ib_write_bw_s1000_mpa2_crcoff_p2prtr1_mtu1500.pcap", 43313, 18515, 5176, 44, UINT64_C(0xd0fa8cdf3ffaf445), UINT64_C(0x46827a5a51602b96)},
    {"siw-6.1/ib_write_bw_s1000_mpa2_crcon_mtu1500.pcap", 37469, 18515, 868, 868, UINT64_C(0x4a13aa2a7c78adb1), UINT64_C(0x8794aa7b1028e589)},
    {"siw-6.1/ib_write_bw_s1000_mpa2_crcon_mtu1500.pcap", 38954, 18515, 5124, 24, UINT64_C(0x413a35c2b18b745d), UINT64_C(0x28ae639e99c690bc)},
    {"siw-6.1/ib_write_bw_s65536_mpa2_crcon_mtu1500.pcap", 57606, 18515, 868, 868, UINT64_C(0x1410a28aa259d060), UINT64_C(0x6bc20e25ef64fd55)},
    {"siw-6.1/ib_write_bw_s65536_mpa2_crcon_mtu1500.pcap", 35582, 18515, 332304, 24, UINT64_C(0x41bd98e84d7880ee), UINT64_C(0x28ae639e99c690bc)},
    {"siw-6.1/rping_s4000_mpa2_crcon_mtu1500.pcap", 58820, 7174, 8304, 8408, UINT64_C(0xd7fed029ead404db), UINT64_C(0xa2f09e72c4866eae)},
    {"siw-6.1/rping_s64_mpa1_crcon_mtu1500.pcap", 54287, 7174, 60, 20, UINT64_C(0x90c44651fc041b2e), UINT64_C(0xa0a9a39478269141)},
    {"siw-6.1/rping_s64_mpa2_crcoff_mtu1500.pcap", 39828, 7174, 516, 672, UINT64_C(0xee895eed13ae6b01), UINT64_C(0x1ad6d6434c09a42b)},
    {"siw-6.1/rping_s64_mpa2_crcoff_p2prtr1_mtu1500.pcap", 48679, 7174, 404, 476, UINT64_C(0x82bcbed536617825), UINT64_C(0x51a68c1489a3e02d)},
    {"siw-6.1/rping_s64_mpa2_crcon_mtu1500.pcap", 57171, 7174, 516, 672, UINT64_C(0xadf8702d5223395c), UINT64_C(0x05c1e45e7a74ccea)},
    {"softiwarp-2008/C00_M00.pcap", 60892, 4210, 27, 28, UINT64_C(0x8f8b4d17728ad65b), UINT64_C(0xf768591a01ef906e)},
    {"softiwarp-2008/C00_M00_reject.pcap", 60892, 4210, 27, 28, UINT64_C(0x8f8b4d17728ad65b), UINT64_C(0x33ee7083ec3c858e)},
    {"softiwarp-2008/C00_M11.pcap", 54363, 4210, 27, 28, UINT64_C(0xec3c492807abdbdb), UINT64_C(0x992a2947690be8ee)},
    {"softiwarp-2008/C11_M00.pcap", 49708, 4210, 27, 28, UINT64_C(0x5e2f38d51937981b), UINT64_C(0x839f87d369ea35ae)},
    {"softiwarp-2008/C11_M11.pcap", 58485, 4210, 27, 28, UINT64_C(0xbae034e5ae589d9b), UINT64_C(0x25615800d1068e2e)},
    {"softiwarp-2008/read.pcap", 39209, 4210, 1111, 1192, UINT64_C(0x27e2736acd616bdf), UINT64_C(0xe88576cce967f88a)},
    {"softiwarp-2008/snd_recv.pcap", 35959, 4210, 67, 68, UINT64_C(0x3249740d383b657e), UINT64_C(0xc6450b4c4850ce63)},
    {"softiwarp-2008/snd_recv_crc.pcap", 55866, 4210, 67, 68, UINT64_C(0x665c941f7dcebb05), UINT64_C(0x85ecb0e55e75a11c)},
    {"softiwarp-2008/snd_recv_inv.pcap", 35959, 4210, 67, 68, UINT64_C(0x225852843e8db16c), UINT64_C(0xc6450b4c4850ce63)},
    {"softiwarp-2008/snd_recv_mrkr.pcap", 51538, 4210, 71, 72, UINT64_C(0xf97cb6af66e22ace), UINT64_C(0x4065e48db1355543)},
    {"softiwarp-2008/snd_recv_se.pcap", 35959, 4210, 67, 68, UINT64_C(0x9899c2eb119530bc), UINT64_C(0xc6450b4c4850ce63)},
    {"softiwarp-2008/write.pcap", 34127, 4210, 67, 1140, UINT64_C(0x3249740d383b657e), UINT64_C(0x73bb47fd62ec6968)},
    {"softiwarp-2008/write_crc.pcap", 44763, 4210, 67, 1140, UINT64_C(0x665c941f7dcebb05), UINT64_C(0xd36c585e6461353c)},
};

#define N_EXPECT (sizeof EXPECT / sizeof EXPECT[0])
#define N_CAPTURE_FILES 27u /* 14 siw-6.1 + 13 softiwarp-2008 */

static const char *captures_dir(void)
{
    const char *d = getenv("IWDUMP_CAPTURES_DIR");
    return d != NULL && d[0] != '\0' ? d : IWDUMP_CAPTURES_DIR;
}

/** Reassemble one capture and compare with its rows of EXPECT. */
static void check_capture(const char *dir, const char *file)
{
    char path[1024], err[PCAPIN_ERRBUF_SIZE];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    pcapin_t *in = pcapin_open_file(path, "tcp", err, sizeof err);
    if (in == NULL) {
        fail_msg("%s", err);
    }
    rec_t r;
    tcpr_ctx_t *ctx = new_ctx(&r, NULL);
    assert_int_equal(pcapin_run(in, ctx, 0), PCAPIN_OK);
    assert_int_equal(tcpr_flush(ctx), TCPR_OK);
    const pcapin_stats_t *ps = pcapin_stats(in);
    assert_int_equal(ps->tcp_segments, ps->packets);
    assert_int_equal(ps->snapped_packets + ps->truncated + ps->malformed + ps->reasm_errors, 0);
    assert_string_equal(pcapin_datalink_name(in), "EN10MB");
    assert_int_equal(r.errors, 0);

    unsigned rows = 0;
    for (size_t i = 0; i < N_EXPECT; i++) {
        const expect_flow_t *e = &EXPECT[i];
        if (strcmp(e->file, file) != 0) {
            continue;
        }
        rows++;
        const rec_flow_t *f = NULL;
        for (unsigned k = 0; k < r.nflows; k++) {
            if (r.f[k].client.port == e->cport && r.f[k].server.port == e->sport) {
                f = &r.f[k];
            }
        }
        if (f == NULL) {
            fail_msg("%s: no flow %u->%u", file, e->cport, e->sport);
        }
        assert_true(f->from_syn && f->ended);
        assert_int_equal(f->d[0].data_bytes, e->c2s);
        assert_int_equal(f->d[1].data_bytes, e->s2c);
        assert_int_equal(f->d[0].fnv, e->fnv_c2s);
        assert_int_equal(f->d[1].fnv, e->fnv_s2c);
        for (int d = 0; d < 2; d++) {
            assert_int_equal(f->d[d].gap_bytes, 0);
            assert_int_equal(f->st[d].retransmitted_bytes, 0);
            assert_int_equal(f->st[d].out_of_order_segments, 0);
            assert_int_equal(f->st[d].after_close_bytes, 0);
            assert_int_equal(f->d[d].reason, TCPR_CLOSE_FIN);
        }
    }
    assert_int_equal(rows, r.nflows); /* same number of flows */
    assert_true(rows > 0);
    rec_free(&r);
    tcpr_destroy(ctx);
    pcapin_close(in);
}

static void test_captures_end_to_end(void **state)
{
    (void)state;
    const char *dir = captures_dir();
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        print_message("captures directory %s not found: skipped\n", dir);
        skip();
    }
    const char *seen[N_EXPECT];
    unsigned nfiles = 0;
    for (size_t i = 0; i < N_EXPECT; i++) {
        bool dup = false;
        for (unsigned k = 0; k < nfiles; k++) {
            dup = dup || strcmp(seen[k], EXPECT[i].file) == 0;
        }
        if (!dup) {
            seen[nfiles++] = EXPECT[i].file;
            check_capture(dir, EXPECT[i].file);
        }
    }
    assert_int_equal(nfiles, N_CAPTURE_FILES);
}

/** Write a pcap file (microsecond, little-endian) with the given frames. */
static void write_pcap(const char *path, uint32_t linktype, const uint8_t *const *frames,
                       const size_t *lens, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    const uint32_t gh[6] = {0xa1b2c3d4u, 0x00040002u, 0, 0, 65535, linktype};
    assert_int_equal(fwrite(gh, sizeof gh, 1, fp), 1);
    for (size_t i = 0; i < n; i++) {
        const uint32_t rh[4] = {1700000000u, (uint32_t)i, (uint32_t)lens[i], (uint32_t)lens[i]};
        assert_int_equal(fwrite(rh, sizeof rh, 1, fp), 1);
        assert_int_equal(fwrite(frames[i], lens[i], 1, fp), 1);
    }
    assert_int_equal(fclose(fp), 0);
}

/**
 * Through libpcap: files whose LINKTYPE_ value differs from the DLT_ value
 * libpcap reports (RAW 101 -> DLT_RAW, LOOP) and the cooked captures.  Each
 * file holds a SYN, then two data segments in reverse order.
 */
static void test_pcap_linktypes(void **state)
{
    (void)state;
    static const struct { uint32_t linktype; size_t hlen; uint8_t hdr[20]; } L[] = {
        {101, 0, {0}},                                            /* RAW */
        {228, 0, {0}},                                            /* IPV4 */
        {0, 4, {2, 0, 0, 0}},                                     /* NULL (LE host) */
        {108, 4, {0, 0, 0, 2}},                                   /* LOOP */
        {113, 16, {0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0}},  /* SLL */
        {276, 20, {0x08, 0, 0, 0, 0, 0, 0, 1, 0, 1, 6, 0}},       /* SLL2 */
        {1, 14, {0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 6, 0x08, 0}},  /* EN10MB */
    };
    char path[] = "/tmp/test_tcp_reasm_XXXXXX";
    const int fd = mkstemp(path);
    assert_true(fd >= 0);
    for (size_t k = 0; k < sizeof L / sizeof L[0]; k++) {
        uint8_t f[3][128];
        size_t lens[3];
        for (int i = 0; i < 3; i++) {
            memcpy(f[i], L[k].hdr, L[k].hlen);
            lens[i] = L[k].hlen + build_ipv4_tcp(f[i] + L[k].hlen, 0, i == 0 ? 0 : 10, 0);
        }
        uint8_t *t0 = f[0] + L[k].hlen + 20, *t1 = f[1] + L[k].hlen + 20, *t2 = f[2] + L[k].hlen + 20;
        t0[13] = TCPR_SYN;                 /* SYN seq 0x01020304 */
        t1[7] = 0x05 + 10;                 /* 2nd data segment first */
        t2[7] = 0x05;                      /* 1st data segment: ISN + 1 */
        memcpy(t1 + 24, PATTERN + 10, 10);
        const uint8_t *const fr[3] = {f[0], f[1], f[2]};
        write_pcap(path, L[k].linktype, fr, lens, 3);
        char err[PCAPIN_ERRBUF_SIZE];
        pcapin_t *in = pcapin_open_file(path, "tcp", err, sizeof err);
        if (in == NULL) {
            fail_msg("linktype %u: %s", L[k].linktype, err);
        }
        rec_t r;
        tcpr_ctx_t *ctx = new_ctx(&r, NULL);
        assert_int_equal(pcapin_run(in, ctx, 0), PCAPIN_OK);
        assert_int_equal(pcapin_stats(in)->tcp_segments, 3);
        finish(ctx, &r);
        assert_int_equal(r.nflows, 1);
        assert_int_equal(r.f[0].d[0].len, 20);
        assert_pattern(&r.f[0].d[0], 0, 20);
        assert_int_equal(r.f[0].st[0].out_of_order_segments, 1);
        rec_free(&r);
        pcapin_close(in);
    }
    close(fd);
    unlink(path);
}

/** Errors are reported as strings, not by exiting. */
static void test_pcap_errors(void **state)
{
    (void)state;
    char err[PCAPIN_ERRBUF_SIZE] = "";
    assert_null(pcapin_open_file("/nonexistent/x.pcap", NULL, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/x.pcap"));
    const char *dir = captures_dir();
    char path[1024];
    snprintf(path, sizeof path, "%s/softiwarp-2008/snd_recv.pcap", dir);
    struct stat sb;
    if (stat(path, &sb) == 0) {
        err[0] = '\0';
        assert_null(pcapin_open_file(path, "tcp port (", err, sizeof err));
        assert_non_null(strstr(err, "bad filter"));
        /* A filter that matches nothing: no flows at all. */
        pcapin_t *in = pcapin_open_file(path, "udp", err, sizeof err);
        assert_non_null(in);
        rec_t r;
        tcpr_ctx_t *ctx = new_ctx(&r, NULL);
        assert_int_equal(pcapin_run(in, ctx, 0), PCAPIN_OK);
        assert_int_equal(pcapin_stats(in)->packets, 0);
        assert_int_equal(r.nflows, 0);
        tcpr_destroy(ctx);
        pcapin_close(in);
        /* Packet limit */
        in = pcapin_open_file(path, NULL, err, sizeof err);
        assert_non_null(in);
        ctx = new_ctx(&r, NULL);
        assert_int_equal(pcapin_run(in, ctx, 3), PCAPIN_OK);
        assert_int_equal(pcapin_stats(in)->packets, 3);
        finish(ctx, &r);
        rec_free(&r);
        pcapin_close(in);
    }
    assert_null(pcapin_open_live("no-such-interface-xyz", NULL, NULL, err, sizeof err));
    assert_true(strlen(err) > 0);
}

int main(void)
{
    init_pattern();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order),
        cmocka_unit_test(test_retransmission_exact),
        cmocka_unit_test(test_retransmission_overlap),
        cmocka_unit_test(test_out_of_order),
        cmocka_unit_test(test_permanent_hole),
        cmocka_unit_test(test_hole_buffer_bound),
        cmocka_unit_test(test_hole_gap_after),
        cmocka_unit_test(test_hole_acked),
        cmocka_unit_test(test_seq_wraparound),
        cmocka_unit_test(test_seq_many_wraps),
        cmocka_unit_test(test_two_flows_interleaved),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_rst),
        cmocka_unit_test(test_fin_out_of_order),
        cmocka_unit_test(test_snapped_segment),
        cmocka_unit_test(test_mid_stream_start),
        cmocka_unit_test(test_port_reuse),
        cmocka_unit_test(test_reentrancy_and_errors),
        cmocka_unit_test(test_expire),
        cmocka_unit_test(test_random_property),
        cmocka_unit_test(test_decode_ethernet_vlan_padding),
        cmocka_unit_test(test_decode_other_links),
        cmocka_unit_test(test_decode_ipv6),
        cmocka_unit_test(test_captures_end_to_end),
        cmocka_unit_test(test_pcap_linktypes),
        cmocka_unit_test(test_pcap_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
