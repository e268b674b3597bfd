"""C emitter for state machines: iwk_<layer>.h/.c for a layer made of `machine` items.

Per machine M: enums of states and events, `struct iwk_M` (state, configs, vars),
`struct iwk_M_input` (the fields of the event), `struct iwk_M_actions` (the outputs of one step),
`iwk_M_init` and a loop-free `iwk_M_step`. The step's ACSL contract has one behavior per
transition (its guard as `assumes`, its effect as `ensures`) plus a behavior for "no transition"
(nothing changes), declared complete and disjoint: WP proves that the C takes exactly the
specified transitions, that the guards of one (state, event) exclude each other, and that every
value stays in its declared range (with -wp-rte: no runtime error).

The C is shaped so that each proof stays small (measured on iwk_mpa_setup.c, which did not finish
in 20 minutes as one function per machine, and proves in about 5 minutes in this form):
* one static function per transition (`iwk_M_tN`: reads what it needs, writes its variables,
  the state and every output; its contract is its row of the step's contract), one per
  (state, event) with several transitions or a guard (`iwk_M_on_S_E`: evaluates the guards, then
  calls the transition in a `switch`, so that WP proves its postconditions case by case), and
  `iwk_M_no_transition`; `step` only dispatches, and writes nothing itself;
* no `&&`, `||` or `?:` in the C (Frama-C turns each into a branch, and WP's simplifier slows
  down with every branch of a function): static functions `iwk_and`, `iwk_or`, `iwk_if` with
  contracts instead;
* the spec's `let`s as ACSL logic functions, each computed by a C function of the same name whose
  contract is that logic function, so that the C value and the specified one match syntactically;
* every field read once into a local before anything is written, and the writes to *out last;
* the invariant iwk_M_ok written out as its conjuncts in postconditions (see invariant()).
"""
from iwkspec.machines import Decl, Not, expr_names, render, spec_text
from iwkspec.model import Bin, Cond, Name, Num
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


def range_pred(d, ptr=None):
    v = f"{ptr}->{d.name}" if ptr else d.name
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
    c.block(OPERATORS)
    for m in layer.machines:
        emit_machine(c, m)
    return c.text()


class Lets:
    """The machine's `let`s, named again. The loader inlines a let by putting its (one) expression
    object wherever the let is used, so the emitter finds each use by identity. A let becomes an
    ACSL logic function of the values it reads and a C function of the same name whose contract
    says that it computes exactly that; the (state, event) functions call it once, into a local
    named like the let. The contracts then name the let, and WP matches the C value with the
    logic one without unfolding either."""

    def __init__(self, m):
        self.m = m
        self.by_id = {}          # id(expression) -> let Decl (role 'let')
        self.order = []          # (let Decl, expression), in spec order
        for name, e in m.lets.items():
            if id(e) in self.by_id or not isinstance(e, (Bin, Cond, Not)):
                continue         # an alias of an earlier let, or a single name/number: stays inline
            # in ACSL every let is a logic integer (0/1 for a condition), like its C function
            d = Decl("let", name, 0, 0, False, None)
            self.by_id[id(e)] = d
            self.order.append((d, e))
        self.body = {id(d): self.subst(e, keep_root=True) for d, e in self.order}
        pos = {id(d): k for k, d in enumerate(m.decls)}
        self.params = {}
        for d, e in self.order:
            ps = {}
            for x in expr_names(self.body[id(d)]):
                t = x.target
                if isinstance(t, Decl):
                    for p in (self.params[id(t)] if t.role == "let" else [t]):
                        ps[id(p)] = p
            self.params[id(d)] = sorted(ps.values(), key=lambda p: pos[id(p)])

    def subst(self, e, keep_root=False):
        """A copy of e in which every let expression is a Name whose target is the let's Decl."""
        if not keep_root and id(e) in self.by_id:
            d = self.by_id[id(e)]
            return Name(d.name, None, d)
        if isinstance(e, Bin):
            return Bin(e.op, self.subst(e.left), self.subst(e.right))
        if isinstance(e, Cond):
            return Cond(self.subst(e.test), self.subst(e.then), self.subst(e.other))
        if isinstance(e, Not):
            return Not(self.subst(e.operand))
        return e

    def used(self, exprs):
        """The lets an expression list reads directly (a let's C function computes the lets it
        reads itself), in spec order."""
        seen = {id(x.target) for e in exprs for x in expr_names(self.subst(e))}
        return [d for d, _ in self.order if id(d) in seen]

    def fn(self, d):
        return f"{cname(self.m)}_let_{d.name}"


