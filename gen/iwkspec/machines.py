"""State machines in the spec language: `machine` and `compose` items (docs/state-machines.md).

A machine has configuration values (set by the ULP before it starts), variables (negotiated
values, counters), inputs (fields of the event being processed), outputs (actions of one step),
states, events and transitions `on STATE EVENT [when (GUARD)] -> STATE [do { x = e; ... }] @"ref"`.
A compose item puts machine instances side by side, links an output of one to an event of another
(a message over a FIFO channel) and states the properties the model checker proves.

Everything here is parsed by the loader's Parser (parse_machine / parse_compose below) and checked
by check_machines(), which raises SpecError with file:line like the rest of the checker.
"""
import itertools
from dataclasses import dataclass, field
from typing import Optional

from .lexer import SpecError
from .model import Bin, Cond, Const, Name, Num, Member


# ---- expressions specific to machines -------------------------------------------------------

@dataclass
class Not:
    operand: object


def expr_names(e):
    if isinstance(e, Name):
        return [e]
    if isinstance(e, Bin):
        return expr_names(e.left) + expr_names(e.right)
    if isinstance(e, Cond):
        return expr_names(e.test) + expr_names(e.then) + expr_names(e.other)
    if isinstance(e, Not):
        return expr_names(e.operand)
    return []


BOOL_OPS = ("&&", "||", "=>")
CMP_OPS = ("==", "!=", "<", "<=", ">", ">=")
ARITH_OPS = ("+", "-", "*", "/", "%")


def kind_of(e):
    """'bool' or 'int' (names: their declared type)."""
    if isinstance(e, Num):
        return "int"
    if isinstance(e, Not):
        return "bool"
    if isinstance(e, Bin):
        return "bool" if e.op in BOOL_OPS + CMP_OPS else "int"
    if isinstance(e, Cond):
        return kind_of(e.then)
    if isinstance(e, Name):
        t = e.target
        if isinstance(t, Decl):
            return "bool" if t.is_bool else "int"
        if isinstance(t, StateRef):
            return "bool"
        if isinstance(t, tuple) and len(t) == 2 and isinstance(t[1], Decl):
            return "bool" if t[1].is_bool else "int"
        return "int"
    raise AssertionError(e)


def evaluate(e, env):
    """Value of an expression; env(name_node) gives a Name's value."""
    if isinstance(e, Num):
        return e.value
    if isinstance(e, Name):
        return env(e)
    if isinstance(e, Not):
        return int(not evaluate(e.operand, env))
    if isinstance(e, Cond):
        return evaluate(e.then, env) if evaluate(e.test, env) else evaluate(e.other, env)
    if e.op == "&&":
        return int(bool(evaluate(e.left, env)) and bool(evaluate(e.right, env)))
    if e.op == "||":
        return int(bool(evaluate(e.left, env)) or bool(evaluate(e.right, env)))
    if e.op == "=>":
        return int((not evaluate(e.left, env)) or bool(evaluate(e.right, env)))
    a, b = evaluate(e.left, env), evaluate(e.right, env)
    if e.op in ("/", "%"):
        if b == 0:
            raise ZeroDivisionError
        return a // b if e.op == "/" else a % b
    return {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
            "==": lambda: int(a == b), "!=": lambda: int(a != b), "<": lambda: int(a < b),
            "<=": lambda: int(a <= b), ">": lambda: int(a > b), ">=": lambda: int(a >= b)}[e.op]()


def evaluate3(e, env):
    """Three-valued evaluation: None when the value depends on a name env gives as None."""
    if isinstance(e, Num):
        return e.value
    if isinstance(e, Name):
        return env(e)
    if isinstance(e, Not):
        v = evaluate3(e.operand, env)
        return None if v is None else int(not v)
    if isinstance(e, Cond):
        t = evaluate3(e.test, env)
        if t is None:
            a, b = evaluate3(e.then, env), evaluate3(e.other, env)
            return a if a is not None and a == b else None
        return evaluate3(e.then if t else e.other, env)
    if e.op in ("&&", "||", "=>"):
        a = evaluate3(e.left, env)
        if e.op == "=>" and a is not None:
            a = int(not a)
        if a is not None and (bool(a) == (e.op != "&&")):
            return int(e.op != "&&")
        b = evaluate3(e.right, env)
        if b is not None and (bool(b) == (e.op != "&&")):
            return int(e.op != "&&")
        if a is None or b is None:
            return None
        return int(bool(b)) if e.op != "&&" else int(bool(a) and bool(b))
    a, b = evaluate3(e.left, env), evaluate3(e.right, env)
    if a is None or b is None:
        return None
    try:
        return evaluate(Bin(e.op, Num(a), Num(b)), env)
    except ZeroDivisionError:
        return 0


