/* tests/test_mpa_stream.c - the generated MPA stream core (iwk_mpa_stream.[ch], spec/mpa.iws stream
 * mpa_stream) against a reference written here from RFC 5044 §4.1-§4.4, one octet at a time:
 *   - the framer's plan, turned into octets, is the reference's stream;
 *   - the deframer fed the reference's stream in random splits (1 octet up to whole streams) gives
 *     back every body, pad, Marker count, wire length and CRC verdict, whatever the splits;
 *   - its plan, asked at random points, names exactly the runs that follow;
 *   - both Marker conventions, and ANY settling on the one the sender used; a corrupted octet gives
 *     a CRC error (CRC on) or a Marker error (Marker octets) on that FPDU only.
 * Deterministic: a fixed-seed generator; every case prints what it checked. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwk_mpa_stream.h"
#include "iwkit/crc32c.h"

#define MAXPDU 64
#define MAXWIRE (4u << 20)

static int failures;
#define CHECK(cond, ...)                                                                      \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            failures++;                                                                       \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                   \
            fprintf(stderr, __VA_ARGS__);                                                     \
            fprintf(stderr, "\n");                                                            \
            if (failures > 20)                                                                \
                exit(1);                                                                      \
        }                                                                                     \
    } while (0)

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(uint32_t n)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return n ? (uint32_t)((rng >> 33) % n) : 0u;
}

/* ---- the reference: RFC 5044 §4, one octet at a time ---------------------------------------- */

struct ref_pdu {
    uint64_t start;      /* first octet (a leading Marker included) */
    uint64_t wire_len;
    uint32_t markers;
    uint32_t body_len;
    uint32_t body_at;    /* offset of the body in bodies[] */
};

struct ref {
    uint64_t origin;     /* stream offset of wire[0]: the first octet of FPDU mode */
    int markers, from_len, crc;
    uint8_t *wire;
    size_t n;
    uint8_t *kind;       /* per octet: 'M' Marker, 'L' length, 'B' body, 'P' pad, 'C' CRC */
    /* the PDU being built */
    uint64_t start, len_pos;
    int started, crc_octets;
    uint32_t crc_state;
    uint32_t nmk;
};

static uint64_t pos_of(const struct ref *r) { return r->origin + r->n; }

static void ref_marker_if_due(struct ref *r)
{
    if (!r->markers || (pos_of(r) - r->origin) % 512u != 0)
        return;
    uint64_t p = pos_of(r);
    uint16_t ptr = 0;
    if (r->started)
        ptr = (uint16_t)(p - (r->from_len ? r->len_pos : r->start));
    uint8_t m[4] = { 0, 0, (uint8_t)(ptr >> 8), (uint8_t)ptr };
    int covered = r->crc_octets == 0; /* §4.4: not a Marker inside the CRC field */
    for (int i = 0; i < 4; i++) {
        r->wire[r->n] = m[i];
        r->kind[r->n++] = 'M';
    }
    if (covered)
        r->crc_state = iwk_crc32c_update(r->crc_state, m, 4);
    r->nmk++;
}

static void ref_put(struct ref *r, uint8_t b, char kind)
{
    ref_marker_if_due(r);
    if (kind == 'L' && !r->started)
        r->len_pos = pos_of(r);
    r->started = 1;
    if (kind != 'C')
        r->crc_state = iwk_crc32c_update(r->crc_state, &b, 1);
    else
        r->crc_octets++;
    r->wire[r->n] = b;
    r->kind[r->n++] = kind;
}

static void ref_pdu(struct ref *r, const uint8_t *body, uint32_t len, struct ref_pdu *out)
{
    r->start = pos_of(r);
    r->started = 0;
    r->crc_octets = 0;
    r->crc_state = iwk_crc32c_init();
    r->nmk = 0;
    ref_put(r, (uint8_t)(len >> 8), 'L');
    ref_put(r, (uint8_t)len, 'L');
    for (uint32_t i = 0; i < len; i++)
        ref_put(r, body[i], 'B');
    uint32_t pad = (4u - (2u + len) % 4u) % 4u;
    for (uint32_t i = 0; i < pad; i++)
        ref_put(r, 0, 'P');
    ref_marker_if_due(r); /* right before the CRC field: covered (§4.4) */
    uint32_t crc = r->crc ? iwk_crc32c_final(r->crc_state) : 0u;
    uint8_t c[4] = { (uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16), (uint8_t)(crc >> 24) };
    for (int i = 0; i < 4; i++)
        ref_put(r, c[i], 'C');
    out->start = r->start;
    out->wire_len = pos_of(r) - r->start;
    out->markers = r->nmk;
    out->body_len = len;
}

