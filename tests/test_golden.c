/* Golden wire vectors against the generated parsers and serializers (through iwk_catalog).
 *
 *   test_golden tests/golden/mpa.txt tests/golden/ddp.txt ...
 *
 * Every line of a vector file is one of (HEX: the octets without spaces):
 *   HEADER HEX | field=value ...          parse gives IWK_OK and these values; then, when
 *                                         validate(IWK_CHECK_ALL) is IWK_OK, serialize gives HEX
 *                                         back exactly (else serialize returns validate's status)
 *   !reject HEADER HEX STATUS             parse returns STATUS (its iwk_status_name)
 *   !txfail HEADER HEX STATUS [| f=v ...] parse gives IWK_OK (and these values), but the sender
 *                                         rules fail: validate(ALL) and serialize return STATUS
 *   !reencode HEADER HEX HEX2 | f=v ...   parse gives IWK_OK and these values, validate(ALL) is
 *                                         IWK_OK, and serialize writes HEX2 (pad octets not kept)
 * Values: integers in decimal or 0x-hex for integer fields; hex (possibly empty) for fixed arrays
 * and variable parts; `NAME_len=N` checks a variable part's length only. A header or field name
 * that the catalog does not know is a failure. Blank lines and `#` lines are skipped.
 * Last line: `N passed, N failed`. */
#define _POSIX_C_SOURCE 200809L /* getline, strtok_r */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwk_catalog.h"
#include "iwk_status.h"

static unsigned passed, failed;
static const char *cur_file;
static unsigned cur_line;

static void fail(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "%s:%u: FAIL: ", cur_file, cur_line);
    fprintf(stderr, fmt, a ? a : "", b ? b : "");
    fputc('\n', stderr);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes hex text into a fresh exact-size allocation (so ASan sees any over-read). -1 on bad hex. */
static long unhex(const char *s, uint8_t **out)
{
    size_t n = strlen(s);
    if (n % 2u != 0u) return -1;
    uint8_t *b = malloc(n / 2u ? n / 2u : 1u);
    if (b == NULL) return -1;
    for (size_t i = 0; i < n / 2u; i++) {
        int hi = hexval((unsigned char)s[2 * i]), lo = hexval((unsigned char)s[2 * i + 1]);
        if (hi < 0 || lo < 0) { free(b); return -1; }
        b[i] = (uint8_t)(hi * 16 + lo);
    }
    *out = b;
    return (long)(n / 2u);
}

static const struct iwk_field_desc *find_field(const struct iwk_header_desc *h, const char *name)
{
    for (size_t i = 0; i < h->nfields; i++) {
        if (strcmp(h->fields[i].name, name) == 0) return &h->fields[i];
    }
    return NULL;
}

static int parse_u64(const char *s, uint64_t *v)
{
    char *end = NULL;
    if (*s == '\0' || *s == '-') return 0;
    *v = strtoull(s, &end, 0);
    return end != NULL && *end == '\0';
}

/* Checks one `name=value` against the parsed object. Returns 1 when it holds. */
static int check_field(const struct iwk_header_desc *h, const void *obj, char *tok)
{
    char *eq = strchr(tok, '=');
    if (eq == NULL) { fail("'%s' is not name=value", tok, NULL); return 0; }
    *eq = '\0';
    const char *name = tok, *val = eq + 1;
    const struct iwk_field_desc *f = find_field(h, name);
    int len_only = 0;
    if (f == NULL) {
        size_t n = strlen(name);
        if (n > 4u && strcmp(name + n - 4u, "_len") == 0) {
            char base[128];
            if (n - 4u < sizeof base) {
                memcpy(base, name, n - 4u);
                base[n - 4u] = '\0';
                f = find_field(h, base);
                len_only = f != NULL && f->kind == IWK_FK_VAR;
                if (!len_only) f = NULL;
            }
        }
    }
    if (f == NULL) { fail("unknown field '%s' in header %s", name, h->name); return 0; }
    const uint8_t *o = (const uint8_t *)obj;
    if (len_only) {
        uint64_t want;
        size_t got;
        memcpy(&got, o + f->len_offset, sizeof got);
        if (!parse_u64(val, &want)) { fail("%s: bad length '%s'", name, val); return 0; }
        if ((uint64_t)got != want) {
            char g[32];
            snprintf(g, sizeof g, "%zu", got);
            fail("%s: got %s", name, g);
            return 0;
        }
        return 1;
    }
    if (f->kind == IWK_FK_UINT) {
        uint64_t want;
        if (!parse_u64(val, &want)) { fail("%s: bad integer '%s'", name, val); return 0; }
        uint64_t got = iwk_field_get(obj, f);
        if (got != want) {
            char g[64];
            snprintf(g, sizeof g, "%llu (0x%llx)", (unsigned long long)got, (unsigned long long)got);
            fail("%s: got %s", name, g);
            return 0;
        }
        return 1;
    }
    uint8_t *want = NULL;
    long wn = unhex(val, &want);
    if (wn < 0) { fail("%s: bad hex '%s'", name, val); return 0; }
    const uint8_t *got;
    size_t gn;
    if (f->kind == IWK_FK_ARRAY) {
        got = o + f->offset;
        gn = f->size;
    } else {
        memcpy(&got, o + f->offset, sizeof got);
        memcpy(&gn, o + f->len_offset, sizeof gn);
    }
    int ok = (size_t)wn == gn && (gn == 0u || memcmp(got, want, gn) == 0);
    free(want);
    if (!ok) {
        char g[64];
        snprintf(g, sizeof g, "%zu octets", gn);
        fail("%s: content differs (got %s)", name, g);
    }
    return ok;
}