def render(e, name, style, want=None):
    """Text of an expression. style: 'c', 'acsl', 'pml' or 'spec'; name(Name node, want) gives
    the text of a name, want is 'bool' or 'int' (ACSL needs explicit conversions between the two;
    Promela writes a conditional as (c -> a : b))."""
    def as_bool(x):
        t = go(x, "bool")
        if kind_of(x) == "int" and style == "acsl":
            return f"({t} != 0)"
        return t

    def as_int(x):
        t = go(x, "int")
        if kind_of(x) == "bool" and style == "acsl":
            return f"({t} ? 1 : 0)"
        return t

    def go(x, w):
        if isinstance(x, Num):
            return str(x.value)
        if isinstance(x, Name):
            return name(x, w)
        if isinstance(x, Not):
            return f"!{as_bool(x.operand)}"
        if isinstance(x, Cond):
            sub = as_bool if (kind_of(x.then) == "bool" and w == "bool") else as_int
            if style == "pml":
                return f"({as_bool(x.test)} -> {sub(x.then)} : {sub(x.other)})"
            return f"({as_bool(x.test)} ? {sub(x.then)} : {sub(x.other)})"
        if x.op in BOOL_OPS:
            if x.op == "=>":
                if style == "acsl":
                    return f"({as_bool(x.left)} ==> {as_bool(x.right)})"
                if style == "spec":
                    return f"({go(x.left, 'bool')} => {go(x.right, 'bool')})"
                return f"(!{as_bool(x.left)} || {as_bool(x.right)})"
            return f"({as_bool(x.left)} {x.op} {as_bool(x.right)})"
        return f"({as_int(x.left)} {x.op} {as_int(x.right)})"

    if want is None:
        want = "bool" if kind_of(e) == "bool" else "int"
    return as_bool(e) if want == "bool" else as_int(e)


def spec_text(e):
    def name(n, want):
        return n.ident
    return render(e, name, "spec")


# ---- model ------------------------------------------------------------------------------------

@dataclass
class Decl:
    """config / var / input / output."""
    role: str              # 'config', 'var', 'input', 'output'
    name: str
    lo: int
    hi: int
    is_bool: bool
    loc: object
    init: object = None    # var: expression of constants
    values: list = None    # config: the values the model checker tries (in {...})
    ref: Optional[str] = None
    doc: str = ""

    @property
    def c_type(self):
        if self.hi <= 0xFF:
            return "uint8_t"
        if self.hi <= 0xFFFF:
            return "uint16_t"
        return "uint32_t"

    @property
    def pml_type(self):
        if self.is_bool:
            return "bit"
        if self.hi <= 255:
            return "byte"
        if self.hi <= 32767:
            return "short"
        return "int"

    @property
    def type_text(self):
        return "bool" if self.is_bool else f"{self.lo}..{self.hi}"

    def model_values(self):
        if self.values is not None:
            return list(self.values)
        if self.is_bool:
            return [0, 1]
        return list(range(self.lo, self.hi + 1)) if self.hi - self.lo < 4 else [self.lo]


@dataclass
class State:
    name: str
    loc: object
    initial: bool = False
    final: bool = False
    ref: Optional[str] = None
    doc: str = ""
    index: int = 0


@dataclass
class Event:
    name: str
    loc: object
    timer: bool = False
    ref: Optional[str] = None
    doc: str = ""
    index: int = 0


@dataclass
class StateRef:
    """A name that means 'instance X is in state S' inside compose expressions."""
    instance: object
    state: State


@dataclass
class Assign:
    target: str
    expr: object
    loc: object
    decl: object = None


@dataclass
class Transition:
    sources: list          # state names as written
    event: str
    guard: object          # expression or None
    target: str            # state name or 'stay'
    actions: list
    ref: Optional[str]
    doc: str
    loc: object
    source: object = None  # State (after expansion: one per source)
    ev: object = None
    dest: object = None
    index: int = 0


