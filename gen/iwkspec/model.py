"""The typed intermediate model that every emitter reads (C, docs, and later HLS, Promela, fuzzing)."""
from dataclasses import dataclass, field
from typing import Optional


# ---- expressions (LEN, when, constraint values) -------------------------------------------

@dataclass
class Num:
    value: int


@dataclass
class Name:
    ident: str
    loc: object
    target: object = None      # resolved: Const or Field


@dataclass
class Rest:
    pass


@dataclass
class At:
    offset: int


@dataclass
class Bin:
    op: str
    left: object
    right: object


@dataclass
class Cond:
    test: object
    then: object
    other: object


def expr_names(expr):
    """Every Name in an expression."""
    if isinstance(expr, Name):
        return [expr]
    if isinstance(expr, Bin):
        return expr_names(expr.left) + expr_names(expr.right)
    if isinstance(expr, Cond):
        return expr_names(expr.test) + expr_names(expr.then) + expr_names(expr.other)
    return []


def expr_has(expr, kind):
    if isinstance(expr, kind):
        return True
    if isinstance(expr, Bin):
        return expr_has(expr.left, kind) or expr_has(expr.right, kind)
    if isinstance(expr, Cond):
        return expr_has(expr.test, kind) or expr_has(expr.then, kind) or expr_has(expr.other, kind)
    return False


def expr_const_value(expr):
    """The value of an expression made of numbers and constants only, or None."""
    if isinstance(expr, Num):
        return expr.value
    if isinstance(expr, Name) and isinstance(expr.target, Const) and isinstance(expr.target.value, int):
        return expr.target.value
    if isinstance(expr, Bin):
        a, b = expr_const_value(expr.left), expr_const_value(expr.right)
        if a is None or b is None:
            return None
        return _fold(expr.op, a, b)
    if isinstance(expr, Cond):
        t = expr_const_value(expr.test)
        if t is None:
            return None
        return expr_const_value(expr.then if t else expr.other)
    return None


def _fold(op, a, b):
    table = {
        "+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
        "/": lambda: a // b, "%": lambda: a % b,
        "==": lambda: int(a == b), "!=": lambda: int(a != b), "<": lambda: int(a < b),
        "<=": lambda: int(a <= b), ">": lambda: int(a > b), ">=": lambda: int(a >= b),
        "&&": lambda: int(bool(a) and bool(b)), "||": lambda: int(bool(a) or bool(b)),
    }
    return table[op]()


# ---- items --------------------------------------------------------------------------------

@dataclass
class Const:
    name: str
    value: object          # int or bytes
    ref: Optional[str]
    doc: str
    loc: object
    layer: object = None


@dataclass
class Member:
    name: str
    value: int
    doc: str
    ref: Optional[str]
    attrs: dict
    loc: object


@dataclass
class Enum:
    name: str
    bits: int
    ref: str
    doc: str
    members: list
    loc: object
    layer: object = None

    def contiguous_range(self):
        """(lo, hi) when the members are exactly lo..hi, else None."""
        values = sorted(m.value for m in self.members)
        if values and values == list(range(values[0], values[-1] + 1)):
            return values[0], values[-1]
        return None

    def attr_names(self):
        names = []
        for m in self.members:
            for a in m.attrs:
                if a not in names:
                    names.append(a)
        return names


@dataclass
class Constraint:
    op: str                # '==', '!=', '<=', '>=', 'range', 'enum'
    value: object = None   # expression (Num/Name) or bytes for byte arrays
    high: object = None    # for 'range'
    enum: object = None    # Enum for 'enum'
    tx: bool = False       # sender-only rule
    loc: object = None

    @property
    def code_suffix(self):
        return {"==": "EQ", "!=": "NE", "<=": "MAX", ">=": "MIN", "range": "RANGE", "enum": "ENUM"}[self.op]


@dataclass
class Field:
    name: str
    kind: str                      # 'uint', 'bytes', 'pad'
    bits: int = 0                  # for uint
    little_endian: bool = False
    length: object = None          # expression for bytes/pad
    constraints: list = field(default_factory=list)
    when: object = None
    ref: Optional[str] = None
    doc: str = ""
    loc: object = None
    header: object = None
    # derived by layout()
    fixed_len: Optional[int] = None   # bytes/pad with a constant length
    static_bit_offset: Optional[int] = None  # bit offset from the header start, when static

    @property
    def is_var(self):
        return self.kind == "bytes" and self.fixed_len is None

    @property
    def c_type(self):
        for width in (8, 16, 32, 64):
            if self.bits <= width:
                return f"uint{width}_t"
        raise AssertionError(self.bits)


