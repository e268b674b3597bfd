"""Parses spec/*.iws into the model, then checks it. Every mistake is a SpecError with file:line."""
import os
import re

from . import machines, streams
from .lexer import SpecError, tokenize
from .model import (At, Bin, Cond, Const, Crc, Constraint, Enum, Field, Header, Layer, Member, Name, Num,
                    Rest, Spec, Unit, expr_const_value, expr_has, expr_names, status_name)

LOWER_ID = re.compile(r"^[a-z_][a-z0-9_]*$")
UPPER_ID = re.compile(r"^[A-Z][A-Z0-9_]*$")
UINT_TYPE = re.compile(r"^u([0-9]+)(le)?$")
KEYWORDS = {"layer", "const", "enum", "header", "bytes", "pad", "in", "when", "rest", "at", "tx"}
MAX_FIXED_ARRAY = 64


class Parser:
    """Recursive-descent parser for one file."""

    def __init__(self, src, filename):
        self.tokens = tokenize(src, filename)
        self.pos = 0
        self.filename = filename

    # -- token helpers
    def peek(self, k=0):
        return self.tokens[min(self.pos + k, len(self.tokens) - 1)]

    def next(self):
        tok = self.peek()
        self.pos += 1
        return tok

    def is_punct(self, text, k=0):
        tok = self.peek(k)
        return tok.kind == "punct" and tok.text == text

    def is_word(self, text, k=0):
        tok = self.peek(k)
        return tok.kind == "ident" and tok.text == text

    def expect_punct(self, text, what=""):
        tok = self.next()
        if tok.kind != "punct" or tok.text != text:
            found = tok.text or "end of file"
            raise SpecError(tok.loc, f"expected '{text}'{what} but found '{found}'")
        return tok

    def expect_ident(self, what):
        tok = self.next()
        if tok.kind != "ident":
            raise SpecError(tok.loc, f"expected {what} but found '{tok.text or 'end of file'}'")
        return tok

    def optional_ref(self):
        if self.peek().kind == "ref":
            return self.next().value
        return None

    def optional_doc(self):
        if self.peek().kind == "string":
            return self.next().value
        return ""

    # -- file
    def parse_file(self):
        first = self.peek()
        if not self.is_word("layer"):
            raise SpecError(first.loc, "a spec file must start with 'layer NAME @\"RFC ...\" \"title\";'")
        layer = self.parse_layer()
        while self.peek().kind != "eof":
            tok = self.peek()
            if self.is_word("const"):
                c = self.parse_const()
                c.layer = layer
                layer.consts.append(c)
            elif self.is_word("enum"):
                e = self.parse_enum()
                e.layer = layer
                layer.enums.append(e)
            elif self.is_word("header"):
                h = self.parse_header()
                h.layer = layer
                layer.headers.append(h)
            elif self.is_word("crc"):
                c = self.parse_crc()
                c.layer = layer
                layer.crcs.append(c)
            elif self.is_word("machine"):
                layer.machines.append(machines.parse_machine(self))
            elif self.is_word("compose"):
                layer.composes.append(machines.parse_compose(self))
            elif self.is_word("stream"):
                layer.streams.append(streams.parse_stream(self))
            elif self.is_word("layer"):
                raise SpecError(tok.loc, "only one 'layer' per file (one protocol layer per file)")
            else:
                raise SpecError(tok.loc, f"expected 'const', 'enum', 'header', 'machine', 'compose' or 'stream' but found '{tok.text}'")
        return layer

    def parse_layer(self):
        tok = self.next()
        name = self.expect_ident("a layer name")
        ref = self.optional_ref()
        doc = self.optional_doc()
        self.expect_punct(";", " after the layer")
        if ref is None:
            raise SpecError(tok.loc, f"layer '{name.text}' needs a reference such as @\"RFC 5044\"")
        return Layer(name.text, ref, doc, self.filename, tok.loc)

    def parse_const(self):
        tok = self.next()
        name = self.expect_ident("a constant name")
        self.expect_punct("=", " after the constant name")
        vtok = self.next()
        if vtok.kind == "int":
            value = vtok.value
        elif vtok.kind == "string":
            value = vtok.value.encode("latin-1")
        else:
            raise SpecError(vtok.loc, "a constant is a number or a string")
        ref = self.optional_ref()
        doc = self.optional_doc()
        self.expect_punct(";", " after the constant")
        return Const(name.text, value, ref, doc, tok.loc)

    CRC_PARAMS = ("width", "poly", "reflected", "init", "xorout", "check")

    def parse_crc(self):
        """crc NAME @"ref" "doc" { width = N; poly = N; reflected = 0|1; init = N; xorout = N; check = N; }"""
        tok = self.next()
        name = self.expect_ident("a CRC name")
        ref = self.optional_ref()
        doc = self.optional_doc()
        if ref is None:
            raise SpecError(tok.loc, f"crc '{name.text}' needs a reference such as @\"RFC 3720 §12.1\"")
        self.expect_punct("{", " to open the CRC's parameters")
        params = {}
        while not self.is_punct("}"):
            ptok = self.expect_ident("a CRC parameter (" + ", ".join(self.CRC_PARAMS) + ")")
            if ptok.text not in self.CRC_PARAMS:
                raise SpecError(ptok.loc, f"unknown CRC parameter '{ptok.text}' (expected one of {', '.join(self.CRC_PARAMS)})")
            if ptok.text in params:
                raise SpecError(ptok.loc, f"CRC parameter '{ptok.text}' given twice")
            self.expect_punct("=", f" after '{ptok.text}'")
            vtok = self.next()
            if vtok.kind != "int":
                raise SpecError(vtok.loc, f"CRC parameter '{ptok.text}' is a number")
            params[ptok.text] = vtok.value
            self.expect_punct(";", f" after the value of '{ptok.text}'")
        self.expect_punct("}")
        missing = [p for p in self.CRC_PARAMS if p not in params]
        if missing:
            raise SpecError(tok.loc, f"crc '{name.text}' lacks {', '.join(missing)}")
        return Crc(name.text, ref, doc, params["width"], params["poly"], bool(params["reflected"]),
                   params["init"], params["xorout"], params["check"], tok.loc)

    def parse_enum(self):
        tok = self.next()
        name = self.expect_ident("an enum name")
        self.expect_punct(":", " after the enum name (enum NAME : uN)")
        ttok = self.expect_ident("the enum's type uN")
        if ttok.text.endswith("le"):
            raise SpecError(ttok.loc, f"an enum's type is a big-endian uN, not '{ttok.text}'")
        bits = self.uint_bits(ttok, allow_le=False)
        ref = self.optional_ref()
        doc = self.optional_doc()
        if ref is None:
            raise SpecError(tok.loc, f"enum '{name.text}' needs a reference such as @\"RFC 5040 §4.3\"")
        self.expect_punct("{", " to open the enum")
        members = []
        while not self.is_punct("}"):
            members.append(self.parse_member())
        self.expect_punct("}")
        if self.is_punct(";"):
            self.next()
        return Enum(name.text, bits, ref, doc, members, tok.loc)

    def parse_member(self):
        name = self.expect_ident("an enum member name")
        self.expect_punct("=", " after the member name")
        vtok = self.next()
        if vtok.kind != "int":
            raise SpecError(vtok.loc, "an enum member's value is a number")
        doc = self.optional_doc()
        ref = self.optional_ref()
        if not doc:
            doc = self.optional_doc()
        attrs = {}
        if self.is_punct("{"):
            self.next()
            while not self.is_punct("}"):
                atok = self.expect_ident("an attribute name")
                self.expect_punct("=", " after the attribute name")
                av = self.next()
                if av.kind not in ("int", "string"):
                    raise SpecError(av.loc, "an attribute value is a number or a string")
                if atok.text in attrs:
                    raise SpecError(atok.loc, f"attribute '{atok.text}' given twice")
                attrs[atok.text] = av.value
                self.expect_punct(";", " after the attribute")
            self.expect_punct("}")
        self.expect_punct(";", " after the enum member")
        return Member(name.text, vtok.value, doc, ref, attrs, name.loc)

    def parse_header(self):
        tok = self.next()
        name = self.expect_ident("a header name")
        ref = self.optional_ref()
        doc = self.optional_doc()
        if ref is None:
            raise SpecError(tok.loc, f"header '{name.text}' needs a reference such as @\"RFC 5041 §4.2\"")
        self.expect_punct("{", " to open the header")
        fields = []
        while not self.is_punct("}"):
            fields.append(self.parse_field())
        self.expect_punct("}")
        if self.is_punct(";"):
            self.next()
        return Header(name.text, ref, doc, fields, tok.loc)

    def uint_bits(self, tok, allow_le):
        m = UINT_TYPE.match(tok.text)
        if not m:
            raise SpecError(tok.loc, f"unknown type '{tok.text}' (expected uN, uNle, bytes or pad)")
        bits = int(m.group(1))
        if not 1 <= bits <= 64:
            raise SpecError(tok.loc, f"'{tok.text}': widths go from 1 to 64 bits")
        if m.group(2) and (not allow_le or bits not in (16, 32, 64)):
            raise SpecError(tok.loc, f"'{tok.text}': little-endian types are u16le, u32le and u64le")
        return bits

    def parse_field(self):
        ttok = self.expect_ident("a field type (uN, uNle, bytes, pad)")
        fld = Field(name="", kind="uint", loc=ttok.loc)
        if ttok.text in ("bytes", "pad"):
            fld.kind = ttok.text
            fld.name = self.expect_ident("a field name").text
            self.expect_punct("[", f" after '{ttok.text} {fld.name}' (the length in brackets)")
            fld.length = self.parse_expr()
            self.expect_punct("]", " after the length")
        else:
            fld.bits = self.uint_bits(ttok, allow_le=True)
            fld.little_endian = ttok.text.endswith("le")
            fld.name = self.expect_ident("a field name").text
        while True:
            c = self.parse_constraint()
            if c is None:
                break
            fld.constraints.append(c)
        if self.is_word("when"):
            self.next()
            self.expect_punct("(", " after 'when'")
            fld.when = self.parse_expr()
            self.expect_punct(")", " after the 'when' condition")
        fld.ref = self.optional_ref()
        fld.doc = self.optional_doc()
        if fld.ref is None:
            fld.ref = self.optional_ref()
        self.expect_punct(";", f" after field '{fld.name}'")
        return fld

    def parse_constraint(self):
        tok = self.peek()
        c = None
        if tok.kind == "punct" and tok.text in ("==", "!=", "<=", ">="):
            self.next()
            vtok = self.peek()
            if vtok.kind == "string":
                self.next()
                value = vtok.value.encode("latin-1")
            else:
                value = self.parse_primary()
            c = Constraint(tok.text, value=value, loc=tok.loc)
        elif self.is_word("in"):
            self.next()
            if self.peek().kind == "ident" and not self.is_punct("..", 1):
                c = Constraint("enum", value=Name(self.next().text, tok.loc), loc=tok.loc)
            else:
                low = self.parse_primary()
                self.expect_punct("..", " in a range LO..HI")
                high = self.parse_primary()
                c = Constraint("range", value=low, high=high, loc=tok.loc)
        if c is not None and self.is_punct("(") and self.is_word("tx", 1):
            self.next()
            self.next()
            self.expect_punct(")", " after '(tx'")
            c.tx = True
        return c

    # -- expressions, lowest precedence first
    def parse_expr(self):
        test = self.parse_binary(0)
        if self.is_punct("?"):
            self.next()
            then = self.parse_expr()
            self.expect_punct(":", " in 'a ? b : c'")
            other = self.parse_expr()
            return Cond(test, then, other)
        return test

    LEVELS = [("||",), ("&&",), ("==", "!=", "<", "<=", ">", ">="), ("+", "-"), ("*", "/", "%")]

    def parse_binary(self, level):
        if level == len(self.LEVELS):
            return self.parse_primary()
        left = self.parse_binary(level + 1)
        while self.peek().kind == "punct" and self.peek().text in self.LEVELS[level]:
            op = self.next().text
            right = self.parse_binary(level + 1)
            left = Bin(op, left, right)
        return left

    def parse_primary(self):
        tok = self.next()
        if tok.kind == "int":
            if tok.value >= 1 << 64:
                raise SpecError(tok.loc, f"{tok.text} does not fit in 64 bits")
            return Num(tok.value)
        if tok.kind == "punct" and tok.text == "(":
            inner = self.parse_expr()
            self.expect_punct(")", " to close '('")
            return inner
        if tok.kind == "ident" and tok.text == "rest":
            return Rest()
        if tok.kind == "ident" and tok.text == "at":
            self.expect_punct("(", " after 'at'")
            ktok = self.next()
            if ktok.kind != "int":
                raise SpecError(ktok.loc, "at(k) takes a number")
            self.expect_punct(")", " after at(k")
            return At(ktok.value)
        if tok.kind == "ident":
            return Name(tok.text, tok.loc)
        raise SpecError(tok.loc, f"expected a number, a name, 'rest', 'at(k)' or '(' but found '{tok.text or 'end of file'}'")


