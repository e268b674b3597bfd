/* fuzz_mpa_stream.c - iwdump's MPA stream deframer (tools/iwdump/mpa_stream.h), fed the same two
 * TCP streams whole and in random splits. Oracle: every event (frames, FPDUs with their ULPDU
 * octets, CRC state, Markers removed, gaps, problems, notes) and the final statistics do not depend
 * on where the stream was cut. Markers and CRCs are on or off as the MPA Request/Reply in the input
 * negotiate them. Hand-written harness: it only calls the deframer's API, kept small so it can be
 * re-pointed at a generated stream machine.
 *
 * Input: octets 0-3 seed the splits, octets 4-5 (big-endian) the length of TCP direction 0's
 * stream; the rest is direction 0's stream then direction 1's. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "mpa_stream.h"

/* Running FNV-1a hash of what the callbacks saw, and how many events. */
struct trace {
    uint64_t h;
    uint64_t events;
};

static void mix(struct trace *t, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        t->h ^= b[i];
        t->h *= 0x100000001b3ull;
    }
}

static void mix64(struct trace *t, uint64_t v)
{
    mix(t, &v, sizeof v);
}

static int verbose; /* IWK_FUZZ_VERBOSE set: every event on stderr */

static void mix_notes(struct trace *t, const iwd_notes_t *notes)
{
    if (verbose)
        for (unsigned i = 0; i < notes->n; i++) fprintf(stderr, "    note %s: %s\n", notes->v[i].code, notes->v[i].text);
    mix64(t, notes->n);
    mix64(t, notes->dropped);
    for (unsigned i = 0; i < notes->n; i++) {
        mix64(t, notes->v[i].sev);
        mix(t, notes->v[i].code, strnlen(notes->v[i].code, sizeof notes->v[i].code));
        mix(t, notes->v[i].text, strnlen(notes->v[i].text, sizeof notes->v[i].text));
    }
}

static void on_frame(void *user, mpa_dir_t dir, const mpa_frame_t *f, const iwd_notes_t *notes)
{
    struct trace *t = user;
    t->events++;
    if (verbose)
        fprintf(stderr, "  frame dir %d reply %d at %llu len %zu\n", (int)dir, f->is_reply,
                (unsigned long long)f->stream_offset, f->frame_len);
    uint64_t v[] = { 1u, dir, f->is_reply, f->stream_offset, f->frame_len, f->m, f->c, f->r, f->res, f->rev,
                     f->s, f->pd_length, f->pd_len, f->has_v2 };
    mix(t, v, sizeof v);
    if (f->pd_len > 0) mix(t, f->pd, f->pd_len);
    mix_notes(t, notes);
}

static void on_fpdu(void *user, mpa_dir_t dir, const mpa_fpdu_t *f, const iwd_notes_t *notes)
{
    struct trace *t = user;
    t->events++;
    if (verbose)
        fprintf(stderr, "  fpdu dir %d at %llu wire %zu ulpdu %u markers %u crc %d skipped %llu\n", (int)dir,
                (unsigned long long)f->stream_offset, f->wire_len, f->ulpdu_len, f->markers, (int)f->crc,
                (unsigned long long)f->resync_skipped);
    uint64_t v[] = { 2u, dir, f->stream_offset, f->wire_len, f->ulpdu_len, f->markers, f->pad_len, f->crc,
                     f->crc_wire, f->crc_calc, f->resync_skipped };
    mix(t, v, sizeof v);
    if (f->ulpdu_len > 0) mix(t, f->ulpdu, f->ulpdu_len);
    mix_notes(t, notes);
}

static void on_gap(void *user, mpa_dir_t dir, uint64_t off, uint64_t len, uint64_t lost, const iwd_notes_t *notes)
{
    struct trace *t = user;
    t->events++;
    if (verbose)
        fprintf(stderr, "  gap dir %d at %llu len %llu lost %llu\n", (int)dir, (unsigned long long)off,
                (unsigned long long)len, (unsigned long long)lost);
    uint64_t v[] = { 3u, dir, off, len, lost };
    mix(t, v, sizeof v);
    mix_notes(t, notes);
}