@dataclass
class Machine:
    name: str
    ref: str
    doc: str
    loc: object
    decls: list = field(default_factory=list)
    lets: dict = field(default_factory=dict)
    states: list = field(default_factory=list)
    events: list = field(default_factory=list)
    assumes: list = field(default_factory=list)      # (expr, doc, loc)
    transitions: list = field(default_factory=list)  # expanded: one source state each
    layer: object = None

    def of_role(self, role):
        return [d for d in self.decls if d.role == role]

    def decl(self, name):
        for d in self.decls:
            if d.name == name:
                return d
        return None

    def state(self, name):
        for s in self.states:
            if s.name == name:
                return s
        return None

    def event(self, name):
        for e in self.events:
            if e.name == name:
                return e
        return None

    @property
    def initial(self):
        return [s for s in self.states if s.initial][0]

    def transitions_for(self, state, event):
        return [t for t in self.transitions if t.source is state and t.ev is event]


@dataclass
class Instance:
    name: str
    machine_name: str
    loc: object
    machine: object = None
    index: int = 0


@dataclass
class Link:
    src: str               # instance
    output: str
    dst: str
    event: str
    fields: list           # Assign (target: input name of dst; expr over src)
    require: object
    loc: object
    ref: Optional[str] = None
    doc: str = ""
    src_inst: object = None
    dst_inst: object = None
    out_decl: object = None
    ev: object = None
    kind: int = 0


@dataclass
class Compose:
    name: str
    ref: str
    doc: str
    loc: object
    instances: list = field(default_factory=list)
    links: list = field(default_factory=list)
    always: list = field(default_factory=list)    # (expr, doc, loc)
    finals: list = field(default_factory=list)    # (expr, doc, loc)
    tables: list = field(default_factory=list)    # (title, [Name], loc)
    channel_size: int = 4
    starts: list = field(default_factory=list)    # [instance name, event name, loc] -> (Instance, Event)
    layer: object = None

    def instance(self, name):
        for i in self.instances:
            if i.name == name:
                return i
        return None


# ---- parsing (methods called with the loader's Parser as `p`) ---------------------------------

def _ident_list(p, what):
    names = [p.expect_ident(what)]
    while p.is_punct(","):
        p.next()
        names.append(p.expect_ident(what))
    return names


def parse_expr(p):
    """Machine expressions: || && => ! comparisons + - * / % ?: and dotted names (i.x)."""
    test = _parse_bin(p, 0)
    if p.is_punct("?"):
        p.next()
        then = parse_expr(p)
        p.expect_punct(":", " in 'a ? b : c'")
        other = parse_expr(p)
        return Cond(test, then, other)
    return test


_LEVELS = [("=>",), ("||",), ("&&",), CMP_OPS, ("+", "-"), ("*", "/", "%")]


def _parse_bin(p, level):
    if level == len(_LEVELS):
        return _parse_unary(p)
    left = _parse_bin(p, level + 1)
    while p.peek().kind == "punct" and p.peek().text in _LEVELS[level]:
        op = p.next().text
        right = _parse_bin(p, level + 1)
        left = Bin(op, left, right)
    return left


def _parse_unary(p):
    if p.is_punct("!"):
        p.next()
        return Not(_parse_unary(p))
    tok = p.next()
    if tok.kind == "int":
        return Num(tok.value)
    if tok.kind == "punct" and tok.text == "(":
        inner = parse_expr(p)
        p.expect_punct(")", " to close '('")
        return inner
    if tok.kind == "ident":
        text = tok.text
        if p.is_punct("."):
            p.next()
            text += "." + p.expect_ident("a name after '.'").text
        return Name(text, tok.loc)
    raise SpecError(tok.loc, f"expected a number, a name, '!' or '(' but found '{tok.text or 'end of file'}'")


def _paren_expr(p, what):
    p.expect_punct("(", f" after '{what}'")
    e = parse_expr(p)
    p.expect_punct(")", f" after the '{what}' expression")
    return e


def _number(p):
    tok = p.next()
    if tok.kind == "int":
        return tok.value, tok
    if tok.kind == "ident":
        return Name(tok.text, tok.loc), tok
    raise SpecError(tok.loc, f"expected a number or a constant but found '{tok.text or 'end of file'}'")


def _tail(p):
    ref = p.optional_ref()
    doc = p.optional_doc()
    if ref is None:
        ref = p.optional_ref()
    return ref, doc


