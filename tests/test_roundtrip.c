/* Property tests of every generated header, through iwk_catalog:
 *
 *   test_roundtrip [-n N] [-s SEED] [GOLDEN.txt ...]
 *
 * For each header in iwk_headers[]:
 *  1. roundtrip: N random valid instances. Integer fields get random values within their width,
 *     then fields named by a failing validate(IWK_CHECK_ALL) are repaired (random values, then
 *     0, 1, 2, ... for small widths, then the value from a golden instance); a variable part whose
 *     length is one integer field gets a random buffer of that length (the field kept <= 600), a
 *     `rest` part a random length. Headers with a variable part whose length is an expression start
 *     from the golden vectors given on the command line, mutated octet by octet and kept when they
 *     parse and pass validate(ALL). Then: serialize succeeds; size() is what it wrote (no octet
 *     past it is touched, and one octet less gives IWK_E_NOSPACE); parse(serialize(h)) gives back
 *     every field (fields a `when` makes absent excepted: they must not change the encoding); and
 *     serialize(parse(bytes)) gives the same bytes.
 *  2. random: N random buffers of 0..64 octets (and mutated valid encodings) never crash parse
 *     (build with -fsanitize=address,undefined); a successful parse passes validate(IWK_CHECK_RX).
 *  3. prefix: every prefix shorter than min_size of a valid encoding returns IWK_E_SHORT.
 * Last line: `N passed, N failed` (one test per header and property). */
#define _POSIX_C_SOURCE 200809L /* getline, strtok_r */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwk_catalog.h"
#include "iwk_status.h"

#define MAX_GOLDEN 64
#define MAX_FIELDS 64
#define MAX_LEN_FIELD 600u

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static unsigned passed, failed;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return x;
}

static uint64_t mask(unsigned bits)
{
    return bits >= 64u ? ~0ull : ((1ull << bits) - 1u);
}

/* A random value of the width, biased to the edges and to small numbers. */
static uint64_t rnd_bits(unsigned bits)
{
    switch (rnd() % 6u) {
    case 0: return 0u;
    case 1: return mask(bits);
    case 2: return rnd() % 4u & mask(bits);
    case 3: return rnd() % 1024u & mask(bits);
    default: return rnd() & mask(bits);
    }
}

/* ---- golden vectors: plain `HEADER HEX | ...` lines, by header ---- */
struct golden {
    const char *header;
    uint8_t *bytes;
    size_t len;
};
static struct golden goldens[4096];
static size_t ngoldens;

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void load_golden(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        perror(path);
        failed++;
        return;
    }
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, fp) != -1 && ngoldens < sizeof goldens / sizeof goldens[0]) {
        char *save = NULL;
        char *name = strtok_r(line, " \t\r\n", &save);
        if (name == NULL || name[0] == '#' || name[0] == '!') continue;
        char *hex = strtok_r(NULL, " \t\r\n", &save);
        const struct iwk_header_desc *h = iwk_header_find(name);
        if (hex == NULL || h == NULL) continue;
        size_t n = strlen(hex) / 2u;
        uint8_t *b = malloc(n ? n : 1u);
        int ok = b != NULL;
        for (size_t i = 0; ok && i < n; i++) {
            int hi = hexval((unsigned char)hex[2 * i]), lo = hexval((unsigned char)hex[2 * i + 1]);
            ok = hi >= 0 && lo >= 0;
            if (ok) b[i] = (uint8_t)(hi * 16 + lo);
        }
        if (!ok) { free(b); continue; }
        goldens[ngoldens].header = h->name;
        goldens[ngoldens].bytes = b;
        goldens[ngoldens].len = n;
        ngoldens++;
    }
    free(line);
    fclose(fp);
}

/* ---- helpers on catalog objects ---- */
static const uint8_t *var_ptr(const void *obj, const struct iwk_field_desc *f)
{
    const uint8_t *p;
    memcpy(&p, (const uint8_t *)obj + f->offset, sizeof p);
    return p;
}

static size_t var_len(const void *obj, const struct iwk_field_desc *f)
{
    size_t n;
    memcpy(&n, (const uint8_t *)obj + f->len_offset, sizeof n);
    return n;
}

static void var_set(void *obj, const struct iwk_field_desc *f, const uint8_t *p, size_t n)
{
    memcpy((uint8_t *)obj + f->offset, &p, sizeof p);
    memcpy((uint8_t *)obj + f->len_offset, &n, sizeof n);
}

