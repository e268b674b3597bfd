"""Catalog emitter: iwk_catalog.[ch], a reflection table of every header (fields, offsets, and the
generated functions behind a common signature) for generic tools: golden-vector and round-trip
tests, fuzz harnesses, iwdump's printing. Each wrapper carries an ACSL contract."""
from iwkspec.model import Name, Rest, Field, expr_const_value, status_name
from .emit_c import DO_NOT_EDIT, Out, c_ident


def emit_catalog(spec, sources):
    src = ", ".join(sources)
    h = Out()
    h(DO_NOT_EDIT.format(src=src))
    h("#ifndef IWK_CATALOG_H")
    h("#define IWK_CATALOG_H")
    h("")
    h("#include <stddef.h>")
    h("#include <stdint.h>")
    h('#include "iwk_status.h"')
    h("")
    h("enum iwk_field_kind { IWK_FK_UINT = 0, IWK_FK_ARRAY = 1, IWK_FK_VAR = 2 };")
    h("")
    h("enum iwk_constraint_op { IWK_CO_EQ = 0, IWK_CO_NE = 1, IWK_CO_MAX = 2, IWK_CO_MIN = 3, IWK_CO_RANGE = 4,")
    h("                         IWK_CO_ENUM = 5, IWK_CO_BYTES_EQ = 6, IWK_CO_BYTES_NE = 7 };")
    h("")
    h("/* One constraint of a field, with the status validate() returns when it is violated. */")
    h("struct iwk_constraint_desc {")
    h("    iwk_status code;")
    h("    uint8_t op;                  /* enum iwk_constraint_op */")
    h("    uint8_t tx;                  /* sender-only rule: checked by IWK_CHECK_ALL only */")
    h("    uint64_t value;              /* EQ NE MAX MIN, RANGE low */")
    h("    uint64_t high;               /* RANGE high */")
    h("    int (*enum_valid)(uint32_t); /* ENUM */")
    h("    const uint8_t *bytes;        /* BYTES_EQ/NE: as many octets as the field */")
    h("};")
    h("")
    h("/* One field of a generated struct. */")
    h("struct iwk_field_desc {")
    h("    const char *name;")
    h("    uint8_t kind;       /* enum iwk_field_kind */")
    h("    uint8_t bits;       /* UINT: width on the wire */")
    h("    size_t offset;      /* offsetof in the struct */")
    h("    size_t size;        /* UINT: sizeof the C type; ARRAY: octets */")
    h("    size_t len_offset;  /* VAR: offsetof the _len member */")
    h("    int len_field;      /* VAR: index of the integer field that alone gives the length, else -1 */")
    h("    uint8_t rest;       /* VAR: takes every remaining octet */")
    h("    const struct iwk_constraint_desc *constraints; /* in the order validate() checks them */")
    h("    size_t nconstraints;")
    h("};")
    h("")
    h("/* One header: its fields and its generated functions behind a common signature. */")
    h("struct iwk_header_desc {")
    h("    const char *name;")
    h("    const char *layer;")
    h("    size_t struct_size;")
    h("    size_t min_size;")
    h("    const struct iwk_field_desc *fields;")
    h("    size_t nfields;")
    h("    iwk_status (*decode)(const uint8_t *buf, size_t len, void *out);")
    h("    iwk_status (*validate)(const void *h, iwk_check mode);")
    h("    iwk_status (*parse)(const uint8_t *buf, size_t len, void *out);")
    h("    size_t (*size)(const void *h);")
    h("    iwk_status (*serialize)(const void *h, uint8_t *buf, size_t cap);")
    h("};")
    h("")
    h("extern const struct iwk_header_desc iwk_headers[];")
    h("extern const size_t iwk_header_count;")
    h("/* The header called name, or NULL. */")
    h("const struct iwk_header_desc *iwk_header_find(const char *name);")
    h("/* Value of an IWK_FK_UINT field of obj. */")
    h("uint64_t iwk_field_get(const void *obj, const struct iwk_field_desc *f);")
    h("/* Stores v (truncated to the C type) in an IWK_FK_UINT field of obj. */")
    h("void iwk_field_set(void *obj, const struct iwk_field_desc *f, uint64_t v);")
    h("")
    h("#endif")

    c = Out()
    c(DO_NOT_EDIT.format(src=src))
    c("#include <string.h>")
    c('#include "iwk_catalog.h"')
    for layer in spec.layers:
        c(f'#include "iwk_{layer.name}.h"')
    c("")
    for hd in spec.all_headers():
        emit_header_entries(c, hd)
    c("const struct iwk_header_desc iwk_headers[] = {")
    for hd in spec.all_headers():
        n = c_ident(hd.name)
        nf = len([f for f in hd.fields if f.kind != "pad"])
        c(f'    {{ "{hd.name}", "{hd.layer.name}", sizeof(struct {n}), {hd.min_size}u, {n}_fields_, {nf}u,')
        c(f"      {n}_decode_any_, {n}_validate_any_, {n}_parse_any_, {n}_size_any_, {n}_serialize_any_ }},")
    c("};")
    c(f"const size_t iwk_header_count = {len(spec.all_headers())}u;")
    c("")
    c("/*@ requires \\valid_read(name);")
    c("    assigns \\nothing; */")
    c("const struct iwk_header_desc *iwk_header_find(const char *name)")
    c("{")
    c("    const struct iwk_header_desc *found = NULL;")
    c("    for (size_t i = 0u; i < iwk_header_count && found == NULL; i++) {")
    c("        if (strcmp(iwk_headers[i].name, name) == 0) {")
    c("            found = &iwk_headers[i];")
    c("        }")
    c("    }")
    c("    return found;")
    c("}")
    c("")
    c("/*@ requires \\valid_read((const uint8_t *)obj + (f->offset .. f->offset + f->size - 1));")
    c("    assigns \\nothing; */")
    c("uint64_t iwk_field_get(const void *obj, const struct iwk_field_desc *f)")
    c("{")
    c("    const uint8_t *p = (const uint8_t *)obj + f->offset;")
    c("    uint64_t v = 0u;")
    c("    if (f->size == 1u) { uint8_t x; memcpy(&x, p, 1u); v = x; }")
    c("    else if (f->size == 2u) { uint16_t x; memcpy(&x, p, 2u); v = x; }")
    c("    else if (f->size == 4u) { uint32_t x; memcpy(&x, p, 4u); v = x; }")
    c("    else { memcpy(&v, p, 8u); }")
    c("    return v;")
    c("}")
    c("")
    c("/*@ requires \\valid((uint8_t *)obj + (f->offset .. f->offset + f->size - 1));")
    c("    assigns ((uint8_t *)obj)[f->offset .. f->offset + f->size - 1]; */")
    c("void iwk_field_set(void *obj, const struct iwk_field_desc *f, uint64_t v)")
    c("{")
    c("    uint8_t *p = (uint8_t *)obj + f->offset;")
    c("    if (f->size == 1u) { const uint8_t x = (uint8_t)v; memcpy(p, &x, 1u); }")
    c("    else if (f->size == 2u) { const uint16_t x = (uint16_t)v; memcpy(p, &x, 2u); }")
    c("    else if (f->size == 4u) { const uint32_t x = (uint32_t)v; memcpy(p, &x, 4u); }")
    c("    else { memcpy(p, &v, 8u); }")
    c("}")
    return h.text(), c.text()


