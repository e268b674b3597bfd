/*
 * C simulation of the generated CRC32c blocks (gen/hwgen.py: hw_crc32c_w64, hw_crc32c_w512)
 * against iwkit's proven bit-serial reference runtime/crc32c_ref.c (docs/hwgen.md).
 *
 *   test_hwgen_csim random [MESSAGES]       random messages at random start lanes, both widths
 *   test_hwgen_csim golden FILE...          replay golden vector files (width from the header line)
 *   test_hwgen_csim write-golden W FILE     write the golden vectors for width W (64 or 512)
 *
 * Every expected value comes from iwk_crc32c_ref: after each word, the register the block must
 * hold (the message so far, with zero octets after the end lane of the last word), and at the
 * end the message's CRC. Golden files hold, per word: sop eop first last q[0..] state crc.
 * Replaying a file also re-derives its expectations from the reference, so a stale or edited
 * file fails too. Exit 0 only with 0 mismatches.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwkit/crc32c.h"
/* HW_ONLY_W64 / HW_ONLY_W512: one width only (the Vitis HLS scripts build one block each). */
#ifndef HW_ONLY_W512
#include "hw_crc32c_w64.h"
#endif
#ifndef HW_ONLY_W64
#include "hw_crc32c_w512.h"
#endif

#define MAX_MSG 4096u
#define MAX_LANES 64u
#define MAX_QWORDS 8u
#define MAX_WORDS (1u << 16) /* words in one golden file or message */

/* One word of a message on the bus, whatever the width. */
struct word {
    uint64_t q[MAX_QWORDS];
    uint8_t sop, eop, first, last;
    uint32_t want_s, want_crc;
};

/* The generated block of one width behind a common call (the bench only, not HLS code). */
struct block {
    unsigned bits;
    void (*run)(const struct word *w, size_t n, uint32_t *s, uint32_t *crc);
};

#define DEFINE_RUN(W)                                                                       \
    static void run_w##W(const struct word *w, size_t n, uint32_t *s, uint32_t *crc)       \
    {                                                                                       \
        struct hw_crc32c_w##W##_state st;                                                   \
        hw_crc32c_w##W##_init(&st);                                                         \
        for (size_t i = 0; i < n; i++) {                                                    \
            struct hw_crc32c_w##W##_in in;                                                  \
            struct hw_crc32c_w##W##_out out;                                                \
            memcpy(in.q, w[i].q, sizeof in.q);                                              \
            in.sop = w[i].sop;                                                              \
            in.eop = w[i].eop;                                                              \
            in.first = w[i].first;                                                          \
            in.last = w[i].last;                                                            \
            hw_crc32c_w##W##_step(&st, &in, &out);                                          \
            s[i] = out.s;                                                                   \
            crc[i] = out.crc;                                                               \
        }                                                                                   \
    }
#ifndef HW_ONLY_W512
DEFINE_RUN(64)
#endif
#ifndef HW_ONLY_W64
DEFINE_RUN(512)
#endif

static const struct block blocks[] = {
#ifndef HW_ONLY_W512
    {64, run_w64},
#endif
#ifndef HW_ONLY_W64
    {512, run_w512},
#endif
};

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Splits msg into words of `lanes` octets starting at lane p, garbage in the unused lanes, and
 * the expected register / CRC per word from the reference. Returns the number of words. */
static size_t to_words(const uint8_t *msg, size_t len, unsigned lanes, unsigned p, struct word *w)
{
    uint32_t reg = IWK_CRC32C_INIT;
    size_t n = 0, off = 0;
    unsigned lane = p;
    while (off < len) {
        uint8_t oct[MAX_LANES];
        size_t take = len - off < lanes - lane ? len - off : lanes - lane;
        struct word *x = &w[n++];
        memset(x, 0, sizeof *x);
        for (unsigned i = 0; i < lanes; i++) {
            oct[i] = (uint8_t)rnd();
        }
        memcpy(oct + lane, msg + off, take);
        x->sop = off == 0;
        x->first = (uint8_t)lane;
        x->eop = off + take == len;
        x->last = (uint8_t)(x->eop ? lane + take - 1 : lanes - 1);
        for (unsigned i = 0; i < lanes; i++) {
            x->q[i / 8] |= (uint64_t)oct[i] << (8 * (i % 8));
        }
        reg = iwk_crc32c_ref(reg, msg + off, take);
        if (x->eop) {
            static const uint8_t zeros[MAX_LANES];
            x->want_crc = ~reg;
            reg = iwk_crc32c_ref(reg, zeros, lanes - 1 - x->last);
        }
        x->want_s = reg;
        off += take;
        lane = 0;
    }
    return n;
}