static int has_expr_var(const struct iwk_header_desc *h)
{
    for (size_t i = 0; i < h->nfields; i++) {
        const struct iwk_field_desc *f = &h->fields[i];
        if (f->kind == IWK_FK_VAR && f->len_field < 0 && !f->rest) return 1;
    }
    return 0;
}

/* The field a status such as IWK_E_MPA_REQUEST_PD_LENGTH_MAX names, or NULL. */
static const struct iwk_field_desc *status_field(const struct iwk_header_desc *h, iwk_status st)
{
    const char *name = iwk_status_name(st);
    char prefix[160];
    snprintf(prefix, sizeof prefix, "IWK_E_%s_", h->name);
    for (char *p = prefix; *p; p++) {
        if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 'a' + 'A');
    }
    size_t pl = strlen(prefix);
    if (strncmp(name, prefix, pl) != 0) return NULL;
    const char *rest = name + pl;
    const char *suffix = strrchr(rest, '_');
    if (suffix == NULL) return NULL;
    size_t fl = (size_t)(suffix - rest);
    for (size_t i = 0; i < h->nfields; i++) {
        const char *fn = h->fields[i].name;
        if (strlen(fn) != fl) continue;
        size_t k = 0;
        while (k < fl && (fn[k] == rest[k] || (fn[k] >= 'a' && fn[k] <= 'z' && fn[k] - 'a' + 'A' == rest[k]))) k++;
        if (k == fl) return &h->fields[i];
    }
    return NULL;
}

/* A golden instance of the header, parsed into obj (1), or 0 when there is none. */
static int golden_instance(const struct iwk_header_desc *h, void *obj, size_t pick)
{
    size_t count = 0;
    for (size_t i = 0; i < ngoldens; i++) {
        if (strcmp(goldens[i].header, h->name) == 0) count++;
    }
    if (count == 0) return 0;
    pick %= count;
    for (size_t i = 0; i < ngoldens; i++) {
        if (strcmp(goldens[i].header, h->name) != 0) continue;
        if (pick-- == 0) {
            memset(obj, 0, h->struct_size);
            return h->parse(goldens[i].bytes, goldens[i].len, obj) == IWK_OK &&
                   h->validate(obj, IWK_CHECK_ALL) == IWK_OK;
        }
    }
    return 0;
}

/* Gives every VAR part a buffer that agrees with its length (from pool, at least 64 + 2^16 octets). */
static void fill_vars(const struct iwk_header_desc *h, void *obj, const uint8_t *pool, size_t poolsize)
{
    for (size_t i = 0; i < h->nfields; i++) {
        const struct iwk_field_desc *f = &h->fields[i];
        if (f->kind != IWK_FK_VAR) continue;
        size_t n;
        if (f->len_field >= 0) n = (size_t)iwk_field_get(obj, &h->fields[f->len_field]);
        else n = (size_t)(rnd() % 65u);
        if (n > poolsize) n = poolsize;
        var_set(obj, f, n ? pool + rnd() % (poolsize - n + 1u) : NULL, n);
    }
}

