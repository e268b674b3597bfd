/* fuzz_parse.c - every generated parser (iwk_catalog: one entry per header of spec/), with the
 * serialize∘parse oracle. Hand-written harness, not protocol: every rule it relies on is the
 * generated code's documented contract (docs/spec-language.md, "Generated C API").
 *
 * Input: octet 0 picks the header (modulo iwk_header_count), the rest is handed to its parse().
 * Oracle, when parse() returns IWK_OK (aborts otherwise):
 *   - decode() agrees (IWK_OK) and validate(IWK_CHECK_RX) passes (parse = decode + validate(RX));
 *   - size() fits in the input;
 *   - serialize() into size() octets succeeds exactly when validate(IWK_CHECK_ALL) does, and
 *     one octet less is IWK_E_NOSPACE;
 *   - the serialized octets equal the input's, except octets the parse skipped (`pad`), which
 *     serialize writes as zero: every differing octet is zero in the output and parsing the
 *     output gives the same fields;
 *   - serialize(parse(serialize(parse(x)))) == serialize(parse(x)) (a fixed point). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "iwk_catalog.h"
#include "iwk_status.h"

#define OBJ_MAX 512u

static size_t var_len(const void *obj, const struct iwk_field_desc *f)
{
    size_t n;
    memcpy(&n, (const uint8_t *)obj + f->len_offset, sizeof n);
    return n;
}

static const uint8_t *var_ptr(const void *obj, const struct iwk_field_desc *f)
{
    const uint8_t *p;
    memcpy(&p, (const uint8_t *)obj + f->offset, sizeof p);
    return p;
}

/* 1 when every field of a and b (UINT values, fixed arrays, variable parts' octets) is equal. */
static int same_fields(const struct iwk_header_desc *h, const void *a, const void *b)
{
    for (size_t i = 0; i < h->nfields; i++) {
        const struct iwk_field_desc *f = &h->fields[i];
        if (f->kind == IWK_FK_UINT) {
            if (iwk_field_get(a, f) != iwk_field_get(b, f)) return 0;
        } else if (f->kind == IWK_FK_ARRAY) {
            if (memcmp((const uint8_t *)a + f->offset, (const uint8_t *)b + f->offset, f->size) != 0) return 0;
        } else {
            size_t la = var_len(a, f), lb = var_len(b, f);
            if (la != lb) return 0;
            if (la > 0 && memcmp(var_ptr(a, f), var_ptr(b, f), la) != 0) return 0;
        }
    }
    return 1;
}

static void check_roundtrip(const struct iwk_header_desc *h, const uint8_t *in, size_t len, const void *obj)
{
    _Alignas(16) uint8_t back[OBJ_MAX], again[OBJ_MAX];
    size_t n = h->size(obj);
    FUZZ_CHECK(n <= len, "size() %zu larger than the %zu parsed octets (%s)", n, len, h->name);
    iwk_status all = h->validate(obj, IWK_CHECK_ALL);
    uint8_t *enc = malloc(n ? n : 1u);
    FUZZ_CHECK(enc != NULL, "out of memory");
    iwk_status st = h->serialize(obj, enc, n);
    if (all != IWK_OK) {
        FUZZ_CHECK(st == all, "%s: validate(ALL) %s but serialize %s", h->name, iwk_status_name(all),
                   iwk_status_name(st));
        free(enc);
        return;
    }
    FUZZ_CHECK(st == IWK_OK, "%s: validate(ALL) passes, serialize: %s", h->name, iwk_status_name(st));
    if (n > 0u)
        FUZZ_CHECK(h->serialize(obj, enc, n - 1u) == IWK_E_NOSPACE, "%s: size()-1 is not IWK_E_NOSPACE", h->name);
    FUZZ_CHECK(h->serialize(obj, enc, n) == IWK_OK, "%s: second serialize failed", h->name);
    memset(back, 0, sizeof back);
    st = h->parse(enc, n, back);
    FUZZ_CHECK(st == IWK_OK, "%s: parse(serialize(parse(x))): %s", h->name, iwk_status_name(st));
    FUZZ_CHECK(h->size(back) == n, "%s: size changed over a round trip", h->name);
    for (size_t k = 0; k < n; k++) {
        FUZZ_CHECK(enc[k] == in[k] || enc[k] == 0u, "%s: octet %zu: parsed 0x%02x, serialized 0x%02x", h->name, k,
                   in[k], enc[k]);
    }
    FUZZ_CHECK(same_fields(h, obj, back), "%s: parse(serialize(h)) has other fields than h", h->name);
    uint8_t *enc2 = malloc(n ? n : 1u);
    FUZZ_CHECK(enc2 != NULL, "out of memory");
    FUZZ_CHECK(h->serialize(back, enc2, n) == IWK_OK && memcmp(enc, enc2, n) == 0,
               "%s: serialize is not a fixed point", h->name);
    memset(again, 0, sizeof again);
    free(enc2);
    free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1u) return 0;
    const struct iwk_header_desc *h = &iwk_headers[data[0] % iwk_header_count];
    FUZZ_CHECK(h->struct_size <= OBJ_MAX, "%s: struct larger than the harness' buffer", h->name);
    const uint8_t *in = data + 1;
    size_t len = size - 1u;
    /* an exact-size copy, so that ASan sees any read past the end */
    uint8_t *buf = malloc(len ? len : 1u);
    FUZZ_CHECK(buf != NULL, "out of memory");
    memcpy(buf, in, len);
    _Alignas(16) uint8_t obj[OBJ_MAX], dec[OBJ_MAX];
    memset(obj, 0, sizeof obj);
    memset(dec, 0, sizeof dec);
    iwk_status st = h->parse(len ? buf : NULL, len, obj);
    iwk_status ds = h->decode(len ? buf : NULL, len, dec);
    if (st == IWK_OK) {
        FUZZ_CHECK(ds == IWK_OK, "%s: parse OK but decode %s", h->name, iwk_status_name(ds));
        FUZZ_CHECK(h->validate(obj, IWK_CHECK_RX) == IWK_OK, "%s: parse OK, validate(RX) fails", h->name);
        check_roundtrip(h, buf, len, obj);
    } else if (ds == IWK_OK) {
        FUZZ_CHECK(h->validate(dec, IWK_CHECK_RX) == st, "%s: parse %s is not decode + validate(RX)", h->name,
                   iwk_status_name(st));
    }
    free(buf);
    return 0;
}