C_RESERVED = {"m", "in", "out", "t", "ev", "int", "if", "else", "return", "const", "char", "short", "long",
              "unsigned", "signed", "void", "switch", "case", "default", "break", "for", "while", "do",
              "static", "struct", "enum", "union", "goto", "continue", "sizeof", "auto", "register",
              "volatile", "extern", "float", "double", "typedef", "inline", "restrict"}


def strip_parens(text):
    """text without one pair of outer parentheses, when they enclose all of it."""
    if not (text.startswith("(") and text.endswith(")")):
        return text
    depth = 0
    for k, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0 and k < len(text) - 1:
            return text
    return text[1:-1]


def local_name(d):
    return d.name + "_" if d.name in C_RESERVED else d.name


def namer(lets, style, old=False, params=False):
    """Name renderer for guards/actions in C (style 'c': fields through m/in, lets as locals) or ACSL
    (fields, optionally in the pre-state; lets as calls; params=True: inside a let's definition,
    names are the definition's parameters)."""
    def field(d):
        if params or style == "c":
            return local_name(d)
        base = f"in->{d.name}" if d.role == "input" else f"m->{d.name}"
        return f"\\old({base})" if old else base

    def name(n, want):
        t = n.target
        if isinstance(t, Decl):
            if t.role == "let":
                if style == "c" and not params:
                    return local_name(t)
                return f"{lets.fn(t)}({', '.join(field(p) for p in lets.params[id(t)])})"
            base = field(t)
            if style == "acsl" and t.is_bool and want == "bool":
                return f"({base} != 0)"
            return base
        return str(t)
    return name


def c_expr(lets, e, params=False):
    """C text of an expression, without control flow: `&&`, `||` and `?:` are calls to the static
    functions iwk_and, iwk_or and iwk_if (OPERATORS, each with its contract). Frama-C turns the
    C operators into branches, and WP's simplifier (Qed) slows down with every branch of a
    function; a call only adds its postcondition."""
    name = namer(lets, "c", params=params)

    def go(x, top=False):
        if isinstance(x, Num):
            return str(x.value)
        if isinstance(x, Name):
            return name(x, None)
        if isinstance(x, Not):
            return f"!{go(x.operand)}"
        if isinstance(x, Cond):
            if _divides(x.then) or _divides(x.other):
                return f"({go(x.test)} ? {go(x.then)} : {go(x.other)})"
            return f"iwk_if({go(x.test, True)}, {go(x.then, True)}, {go(x.other, True)})"
        if x.op == "&&":
            return f"iwk_and({go(x.left, True)}, {go(x.right, True)})"
        if x.op == "||":
            return f"iwk_or({go(x.left, True)}, {go(x.right, True)})"
        if x.op == "=>":
            return f"iwk_or(!{go(x.left)}, {go(x.right, True)})"
        t = f"{go(x.left)} {x.op} {go(x.right)}"
        return t if top else f"({t})"
    return go(e if params else lets.subst(e), True)


def _divides(e):
    if isinstance(e, Bin):
        return e.op in ("/", "%") or _divides(e.left) or _divides(e.right)
    if isinstance(e, Cond):
        return _divides(e.test) or _divides(e.then) or _divides(e.other)
    if isinstance(e, Not):
        return _divides(e.operand)
    return False