/* Builds a random instance that validate(ALL) and serialize accept. 1 on success. */
static int random_instance(const struct iwk_header_desc *h, void *obj, const uint8_t *pool, size_t poolsize)
{
    memset(obj, 0, h->struct_size);
    uint8_t is_len[MAX_FIELDS] = { 0 };
    for (size_t i = 0; i < h->nfields && i < MAX_FIELDS; i++) {
        if (h->fields[i].kind == IWK_FK_VAR && h->fields[i].len_field >= 0) is_len[h->fields[i].len_field] = 1;
    }
    for (size_t i = 0; i < h->nfields; i++) {
        const struct iwk_field_desc *f = &h->fields[i];
        if (f->kind == IWK_FK_UINT) {
            uint64_t v = rnd_bits(f->bits);
            if (i < MAX_FIELDS && is_len[i]) v %= (MAX_LEN_FIELD + 1u);
            iwk_field_set(obj, f, v);
        } else if (f->kind == IWK_FK_ARRAY) {
            for (size_t k = 0; k < f->size; k++) ((uint8_t *)obj)[f->offset + k] = (uint8_t)rnd();
        }
    }
    void *gold = calloc(1, h->struct_size);
    int have_gold = gold != NULL && golden_instance(h, gold, (size_t)rnd());
    int ok = 0;
    for (int round = 0; round < 64; round++) {
        iwk_status st = h->validate(obj, IWK_CHECK_ALL);
        if (st == IWK_OK) { ok = 1; break; }
        const struct iwk_field_desc *f = status_field(h, st);
        if (f == NULL) break;
        if (f->kind == IWK_FK_ARRAY) {
            if (!have_gold) break;
            memcpy((uint8_t *)obj + f->offset, (uint8_t *)gold + f->offset, f->size);
            continue;
        }
        if (f->kind != IWK_FK_UINT) break;
        size_t idx = (size_t)(f - h->fields);
        uint64_t lim = idx < MAX_FIELDS && is_len[idx] ? MAX_LEN_FIELD : mask(f->bits);
        int fixed = 0;
        for (int t = 0; t < 64 && !fixed; t++) {
            iwk_field_set(obj, f, rnd_bits(f->bits) % (lim == ~0ull ? lim : lim + 1u));
            fixed = status_field(h, h->validate(obj, IWK_CHECK_ALL)) != f;
        }
        const uint64_t edges[2] = { 0u, lim };
        for (int e = 0; e < 2 && !fixed; e++) {
            iwk_field_set(obj, f, edges[e]);
            fixed = status_field(h, h->validate(obj, IWK_CHECK_ALL)) != f;
        }
        for (uint64_t v = 1; !fixed && v < lim && v <= 65536u; v++) {
            iwk_field_set(obj, f, v);
            fixed = status_field(h, h->validate(obj, IWK_CHECK_ALL)) != f;
        }
        if (!fixed && have_gold) {
            iwk_field_set(obj, f, iwk_field_get(gold, f));
            fixed = status_field(h, h->validate(obj, IWK_CHECK_ALL)) != f;
        }
        if (!fixed) break;
    }
    free(gold);
    if (!ok) return 0;
    fill_vars(h, obj, pool, poolsize);
    if (h->serialize(obj, NULL, 0) == IWK_E_LEN_MISMATCH) {
        /* a `rest` part that a `when` makes absent must be empty */
        for (size_t i = 0; i < h->nfields; i++) {
            if (h->fields[i].kind == IWK_FK_VAR && h->fields[i].rest) var_set(obj, &h->fields[i], NULL, 0);
        }
    }
    return 1;
}

/* A valid instance built from a mutated golden vector; its bytes stay alive in *keep. */
static int golden_mutant(const struct iwk_header_desc *h, void *obj, uint8_t **keep)
{
    size_t count = 0;
    for (size_t i = 0; i < ngoldens; i++) {
        if (strcmp(goldens[i].header, h->name) == 0) count++;
    }
    if (count == 0) return 0;
    for (int tries = 0; tries < 200; tries++) {
        size_t pick = (size_t)(rnd() % count);
        const struct golden *g = NULL;
        for (size_t i = 0; i < ngoldens; i++) {
            if (strcmp(goldens[i].header, h->name) == 0 && pick-- == 0) g = &goldens[i];
        }
        uint8_t *b = malloc(g->len ? g->len : 1u);
        if (b == NULL) return 0;
        memcpy(b, g->bytes, g->len);
        unsigned flips = tries == 0 ? 0u : (unsigned)(rnd() % 3u) + 1u;
        for (unsigned k = 0; k < flips && g->len; k++) b[rnd() % g->len] = (uint8_t)rnd();
        memset(obj, 0, h->struct_size);
        if (h->parse(b, g->len, obj) == IWK_OK && h->validate(obj, IWK_CHECK_ALL) == IWK_OK) {
            *keep = b;
            return 1;
        }
        free(b);
    }
    return 0;
}

static void report(const struct iwk_header_desc *h, const char *what, unsigned bad, unsigned done)
{
    if (bad == 0u && done > 0u) {
        passed++;
    } else {
        failed++;
        fprintf(stderr, "FAIL %s %s: %u bad of %u\n", h->name, what, bad, done);
    }
}

