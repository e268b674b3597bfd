"""Rendering of spec expressions and bit-field arithmetic as C and ACSL text.

WP proves arithmetic on powers of two (`/ % *`) but not shifts and masks
(../shared/toolchain.md), so every bit operation is written as arithmetic.
"""
from iwkspec.model import At, Bin, Cond, Const, Field, Name, Num, Rest


def render(expr, field_ref, at_ref=None, rest_ref=None, acsl=False):
    """C (or ACSL) text of an expression. field_ref(f) gives the lvalue of an integer field,
    at_ref(k) the octet at(k), rest_ref() the remaining length."""
    def go(e):
        if isinstance(e, Num):
            return f"{e.value}" if acsl else f"{e.value}u"
        if isinstance(e, Name):
            if isinstance(e.target, Const):
                return go(Num(e.target.value))
            return field_ref(e.target) if acsl else f"(uint64_t){field_ref(e.target)}"
        if isinstance(e, At):
            return at_ref(e.offset)
        if isinstance(e, Rest):
            return rest_ref()
        if isinstance(e, Bin):
            op = "==>" if False else e.op
            return f"({go(e.left)} {op} {go(e.right)})"
        if isinstance(e, Cond):
            return f"(({go(e.test)}) ? {go(e.then)} : {go(e.other)})"
        raise AssertionError(e)
    return go(expr)


def pow2(n):
    return 1 << n


def group_bit_spans(unit):
    """(field, start bit, end bit) of each field inside an integer group, MSB-first."""
    spans = []
    pos = 0
    for f in unit.fields:
        spans.append((f, pos, pos + f.bits))
        pos += f.bits
    return spans


def field_from_bytes(fld, start, end, byte, acsl=False):
    """Arithmetic that extracts bits [start, end) (MSB-first) of a group whose octet k is byte(k)."""
    u = "" if acsl else "u"
    if fld.little_endian:
        nbytes = fld.bits // 8
        terms = []
        for k in range(nbytes):
            b = byte(start // 8 + k)
            terms.append(b if k == 0 else f"{b} * {pow2(8 * k)}{u}")
        return " + ".join(terms)
    terms = []
    for k in range(start // 8, (end - 1) // 8 + 1):
        hi = max(start, 8 * k)
        lo = min(end, 8 * k + 8)
        width = lo - hi
        rshift = 8 * k + 8 - lo
        piece = byte(k)
        if rshift:
            piece = f"{piece} / {pow2(rshift)}{u}"
        if width < 8 and hi > 8 * k:
            piece = f"({piece}) % {pow2(width)}{u}" if rshift else f"{piece} % {pow2(width)}{u}"
        mult = end - lo
        if mult:
            piece = f"({piece}) * {pow2(mult)}{u}" if ("/" in piece or "%" in piece) else f"{piece} * {pow2(mult)}{u}"
        terms.append(piece)
    return " + ".join(terms)


def byte_from_fields(unit, k, value, acsl=False):
    """Arithmetic for octet k of an integer group, from field values value(f) (each < 2^bits)."""
    u = "" if acsl else "u"
    if unit.fields[0].little_endian:
        f = unit.fields[0]
        piece = value(f)
        if k:
            piece = f"{piece} / {pow2(8 * k)}{u}"
        return f"({piece}) % 256{u}"
    terms = []
    for f, start, end in group_bit_spans(unit):
        hi = max(start, 8 * k)
        lo = min(end, 8 * k + 8)
        if hi >= lo:
            continue
        width = lo - hi
        piece = value(f)
        drop = end - lo            # low bits of the field that belong to later octets
        if drop:
            piece = f"{piece} / {pow2(drop)}{u}"
        if hi > start:             # high bits of the field that belong to earlier octets
            piece = f"({piece}) % {pow2(width)}{u}"
        shift = 8 * k + 8 - lo
        if shift:
            piece = f"({piece}) * {pow2(shift)}{u}"
        terms.append(piece)
    return " + ".join(terms) if terms else f"0{u}"