def parse_machine(p):
    tok = p.next()
    name = p.expect_ident("a machine name")
    ref, doc = _tail(p)
    if ref is None:
        raise SpecError(tok.loc, f"machine '{name.text}' needs a reference such as @\"RFC 5044 §7.1.2\"")
    m = Machine(name.text, ref, doc, tok.loc)
    p.expect_punct("{", " to open the machine")
    while not p.is_punct("}"):
        kw = p.peek()
        if kw.kind != "ident":
            raise SpecError(kw.loc, f"expected a machine item but found '{kw.text or 'end of file'}'")
        word = kw.text
        if word in ("config", "var", "input", "output"):
            p.next()
            names = _ident_list(p, f"a {word} name")
            p.expect_punct(":", f" after the {word} name (NAME : bool or NAME : LO..HI)")
            ttok = p.peek()
            if p.is_word("bool"):
                p.next()
                lo, hi, is_bool = 0, 1, True
            else:
                lo, _ = _number(p)
                p.expect_punct("..", " in a range type LO..HI")
                hi, _ = _number(p)
                is_bool = False
            init = values = None
            if word == "var":
                p.expect_punct("=", " (a var needs an initial value: NAME : TYPE = VALUE)")
                init = parse_expr(p)
            if word == "config" and p.is_word("in"):
                p.next()
                p.expect_punct("{", " after 'in'")
                values = [_number(p)[0]]
                while p.is_punct(","):
                    p.next()
                    values.append(_number(p)[0])
                p.expect_punct("}", " to close the value list")
            ref, doc = _tail(p)
            p.expect_punct(";", f" after the {word}")
            for n in names:
                m.decls.append(Decl(word, n.text, lo, hi, is_bool, n.loc, init, values, ref, doc))
                m.decls[-1].type_loc = ttok.loc
        elif word == "let":
            p.next()
            n = p.expect_ident("a let name")
            p.expect_punct("=", " after the let name")
            e = parse_expr(p)
            p.expect_punct(";", " after the let")
            if n.text in m.lets:
                raise SpecError(n.loc, f"'{n.text}' is defined twice in machine '{m.name}'")
            m.lets[n.text] = (e, n.loc)
        elif word == "state":
            p.next()
            n = p.expect_ident("a state name")
            s = State(n.text, n.loc)
            while p.is_word("initial") or p.is_word("final"):
                setattr(s, p.next().text, True)
            s.ref, s.doc = _tail(p)
            p.expect_punct(";", " after the state")
            m.states.append(s)
        elif word == "event":
            p.next()
            n = p.expect_ident("an event name")
            e = Event(n.text, n.loc)
            if p.is_word("timer"):
                p.next()
                e.timer = True
            e.ref, e.doc = _tail(p)
            p.expect_punct(";", " after the event")
            m.events.append(e)
        elif word == "assume":
            p.next()
            e = _paren_expr(p, "assume")
            doc = p.optional_doc()
            p.expect_punct(";", " after the assume")
            m.assumes.append((e, doc, kw.loc))
        elif word == "on":
            p.next()
            sources = _ident_list(p, "a state name")
            evs = _ident_list(p, "an event name")
            ev = evs[0]
            guard = None
            if p.is_word("when"):
                p.next()
                guard = _paren_expr(p, "when")
            p.expect_punct("->", " before the target state")
            target = p.expect_ident("a target state (or 'stay')")
            actions = []
            if p.is_word("do"):
                p.next()
                p.expect_punct("{", " after 'do'")
                while not p.is_punct("}"):
                    t = p.expect_ident("an assignment target")
                    p.expect_punct("=", " in an assignment")
                    actions.append(Assign(t.text, parse_expr(p), t.loc))
                    p.expect_punct(";", " after the assignment")
                p.expect_punct("}")
            ref, doc = _tail(p)
            p.expect_punct(";", " after the transition")
            if ref is None:
                raise SpecError(kw.loc, "a transition needs a reference such as @\"RFC 5044 §7.1.2\"")
            for ev in evs:
                m.transitions.append(Transition([s.text for s in sources], ev.text, guard, target.text,
                                                actions, ref, doc, kw.loc))
                m.transitions[-1].source_locs = [s.loc for s in sources]
                m.transitions[-1].event_loc = ev.loc
                m.transitions[-1].target_loc = target.loc
        else:
            raise SpecError(kw.loc, f"expected config, var, input, output, let, state, event, assume or on, but found '{word}'")
    p.expect_punct("}")
    if p.is_punct(";"):
        p.next()
    return m