OPERATORS = """/* Boolean operators and the conditional as functions: the machines' guards and actions call these
 * instead of using C's && || ?: so that the step functions have no branches besides the choice of
 * the transition (WP then sees each operator's contract, proved once, below). */
/*@ assigns \\nothing;
    ensures \\result == ((a != 0 && b != 0) ? 1 : 0);
*/
static inline int iwk_and(int a, int b)
{
    return a && b;
}

/*@ assigns \\nothing;
    ensures \\result == ((a != 0 || b != 0) ? 1 : 0);
*/
static inline int iwk_or(int a, int b)
{
    return a || b;
}

/*@ assigns \\nothing;
    ensures \\result == (c != 0 ? a : b);
*/
static inline int iwk_if(int c, int a, int b)
{
    return c ? a : b;
}
"""


def acsl_expr(lets, e, old=False, want=None):
    return render(lets.subst(e), namer(lets, "acsl", old), "acsl", want)


def behavior(c, m, lets, t, assumes):
    """ACSL behavior of transition t: assumes (its source, event and guard as the caller states
    them) and its row of the transition relation."""
    c(f"    behavior t{tnum(t)}: // line {t.loc.line}: {t.source.name} {t.ev.name} -> {t.dest.name}; {t.ref}")
    c(f"        assumes {assumes};")
    c("        ensures " + " &&\n            ".join(transition_post(m, lets, t)) + ";")


def emit_machine(c, m):
    n = cname(m)
    lets = Lets(m)
    vars_ = [d for d in m.decls if d.role in ("config", "var")]
    inputs = m.of_role("input")
    outputs = m.of_role("output")
    c(f"/* ==== {m.name} ==== */")
    c("")
    # predicates
    c("/*@ predicate " + n + "_ok(struct " + n + " *m) =")
    c("        " + " &&\n        ".join(ok_parts(m)) + ";")
    c("    predicate " + n + "_input_ok(struct " + n + "_input *in) =")
    parts = [range_pred(d, "in") for d in inputs] or ["\\true"]
    c("        " + " &&\n        ".join(parts) + ";")
    c("*/")
    c("")
    if lets.order:
        c("/* The spec's `let`s: an ACSL definition over the values each reads (0/1 for a condition), and")
        c(" * a C function of the same name that computes it (the step helpers call it once, into a")
        c(" * local of the let's name, so that the C value is the logic value itself). */")
        c("/*@")
        for d, _ in lets.order:
            body = lets.body[id(d)]
            ps = ", ".join(f"integer {p.name}" for p in lets.params[id(d)])
            c(f"    // let {d.name} = {strip_parens(spec_text(body))};")
            c(f"    logic integer {lets.fn(d)}({ps}) =")
            c(f"        {render(body, namer(lets, 'acsl', params=True), 'acsl', 'int')};")
        c("*/")
        c("")
        for d, _ in lets.order:
            ps = lets.params[id(d)]
            c("/*@ assigns \\nothing;")
            c(f"    ensures \\result == {lets.fn(d)}({', '.join(p.name for p in ps)});")
            c("*/")
            c(f"static inline int {lets.fn(d)}({', '.join(f'{p.c_type} {local_name(p)}' for p in ps)})")
            c("{")
            c(f"    return {c_expr(lets, lets.body[id(d)], params=True)};")
            c("}")
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
    # a function per transition, one per (state, event) that has transitions, and the step
    for t in m.transitions:
        emit_transition(c, m, lets, t)
    emit_no_transition(c, m)
    pairs = []
    for s in m.states:
        for e in m.events:
            tse = [t for t in m.transitions if t.source is s and t.ev is e]
            if tse:
                pairs.append((s, e, tse))
                if not direct(tse):
                    emit_pair(c, m, lets, s, e, tse)
    # step contract: the whole transition relation, one behavior per transition
    c("/*@ requires \\valid(m) && \\valid_read(in) && \\valid(out);")
    c("    requires \\separated(m, out) && \\separated(in, out) && \\separated(m, in);")
    c(f"    requires {n}_ok(m) && {n}_input_ok(in);")
    c("    assigns *m, *out;")
    c(ensures_invariant(m))
    assumes = []
    for t in m.transitions:
        a = f"m->state == {state_c(m, t.source)} && ev == {event_c(m, t.ev)}"
        if t.guard is not None:
            a += " && " + acsl_expr(lets, t.guard, want="bool")
        assumes.append(a)
        behavior(c, m, lets, t, a)
    c("    behavior none: // no transition for (state, event): nothing changes")
    c("        assumes " + " &&\n            ".join(f"!({a})" for a in assumes) + ";")
    c("        ensures " + " &&\n            ".join(none_post(m)) + ";")
    c("    complete behaviors;")
    c("    disjoint behaviors;")
    c("*/")
    c(f"int {n}_step(struct {n} *m, enum {n}_event ev, const struct {n}_input *in,")
    c(f"    struct {n}_actions *out)")
    c("{")
    # Every path calls exactly one function, which writes every output and whose contract is the
    # step's behavior for it: the step itself writes nothing, so its proof is the contracts'.
    # One exit point (t = the transition taken): WP then proves each behavior once, not once per
    # return statement.
    c("    int t;")
    c("    switch (m->state) {")
    for s in m.states:
        ps = [p for p in pairs if p[0] is s]
        if not ps:
            continue
        c(f"    case {state_c(m, s)}:")
        c("        switch (ev) {")
        for _, e, tse in ps:
            c(f"        case {event_c(m, e)}:")
            fn = transition_fn(m, tse[0]) if direct(tse) else pair_fn(m, s, e)
            c(f"            t = {fn}(m, in, out);")
            c("            break;")
        c("        default:")
        c(f"            t = {n}_no_transition(m, in, out);")
        c("            break;")
        c("        }")
        c("        break;")
    c("    default:")
    c(f"        t = {n}_no_transition(m, in, out);")
    c("        break;")
    c("    }")
    c("    return t;")
    c("}")
    c("")


