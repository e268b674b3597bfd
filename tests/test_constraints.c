/*
 * Each constraint's rejection: for every header, start from a valid instance (the first golden
 * vector of that header that passes validate(IWK_CHECK_ALL)), break one constraint at a time, and
 * check that validate() returns exactly that constraint's status -- in IWK_CHECK_ALL mode always,
 * in IWK_CHECK_RX mode only for receiver rules (sender rules, "(tx)" in the spec, pass RX).
 * Bit fields narrower than their C type are also given a value one past their width, which must
 * give the field's _WIDTH status. Every constraint status of the generated code must be exercised:
 * a status that no instance reaches is a failure.
 *
 *   test_constraints GOLDEN.txt...        prints "N passed, N failed"
 */
#define _POSIX_C_SOURCE 200809L /* getline */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iwk_catalog.h"
#include "iwk_status.h"

#define MAX_BUF 4096u
#define MAX_STRUCT 1024u

struct instance {
    uint8_t bytes[MAX_BUF];   /* the vector's octets: variable parts of the struct point here */
    size_t len;
    _Alignas(max_align_t) uint8_t obj[MAX_STRUCT];
    int found;
};

struct tally {
    unsigned passed;
    unsigned failed;
    uint8_t covered[IWK_STATUS_COUNT];
};

static int hexval(int c)
{
    int v = -1;
    if (c >= '0' && c <= '9') {
        v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
        v = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
        v = c - 'A' + 10;
    }
    return v;
}

/* Octets of a hex string into out (at most cap); returns the count, or -1. */
static long unhex(const char *s, uint8_t *out, size_t cap)
{
    long n = 0;
    size_t len = strlen(s);
    if (len % 2u != 0u || len / 2u > cap) {
        n = -1;
    }
    for (size_t i = 0u; n >= 0 && i < len; i += 2u) {
        const int hi = hexval(s[i]);
        const int lo = hexval(s[i + 1u]);
        if (hi < 0 || lo < 0) {
            n = -1;
        } else {
            out[n] = (uint8_t)(hi * 16 + lo);
            n++;
        }
    }
    return n;
}

/* Loads, per header, the first golden vector that parses and passes every sender rule. */
static void load_instances(const char *path, struct instance *inst)
{
    FILE *fp = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0u;
    if (fp == NULL) {
        fprintf(stderr, "test_constraints: cannot open %s\n", path);
        return;
    }
    while (getline(&line, &cap, fp) != -1) {
        char name[128];
        char hex[2 * MAX_BUF + 1];
        if (line[0] == '#' || line[0] == '!' || sscanf(line, "%127s %8192s", name, hex) != 2) {
            continue;
        }
        const struct iwk_header_desc *d = iwk_header_find(name);
        if (d == NULL) {
            continue;
        }
        struct instance *in = &inst[d - iwk_headers];
        if (in->found || d->struct_size > MAX_STRUCT) {
            continue;
        }
        const long n = unhex(hex, in->bytes, MAX_BUF);
        if (n < 0) {
            continue;
        }
        in->len = (size_t)n;
        if (d->parse(in->bytes, in->len, in->obj) == IWK_OK && d->validate(in->obj, IWK_CHECK_ALL) == IWK_OK) {
            in->found = 1;
        }
    }
    free(line);
    fclose(fp);
}

static int uint_meets(const struct iwk_constraint_desc *c, uint64_t v)
{
    int ok = 1;
    switch (c->op) {
    case IWK_CO_EQ: ok = v == c->value; break;
    case IWK_CO_NE: ok = v != c->value; break;
    case IWK_CO_MAX: ok = v <= c->value; break;
    case IWK_CO_MIN: ok = v >= c->value; break;
    case IWK_CO_RANGE: ok = v >= c->value && v <= c->high; break;
    case IWK_CO_ENUM: ok = v <= 0xFFFFFFFFu && c->enum_valid((uint32_t)v) != 0; break;
    default: break;
    }
    return ok;
}

/* A value within the field's width that breaks constraint k and meets the ones checked before it. */
static int violating_value(const struct iwk_field_desc *f, size_t k, uint64_t *out)
{
    const uint64_t max = f->bits >= 64u ? UINT64_MAX : (((uint64_t)1u << f->bits) - 1u);
    const struct iwk_constraint_desc *c = &f->constraints[k];
    uint64_t cand[16 + 1024];
    size_t n = 0u;
    int found = 0;
    cand[n++] = c->value + 1u;
    cand[n++] = c->value - 1u;
    cand[n++] = c->high + 1u;
    cand[n++] = 0u;
    cand[n++] = 1u;
    cand[n++] = max;
    cand[n++] = max - 1u;
    for (uint64_t v = 0u; v < 1024u && v <= max; v++) {
        cand[n++] = v;
    }
    for (size_t i = 0u; i < n && !found; i++) {
        int earlier_ok = 1;
        for (size_t j = 0u; j < k; j++) {
            earlier_ok = earlier_ok && uint_meets(&f->constraints[j], cand[i]);
        }
        if (cand[i] <= max && earlier_ok && !uint_meets(c, cand[i])) {
            *out = cand[i];
            found = 1;
        }
    }
    return found;
}