static int check_fields(const struct iwk_header_desc *h, const void *obj, char *list)
{
    int ok = 1;
    char *save = NULL;
    for (char *tok = strtok_r(list, " \t", &save); tok != NULL; tok = strtok_r(NULL, " \t", &save)) {
        ok &= check_field(h, obj, tok);
    }
    return ok;
}

/* serialize(obj) into an exact-size buffer; compares with want[0..wn). */
static int check_serialize(const struct iwk_header_desc *h, const void *obj, const uint8_t *want, size_t wn)
{
    size_t n = h->size(obj);
    if (n != wn) {
        char g[64];
        snprintf(g, sizeof g, "%zu, expected %zu", n, wn);
        fail("size() is %s%s", g, NULL);
        return 0;
    }
    uint8_t *out = malloc(n ? n : 1u);
    if (out == NULL) return 0;
    int ok = 1;
    iwk_status st = h->serialize(obj, out, n);
    if (st != IWK_OK) {
        fail("serialize: %s", iwk_status_name(st), NULL);
        ok = 0;
    } else if (n && memcmp(out, want, n) != 0) {
        fail("serialize does not give the input bytes back%s%s", NULL, NULL);
        ok = 0;
    }
    if (ok && n > 0u) {
        st = h->serialize(obj, out, n - 1u);
        if (st != IWK_E_NOSPACE) {
            fail("serialize with one octet too few: %s, expected IWK_E_NOSPACE", iwk_status_name(st), NULL);
            ok = 0;
        }
    }
    free(out);
    return ok;
}