/* Compares obj with back (parsed from obj's encoding); differences must be absent fields. */
static int same_fields(const struct iwk_header_desc *h, const void *obj, const void *back,
                       const uint8_t *enc, size_t n, char *why, size_t whylen)
{
    void *norm = malloc(h->struct_size);
    uint8_t *enc2 = malloc(n ? n : 1u);
    if (norm == NULL || enc2 == NULL) { free(norm); free(enc2); return 0; }
    memcpy(norm, obj, h->struct_size);
    int ok = 1;
    for (size_t i = 0; i < h->nfields && ok; i++) {
        const struct iwk_field_desc *f = &h->fields[i];
        if (f->kind == IWK_FK_UINT) {
            uint64_t a = iwk_field_get(obj, f), b = iwk_field_get(back, f);
            if (a != b) {
                /* absent (when false)? then zeroing it must not change the encoding */
                iwk_field_set(norm, f, 0u);
                if (b != 0u || h->serialize(norm, enc2, n) != IWK_OK || memcmp(enc, enc2, n) != 0) {
                    snprintf(why, whylen, "field %s: %llu became %llu", f->name, (unsigned long long)a, (unsigned long long)b);
                    ok = 0;
                }
            }
        } else if (f->kind == IWK_FK_ARRAY) {
            if (memcmp((const uint8_t *)obj + f->offset, (const uint8_t *)back + f->offset, f->size) != 0) {
                snprintf(why, whylen, "array %s differs", f->name);
                ok = 0;
            }
        } else {
            size_t la = var_len(obj, f), lb = var_len(back, f);
            if (la != lb || (la && memcmp(var_ptr(obj, f), var_ptr(back, f), la) != 0)) {
                snprintf(why, whylen, "variable part %s differs (%zu vs %zu octets)", f->name, la, lb);
                ok = 0;
            }
        }
    }
    free(norm);
    free(enc2);
    return ok;
}