/* ---- one random stream ------------------------------------------------------------------------ */

struct stream {
    struct ref r;
    struct ref_pdu pdu[MAXPDU];
    int npdu;
    uint8_t *bodies;
};

static uint32_t pick_len(void)
{
    switch (rnd(6)) {
    case 0: return rnd(4);
    case 1: return 18u + rnd(40);
    case 2: return 500u + rnd(30);          /* around the Marker interval */
    case 3: return 1000u + rnd(3000);       /* several Markers per FPDU */
    case 4: return 1020u + rnd(8);
    default: return rnd(200);
    }
}

static void make_stream(struct stream *s, uint64_t origin, int markers, int from_len, int crc, int npdu)
{
    memset(&s->r, 0, sizeof s->r);
    s->r.origin = origin;
    s->r.markers = markers;
    s->r.from_len = from_len;
    s->r.crc = crc;
    s->r.wire = malloc(MAXWIRE);
    s->r.kind = malloc(MAXWIRE);
    s->bodies = malloc(MAXPDU * 66000u);
    s->npdu = npdu;
    uint32_t at = 0;
    for (int i = 0; i < npdu; i++) {
        uint32_t len = pick_len();
        if (i == 0 && rnd(4) == 0)
            len = 65535u - rnd(4);   /* the largest ULPDUs too */
        for (uint32_t k = 0; k < len; k++)
            s->bodies[at + k] = (uint8_t)rnd(256);
        ref_pdu(&s->r, s->bodies + at, len, &s->pdu[i]);
        s->pdu[i].body_at = at;
        at += len;
    }
}

static void free_stream(struct stream *s)
{
    free(s->r.wire);
    free(s->r.kind);
    free(s->bodies);
}

/* ---- framer: its plan, materialised, is the reference's stream -------------------------------- */

static void check_framer(const struct stream *s, uint8_t conv)
{
    struct iwk_mpa_stream_tx tx;
    iwk_mpa_stream_tx_init(&tx, s->r.origin, (uint8_t)s->r.markers, conv);
    static struct iwk_mpa_stream_run runs[IWK_MPA_STREAM_MAX_RUNS];
    uint8_t *out = malloc(MAXWIRE);
    size_t n = 0;
    for (int i = 0; i < s->npdu; i++) {
        const struct ref_pdu *p = &s->pdu[i];
        size_t nr = iwk_mpa_stream_tx_plan(&tx, p->body_len, runs, IWK_MPA_STREAM_MAX_RUNS);
        CHECK(nr > 0, "pdu %d: no plan", i);
        uint64_t wl = iwk_mpa_stream_wire_len(tx.pos, tx.origin, tx.markers, p->body_len);
        CHECK(wl == p->wire_len, "pdu %d: wire_len %llu, reference %llu", i,
              (unsigned long long)wl, (unsigned long long)p->wire_len);
        uint32_t crc = iwk_crc32c_init();
        size_t first = n;
        uint32_t taken_len = 0, taken_crc = 0;
        uint8_t len_field[2] = { (uint8_t)(p->body_len >> 8), (uint8_t)p->body_len };
        uint8_t crc_field[4];
        static const uint8_t zero[4];
        for (size_t k = 0; k < nr; k++) {
            const struct iwk_mpa_stream_run *r = &runs[k];
            uint8_t tmp[4];
            const uint8_t *src = zero;
            switch (r->kind) {
            case IWK_MPA_STREAM_RUN_MARKER: iwk_mpa_stream_marker_octets(tmp, r->pointer); src = tmp; break;
            case IWK_MPA_STREAM_RUN_LENGTH: src = len_field + taken_len; taken_len += r->len; break;
            case IWK_MPA_STREAM_RUN_BODY: src = s->bodies + p->body_at + r->body_off; break;
            case IWK_MPA_STREAM_RUN_PAD: src = zero; break;
            case IWK_MPA_STREAM_RUN_CRC:
                /* every covered run precedes the CRC field: its value is known when reached */
                iwk_mpa_stream_crc_octets(crc_field, s->r.crc ? iwk_crc32c_final(crc) : 0u);
                src = crc_field + taken_crc;
                taken_crc += r->len;
                break;
            }
            memcpy(out + n, src, r->len);
            if (r->covered)
                crc = iwk_crc32c_update(crc, src, r->len);
            n += r->len;
        }
        CHECK(n - first == p->wire_len, "pdu %d: planned %zu octets, reference %llu", i, n - first,
              (unsigned long long)p->wire_len);
        iwk_mpa_stream_tx_sent(&tx, n - first);
    }
    CHECK(n == s->r.n && memcmp(out, s->r.wire, n) == 0, "framer output differs from the reference (%zu/%zu)",
          n, s->r.n);
    free(out);
}