/* Runs the block over the words; counts words whose register or CRC differ from the expectation. */
static unsigned check(const struct block *b, const struct word *w, size_t n)
{
    static uint32_t s[MAX_WORDS], crc[MAX_WORDS];
    unsigned bad = 0;
    b->run(w, n, s, crc);
    for (size_t i = 0; i < n; i++) {
        if (s[i] != w[i].want_s || (w[i].eop && crc[i] != w[i].want_crc)) {
            if (bad < 5) {
                fprintf(stderr, "w%u word %zu: state %08" PRIx32 " want %08" PRIx32 ", crc %08" PRIx32
                        " want %08" PRIx32 "\n", b->bits, i, s[i], w[i].want_s, crc[i], w[i].want_crc);
            }
            bad++;
        }
    }
    return bad;
}

static unsigned run_message(const struct block *b, const uint8_t *msg, size_t len, unsigned p)
{
    static struct word w[MAX_MSG + 1];
    return check(b, w, to_words(msg, len, b->bits / 8, p, w));
}

/* RFC 3720 Appendix B.4 vectors and the catalogue check value, with their published CRCs. */
struct vector {
    const char *name;
    uint8_t data[48];
    size_t len;
    uint32_t crc;
};

static void rfc_vectors(struct vector v[6])
{
    static const uint8_t pdu[48] = {
        0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
        0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    };
    memset(v, 0, 6 * sizeof *v);
    v[0] = (struct vector){"32 zeros", {0}, 32, 0x8A9136AAu};
    v[1] = (struct vector){"32 ones", {0}, 32, 0x62A8AB43u};
    memset(v[1].data, 0xff, 32);
    v[2] = (struct vector){"incrementing", {0}, 32, 0x46DD794Eu};
    v[3] = (struct vector){"decrementing", {0}, 32, 0x113FDB5Cu};
    for (unsigned i = 0; i < 32; i++) {
        v[2].data[i] = (uint8_t)i;
        v[3].data[i] = (uint8_t)(31u - i);
    }
    v[4] = (struct vector){"iSCSI read PDU", {0}, 48, 0xD9963A56u};
    memcpy(v[4].data, pdu, 48);
    v[5] = (struct vector){"123456789", {'1', '2', '3', '4', '5', '6', '7', '8', '9'}, 9, 0xE3069283u};
}

static int cmd_random(unsigned messages)
{
    static uint8_t msg[MAX_MSG];
    struct vector v[6];
    unsigned bad = 0;
    rfc_vectors(v);
    for (size_t k = 0; k < sizeof blocks / sizeof blocks[0]; k++) {
        const struct block *b = &blocks[k];
        unsigned lanes = b->bits / 8, words = 0;
        for (unsigned i = 0; i < 6; i++) {
            if (~iwk_crc32c_ref(IWK_CRC32C_INIT, v[i].data, v[i].len) != v[i].crc) {
                fprintf(stderr, "reference disagrees with the RFC on %s\n", v[i].name);
                bad++;
            }
            for (unsigned p = 0; p < lanes; p++) {
                bad += run_message(b, v[i].data, v[i].len, p);
            }
        }
        for (unsigned m = 0; m < messages; m++) {
            size_t len = m % 2 ? 1 + rnd() % (3 * lanes) : 1 + rnd() % (MAX_MSG - 1);
            for (size_t i = 0; i < len; i++) {
                msg[i] = (uint8_t)rnd();
            }
            unsigned p = (unsigned)(rnd() % lanes);
            words += (unsigned)((p + len + lanes - 1) / lanes);
            bad += run_message(b, msg, len, p);
        }
        printf("csim w%u: RFC 3720 B.4 vectors and check value at every start lane, %u random messages "
               "(%u words): %u mismatches so far\n", b->bits, messages, words, bad);
    }
    printf("csim: %u mismatches\n", bad);
    return bad != 0;
}

static void write_word(FILE *f, const struct word *w, unsigned qwords)
{
    fprintf(f, "%u %u %u %u", w->sop, w->eop, w->first, w->last);
    for (unsigned k = 0; k < qwords; k++) {
        fprintf(f, " %016" PRIx64, w->q[k]);
    }
    fprintf(f, " %08" PRIx32 " %08" PRIx32 "\n", w->want_s, w->eop ? w->want_crc : 0u);
}