def ok_parts(m):
    return [f"m->state < {len(m.states)}"] + [range_pred(d, "m") for d in m.decls if d.role in ("config", "var")]


def invariant(m):
    """iwk_M_ok(m) written out, for postconditions. After writes through m and out, the prover
    needs about 1,000,000 steps to unfold the predicate over the memory, and about 200,000 for
    the conjuncts (the simplifier resolves each field first)."""
    return "(" + " && ".join(ok_parts(m)) + ")"


def ensures_invariant(m):
    return (f"    ensures // {cname(m)}_ok(m), written out\n        "
            + " &&\n        ".join(ok_parts(m)) + ";")


def transition_post(m, lets, t, inv=False):
    """What transition t establishes: its number, its target state, (with inv) the invariant,
    every variable (its new value or unchanged) and every output (its value or 0)."""
    post = [f"\\result == {tnum(t)}", f"m->state == {state_c(m, t.dest)}"]
    assigned = {a_.target: a_ for a_ in t.actions}
    if inv:
        post.append(invariant(m))
    for d in m.decls:
        if d.role in ("config", "var"):
            if d.name in assigned:
                post.append(f"m->{d.name} == {acsl_expr(lets, assigned[d.name].expr, old=True, want='int')}")
            else:
                post.append(f"m->{d.name} == \\old(m->{d.name})")
    for d in m.of_role("output"):
        if d.name in assigned:
            post.append(f"out->{d.name} == {acsl_expr(lets, assigned[d.name].expr, old=True, want='int')}")
        else:
            post.append(f"out->{d.name} == 0")
    return post


def none_post(m, inv=False):
    post = ["\\result == 0", "m->state == \\old(m->state)"] + ([invariant(m)] if inv else [])
    post += [f"m->{d.name} == \\old(m->{d.name})" for d in m.decls if d.role in ("config", "var")]
    post += [f"out->{d.name} == 0" for d in m.of_role("output")]
    return post