def parse_compose(p):
    tok = p.next()
    name = p.expect_ident("a compose name")
    ref, doc = _tail(p)
    if ref is None:
        raise SpecError(tok.loc, f"compose '{name.text}' needs a reference")
    c = Compose(name.text, ref, doc, tok.loc)
    p.expect_punct("{", " to open the compose")
    while not p.is_punct("}"):
        kw = p.peek()
        word = kw.text if kw.kind == "ident" else ""
        if word == "instance":
            p.next()
            n = p.expect_ident("an instance name")
            p.expect_punct(":", " after the instance name")
            mt = p.expect_ident("a machine name")
            p.expect_punct(";", " after the instance")
            c.instances.append(Instance(n.text, mt.text, n.loc))
        elif word == "link":
            p.next()
            s = p.expect_ident("a sending instance")
            p.expect_punct(".", " (link INSTANCE.OUTPUT -> INSTANCE.EVENT)")
            o = p.expect_ident("an output")
            p.expect_punct("->", " in the link")
            d = p.expect_ident("a receiving instance")
            p.expect_punct(".", " (link INSTANCE.OUTPUT -> INSTANCE.EVENT)")
            e = p.expect_ident("an event")
            fields = []
            if p.is_punct("{"):
                p.next()
                while not p.is_punct("}"):
                    t = p.expect_ident("an input of the receiver")
                    p.expect_punct("=", " in a link field")
                    fields.append(Assign(t.text, parse_expr(p), t.loc))
                    p.expect_punct(";", " after the link field")
                p.expect_punct("}")
            req = None
            if p.is_word("require"):
                p.next()
                req = _paren_expr(p, "require")
            ref, doc = _tail(p)
            p.expect_punct(";", " after the link")
            c.links.append(Link(s.text, o.text, d.text, e.text, fields, req, kw.loc, ref, doc))
        elif word in ("always", "final"):
            p.next()
            e = _paren_expr(p, word)
            doc = p.optional_doc()
            p.expect_punct(";", f" after the '{word}' property")
            (c.always if word == "always" else c.finals).append((e, doc, kw.loc))
        elif word == "table":
            p.next()
            title = p.next()
            if title.kind != "string":
                raise SpecError(title.loc, "a table needs a title string")
            p.expect_punct("{", " after the table title")
            cols = [_parse_unary(p)]
            while p.is_punct(","):
                p.next()
                cols.append(_parse_unary(p))
            p.expect_punct("}")
            p.expect_punct(";", " after the table")
            c.tables.append((title.value, cols, kw.loc))
        elif word == "start":
            p.next()
            while True:
                i = p.expect_ident("an instance")
                p.expect_punct(".", " (start INSTANCE.EVENT, ...)")
                e = p.expect_ident("an event")
                c.starts.append([i.text, e.text, i.loc])
                if not p.is_punct(","):
                    break
                p.next()
            p.expect_punct(";", " after start")
        elif word == "channel":
            p.next()
            t = p.next()
            if t.kind != "int" or not 1 <= t.value <= 16:
                raise SpecError(t.loc, "channel size is a number from 1 to 16")
            c.channel_size = t.value
            p.expect_punct(";", " after the channel size")
        else:
            raise SpecError(kw.loc, f"expected instance, link, always, final, table or channel, but found '{kw.text or 'end of file'}'")
    p.expect_punct("}")
    if p.is_punct(";"):
        p.next()
    return c


# ---- checking ---------------------------------------------------------------------------------

MAX_CHECK_COMBOS = 200000