int main(int argc, char **argv)
{
    unsigned n_iter = 2000u;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) n_iter = (unsigned)strtoul(argv[++i], NULL, 0);
        else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc) rng_state = strtoull(argv[++i], NULL, 0) | 1u;
        else load_golden(argv[i]);
    }
    const size_t poolsize = 70000u;
    uint8_t *pool = malloc(poolsize);
    if (pool == NULL) return 2;
    for (size_t i = 0; i < poolsize; i++) pool[i] = (uint8_t)rnd();

    for (size_t hi = 0; hi < iwk_header_count; hi++) {
        const struct iwk_header_desc *h = &iwk_headers[hi];
        void *obj = calloc(1, h->struct_size), *back = calloc(1, h->struct_size), *back2 = calloc(1, h->struct_size);
        if (obj == NULL || back == NULL || back2 == NULL) return 2;
        const int from_golden = has_expr_var(h);
        unsigned bad = 0, done = 0, nogen = 0, prefix_bad = 0, prefix_done = 0;
        char why[256];
        /* 1. round trip (and 3. prefixes of the encodings) */
        for (unsigned it = 0; it < n_iter; it++) {
            uint8_t *keep = NULL;
            int have = from_golden ? golden_mutant(h, obj, &keep) : random_instance(h, obj, pool, poolsize);
            if (!have) { nogen++; continue; }
            done++;
            size_t n = h->size(obj);
            uint8_t *enc = malloc(n + 16u);
            if (enc == NULL) return 2;
            memset(enc, 0xA5, n + 16u);
            iwk_status st = h->serialize(obj, enc, n);
            int ok = 1;
            why[0] = '\0';
            if (st != IWK_OK) {
                snprintf(why, sizeof why, "serialize: %s", iwk_status_name(st));
                ok = 0;
            }
            for (size_t k = n; ok && k < n + 16u; k++) {
                if (enc[k] != 0xA5) { snprintf(why, sizeof why, "serialize wrote past size() = %zu", n); ok = 0; }
            }
            if (ok && n > 0u && h->serialize(obj, enc, n - 1u) != IWK_E_NOSPACE) {
                snprintf(why, sizeof why, "serialize into size()-1 octets is not IWK_E_NOSPACE");
                ok = 0;
            }
            if (ok) {
                /* exact-size copy so that ASan sees over-reads */
                uint8_t *exact = malloc(n ? n : 1u);
                if (exact == NULL) return 2;
                if (h->serialize(obj, enc, n) != IWK_OK) ok = 0;
                memcpy(exact, enc, n);
                memset(back, 0, h->struct_size);
                st = h->parse(exact, n, back);
                if (st != IWK_OK) {
                    snprintf(why, sizeof why, "parse(serialize(h)): %s", iwk_status_name(st));
                    ok = 0;
                } else if (!same_fields(h, obj, back, exact, n, why, sizeof why)) {
                    ok = 0;
                } else if (h->size(back) != n) {
                    snprintf(why, sizeof why, "size(parse(bytes)) %zu != %zu", h->size(back), n);
                    ok = 0;
                } else {
                    uint8_t *enc2 = malloc(n ? n : 1u);
                    if (enc2 == NULL) return 2;
                    st = h->serialize(back, enc2, n);
                    if (st != IWK_OK || memcmp(enc2, exact, n) != 0) {
                        snprintf(why, sizeof why, "serialize(parse(bytes)) differs (%s)", iwk_status_name(st));
                        ok = 0;
                    }
                    free(enc2);
                }
                /* 3. every prefix shorter than min_size is IWK_E_SHORT */
                if (it < 50u) {
                    for (size_t k = 0; k < h->min_size && k <= n; k++) {
                        uint8_t *p = malloc(k ? k : 1u);
                        if (p == NULL) return 2;
                        memcpy(p, exact, k);
                        memset(back2, 0, h->struct_size);
                        iwk_status ps = h->parse(k ? p : NULL, k, back2);
                        iwk_status ds = h->decode(k ? p : NULL, k, back2);
                        prefix_done++;
                        if (ps != IWK_E_SHORT || ds != IWK_E_SHORT) {
                            prefix_bad++;
                            if (prefix_bad == 1u)
                                fprintf(stderr, "  %s: prefix of %zu octets: parse %s, decode %s\n", h->name, k,
                                        iwk_status_name(ps), iwk_status_name(ds));
                        }
                        free(p);
                    }
                }
                free(exact);
            }
            if (!ok) {
                bad++;
                if (bad <= 3u) fprintf(stderr, "  %s: instance %u: %s\n", h->name, it, why);
            }
            free(enc);
            free(keep);
        }
        if (nogen) fprintf(stderr, "  %s: no valid instance in %u of %u tries%s\n", h->name, nogen, n_iter,
                           from_golden ? " (golden-based: give the golden files on the command line)" : "");
        report(h, "roundtrip", bad + (done < n_iter / 2u ? 1u : 0u), done);
        report(h, "prefix", prefix_bad, prefix_done + (h->min_size == 0u));

        /* 2. random and mutated buffers never crash parse; success implies validate(RX) */
        unsigned rbad = 0, rdone = 0, rok = 0;
        for (unsigned it = 0; it < n_iter; it++) {
            size_t len;
            uint8_t *b;
            if (it % 2u == 0u || !random_instance(h, obj, pool, poolsize)) {
                len = (size_t)(rnd() % 65u);
                b = malloc(len ? len : 1u);
                if (b == NULL) return 2;
                for (size_t k = 0; k < len; k++) b[k] = (uint8_t)rnd();
                if (len > 0 && rnd() % 2u) {
                    /* start from a golden vector's octets, when there is one */
                    for (size_t g = 0; g < ngoldens; g++) {
                        if (strcmp(goldens[g].header, h->name) == 0 && rnd() % 4u == 0u) {
                            memcpy(b, goldens[g].bytes, len < goldens[g].len ? len : goldens[g].len);
                            b[rnd() % len] = (uint8_t)rnd();
                            break;
                        }
                    }
                }
            } else {
                size_t n = h->size(obj);
                uint8_t *enc = malloc(n ? n : 1u);
                if (enc == NULL) return 2;
                if (h->serialize(obj, enc, n) != IWK_OK) { free(enc); continue; }
                len = n > 0 ? (size_t)(rnd() % (n + 1u)) : 0u;
                if (len > 0 && rnd() % 2u) enc[rnd() % len] = (uint8_t)rnd();
                b = malloc(len ? len : 1u);
                if (b == NULL) return 2;
                memcpy(b, enc, len);
                free(enc);
            }
            rdone++;
            memset(back, 0, h->struct_size);
            iwk_status st = h->parse(len ? b : NULL, len, back);
            if (st == IWK_OK) {
                rok++;
                if (h->validate(back, IWK_CHECK_RX) != IWK_OK) rbad++;
                if (h->size(back) > len) rbad++;
                if (len < h->min_size) rbad++;
            } else if (len < h->min_size && st != IWK_E_SHORT) {
                rbad++;
            }
            free(b);
        }
        report(h, "random-parse", rbad, rdone);
        fprintf(stderr, "  %-26s roundtrip %u/%u  random parses OK %u/%u\n", h->name, done - bad, n_iter, rok, rdone);
        free(obj);
        free(back);
        free(back2);
    }
    for (size_t i = 0; i < ngoldens; i++) free(goldens[i].bytes);
    free(pool);
    printf("%u passed, %u failed\n", passed, failed);
    return failed ? 1 : 0;
}