/* ---- deframer in random splits -------------------------------------------------------------- */

struct seen {
    int pdus;
    uint8_t *body;       /* reassembled bodies, in order */
    size_t body_n;
    uint32_t markers_bad, crc_bad;
    int conv_last;
};

static void check_pdu_event(const struct stream *s, const struct iwk_mpa_stream_event *ev, struct seen *sn,
                            int expect_markers_ok)
{
    CHECK(sn->pdus < s->npdu, "more PDUs than sent");
    if (sn->pdus >= s->npdu)
        return;
    const struct ref_pdu *p = &s->pdu[sn->pdus];
    CHECK(ev->pdu_start == p->start, "pdu %d start %llu want %llu", sn->pdus,
          (unsigned long long)ev->pdu_start, (unsigned long long)p->start);
    CHECK(ev->wire_len == p->wire_len, "pdu %d wire_len", sn->pdus);
    CHECK(ev->markers == p->markers, "pdu %d markers %u want %u", sn->pdus, ev->markers, p->markers);
    CHECK(ev->body_len == p->body_len, "pdu %d body_len", sn->pdus);
    if (expect_markers_ok < 2)
        CHECK(ev->crc == (s->r.crc ? IWK_MPA_STREAM_CRC_VALID : IWK_MPA_STREAM_CRC_ABSENT), "pdu %d crc %u",
              sn->pdus, ev->crc);
    if (expect_markers_ok == 1)
        CHECK(ev->markers_ok, "pdu %d markers not ok", sn->pdus);
    if (!ev->markers_ok)
        sn->markers_bad++;
    sn->conv_last = ev->conv;
    sn->pdus++;
}

/* Feeds the whole stream in random pieces; asks for a plan at random points and checks it.
 * expect: 1 every Marker and CRC right, 0 Marker errors allowed, 2 CRC errors allowed, 3 both. */
static void run_deframer(const struct stream *s, uint8_t conv, int max_piece, struct seen *sn,
                         int expect_markers_ok)
{
    struct iwk_mpa_stream_rx rx;
    iwk_mpa_stream_rx_init(&rx, s->r.origin, (uint8_t)s->r.markers, (uint8_t)s->r.crc, conv);
    memset(sn, 0, sizeof *sn);
    sn->body = malloc(MAXPDU * 66000u);
    size_t at = 0;
    static struct iwk_mpa_stream_run runs[IWK_MPA_STREAM_MAX_RUNS];
    while (at < s->r.n) {
        if (rnd(8) == 0) {
            /* the plan names the runs that follow, up to the end of this PDU or length field */
            size_t nr = iwk_mpa_stream_rx_plan(&rx, runs, IWK_MPA_STREAM_MAX_RUNS);
            CHECK(nr > 0, "no plan at %zu", at);
            size_t q = at;
            for (size_t k = 0; k < nr && q < s->r.n; k++) {
                static const char kc[] = { 'M', 'L', 'B', 'P', 'C' };
                for (uint32_t j = 0; j < runs[k].len && q < s->r.n; j++, q++)
                    if (s->r.kind[q] != kc[runs[k].kind]) {
                        CHECK(0, "plan run %zu (%c) at %zu meets %c", k, kc[runs[k].kind], q, s->r.kind[q]);
                        k = nr;
                        break;
                    }
            }
        }
        size_t piece = 1u + rnd((uint32_t)max_piece);
        if (piece > s->r.n - at)
            piece = s->r.n - at;
        size_t used = 0;
        while (used < piece) {
            struct iwk_mpa_stream_event ev;
            size_t k = iwk_mpa_stream_rx_feed(&rx, s->r.wire + at + used, piece - used, &ev);
            CHECK(k > 0 || ev.kind != IWK_MPA_STREAM_EV_NONE, "no progress");
            used += k;
            if (ev.kind == IWK_MPA_STREAM_EV_BODY) {
                memcpy(sn->body + sn->body_n, ev.data, ev.len);
                sn->body_n += ev.len;
            } else if (ev.kind == IWK_MPA_STREAM_EV_PAD) {
                for (uint32_t j = 0; j < ev.len; j++)
                    CHECK(ev.data[j] == 0, "pad");
            } else if (ev.kind == IWK_MPA_STREAM_EV_PDU) {
                check_pdu_event(s, &ev, sn, expect_markers_ok);
                if (ev.crc == IWK_MPA_STREAM_CRC_INVALID)
                    sn->crc_bad++;
            }
            if (k == 0)
                break;
        }
        at += piece;
    }
}