static void on_problem(void *user, mpa_dir_t dir, uint64_t off, const iwd_notes_t *notes)
{
    struct trace *t = user;
    t->events++;
    if (verbose) fprintf(stderr, "  problem dir %d at %llu\n", (int)dir, (unsigned long long)off);
    uint64_t v[] = { 4u, dir, off };
    mix(t, v, sizeof v);
    mix_notes(t, notes);
}

static uint32_t rnd(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Feeds one direction: whole when seed is NULL, else in random pieces (often 1 octet, some large). */
static void feed(mpa_conn_t *c, unsigned dir, const uint8_t *p, size_t n, uint32_t *seed)
{
    size_t off = 0;
    while (off < n) {
        size_t k = n - off;
        if (seed != NULL) {
            uint32_t r = rnd(seed);
            size_t want = (r & 3u) == 0 ? 1u : (r & 3u) == 1 ? (r >> 8) % 8u + 1u : (r >> 8) % 1100u + 1u;
            if (want < k) k = want;
        }
        FUZZ_CHECK(mpa_conn_data(c, dir, off, p + off, k) == 0, "mpa_conn_data failed");
        off += k;
    }
}

static struct trace run(const uint8_t *s0, size_t n0, const uint8_t *s1, size_t n1, uint32_t *seed)
{
    struct trace t = { 0xcbf29ce484222325ull, 0 };
    const mpa_callbacks_t cb = { on_frame, on_fpdu, on_gap, on_problem };
    mpa_conn_t *c = mpa_conn_create(&cb, &t);
    FUZZ_CHECK(c != NULL, "out of memory");
    feed(c, 0, s0, n0, seed);
    feed(c, 1, s1, n1, seed);
    mpa_conn_close(c, 0, true);
    mpa_conn_close(c, 1, false);
    mix64(&t, mpa_conn_kind(c));
    const mpa_params_t *pr = mpa_conn_params(c);
    uint64_t pv[] = { pr->req_seen, pr->rep_seen, pr->rejected, pr->crc, pr->markers[0], pr->markers[1], pr->rev,
                      pr->p2p };
    mix(&t, pv, sizeof pv);
    for (unsigned d = 0; d < 2u; d++) {
        const mpa_dir_stats_t *st = mpa_conn_stats(c, (mpa_dir_t)d);
        uint64_t sv[] = { st->frames, st->fpdus, st->crc_valid, st->crc_invalid, st->crc_absent, st->markers,
                          st->gaps, st->gap_bytes, st->skipped_bytes };
        mix(&t, sv, sizeof sv);
    }
    mpa_conn_destroy(c);
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 6u) return 0;
    uint32_t seed = ((uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 | (uint32_t)data[2] << 8 | data[3]) | 1u;
    size_t n0 = (size_t)data[4] << 8 | data[5];
    const uint8_t *s0 = data + 6;
    size_t rest = size - 6u;
    if (n0 > rest) n0 = rest;
    const uint8_t *s1 = s0 + n0;
    size_t n1 = rest - n0;
    verbose = getenv("IWK_FUZZ_VERBOSE") != NULL;
    if (verbose) fprintf(stderr, "whole:\n");
    struct trace whole = run(s0, n0, s1, n1, NULL);
    for (int i = 0; i < 2; i++) {
        if (verbose) fprintf(stderr, "split %d:\n", i);
        struct trace split = run(s0, n0, s1, n1, &seed);
        FUZZ_CHECK(whole.events == split.events && whole.h == split.h,
                   "result depends on the splits: %llu events whole, %llu split (seed 0x%08x)",
                   (unsigned long long)whole.events, (unsigned long long)split.events, (unsigned)seed);
    }
    return 0;
}