def emit_no_transition(c, m):
    n = cname(m)
    c("/* No transition (for the state, the event and the guards): no action, nothing changes. */")
    c("/*@ " + requires(m))
    c("    assigns " + ", ".join(f"out->{d.name}" for d in m.of_role("output")) + ";")
    c("    ensures " + " &&\n        ".join(none_post(m, inv=True)) + ";")
    c("*/")
    c(f"static int {n}_no_transition(struct {n} *m, const struct {n}_input *in, struct {n}_actions *out)")
    c("{")
    c("    (void)m;")
    c("    (void)in;")
    for d in m.of_role("output"):
        c(f"    out->{d.name} = 0u;")
    c("    return 0;")
    c("}")
    c("")


def direct(tse):
    """A (state, event) with one transition and no guard: the step calls the transition itself."""
    return len(tse) == 1 and tse[0].guard is None


def pair_fn(m, s, e):
    return f"{cname(m)}_on_{s.name.lower()}_{e.name.lower()}"


def requires(m, extra=None):
    """The helpers' precondition, as one clause (one goal per call)."""
    n = cname(m)
    parts = ["\\valid(m) && \\valid_read(in) && \\valid(out) &&",
             "\\separated(m, out) && \\separated(in, out) && \\separated(m, in) &&",
             f"{n}_ok(m) && {n}_input_ok(in)" + (" &&" if extra else ";")]
    if extra:
        parts.append(extra + ";")
    return "requires " + "\n        ".join(parts)


def reads_prologue(c, m, lets, exprs, writes_m=False, calls=False):
    """Locals for every field the expressions read (read once, before anything is written) and
    for the lets they use; (void) for an unused parameter (unless the function passes them on)."""
    roles = {x.target.role for ex in exprs for x in expr_names(ex) if isinstance(x.target, Decl)}
    read = {id(x.target) for ex in exprs for x in expr_names(ex) if isinstance(x.target, Decl)}
    for d in m.decls:
        if id(d) in read:
            c(f"    const {d.c_type} {local_name(d)} = {'in' if d.role == 'input' else 'm'}->{d.name};")
    for d in lets.used(exprs):
        args = ", ".join(local_name(p) for p in lets.params[id(d)])
        c(f"    const int {local_name(d)} = {lets.fn(d)}({args});")
    if not (calls or writes_m or roles & {"config", "var"}):
        c("    (void)m;")
    if not calls and "input" not in roles:
        c("    (void)in;")


def transition_fn(m, t):
    return f"{cname(m)}_t{tnum(t)}"


def emit_transition(c, m, lets, t):
    """Transition t as a function: it writes its variables, the state and every output (0 when t
    does not set it), and its contract is exactly the step's behavior for t (given its guard)."""
    n = cname(m)
    assigned = {a_.target for a_ in t.actions}
    wvars = [d for d in m.decls if d.role == "var" and d.name in assigned]
    outputs = m.of_role("output")
    moves = t.dest is not t.source
    doc = f": {t.doc}" if t.doc else ""
    c(f"/* Transition {tnum(t)} (spec line {t.loc.line}): {t.source.name} {t.ev.name} -> {t.dest.name}; {t.ref}{doc}. */")
    pre = f"m->state == {state_c(m, t.source)}"
    if t.guard is not None:
        pre += " && " + acsl_expr(lets, t.guard, want="bool")
    c("/*@ " + requires(m, pre))
    frame = (["m->state"] if moves else []) + [f"m->{d.name}" for d in wvars] + [f"out->{d.name}" for d in outputs]
    c("    assigns " + ", ".join(frame) + ";")
    c("    ensures " + " &&\n        ".join(transition_post(m, lets, t, inv=True)) + ";")
    c("*/")
    c(f"static int {transition_fn(m, t)}(struct {n} *m, const struct {n}_input *in, struct {n}_actions *out)")
    c("{")
    # Right-hand sides read the values before the step (read first; the checker rejects a
    # transition that reads a name after assigning it).
    # the variables and the state first, then every output (the prover needs fewer steps when the
    # writes to *out come last)
    reads_prologue(c, m, lets, [a_.expr for a_ in t.actions], writes_m=bool(wvars) or moves)
    acts = {a_.target: a_ for a_ in t.actions}
    for a_ in t.actions:
        if a_.decl.role != "output":
            c(f"    m->{a_.target} = ({a_.decl.c_type})({c_expr(lets, a_.expr)});")
    if moves:
        c(f"    m->state = {state_c(m, t.dest)};")
    for d in outputs:
        if d.name in acts:
            c(f"    out->{d.name} = ({d.c_type})({c_expr(lets, acts[d.name].expr)});")
        else:
            c(f"    out->{d.name} = 0u;")
    c(f"    return {tnum(t)};")
    c("}")
    c("")