static void check_deframer(const struct stream *s, uint8_t conv, int expect_ok)
{
    struct seen sn;
    int pieces[] = { 1, 5, 600, 1 << 22 };
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
        run_deframer(s, conv, pieces[i], &sn, expect_ok);
        CHECK(sn.pdus == s->npdu, "pieces %d: %d PDUs of %d", pieces[i], sn.pdus, s->npdu);
        size_t total = 0;
        for (int k = 0; k < s->npdu; k++)
            total += s->pdu[k].body_len;
        CHECK(sn.body_n == total && memcmp(sn.body, s->bodies, total) == 0, "pieces %d: bodies differ",
              pieces[i]);
        free(sn.body);
    }
}

/* Does some FPDU of the stream tell the two conventions apart (it begins with a Marker and has
 * another one inside)? */
static int discriminating(const struct stream *s)
{
    for (int i = 0; i < s->npdu; i++)
        if (s->pdu[i].markers >= 2 && (s->pdu[i].start - s->r.origin) % 512u == 0)
            return 1;
    return 0;
}

static void case_stream(uint64_t origin, int markers, int from_len, int crc, int npdu)
{
    struct stream s;
    make_stream(&s, origin, markers, from_len, crc, npdu);
    const uint8_t conv = from_len ? IWK_MPA_STREAM_CONV_RFC5044 : IWK_MPA_STREAM_CONV_FPDU_START;
    const uint8_t other = from_len ? IWK_MPA_STREAM_CONV_FPDU_START : IWK_MPA_STREAM_CONV_RFC5044;
    check_framer(&s, conv);
    check_deframer(&s, conv, 1);
    check_deframer(&s, IWK_MPA_STREAM_CONV_ANY, 1);
    struct seen sn;
    run_deframer(&s, IWK_MPA_STREAM_CONV_ANY, 4096, &sn, 1);
    if (markers && discriminating(&s))
        CHECK(sn.conv_last == conv, "ANY settled on %d, sender used %d", sn.conv_last, conv);
    free(sn.body);
    run_deframer(&s, other, 4096, &sn, 0);
    CHECK(sn.pdus == s.npdu, "other convention: %d PDUs", sn.pdus);
    CHECK((sn.markers_bad > 0) == (markers && discriminating(&s)),
          "other convention: %u FPDUs with a Marker error (discriminating %d)", sn.markers_bad,
          discriminating(&s));
    free(sn.body);
    /* a corrupted body octet: a CRC error on that FPDU only (CRC on) */
    if (crc) {
        int victim = -1;
        for (int i = 0; i < s.npdu && victim < 0; i++)
            if (s.pdu[i].body_len > 0)
                victim = i;
        if (victim >= 0) {
            size_t q = (size_t)(s.pdu[victim].start - origin);
            while (s.r.kind[q] != 'B')
                q++;
            s.r.wire[q] ^= 0x40;
            run_deframer(&s, conv, 700, &sn, 2); /* 2: CRC errors expected */
            CHECK(sn.crc_bad == 1, "corrupted octet: %u CRC errors", sn.crc_bad);
            free(sn.body);
            s.r.wire[q] ^= 0x40;
        }
    }
    /* a corrupted Marker pointer: a Marker error on that FPDU */
    if (markers) {
        size_t q = 0;
        while (q < s.r.n && !(s.r.kind[q] == 'M' && q > 0 && s.r.kind[q - 1] != 'M' && s.r.kind[q - 1] != 'C'))
            q++;
        if (q < s.r.n) {
            s.r.wire[q + 2] ^= 0x10;
            run_deframer(&s, conv, 100, &sn, 3); /* 3: Marker and CRC errors expected */
            CHECK(sn.markers_bad == 1, "corrupted Marker: %u FPDUs with a Marker error", sn.markers_bad);
            free(sn.body);
        }
    }
    printf("ok: origin %llu markers %d %s crc %d: %d FPDUs, %zu octets%s\n", (unsigned long long)origin,
           markers, iwk_mpa_stream_conv_name(conv), crc, s.npdu, s.r.n,
           discriminating(&s) ? " (tells the conventions apart)" : "");
    free_stream(&s);
}