class MachineChecker:
    def __init__(self, checker, layer):
        self.checker = checker
        self.layer = layer

    def const_value(self, v, loc):
        if isinstance(v, int):
            return v
        g = self.checker.globals.get(v.ident)
        if isinstance(g, Const) and isinstance(g.value, int):
            return g.value
        if isinstance(g, Member):
            return g.value
        raise SpecError(loc, f"'{v.ident}' is not a numeric constant")

    def run(self):
        if self.layer.headers or self.layer.enums:
            if self.layer.machines or self.layer.composes:
                where = (self.layer.machines or self.layer.composes)[0].loc
                raise SpecError(where, "a layer with machines holds only constants, machines and compose items")
        for m in self.layer.machines:
            self.checker.declare(m.name, m, m.loc, lower=True)
            m.layer = self.layer
            self.check_machine(m)
        for c in self.layer.composes:
            self.checker.declare(c.name, c, c.loc, lower=True)
            c.layer = self.layer
            self.check_compose(c)

    # -- one machine
    def check_machine(self, m):
        from .loader import LOWER_ID, UPPER_ID
        seen = {}
        for d in m.decls:
            if not LOWER_ID.match(d.name):
                raise SpecError(d.loc, f"'{d.name}' must be written lower_case")
            if d.name in seen or d.name in m.lets:
                raise SpecError(d.loc, f"'{d.name}' is declared twice in machine '{m.name}'")
            if d.name in ("state", "stay", "in", "out", "m", "ev", "pre"):
                raise SpecError(d.loc, f"'{d.name}' is reserved")
            seen[d.name] = d
            if not d.is_bool:
                d.lo = self.const_value(d.lo, d.loc)
                d.hi = self.const_value(d.hi, d.loc)
                if not 0 <= d.lo <= d.hi <= 0xFFFFFFFF:
                    raise SpecError(d.loc, f"'{d.name}': a range LO..HI needs 0 <= LO <= HI < 2^32")
            if d.values is not None:
                d.values = [self.const_value(v, d.loc) for v in d.values]
                for v in d.values:
                    if not d.lo <= v <= d.hi:
                        raise SpecError(d.loc, f"model value {v} of '{d.name}' is outside {d.type_text}")
        for s in m.states + m.events:
            if not UPPER_ID.match(s.name):
                raise SpecError(s.loc, f"'{s.name}' must be written UPPER_CASE")
        names = {}
        for i, s in enumerate(m.states):
            if s.name in names:
                raise SpecError(s.loc, f"state '{s.name}' is defined twice")
            names[s.name] = s
            s.index = i
        for i, e in enumerate(m.events):
            if e.name in names:
                raise SpecError(e.loc, f"'{e.name}' is already a state or an event of '{m.name}'")
            names[e.name] = e
            e.index = i
        if not m.states:
            raise SpecError(m.loc, f"machine '{m.name}' has no states")
        inits = [s for s in m.states if s.initial]
        if len(inits) != 1:
            raise SpecError(m.loc, f"machine '{m.name}' needs exactly one initial state ({len(inits)} given)")
        # lets: resolved in order, each may use earlier lets
        resolved_lets = {}
        for n, (e, loc) in m.lets.items():
            self.resolve(m, e, roles=("config", "var", "input"), lets=resolved_lets)
            resolved_lets[n] = top_inline(e)
        m.lets = resolved_lets
        for d in m.of_role("var"):
            self.resolve(m, d.init, roles=())
            v = evaluate(d.init, lambda n: n.target)
            if not d.lo <= v <= d.hi:
                raise SpecError(d.loc, f"initial value {v} of '{d.name}' is outside {d.type_text}")
            d.init_value = v
        for e, doc, loc in m.assumes:
            self.resolve(m, e, roles=("config",))
        # transitions: expand the source lists
        expanded = []
        for t in m.transitions:
            ev = m.event(t.event)
            if ev is None:
                raise SpecError(t.event_loc, f"unknown event '{t.event}' in machine '{m.name}'")
            if t.target != "stay" and m.state(t.target) is None:
                raise SpecError(t.target_loc, f"unknown state '{t.target}' in machine '{m.name}'")
            if t.guard is not None:
                self.resolve(m, t.guard, roles=("config", "var", "input"), lets=m.lets)
                t.guard = top_inline(t.guard)
            assigned = set()
            for a in t.actions:
                d = m.decl(a.target)
                if d is None or d.role not in ("var", "output"):
                    raise SpecError(a.loc, f"'{a.target}' is not a var or output of '{m.name}' (only those can be assigned)")
                if a.target in assigned:
                    raise SpecError(a.loc, f"'{a.target}' is assigned twice in one transition")
                self.resolve(m, a.expr, roles=("config", "var", "input"), lets=m.lets)
                a.expr = top_inline(a.expr)
                for n in expr_names(a.expr):
                    if n.ident in assigned:
                        raise SpecError(a.loc, f"'{n.ident}' is read after it is assigned in the same transition (right-hand sides see the values before the step)")
                if d.is_bool and kind_of(a.expr) == "int" and not _is_01(a.expr):
                    raise SpecError(a.loc, f"'{a.target}' is bool; assign a condition, 0 or 1")
                a.decl = d
                assigned.add(a.target)
            for sname, sloc in zip(t.sources, t.source_locs):
                s = m.state(sname)
                if s is None:
                    raise SpecError(sloc, f"unknown state '{sname}' in machine '{m.name}'")
                x = Transition([sname], t.event, t.guard, t.target, t.actions, t.ref, t.doc, t.loc)
                x.source, x.ev = s, ev
                x.dest = s if t.target == "stay" else m.state(t.target)
                x.index = len(expanded)
                expanded.append(x)
        m.transitions = expanded
        self.check_reachable(m)
        self.check_deterministic(m)

    def resolve(self, m, e, roles, lets=None):
        """Binds names (declarations, lets, constants); inlines lets."""
        for n in expr_names(e):
            if lets is not None and n.ident in lets:
                n.target = ("let", lets[n.ident])
                continue
            d = m.decl(n.ident)
            if d is not None:
                if d.role not in roles:
                    raise SpecError(n.loc, f"'{n.ident}' is {'an' if d.role in ('input', 'output') else 'a'} {d.role}; it cannot be read here")
                n.target = d
                continue
            g = self.checker.globals.get(n.ident)
            if isinstance(g, Const) and isinstance(g.value, int):
                n.target = g.value
            elif isinstance(g, Member):
                n.target = g.value
            else:
                raise SpecError(n.loc, f"unknown name '{n.ident}'")
        _inline_lets(e)

    def check_reachable(self, m):
        seen = {m.initial.name}
        todo = [m.initial]
        while todo:
            s = todo.pop()
            for t in m.transitions:
                if t.source is s and t.dest.name not in seen:
                    seen.add(t.dest.name)
                    todo.append(t.dest)
        for s in m.states:
            if s.name not in seen:
                raise SpecError(s.loc, f"state '{s.name}' is unreachable from the initial state '{m.initial.name}'")

    def check_deterministic(self, m):
        """Two transitions of one (state, event) whose guards can both hold are rejected. The
        guards are evaluated over every combination of boundary values of the names they read
        (each range's ends, and every constant they are compared with, +-1): exact for guards that
        compare names with constants; WP proves `disjoint behaviors` on the generated C for all."""
        groups = {}
        for t in m.transitions:
            groups.setdefault((t.source.name, t.ev.name), []).append(t)
        for (sname, ename), ts in groups.items():
            for a, b in itertools.combinations(ts, 2):
                witness = self.overlap(m, a.guard, b.guard)
                if witness is not None:
                    w = ", ".join(f"{k}={v}" for k, v in witness)
                    raise SpecError(b.loc, f"nondeterministic: this transition and the one at line {a.loc.line} "
                                    f"can both be taken in {sname} on {ename} (e.g. {w})" if w else
                                    f"nondeterministic: this transition and the one at line {a.loc.line} "
                                    f"can both be taken in {sname} on {ename}")

    def overlap(self, m, g1, g2):
        """A witness (list of (name, value)) that both guards hold, or None. Depth-first search over
        the boundary values of each name, pruned with three-valued evaluation."""
        if g1 is None or g2 is None:
            return []
        decls = []
        for g in (g1, g2):
            for n in expr_names(g):
                if isinstance(n.target, Decl) and n.target not in decls:
                    decls.append(n.target)
        consts = set()
        for g in (g1, g2):
            _collect_consts(g, consts)
        domains = []
        for d in decls:
            if d.is_bool:
                domains.append([0, 1])
                continue
            pts = {d.lo, d.hi, min(d.lo + 1, d.hi), max(d.hi - 1, d.lo)}
            for c in consts:
                for v in (c - 1, c, c + 1):
                    if d.lo <= v <= d.hi:
                        pts.add(v)
            domains.append(sorted(pts))
        both = Bin("&&", g1, g2)
        env = {}
        budget = [MAX_CHECK_COMBOS]

        def val(n):
            if isinstance(n.target, Decl):
                return env.get(id(n.target))
            return n.target

        def search(k):
            budget[0] -= 1
            if budget[0] < 0:
                raise SpecError(m.loc, "guards too complex to check for determinism")
            r = evaluate3(both, val)
            if r is not None:
                return bool(r)
            if k == len(decls):
                return False
            for v in domains[k]:
                env[id(decls[k])] = v
                if search(k + 1):
                    return True
            del env[id(decls[k])]
            return False
        if search(0):
            return [(d.name, env[id(d)]) for d in decls if id(d) in env]
        return None

    # -- compose
    def check_compose(self, c):
        for i, inst in enumerate(c.instances):
            m = self.checker.globals.get(inst.machine_name)
            if not isinstance(m, Machine):
                raise SpecError(inst.loc, f"'{inst.machine_name}' is not a machine")
            if sum(1 for x in c.instances if x.name == inst.name) > 1:
                raise SpecError(inst.loc, f"instance '{inst.name}' is defined twice")
            inst.machine, inst.index = m, i
        if not c.instances:
            raise SpecError(c.loc, f"compose '{c.name}' has no instances")
        for k, ln in enumerate(c.links):
            ln.kind = k
            ln.src_inst, ln.dst_inst = c.instance(ln.src), c.instance(ln.dst)
            for nm, inst in ((ln.src, ln.src_inst), (ln.dst, ln.dst_inst)):
                if inst is None:
                    raise SpecError(ln.loc, f"unknown instance '{nm}'")
            ln.out_decl = ln.src_inst.machine.decl(ln.output)
            if ln.out_decl is None or ln.out_decl.role != "output" or not ln.out_decl.is_bool:
                raise SpecError(ln.loc, f"'{ln.output}' is not a bool output of '{ln.src_inst.machine.name}'")
            ln.ev = ln.dst_inst.machine.event(ln.event)
            if ln.ev is None:
                raise SpecError(ln.loc, f"unknown event '{ln.event}' of '{ln.dst_inst.machine.name}'")
            for f in ln.fields:
                d = ln.dst_inst.machine.decl(f.target)
                if d is None or d.role != "input":
                    raise SpecError(f.loc, f"'{f.target}' is not an input of '{ln.dst_inst.machine.name}'")
                f.decl = d
                self.resolve_compose(c, f.expr, only=ln.src_inst)
            if ln.require is not None:
                self.resolve_compose(c, ln.require)
        for st in c.starts:
            inst = c.instance(st[0])
            if inst is None:
                raise SpecError(st[2], f"unknown instance '{st[0]}'")
            ev = inst.machine.event(st[1])
            if ev is None:
                raise SpecError(st[2], f"unknown event '{st[1]}' of '{inst.machine.name}'")
            st[:] = [inst, ev, st[2]]
        for e, doc, loc in c.always + c.finals:
            self.resolve_compose(c, e)
        for title, cols, loc in c.tables:
            for n in cols:
                self.resolve_compose(c, n)
                if not (isinstance(n.target, tuple) and n.target[1].role == "config"):
                    raise SpecError(loc, f"table columns are configs of instances ('{n.ident}' is not)")

    def resolve_compose(self, c, e, only=None):
        for n in expr_names(e):
            if "." in n.ident:
                iname, member = n.ident.split(".", 1)
                inst = c.instance(iname)
                if inst is None:
                    raise SpecError(n.loc, f"unknown instance '{iname}'")
                if only is not None and inst is not only:
                    raise SpecError(n.loc, f"a link field reads the sender ('{only.name}') only")
                d = inst.machine.decl(member)
                if d is not None and d.role != "input":
                    n.target = (inst, d)
                    continue
                s = inst.machine.state(member)
                if s is not None:
                    n.target = StateRef(inst, s)
                    continue
                raise SpecError(n.loc, f"'{member}' is not a config, var, output or state of '{inst.machine.name}'")
            g = self.checker.globals.get(n.ident)
            if isinstance(g, Const) and isinstance(g.value, int):
                n.target = g.value
            elif isinstance(g, Member):
                n.target = g.value
            else:
                raise SpecError(n.loc, f"unknown name '{n.ident}' (write INSTANCE.NAME)")