static int cmd_write(unsigned bits, const char *path)
{
    static uint8_t msg[MAX_MSG];
    static struct word w[MAX_MSG + 1];
    unsigned lanes = bits / 8, starts[4] = {0, 1, 3, lanes - 1};
    struct vector v[6];
    FILE *f = fopen(path, "w");
    if (f == NULL || (bits != 64 && bits != 512)) {
        perror(path);
        return 1;
    }
    rfc_vectors(v);
    fprintf(f, "# hwgen golden vectors for hw_crc32c_w%u, written by tests/test_hwgen_csim write-golden;\n"
            "# expectations from runtime/crc32c_ref.c. Per word: sop eop first last q[0..%u] state crc\n"
            "width %u\n", bits, bits / 64 - 1, bits);
    for (unsigned i = 0; i < 6; i++) {
        for (unsigned k = 0; k < 4; k++) {
            size_t n = to_words(v[i].data, v[i].len, lanes, starts[k], w);
            fprintf(f, "# %s at lane %u: CRC %08" PRIx32 " (RFC 3720 B.4 / catalogue)\n", v[i].name, starts[k], v[i].crc);
            for (size_t j = 0; j < n; j++) {
                write_word(f, &w[j], bits / 64);
            }
        }
    }
    for (unsigned m = 0; m < 100; m++) {
        size_t len = m % 2 ? 1 + rnd() % (3 * lanes) : 1 + rnd() % 1500;
        for (size_t i = 0; i < len; i++) {
            msg[i] = (uint8_t)rnd();
        }
        size_t n = to_words(msg, len, lanes, (unsigned)(rnd() % lanes), w);
        fprintf(f, "# random message %u, %zu octets\n", m, len);
        for (size_t j = 0; j < n; j++) {
            write_word(f, &w[j], bits / 64);
        }
    }
    return fclose(f) != 0;
}

/* Reads one golden file: checks the expectations against the reference (from the message octets
 * the words carry) and the block against the expectations. */
static int cmd_golden(const char *path)
{
    static struct word w[MAX_WORDS];
    static uint8_t msg[MAX_MSG];
    char line[2048];
    unsigned bits = 0, bad = 0, stale = 0, messages = 0;
    size_t n = 0, len = 0;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        if (line[0] == '#' || line[0] == '\n') {
            continue;
        }
        if (sscanf(line, "width %u", &bits) == 1) {
            continue;
        }
        struct word *x = &w[n];
        unsigned sop, eop, first, last, qw = bits / 64;
        char *p = line;
        int used = 0;
        memset(x, 0, sizeof *x);
        if (qw == 0 || n + 1 >= sizeof w / sizeof w[0] ||
            sscanf(p, "%u %u %u %u%n", &sop, &eop, &first, &last, &used) != 4) {
            fprintf(stderr, "%s: bad line: %s", path, line);
            fclose(f);
            return 1;
        }
        p += used;
        for (unsigned k = 0; k < qw; k++) {
            if (sscanf(p, " %" SCNx64 "%n", &x->q[k], &used) != 1) {
                fprintf(stderr, "%s: short line: %s", path, line);
                fclose(f);
                return 1;
            }
            p += used;
        }
        if (sscanf(p, " %" SCNx32 " %" SCNx32, &x->want_s, &x->want_crc) != 2) {
            fprintf(stderr, "%s: no expectations: %s", path, line);
            fclose(f);
            return 1;
        }
        x->sop = (uint8_t)sop;
        x->eop = (uint8_t)eop;
        x->first = (uint8_t)first;
        x->last = (uint8_t)last;
        if (sop) {
            len = 0;
        }
        for (unsigned i = sop ? first : 0; i <= last && len < MAX_MSG; i++) {
            msg[len++] = (uint8_t)(x->q[i / 8] >> (8 * (i % 8)));
        }
        if (eop) {
            messages++;
            if (~iwk_crc32c_ref(IWK_CRC32C_INIT, msg, len) != x->want_crc) {
                fprintf(stderr, "%s: expected CRC %08" PRIx32 " is not the reference's\n", path, x->want_crc);
                stale++;
            }
        }
        n++;
    }
    fclose(f);
    for (size_t k = 0; k < sizeof blocks / sizeof blocks[0]; k++) {
        if (blocks[k].bits == bits) {
            bad = check(&blocks[k], w, n);
            printf("golden %s: w%u, %u messages, %zu words: %u mismatches, %u stale expectations\n",
                   path, bits, messages, n, bad, stale);
            return bad != 0 || stale != 0 || messages == 0;
        }
    }
    fprintf(stderr, "%s: no block of width %u\n", path, bits);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "random") == 0) {
        return cmd_random(argc >= 3 ? (unsigned)strtoul(argv[2], NULL, 10) : 20000u);
    }
    if (argc == 4 && strcmp(argv[1], "write-golden") == 0) {
        return cmd_write((unsigned)strtoul(argv[2], NULL, 10), argv[3]);
    }
    if (argc >= 3 && strcmp(argv[1], "golden") == 0) {
        int rc = 0;
        for (int i = 2; i < argc; i++) {
            rc |= cmd_golden(argv[i]);
        }
        return rc;
    }
    fprintf(stderr, "usage: %s random [N] | golden FILE... | write-golden 64|512 FILE\n", argv[0]);
    return 2;
}