/* RFC 5044 Figure 4: an FPDU with ULPDU_Length 16 and a Marker after 12 octets (FPDUPTR 0x000C). */
static void case_figure4(void)
{
    /* FPDU mode started 500 octets before: the Marker falls 12 octets into the FPDU */
    struct iwk_mpa_stream_tx tx;
    iwk_mpa_stream_tx_init(&tx, 0, 1, IWK_MPA_STREAM_CONV_RFC5044);
    iwk_mpa_stream_tx_sent(&tx, 500);
    struct iwk_mpa_stream_run runs[16];
    size_t nr = iwk_mpa_stream_tx_plan(&tx, 16, runs, 16);
    CHECK(nr == 6, "figure 4: %zu runs", nr);
    CHECK(runs[0].kind == IWK_MPA_STREAM_RUN_LENGTH && runs[1].kind == IWK_MPA_STREAM_RUN_BODY && runs[1].len == 10,
          "figure 4: length then 10 body octets");
    CHECK(runs[2].kind == IWK_MPA_STREAM_RUN_MARKER && runs[2].pointer == 0x000C, "figure 4: FPDUPTR 0x%04x",
          runs[2].pointer);
    CHECK(runs[3].kind == IWK_MPA_STREAM_RUN_BODY && runs[3].len == 6 && runs[3].body_off == 10, "figure 4: 6 more");
    CHECK(runs[4].kind == IWK_MPA_STREAM_RUN_PAD && runs[4].len == 2, "figure 4: 2 pad octets");
    CHECK(runs[5].kind == IWK_MPA_STREAM_RUN_CRC && runs[5].len == 4, "figure 4: CRC");
    uint8_t mk[4];
    iwk_mpa_stream_marker_octets(mk, 0x000C);
    CHECK(mk[0] == 0 && mk[1] == 0 && mk[2] == 0 && mk[3] == 0x0C, "figure 4: Marker octets");
    printf("ok: RFC 5044 Figure 4\n");
}

/* A receiver ignores the Marker's Reserved field and FPDUPTR's two low bits (RFC 5044 §4.2). */
static void case_ignored_bits(void)
{
    struct stream s;
    rng = 42;
    make_stream(&s, 27, 1, 1, 0, 12);
    for (size_t q = 0; q + 4 <= s.r.n; q++)
        if (s.r.kind[q] == 'M' && (q == 0 || s.r.kind[q - 1] != 'M')) {
            s.r.wire[q] = 0xFF;          /* Reserved */
            s.r.wire[q + 3] |= 0x03;     /* FPDUPTR's low bits */
            q += 3;
        }
    struct seen sn;
    run_deframer(&s, IWK_MPA_STREAM_CONV_RFC5044, 64, &sn, 0);
    CHECK(sn.markers_bad == 0, "ignored bits: %u FPDUs with a Marker error", sn.markers_bad);
    free(sn.body);
    free_stream(&s);
    printf("ok: Reserved and FPDUPTR's low bits ignored\n");
}

int main(void)
{
    case_figure4();
    const uint64_t origins[] = { 0, 27, 28, 4294967000ull };
    int n = 0;
    for (int markers = 0; markers <= 1; markers++)
        for (int from_len = 0; from_len <= 1; from_len++)
            for (int crc = 0; crc <= 1; crc++)
                for (size_t o = 0; o < sizeof origins / sizeof origins[0]; o++) {
                    if (!markers && !from_len)
                        continue; /* conventions only differ with Markers */
                    case_stream(origins[o], markers, from_len, crc, 8 + (int)rnd(24));
                    n++;
                }
    case_ignored_bits();
    printf("%d stream cases, %d failures\n", n, failures);
    return failures ? 1 : 0;
}