def emit_pair(c, m, lets, s, e, tse):
    """The transitions of one (state, event): a static function that evaluates their guards and
    calls the transition whose guard holds (or no_transition). Its contract has a behavior per
    transition and 'none' when the guards may all be false, declared complete and disjoint, so
    that each proof only sees this pair's transitions."""
    n = cname(m)
    written = {a_.target for t in tse for a_ in t.actions}
    wvars = [d for d in m.decls if d.role == "var" and d.name in written]
    outputs = m.of_role("output")
    moves = any(t.dest is not t.source for t in tse)
    guards = [t.guard for t in tse if t.guard is not None]
    lines = sorted({t.loc.line for t in tse})
    nums = ", ".join(str(tnum(t)) for t in tse)
    c(f"/* {s.name} {e.name}: transition{'s' if len(tse) > 1 else ''} {nums} (spec line{'s' if len(lines) > 1 else ''} "
      + ", ".join(map(str, lines)) + "). */")
    c("/*@ " + requires(m, f"m->state == {state_c(m, s)}"))
    frame = (["m->state"] if moves else []) + [f"m->{d.name}" for d in wvars] + [f"out->{d.name}" for d in outputs]
    c("    assigns " + ", ".join(frame) + ";")
    c(ensures_invariant(m))
    assumes = []
    for t in tse:
        a = acsl_expr(lets, t.guard, want="bool") if t.guard is not None else "\\true"
        assumes.append(a)
        behavior(c, m, lets, t, a)
    if all(t.guard is not None for t in tse):
        c("    behavior none: // no guard holds: nothing changes")
        c("        assumes " + " && ".join(f"!({a})" for a in assumes) + ";")
        c("        ensures " + " &&\n            ".join(none_post(m)) + ";")
    c("    complete behaviors;")
    c("    disjoint behaviors;")
    c("*/")
    c(f"static int {pair_fn(m, s, e)}(struct {n} *m, const struct {n}_input *in, struct {n}_actions *out)")
    c("{")
    # The guards read the values before the step. First which transition (k), then a switch that
    # calls it: WP then proves the postconditions case by case.
    reads_prologue(c, m, lets, guards, calls=True)
    c("    int k;")
    for i, t in enumerate(tse):
        if t.guard is None:
            head = "{" if i == 0 else "} else {"
        else:
            head = f"{'if' if i == 0 else '} else if'} ({c_expr(lets, t.guard)}) {{"
        c(f"    {head} /* line {t.loc.line}: {t.ref} */")
        c(f"        k = {tnum(t)};")
    if tse[-1].guard is not None:
        c("    } else {")
        c("        k = 0;")
    c("    }")
    c("    int t;")
    c("    switch (k) {")
    for t in tse:
        c(f"    case {tnum(t)}:")
        c(f"        t = {transition_fn(m, t)}(m, in, out);")
        c("        break;")
    c("    default:")
    c(f"        t = {n}_no_transition(m, in, out);")
    c("        break;")
    c("    }")
    c("    return t;")
    c("}")
    c("")


def emit_layer(layer, src):
    return emit_header(layer, src), emit_source(layer, src)