def emit_constraints(c, n, hd, f):
    for i, con in enumerate(f.constraints):
        if isinstance(con.value, bytes):
            octets = ", ".join(f"0x{b:02X}u" for b in con.value)
            c(f"static const uint8_t {n}_{f.name}_bytes{i}_[] = {{ {octets} }};")
    c(f"static const struct iwk_constraint_desc {n}_{f.name}_constraints_[] = {{")
    for i, con in enumerate(f.constraints):
        code = status_name(hd, f, con)
        tx = "1u" if con.tx else "0u"
        if isinstance(con.value, bytes):
            op = "IWK_CO_BYTES_EQ" if con.op == "==" else "IWK_CO_BYTES_NE"
            c(f"    {{ {code}, {op}, {tx}, 0u, 0u, NULL, {n}_{f.name}_bytes{i}_ }},")
        elif con.op == "enum":
            c(f"    {{ {code}, IWK_CO_ENUM, {tx}, 0u, 0u, {c_ident(con.enum.name)}_valid, NULL }},")
        else:
            op = {"==": "IWK_CO_EQ", "!=": "IWK_CO_NE", "<=": "IWK_CO_MAX", ">=": "IWK_CO_MIN", "range": "IWK_CO_RANGE"}[con.op]
            lo = expr_const_value(con.value)
            hi = expr_const_value(con.high) if con.high is not None else 0
            c(f"    {{ {code}, {op}, {tx}, {lo}u, {hi}u, NULL, NULL }},")
    c("};")