static int run_line(char *line)
{
    char *fields = strchr(line, '|');
    if (fields != NULL) *fields++ = '\0';
    char *tok[5] = { 0 };
    int nt = 0;
    char *save = NULL;
    for (char *t = strtok_r(line, " \t", &save); t != NULL; t = strtok_r(NULL, " \t", &save)) {
        if (nt == 5) { fail("too many words before '|'%s%s", NULL, NULL); return 0; }
        tok[nt++] = t;
    }
    enum { PLAIN, REJECT, TXFAIL, REENCODE } kind = PLAIN;
    int k = 0;
    if (nt > 0 && tok[0][0] == '!') {
        if (strcmp(tok[0], "!reject") == 0) kind = REJECT;
        else if (strcmp(tok[0], "!txfail") == 0) kind = TXFAIL;
        else if (strcmp(tok[0], "!reencode") == 0) kind = REENCODE;
        else { fail("unknown directive '%s'", tok[0], NULL); return 0; }
        k = 1;
    }
    int want_words = kind == PLAIN ? 2 : kind == REJECT || kind == TXFAIL ? 4 : 4;
    if (nt != want_words) { fail("malformed vector line%s%s", NULL, NULL); return 0; }
    if (kind == REJECT && fields != NULL) { fail("!reject takes no field list%s%s", NULL, NULL); return 0; }
    const struct iwk_header_desc *h = iwk_header_find(tok[k]);
    if (h == NULL) { fail("unknown header '%s'", tok[k], NULL); return 0; }
    uint8_t *buf = NULL;
    long n = unhex(tok[k + 1], &buf);
    if (n < 0) { fail("bad hex%s%s", NULL, NULL); return 0; }
    void *obj = calloc(1, h->struct_size);
    int ok = obj != NULL;
    iwk_status st = ok ? h->parse(buf, (size_t)n, obj) : IWK_OK;
    if (!ok) {
        /* out of memory */
    } else if (kind == REJECT) {
        if (strcmp(iwk_status_name(st), tok[k + 2]) != 0) {
            fail("parse returned %s, expected %s", iwk_status_name(st), tok[k + 2]);
            ok = 0;
        }
    } else if (st != IWK_OK) {
        fail("parse returned %s%s", iwk_status_name(st), NULL);
        ok = 0;
    } else {
        /* decode alone must give the same struct as parse */
        void *obj2 = calloc(1, h->struct_size);
        if (obj2 != NULL) {
            iwk_status ds = h->decode(buf, (size_t)n, obj2);
            if (ds != IWK_OK || memcmp(obj, obj2, h->struct_size) != 0) {
                fail("decode differs from parse%s%s", NULL, NULL);
                ok = 0;
            }
            if (h->validate(obj, IWK_CHECK_RX) != IWK_OK) {
                fail("validate(RX) fails after a successful parse%s%s", NULL, NULL);
                ok = 0;
            }
            free(obj2);
        }
        if (fields != NULL) ok &= check_fields(h, obj, fields);
        else if (kind == PLAIN || kind == REENCODE) { fail("no field list%s%s", NULL, NULL); ok = 0; }
        iwk_status vs = h->validate(obj, IWK_CHECK_ALL);
        if (kind == TXFAIL) {
            uint8_t out[1];
            size_t cap = h->size(obj);
            uint8_t *big = malloc(cap ? cap : 1u);
            iwk_status ss = big ? h->serialize(obj, big, cap) : IWK_OK;
            (void)out;
            if (strcmp(iwk_status_name(vs), tok[k + 2]) != 0) {
                fail("validate(ALL) returned %s, expected %s", iwk_status_name(vs), tok[k + 2]);
                ok = 0;
            }
            if (ss != vs) {
                fail("serialize returned %s, validate(ALL) %s", iwk_status_name(ss), iwk_status_name(vs));
                ok = 0;
            }
            free(big);
        } else if (kind == REENCODE) {
            uint8_t *want = NULL;
            long wn = unhex(tok[k + 2], &want);
            if (wn < 0) { fail("bad second hex%s%s", NULL, NULL); ok = 0; }
            else if (vs != IWK_OK) { fail("validate(ALL) returned %s%s", iwk_status_name(vs), NULL); ok = 0; }
            else ok &= check_serialize(h, obj, want, (size_t)wn);
            free(want);
        } else if (vs == IWK_OK) {
            ok &= check_serialize(h, obj, buf, (size_t)n);
        } else {
            size_t cap = h->size(obj);
            uint8_t *big = malloc(cap ? cap : 1u);
            iwk_status ss = big ? h->serialize(obj, big, cap) : vs;
            if (ss != vs) {
                fail("serialize returned %s, validate(ALL) %s", iwk_status_name(ss), iwk_status_name(vs));
                ok = 0;
            }
            free(big);
        }
    }
    free(obj);
    free(buf);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s VECTORS.txt...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        FILE *fp = fopen(argv[i], "r");
        cur_file = argv[i];
        cur_line = 0;
        if (fp == NULL) {
            perror(argv[i]);
            failed++;
            continue;
        }
        unsigned file_vectors = 0;
        char *line = NULL;
        size_t cap = 0;
        while (getline(&line, &cap, fp) != -1) {
            cur_line++;
            char *s = line;
            while (*s == ' ' || *s == '\t') s++;
            size_t n = strlen(s);
            while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ')) s[--n] = '\0';
            if (*s == '\0' || *s == '#') continue;
            file_vectors++;
            if (run_line(s)) passed++;
            else failed++;
        }
        free(line);
        fclose(fp);
        if (file_vectors == 0) {
            fprintf(stderr, "%s: FAIL: no vectors\n", argv[i]);
            failed++;
        }
    }
    printf("%u passed, %u failed\n", passed, failed);
    return failed ? 1 : 0;
}
