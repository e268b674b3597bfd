"""C emitter for state machines: iwk_<layer>.h/.c for a layer made of `machine` items.

Per machine M: enums of states and events, `struct iwk_M` (state, configs, vars),
`struct iwk_M_input` (the fields of the event), `struct iwk_M_actions` (the outputs of one step),
`iwk_M_init` and a loop-free `iwk_M_step` written as nested switches. The step's ACSL contract has
one behavior per transition (its guard as `assumes`, its effect as `ensures`) plus a behavior for
"no transition" (nothing changes), declared complete and disjoint: WP proves that the C takes
exactly the specified transitions, that the guards of one (state, event) exclude each other, and
that every value stays in its declared range (with -wp-rte: no runtime error).
"""
from iwkspec.machines import Decl, render
from .emit_c import DO_NOT_EDIT, Out


def cname(m):
    return f"iwk_{m.name}"


def up(m):
    return f"IWK_{m.name.upper()}"


def state_c(m, s):
    return f"{up(m)}_{s.name}"


def event_c(m, e):
    return f"{up(m)}_EV_{e.name}"


def tnum(t):
    return t.index + 1


def namer(style, old=False):
    """Name renderer for guard/assignment expressions inside the step function (C) or its
    contract (ACSL, optionally in the pre-state)."""
    def name(n, want):
        t = n.target
        if isinstance(t, Decl):
            base = f"in->{t.name}" if t.role == "input" else f"m->{t.name}"
            if old:
                base = f"\\old({base})"
            if style == "acsl" and t.is_bool and want == "bool":
                return f"({base} != 0)"
            return base
        return str(t)
    return name


def c_expr(e, want=None):
    return render(e, namer("c"), "c", want)


def acsl_expr(e, old=False, want=None):
    return render(e, namer("acsl", old), "acsl", want)


def range_pred(d, ptr):
    v = f"{ptr}->{d.name}"
    if d.lo == 0:
        return f"{v} <= {d.hi}"
    return f"{d.lo} <= {v} <= {d.hi}"


def emit_header(layer, src):
    h = Out()
    guard = f"IWK_{layer.name.upper()}_H"
    h(DO_NOT_EDIT.format(src=src))
    h(f"#ifndef {guard}")
    h(f"#define {guard}")
    h("")
    h(f"/* {layer.doc} ({layer.ref}). State machines: see docs/state-machines.md. */")
    h("")
    h("#include <stdint.h>")
    h("")
    for c in layer.consts:
        h(f"#define IWK_{c.name} {c.value}u /* {c.doc} ({c.ref}) */")
    for m in layer.machines:
        n, u = cname(m), up(m)
        h("")
        h(f"/* ---- machine {m.name}: {m.doc} ({m.ref}) */")
        h(f"enum {n}_state {{")
        for s in m.states:
            h(f"    {state_c(m, s)} = {s.index}, /* {s.doc or s.name}{' (initial)' if s.initial else ''} */")
        h("};")
        h(f"#define {u}_STATE_COUNT {len(m.states)}u")
        h(f"enum {n}_event {{")
        for e in m.events:
            h(f"    {event_c(m, e)} = {e.index}, /* {e.doc or e.name} */")
        h("};")
        h(f"#define {u}_EVENT_COUNT {len(m.events)}u")
        h(f"#define {u}_TRANSITION_COUNT {len(m.transitions)}u")
        h("")
        h(f"/* The machine: its state, the configuration (set after {n}_init, before the first")
        h(" * event) and the negotiated values. */")
        h(f"struct {n} {{")
        h("    uint8_t state; /* enum " + n + "_state */")
        for d in m.decls:
            if d.role in ("config", "var"):
                h(f"    {d.c_type} {d.name}; /* {d.role} {d.type_text}: {d.doc} */")
        h("};")
        h("")
        h("/* The fields of the event being processed (zero those an event does not use). */")
        h(f"struct {n}_input {{")
        inputs = m.of_role("input")
        for d in inputs:
            h(f"    {d.c_type} {d.name}; /* {d.type_text}: {d.doc} */")
        if not inputs:
            h("    uint8_t unused_; /* this machine's events carry no fields */")
        h("};")
        h("")
        h("/* What one step asks the runtime to do (every field is zero unless the transition sets it). */")
        h(f"struct {n}_actions {{")
        for d in m.of_role("output"):
            h(f"    {d.c_type} {d.name}; /* {d.type_text}: {d.doc} */")
        h("};")
        h("")
        h(f"/* Initial state, variables at their initial values, configs at their first model value. */")
        h(f"void {n}_init(struct {n} *m);")
        h(f"/* One step: takes the transition of (m->state, ev) whose guard holds, updates *m, fills")
        h(f" * *out and returns the transition's number (1..{u}_TRANSITION_COUNT, see")
        h(f" * {n}_transition_ref); returns 0 and changes nothing when no transition applies. */")
        h(f"int {n}_step(struct {n} *m, enum {n}_event ev, const struct {n}_input *in,")
        h(f"    struct {n}_actions *out);")
        h(f"const char *{n}_state_name(uint32_t s);")
        h(f"const char *{n}_event_name(uint32_t e);")
        h(f"/* The RFC reference of transition t (1-based), \"?\" when out of range. */")
        h(f"const char *{n}_transition_ref(uint32_t t);")
    h("")
    h("#endif")
    return h.text()