@dataclass
class Unit:
    """What the parser reads in one step: a byte-aligned group of integer fields, or one bytes/pad field."""
    fields: list
    when: object
    nbytes: Optional[int]          # None for a variable-length bytes/pad unit
    static_offset: Optional[int]   # byte offset from the header start when known statically

    @property
    def is_int_group(self):
        return self.fields[0].kind == "uint"


@dataclass
class Header:
    name: str
    ref: str
    doc: str
    fields: list
    loc: object
    layer: object = None
    units: list = field(default_factory=list)
    min_size: int = 0

    def field_named(self, name):
        for f in self.fields:
            if f.name == name:
                return f
        return None


@dataclass
class Crc:
    """A cyclic redundancy check (`crc` item): the polynomial and conventions of a CRC that a layer
    uses, e.g. MPA's CRC32c. Emitters (gen/hwgen/) derive their matrices from these numbers."""
    name: str
    ref: str
    doc: str
    width: int             # register bits
    poly: int              # generator polynomial, normal (MSB-first) form, x^width term implied
    reflected: bool        # data and register processed least-significant bit first
    init: int              # register preset
    xorout: int            # XORed into the register to give the CRC value
    check: int             # CRC of the ASCII octets "123456789" (the catalogue check value)
    loc: object
    layer: object = None


@dataclass
class Layer:
    name: str
    ref: str
    doc: str
    file: str
    loc: object
    consts: list = field(default_factory=list)
    enums: list = field(default_factory=list)
    headers: list = field(default_factory=list)
    machines: list = field(default_factory=list)    # iwkspec.machines.Machine
    composes: list = field(default_factory=list)    # iwkspec.machines.Compose
    streams: list = field(default_factory=list)     # iwkspec.streams.Stream
    crcs: list = field(default_factory=list)        # Crc


@dataclass
class Spec:
    layers: list

    def all_crcs(self):
        return [c for layer in self.layers for c in layer.crcs]

    def all_headers(self):
        return [h for layer in self.layers for h in layer.headers]

    def all_machines(self):
        return [m for layer in self.layers for m in layer.machines]

    def all_composes(self):
        return [c for layer in self.layers for c in layer.composes]

    def all_enums(self):
        return [e for layer in self.layers for e in layer.enums]

    def status_codes(self):
        """The global, deterministic list of (name, description) for iwk_status."""
        codes = [
            ("IWK_OK", "success"),
            ("IWK_E_SHORT", "buffer ends before the header or one of its variable parts"),
            ("IWK_E_NOSPACE", "serialize: output buffer too small"),
            ("IWK_E_LEN_MISMATCH", "a variable part's length disagrees with the field that gives it"),
        ]
        for h in self.all_headers():
            for f in h.fields:
                if f.kind == "uint" and f.bits not in (8, 16, 32, 64):
                    codes.append((f"IWK_E_{h.name.upper()}_{f.name.upper()}_WIDTH",
                                  f"{f.name} does not fit in {f.bits} bits"))
                for c in f.constraints:
                    codes.append((status_name(h, f, c), constraint_text(f, c)))
        return codes


def status_name(header, fld, constraint):
    return f"IWK_E_{header.name.upper()}_{fld.name.upper()}_{constraint.code_suffix}"


def expr_text(expr):
    """Spec-syntax rendering of an expression (for docs and messages)."""
    if isinstance(expr, Num):
        return str(expr.value)
    if isinstance(expr, Name):
        return expr.ident
    if isinstance(expr, Rest):
        return "rest"
    if isinstance(expr, At):
        return f"at({expr.offset})"
    if isinstance(expr, Bin):
        return f"({expr_text(expr.left)} {expr.op} {expr_text(expr.right)})"
    if isinstance(expr, Cond):
        return f"({expr_text(expr.test)} ? {expr_text(expr.then)} : {expr_text(expr.other)})"
    raise AssertionError(expr)


def constraint_text(fld, c):
    rule = " (sender rule)" if c.tx else ""
    if c.op == "enum":
        return f"{fld.name} is a {c.enum.name}{rule}"
    if c.op == "range":
        return f"{fld.name} in {expr_text(c.value)}..{expr_text(c.high)}{rule}"
    if isinstance(c.value, bytes):
        return f"{fld.name} == \"{c.value.decode('latin-1')}\"{rule}"
    return f"{fld.name} {c.op} {expr_text(c.value)}{rule}"