# ---------------------------------------------------------------------------------------------
# Checking: names, types, constraints, layout.

class Checker:
    def __init__(self, layers):
        self.layers = layers
        self.globals = {}     # every name in the C namespace -> item

    def run(self):
        for layer in self.layers:
            self.declare(layer.name, layer, layer.loc, lower=True)
        for layer in self.layers:
            for c in layer.consts:
                self.declare(c.name, c, c.loc, lower=False)
            for e in layer.enums:
                self.check_enum(e)
        for layer in self.layers:
            for c in layer.crcs:
                self.check_crc(c)
        for layer in self.layers:
            for h in layer.headers:
                self.declare(h.name, h, h.loc, lower=True)
                self.check_header(h)
        for layer in self.layers:
            machines.MachineChecker(self, layer).run()
        for layer in self.layers:
            for st in layer.streams:
                self.declare(st.name, st, st.loc, lower=True)
                if st.interval_expr is not None:
                    self.resolve(st.interval_expr, Header(st.name, st.ref, "", [], st.loc), [], st.loc)
                streams.check_stream(layer, st)
        spec = Spec(self.layers)
        self.check_c_names(spec)
        return spec

    def check_c_names(self, spec):
        """Every name the C emitter writes must be unique (e.g. header a_b field c and header a
        field b_c would both give IWK_E_A_B_C_EQ)."""
        seen = {}

        def claim(name, loc):
            if name in seen:
                raise SpecError(loc, f"this gives the C name {name}, which {seen[name]} already gives")
            seen[name] = str(loc)
        for layer in spec.layers:
            for c in layer.consts:
                claim(f"IWK_{c.name}", c.loc)
                if isinstance(c.value, bytes):
                    claim(f"IWK_{c.name}_LEN", c.loc)
            for e in layer.enums:
                for m in e.members:
                    claim(f"IWK_{m.name}", m.loc)
            for h in layer.headers:
                claim(f"IWK_{h.name.upper()}_MIN_SIZE", h.loc)
            for m in layer.machines:
                for s in m.states:
                    claim(f"IWK_{m.name.upper()}_{s.name}", s.loc)
                for e in m.events:
                    claim(f"IWK_{m.name.upper()}_EV_{e.name}", e.loc)
        for h in spec.all_headers():
            for f in h.fields:
                if f.kind == "uint" and f.bits not in (8, 16, 32, 64):
                    claim(f"IWK_E_{h.name.upper()}_{f.name.upper()}_WIDTH", f.loc)
                for c in f.constraints:
                    claim(status_name(h, f, c), c.loc)

    def declare(self, name, item, loc, lower):
        pattern = LOWER_ID if lower else UPPER_ID
        if not pattern.match(name):
            style = "lower_case" if lower else "UPPER_CASE"
            raise SpecError(loc, f"'{name}' must be written {style}")
        if name in KEYWORDS:
            raise SpecError(loc, f"'{name}' is a keyword")
        if name in self.globals:
            prev = self.globals[name]
            raise SpecError(loc, f"'{name}' is already defined at {prev.loc}")
        self.globals[name] = item

    def check_crc(self, c):
        """A CRC's numbers must fit its width, and its check value must be what a bit-serial CRC
        with these parameters gives for "123456789" (so a mistyped polynomial cannot pass)."""
        self.declare(c.name, c, c.loc, lower=True)
        if not 8 <= c.width <= 64:
            raise SpecError(c.loc, f"crc '{c.name}': width {c.width} is outside 8..64")
        top = 1 << c.width
        for what in ("poly", "init", "xorout", "check"):
            if getattr(c, what) >= top:
                raise SpecError(c.loc, f"crc '{c.name}': {what} does not fit in {c.width} bits")
        if c.poly % 2 == 0:
            raise SpecError(c.loc, f"crc '{c.name}': poly must have the x^0 term (an odd number)")
        got = crc_serial(c, b"123456789")
        if got != c.check:
            raise SpecError(c.loc, f"crc '{c.name}': check = {c.check:#x} but these parameters give {got:#x} for \"123456789\"")

    def check_enum(self, e):
        self.declare(e.name, e, e.loc, lower=True)
        if not e.members:
            raise SpecError(e.loc, f"enum '{e.name}' has no members")
        seen = {}
        for m in e.members:
            if m.attrs and e.bits > 8:
                raise SpecError(m.loc, f"attributes need an enum of at most u8 (they become a table indexed by value); '{e.name}' is u{e.bits}")
            self.declare(m.name, m, m.loc, lower=False)
            if m.value >= (1 << e.bits):
                raise SpecError(m.loc, f"{m.name} = {m.value} does not fit in u{e.bits}")
            if m.value in seen:
                raise SpecError(m.loc, f"{m.name} has the same value as {seen[m.value].name}")
            seen[m.value] = m
            if m.ref is None:
                m.ref = e.ref

    def resolve(self, expr, header, before, loc, allow_at=False, allow_rest=False):
        """Binds names to constants or earlier integer fields; checks what each context allows."""
        if isinstance(expr, Rest) and not allow_rest:
            raise SpecError(loc, "'rest' is only allowed as the whole length of the last field")
        if isinstance(expr, At) and not allow_at:
            raise SpecError(loc, "'at(k)' is only allowed in the length of a bytes field")
        if isinstance(expr, Bin):
            if expr.op in ("/", "%"):
                self.resolve(expr.right, header, before, loc)
                divisor = expr_const_value(expr.right)
                if divisor is None or divisor == 0:
                    raise SpecError(loc, f"'{expr.op}' needs a non-zero constant divisor")
            self.resolve(expr.left, header, before, loc, allow_at)
            self.resolve(expr.right, header, before, loc, allow_at)
        elif isinstance(expr, Cond):
            for part in (expr.test, expr.then, expr.other):
                self.resolve(part, header, before, loc, allow_at)
        elif isinstance(expr, Name):
            target = None
            for f in before:
                if f.name == expr.ident:
                    target = f
            if target is None:
                g = self.globals.get(expr.ident)
                if isinstance(g, Const):
                    target = g
                elif isinstance(g, Member):
                    target = Const(g.name, g.value, g.ref, g.doc, g.loc)
                elif header.field_named(expr.ident) is not None:
                    raise SpecError(expr.loc, f"'{expr.ident}' is used before it is read (fields may only refer to earlier fields)")
                else:
                    raise SpecError(expr.loc, f"unknown name '{expr.ident}'")
            if isinstance(target, Field) and target.kind != "uint":
                raise SpecError(expr.loc, f"'{expr.ident}' is not an integer field")
            if isinstance(target, Const) and not isinstance(target.value, int):
                raise SpecError(expr.loc, f"'{expr.ident}' is a string constant, not a number")
            expr.target = target

    def check_header(self, h):
        if not h.fields:
            raise SpecError(h.loc, f"header '{h.name}' has no fields")
        names = set()
        before = []
        for i, f in enumerate(h.fields):
            f.header = h
            if f.ref is None:
                f.ref = h.ref
            if not LOWER_ID.match(f.name) or f.name in KEYWORDS:
                raise SpecError(f.loc, f"'{f.name}' is not a valid field name")
            if f.name in names:
                raise SpecError(f.loc, f"field '{f.name}' is defined twice in header '{h.name}'")
            names.add(f.name)
            if f.kind != "uint":
                is_last = i == len(h.fields) - 1
                if expr_has(f.length, Rest) and not isinstance(f.length, Rest):
                    raise SpecError(f.loc, "'rest' must be the whole length, not part of an expression")
                self.resolve(f.length, h, before, f.loc, allow_at=(f.kind == "bytes"),
                             allow_rest=is_last)
                f.fixed_len = expr_const_value(f.length)
                if f.fixed_len is not None and not 1 <= f.fixed_len <= MAX_FIXED_ARRAY:
                    raise SpecError(f.loc, f"a fixed {f.kind} field has 1 to {MAX_FIXED_ARRAY} octets, not {f.fixed_len}")
            if f.when is not None:
                self.resolve(f.when, h, before, f.loc)
            self.check_constraints(h, f)
            before.append(f)
        self.layout(h)

    def check_constraints(self, h, f):
        kinds = set()
        for c in f.constraints:
            if c.code_suffix in kinds:
                raise SpecError(c.loc, f"field '{f.name}' has two '{c.op}' constraints")
            kinds.add(c.code_suffix)
            if f.kind == "pad":
                raise SpecError(c.loc, "pad fields take no constraints")
            if f.kind == "bytes":
                self.check_bytes_constraint(f, c)
                continue
            if c.op == "enum":
                e = self.globals.get(c.value.ident)
                if not isinstance(e, Enum):
                    raise SpecError(c.loc, f"'{c.value.ident}' is not an enum")
                if e.bits > f.bits:
                    raise SpecError(c.loc, f"enum '{e.name}' is u{e.bits}, wider than field '{f.name}' (u{f.bits})")
                c.enum = e
                continue
            for part in (c.value, c.high):
                if part is None:
                    continue
                for name in expr_names(part):
                    if h.field_named(name.ident) is not None:
                        raise SpecError(c.loc, f"constraint values are numbers or constants, not fields ('{name.ident}')")
                self.resolve(part, h, [], c.loc)
                v = expr_const_value(part)
                if v is None:
                    raise SpecError(c.loc, "constraint values are numbers or numeric constants")
                if v < 0 or v >= (1 << f.bits):
                    raise SpecError(c.loc, f"{v} does not fit in field '{f.name}' (u{f.bits})")
            if c.op == "range" and expr_const_value(c.value) > expr_const_value(c.high):
                raise SpecError(c.loc, "empty range: LO > HI")
        if f.kind == "uint" and f.constraints and not _feasible(f):
            raise SpecError(f.loc, f"no value of field '{f.name}' satisfies all its constraints")

    def check_bytes_constraint(self, f, c):
        if c.op not in ("==", "!="):
            raise SpecError(c.loc, "a bytes field only takes '==' or '!=' with a string")
        if isinstance(c.value, Name):
            const = self.globals.get(c.value.ident)
            if not isinstance(const, Const) or not isinstance(const.value, bytes):
                raise SpecError(c.loc, f"'{c.value.ident}' is not a string constant")
            c.value = const.value
        if not isinstance(c.value, bytes):
            raise SpecError(c.loc, "a bytes field is compared with a string")
        if f.fixed_len is None:
            raise SpecError(c.loc, "only fixed-length bytes fields take constraints")
        if len(c.value) != f.fixed_len:
            raise SpecError(c.loc, f"the string has {len(c.value)} octets, field '{f.name}' has {f.fixed_len}")

    def layout(self, h):
        """Groups fields into read units, checks byte alignment, computes static offsets."""
        units = []
        group = []
        group_bits = 0
        static_off = 0       # None once an offset depends on data
        for f in h.fields:
            if f.kind == "uint":
                if f.little_endian and group:
                    raise SpecError(f.loc, f"'{f.name}' is little-endian and must start on a byte boundary")
                if group and not _same_when(group[0].when, f.when):
                    raise SpecError(f.loc, f"'{f.name}' shares an octet with fields that have another 'when'")
                if static_off is not None:
                    f.static_bit_offset = static_off * 8 + group_bits
                group.append(f)
                group_bits += f.bits
                if group_bits % 8 == 0:
                    if group_bits > 64:
                        raise SpecError(f.loc, f"bit fields ending at '{f.name}' span {group_bits} bits; split them at byte boundaries (at most 64 bits)")
                    units.append(Unit(group, f.when, group_bits // 8, static_off))
                    if static_off is not None and f.when is None:
                        static_off += group_bits // 8
                    elif f.when is not None:
                        static_off = None
                    group, group_bits = [], 0
                continue
            if group:
                raise SpecError(f.loc, f"bit fields before '{f.name}' end in the middle of an octet ({group_bits} bits)")
            n = f.fixed_len
            if static_off is not None:
                f.static_bit_offset = static_off * 8
            units.append(Unit([f], f.when, n, static_off))
            if static_off is not None and n is not None and f.when is None:
                static_off += n
            else:
                static_off = None
        if group:
            raise SpecError(h.fields[-1].loc, f"header '{h.name}' ends in the middle of an octet ({group_bits} bits left over)")
        h.units = units
        h.min_size = sum(u.nbytes for u in units if u.nbytes is not None and u.when is None)


def _feasible(f):
    """Whether some value of an integer field meets all its constraints."""
    lo, hi = 0, (1 << f.bits) - 1
    eq, ne, members = None, set(), None
    for c in f.constraints:
        v = expr_const_value(c.value) if c.op not in ("enum",) else None
        if c.op == "<=":
            hi = min(hi, v)
        elif c.op == ">=":
            lo = max(lo, v)
        elif c.op == "range":
            lo, hi = max(lo, v), min(hi, expr_const_value(c.high))
        elif c.op == "==":
            if eq is not None and eq != v:
                return False
            eq = v
        elif c.op == "!=":
            ne.add(v)
        elif c.op == "enum":
            members = {m.value for m in c.enum.members}
    candidates = [eq] if eq is not None else None
    if members is not None:
        candidates = [m for m in members if candidates is None or m in candidates]
    if candidates is not None:
        return any(lo <= v <= hi and v not in ne for v in candidates)
    return lo <= hi and (hi - lo + 1) > len([v for v in ne if lo <= v <= hi])


def _same_when(a, b):
    from .model import expr_text
    if a is None or b is None:
        return a is None and b is None
    return expr_text(a) == expr_text(b)


def crc_serial(c, data):
    """The CRC `c` (a model.Crc) of the octets `data`, one bit at a time (the definition)."""
    width, top = c.width, 1 << c.width
    poly = reflect(c.poly, width) if c.reflected else c.poly
    reg = c.init
    for octet in data:
        for k in range(8):
            if c.reflected:
                bit = (octet >> k) & 1
                reg = (reg >> 1) ^ poly if (reg ^ bit) & 1 else reg >> 1
            else:
                bit = (octet >> (7 - k)) & 1
                msb = (reg >> (width - 1)) & 1
                reg = ((reg << 1) % top) ^ poly if msb ^ bit else (reg << 1) % top
    return reg ^ c.xorout


def reflect(value, bits):
    """value with its `bits` low bits in reverse order."""
    return int(format(value, f"0{bits}b")[::-1], 2)


def load(paths):
    """Loads and checks the spec files (in the given order) into one Spec."""
    layers = []
    for path in paths:
        with open(path, "r", encoding="utf-8") as fh:
            src = fh.read()
        layers.append(Parser(src, path).parse_file())
    return Checker(layers).run()