def emit_source(layer, src):
    c = Out()
    c(DO_NOT_EDIT.format(src=src))
    c(f'#include "iwk_{layer.name}.h"')
    c("")
    for m in layer.machines:
        emit_machine(c, m)
    return c.text()


def emit_machine(c, m):
    n = cname(m)
    vars_ = [d for d in m.decls if d.role in ("config", "var")]
    inputs = m.of_role("input")
    outputs = m.of_role("output")
    c(f"/* ==== {m.name} ==== */")
    c("")
    # predicates
    c("/*@ predicate " + n + "_ok(struct " + n + " *m) =")
    parts = [f"m->state < {len(m.states)}"] + [range_pred(d, "m") for d in vars_]
    c("        " + " &&\n        ".join(parts) + ";")
    c("    predicate " + n + "_input_ok(struct " + n + "_input *in) =")
    parts = [range_pred(d, "in") for d in inputs] or ["\\true"]
    c("        " + " &&\n        ".join(parts) + ";")
    c("*/")
    c("")
    # names
    c(f"static const char *const {n}_state_names[{len(m.states)}] = {{")
    c("    " + ", ".join(f'"{s.name}"' for s in m.states))
    c("};")
    c(f"static const char *const {n}_event_names[{len(m.events)}] = {{")
    c("    " + ", ".join(f'"{e.name}"' for e in m.events))
    c("};")
    c(f"static const char *const {n}_transition_refs[{len(m.transitions)}] = {{")
    for t in m.transitions:
        ref = t.ref.replace("\\", "\\\\").replace('"', '\\"')
        c(f'    "{ref}", /* {tnum(t)}: {t.source.name} {t.ev.name} -> {t.dest.name} (line {t.loc.line}) */')
    c("};")
    c("")
    for what, arr, count in (("state", "state_names", len(m.states)), ("event", "event_names", len(m.events)),
                             ("transition", "transition_refs", len(m.transitions))):
        arg = "t" if what == "transition" else what[0]
        c("/*@ assigns \\nothing; */")
        c(f"const char *{n}_{what}_{'ref' if what == 'transition' else 'name'}(uint32_t {arg})")
        c("{")
        if what == "transition":
            c(f"    if (t >= 1u && t <= {count}u)")
            c(f"        return {n}_{arr}[t - 1u];")
        else:
            c(f"    if ({arg} < {count}u)")
            c(f"        return {n}_{arr}[{arg}];")
        c('    return "?";')
        c("}")
        c("")
    # init
    c("/*@ requires \\valid(m);")
    c("    assigns *m;")
    c(f"    ensures {n}_ok(m);")
    c(f"    ensures m->state == {state_c(m, m.initial)};")
    c("*/")
    c(f"void {n}_init(struct {n} *m)")
    c("{")
    c(f"    m->state = {state_c(m, m.initial)};")
    for d in vars_:
        v = d.init_value if d.role == "var" else d.model_values()[0]
        c(f"    m->{d.name} = {v}u;")
    c("}")
    c("")
    # step contract
    c("/*@ requires \\valid(m) && \\valid_read(in) && \\valid(out);")
    c("    requires \\separated(m, out) && \\separated(in, out) && \\separated(m, in);")
    c(f"    requires {n}_ok(m) && {n}_input_ok(in);")
    c("    assigns *m, *out;")
    assumes = []
    for t in m.transitions:
        a = f"m->state == {state_c(m, t.source)} && ev == {event_c(m, t.ev)}"
        if t.guard is not None:
            a += " && " + acsl_expr(t.guard, want="bool")
        assumes.append(a)
        c(f"    behavior t{tnum(t)}: // line {t.loc.line}: {t.source.name} {t.ev.name} -> {t.dest.name}; {t.ref}")
        c(f"        assumes {a};")
        post = [f"\\result == {tnum(t)}", f"m->state == {state_c(m, t.dest)}", f"{n}_ok(m)"]
        assigned = {a_.target: a_ for a_ in t.actions}
        for d in vars_:
            if d.name in assigned:
                post.append(f"m->{d.name} == {acsl_expr(assigned[d.name].expr, old=True, want='int')}")
            else:
                post.append(f"m->{d.name} == \\old(m->{d.name})")
        for d in outputs:
            if d.name in assigned:
                post.append(f"out->{d.name} == {acsl_expr(assigned[d.name].expr, old=True, want='int')}")
            else:
                post.append(f"out->{d.name} == 0")
        c("        ensures " + " &&\n            ".join(post) + ";")
    c("    behavior none: // no transition for (state, event): nothing changes")
    c("        assumes " + " &&\n            ".join(f"!({a})" for a in assumes) + ";")
    post = ["\\result == 0", "m->state == \\old(m->state)", f"{n}_ok(m)"]
    post += [f"m->{d.name} == \\old(m->{d.name})" for d in vars_]
    post += [f"out->{d.name} == 0" for d in outputs]
    c("        ensures " + " &&\n            ".join(post) + ";")
    c("    complete behaviors;")
    c("    disjoint behaviors;")
    c("*/")
    c(f"int {n}_step(struct {n} *m, enum {n}_event ev, const struct {n}_input *in,")
    c(f"    struct {n}_actions *out)")
    c("{")
    # One exit point (t = the transition taken): WP then proves each behavior once, not once per
    # return statement. Guards read the values before the step: no transition assigns a name it
    # reads after the assignment (the checker rejects it), and the state is written last.
    c("    int t = 0;")
    if not inputs:
        c("    (void)in;")
    for d in outputs:
        c(f"    out->{d.name} = 0u;")
    c("    switch (m->state) {")
    for s in m.states:
        ts = [t for t in m.transitions if t.source is s]
        if not ts:
            continue
        c(f"    case {state_c(m, s)}:")
        c("        switch (ev) {")
        for e in m.events:
            tse = [t for t in ts if t.ev is e]
            if not tse:
                continue
            c(f"        case {event_c(m, e)}:")
            for k, t in enumerate(tse):
                ind = "                "
                kw = "if" if k == 0 else "} else if"
                cond = c_expr(t.guard, want="bool") if t.guard is not None else "1"
                c(f"            {kw} ({cond}) {{ /* line {t.loc.line}: {t.ref} */")
                for a_ in t.actions:
                    tgt = "out" if a_.decl.role == "output" else "m"
                    c(f"{ind}{tgt}->{a_.target} = ({a_.decl.c_type})({c_expr(a_.expr, want='int')});")
                if t.dest is not t.source:
                    c(f"{ind}m->state = {state_c(m, t.dest)};")
                c(f"{ind}t = {tnum(t)};")
            c("            }")
            c("            break;")
        c("        default:")
        c("            break;")
        c("        }")
        c("        break;")
    c("    default:")
    c("        break;")
    c("    }")
    c("    return t;")
    c("}")
    c("")


def emit_layer(layer, src):
    return emit_header(layer, src), emit_source(layer, src)