def emit_header_entries(c, hd):
    n = c_ident(hd.name)
    s = f"struct {n}"
    for f in hd.fields:
        if f.constraints:
            emit_constraints(c, n, hd, f)
    c(f"static const struct iwk_field_desc {n}_fields_[] = {{")
    int_index = {}
    idx = 0
    for f in hd.fields:
        if f.kind == "pad":
            continue
        int_index[f.name] = idx
        idx += 1
    for f in hd.fields:
        if f.kind == "pad":
            continue
        cons = f"{n}_{f.name}_constraints_, {len(f.constraints)}u" if f.constraints else "NULL, 0u"
        if f.kind == "uint":
            c(f'    {{ "{f.name}", IWK_FK_UINT, {f.bits}u, offsetof({s}, {f.name}), sizeof(((const {s} *)0)->{f.name}), 0u, -1, 0u, {cons} }},')
        elif not f.is_var:
            c(f'    {{ "{f.name}", IWK_FK_ARRAY, 0u, offsetof({s}, {f.name}), {f.fixed_len}u, 0u, -1, 0u, {cons} }},')
        else:
            lf = -1
            if isinstance(f.length, Name) and isinstance(f.length.target, Field):
                lf = int_index[f.length.target.name]
            rest = 1 if isinstance(f.length, Rest) else 0
            c(f'    {{ "{f.name}", IWK_FK_VAR, 0u, offsetof({s}, {f.name}), 0u, offsetof({s}, {f.name}_len), {lf}, {rest}u, NULL, 0u }},')
    c("};")
    c("")
    c("/*@ requires len > 0 ==> \\valid_read(buf + (0 .. len - 1));")
    c(f"    requires \\valid(({s} *)out);")
    c(f"    requires \\separated(({s} *)out, buf + (0 .. len - 1));")
    c(f"    assigns *({s} *)out; */")
    c(f"static iwk_status {n}_decode_any_(const uint8_t *buf, size_t len, void *out)")
    c(f"{{ return {n}_decode(buf, len, ({s} *)out); }}")
    c("/*@ requires \\valid_read((const " + s + " *)h);")
    c("    assigns \\nothing; */")
    c(f"static iwk_status {n}_validate_any_(const void *h, iwk_check mode)")
    c(f"{{ return {n}_validate((const {s} *)h, mode); }}")
    c("/*@ requires len > 0 ==> \\valid_read(buf + (0 .. len - 1));")
    c(f"    requires \\valid(({s} *)out);")
    c(f"    requires \\separated(({s} *)out, buf + (0 .. len - 1));")
    c(f"    assigns *({s} *)out; */")
    c(f"static iwk_status {n}_parse_any_(const uint8_t *buf, size_t len, void *out)")
    c(f"{{ return {n}_parse(buf, len, ({s} *)out); }}")
    c("/*@ requires \\valid_read((const " + s + " *)h);")
    c("    assigns \\nothing; */")
    c(f"static size_t {n}_size_any_(const void *h)")
    c(f"{{ return {n}_size((const {s} *)h); }}")
    c("/*@ requires \\valid_read((const " + s + " *)h);")
    c("    requires cap > 0 ==> \\valid(buf + (0 .. cap - 1));")
    c("    assigns buf[0 .. cap - 1]; */")
    c(f"static iwk_status {n}_serialize_any_(const void *h, uint8_t *buf, size_t cap)")
    c(f"{{ return {n}_serialize((const {s} *)h, buf, cap); }}")
    c("")