static void expect(struct tally *t, int ok, const char *hdr, const char *field, const char *what)
{
    if (ok) {
        t->passed++;
    } else {
        t->failed++;
        printf("FAIL %s.%s: %s\n", hdr, field, what);
    }
}

/* Breaks constraint k of field f in a copy of the valid instance and checks both modes. */
static void check_constraint(struct tally *t, const struct iwk_header_desc *d, const struct instance *in,
                             const struct iwk_field_desc *f, size_t k)
{
    const struct iwk_constraint_desc *c = &f->constraints[k];
    _Alignas(max_align_t) uint8_t obj[MAX_STRUCT];
    int made = 0;
    char what[256];
    memcpy(obj, in->obj, d->struct_size);
    if (c->op == IWK_CO_BYTES_EQ || c->op == IWK_CO_BYTES_NE) {
        uint8_t *p = obj + f->offset;
        memcpy(p, c->bytes, f->size);
        if (c->op == IWK_CO_BYTES_EQ) {
            p[0] = (uint8_t)(p[0] ^ 0x01u);
        }
        made = 1;
    } else {
        uint64_t v = 0u;
        made = violating_value(f, k, &v);
        if (made) {
            iwk_field_set(obj, f, v);
        }
    }
    if (!made) {
        snprintf(what, sizeof what, "no value breaks %s", iwk_status_name(c->code));
        expect(t, 0, d->name, f->name, what);
        return;
    }
    const iwk_status all = d->validate(obj, IWK_CHECK_ALL);
    const iwk_status rx = d->validate(obj, IWK_CHECK_RX);
    if (all == IWK_OK && rx == IWK_OK) {
        /* the field is absent (a `when` field): its constraints do not apply, as specified */
        return;
    }
    snprintf(what, sizeof what, "CHECK_ALL gave %s, want %s", iwk_status_name(all), iwk_status_name(c->code));
    expect(t, all == c->code, d->name, f->name, what);
    const iwk_status want_rx = c->tx ? IWK_OK : c->code;
    snprintf(what, sizeof what, "CHECK_RX gave %s, want %s", iwk_status_name(rx), iwk_status_name(want_rx));
    expect(t, rx == want_rx, d->name, f->name, what);
    if (all == c->code) {
        t->covered[c->code] = 1u;
    }
}

/* A bit field given 2^bits must fail with its _WIDTH status (the struct type is wider). */
static void check_width(struct tally *t, const struct iwk_header_desc *d, const struct instance *in,
                        const struct iwk_field_desc *f)
{
    _Alignas(max_align_t) uint8_t obj[MAX_STRUCT];
    char want[160];
    char what[256];
    memcpy(obj, in->obj, d->struct_size);
    iwk_field_set(obj, f, (uint64_t)1u << f->bits);
    snprintf(want, sizeof want, "IWK_E_%s_%s_WIDTH", d->name, f->name);
    for (char *p = want; *p != '\0'; p++) {
        if (*p >= 'a' && *p <= 'z') {
            *p = (char)(*p - 'a' + 'A');
        }
    }
    const iwk_status st = d->validate(obj, IWK_CHECK_RX);
    snprintf(what, sizeof what, "width violation gave %s, want %s", iwk_status_name(st), want);
    expect(t, strcmp(iwk_status_name(st), want) == 0, d->name, f->name, what);
    if (strcmp(iwk_status_name(st), want) == 0) {
        t->covered[st] = 1u;
    }
    /* a serializer must refuse it too */
    uint8_t buf[MAX_BUF];
    expect(t, d->serialize(obj, buf, sizeof buf) == st, d->name, f->name, "serialize accepted an over-wide field");
}

int main(int argc, char **argv)
{
    static struct instance inst[64];
    struct tally t = { 0u, 0u, { 0u } };
    if (iwk_header_count > sizeof inst / sizeof inst[0]) {
        printf("FAIL: more headers than the test expects\n");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        load_instances(argv[i], inst);
    }
    for (size_t h = 0u; h < iwk_header_count; h++) {
        const struct iwk_header_desc *d = &iwk_headers[h];
        if (!inst[h].found) {
            expect(&t, 0, d->name, "-", "no valid golden vector to start from");
            continue;
        }
        for (size_t i = 0u; i < d->nfields; i++) {
            const struct iwk_field_desc *f = &d->fields[i];
            for (size_t k = 0u; k < f->nconstraints; k++) {
                check_constraint(&t, d, &inst[h], f, k);
            }
            if (f->kind == IWK_FK_UINT && f->bits < 8u * f->size) {
                check_width(&t, d, &inst[h], f);
            }
        }
    }
    /* every constraint status must have been produced by some instance */
    for (unsigned s = 4u; s < IWK_STATUS_COUNT; s++) {
        if (!t.covered[s]) {
            printf("FAIL: %s was never produced (its field is absent in every golden instance)\n",
                   iwk_status_name((iwk_status)s));
            t.failed++;
        }
    }
    printf("%u passed, %u failed\n", t.passed, t.failed);
    return t.failed == 0u ? 0 : 1;
}