def _is_01(e):
    return isinstance(e, Num) and e.value in (0, 1)


def _collect_consts(e, out):
    if isinstance(e, Num):
        out.add(e.value)
    elif isinstance(e, Name):
        if isinstance(e.target, int):
            out.add(e.target)
    elif isinstance(e, Bin):
        _collect_consts(e.left, out)
        _collect_consts(e.right, out)
    elif isinstance(e, Cond):
        for x in (e.test, e.then, e.other):
            _collect_consts(x, out)
    elif isinstance(e, Not):
        _collect_consts(e.operand, out)


def _inline_lets(e):
    """Replaces let names by their (already resolved) expressions, in place."""
    def sub(x):
        if isinstance(x, Name) and isinstance(x.target, tuple) and x.target[0] == "let":
            return x.target[1]
        _inline_lets(x)
        return x
    if isinstance(e, Bin):
        e.left, e.right = sub(e.left), sub(e.right)
    elif isinstance(e, Cond):
        e.test, e.then, e.other = sub(e.test), sub(e.then), sub(e.other)
    elif isinstance(e, Not):
        e.operand = sub(e.operand)


def top_inline(e):
    """An expression whose top node may itself be a let name."""
    if isinstance(e, Name) and isinstance(e.target, tuple) and e.target[0] == "let":
        return e.target[1]
    return e
