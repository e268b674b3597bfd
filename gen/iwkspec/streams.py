"""`stream` items: how PDUs of a layer share one direction of a byte stream (MPA over TCP).

    stream mpa_stream @"RFC 5044 §4" "doc" {
        pdu mpa_fpdu @"RFC 5044 §4.1";                      # the framed header (length, body, pad, CRC)
        marker mpa_marker every MPA_MARKER_INTERVAL @"RFC 5044 §4.3";
        pointer fpduptr ignore_low_bits 2 @"RFC 5044 §4.2";  # the Marker field that points back
        convention rfc5044 from length_field @"RFC 5044 §4.3" "doc";   # first one: the default
        convention fpdu_start from pdu_start @"..." "doc";
        crc crc covers markers @"RFC 5044 §4.4";              # the PDU's CRC field, Markers covered
    }

The PDU header must be: a leading byte-aligned unsigned length field, a `bytes` body whose length
is exactly that field, optionally a `pad` field whose length is an expression of the length field,
and a last little- or big-endian 32-bit CRC field named by `crc`. The Marker header must have a
fixed size and the named pointer field must be a 16-bit unsigned field. Every item of a stream
carries an RFC reference. The emitter (emitters/emit_stream_c.py) turns a stream into an I/O-free,
allocation-free deframer and framer.
"""
from dataclasses import dataclass, field
from typing import Optional

from .lexer import SpecError
from .machines import _tail
from .model import Const, Header, Name, Num, expr_const_value, expr_names


@dataclass
class Convention:
    name: str
    origin: str          # 'length_field' or 'pdu_start'
    ref: str
    doc: str
    loc: object


@dataclass
class Stream:
    name: str
    ref: str
    doc: str
    loc: object
    pdu_name: str = ""
    pdu_ref: Optional[str] = None
    marker_name: str = ""
    interval_expr: object = None
    marker_ref: Optional[str] = None
    pointer_name: str = ""
    ignore_low_bits: int = 0
    pointer_ref: Optional[str] = None
    conventions: list = field(default_factory=list)
    crc_name: str = ""
    crc_covers_markers: bool = False
    crc_ref: Optional[str] = None
    layer: object = None
    # resolved by check_stream()
    pdu: Optional[Header] = None
    marker: Optional[Header] = None
    length_field: object = None
    body_field: object = None
    pad_field: object = None
    crc_field: object = None
    pointer_field: object = None
    interval: int = 0
    length_bytes: int = 0
    marker_len: int = 0
    pointer_offset: int = 0


ORIGINS = ("length_field", "pdu_start")


def parse_stream(p):
    tok = p.next()
    name = p.expect_ident("a stream name")
    ref, doc = _tail(p)
    if ref is None:
        raise SpecError(tok.loc, f"stream '{name.text}' needs a reference such as @\"RFC 5044 §4\"")
    s = Stream(name.text, ref, doc, tok.loc)
    p.expect_punct("{", " to open the stream")
    seen = set()
    while not p.is_punct("}"):
        kw = p.next()
        if kw.kind != "ident":
            raise SpecError(kw.loc, f"expected a stream item but found '{kw.text or 'end of file'}'")
        word = kw.text
        if word in seen and word != "convention":
            raise SpecError(kw.loc, f"'{word}' given twice in stream '{s.name}'")
        seen.add(word)
        if word == "pdu":
            s.pdu_name = p.expect_ident("the framed header's name").text
            s.pdu_ref, _ = _tail(p)
        elif word == "marker":
            s.marker_name = p.expect_ident("the Marker header's name").text
            if not p.is_word("every"):
                raise SpecError(p.peek().loc, "expected 'every INTERVAL' after the Marker header")
            p.next()
            s.interval_expr = p.parse_expr()
            s.marker_ref, _ = _tail(p)
        elif word == "pointer":
            s.pointer_name = p.expect_ident("the Marker's pointer field").text
            if p.is_word("ignore_low_bits"):
                p.next()
                nt = p.next()
                if nt.kind != "int":
                    raise SpecError(nt.loc, "ignore_low_bits takes a number")
                s.ignore_low_bits = nt.value
            s.pointer_ref, _ = _tail(p)
        elif word == "convention":
            cname = p.expect_ident("a convention name")
            if not p.is_word("from"):
                raise SpecError(p.peek().loc, "expected 'from length_field' or 'from pdu_start'")
            p.next()
            otok = p.expect_ident("length_field or pdu_start")
            if otok.text not in ORIGINS:
                raise SpecError(otok.loc, f"a pointer counts from 'length_field' or 'pdu_start', not '{otok.text}'")
            cref, cdoc = _tail(p)
            if cref is None:
                raise SpecError(cname.loc, f"convention '{cname.text}' needs a reference")
            if any(c.name == cname.text for c in s.conventions):
                raise SpecError(cname.loc, f"convention '{cname.text}' given twice")
            s.conventions.append(Convention(cname.text, otok.text, cref, cdoc, cname.loc))
        elif word == "crc":
            s.crc_name = p.expect_ident("the PDU's CRC field").text
            if p.is_word("covers"):
                p.next()
                what = p.expect_ident("'markers'")
                if what.text != "markers":
                    raise SpecError(what.loc, "only 'covers markers' is known")
                s.crc_covers_markers = True
            s.crc_ref, _ = _tail(p)
        else:
            raise SpecError(kw.loc, f"unknown stream item '{word}' (pdu, marker, pointer, convention, crc)")
        p.expect_punct(";", f" after the stream's '{word}' item")
    p.expect_punct("}")
    if p.is_punct(";"):
        p.next()
    return s


def _header(layer, name, loc, what):
    for h in layer.headers:
        if h.name == name:
            return h
    raise SpecError(loc, f"{what} '{name}' is not a header of layer '{layer.name}'")


def check_stream(layer, s):
    """Resolves names and checks the shape the emitter relies on; raises SpecError."""
    for item, val in (("pdu", s.pdu_name), ("marker", s.marker_name), ("pointer", s.pointer_name),
                      ("crc", s.crc_name)):
        if not val:
            raise SpecError(s.loc, f"stream '{s.name}' needs a '{item}' item")
    if not s.conventions:
        raise SpecError(s.loc, f"stream '{s.name}' needs at least one 'convention'")
    for what, r in (("pdu", s.pdu_ref), ("marker", s.marker_ref), ("pointer", s.pointer_ref),
                    ("crc", s.crc_ref)):
        if r is None:
            raise SpecError(s.loc, f"the '{what}' item of stream '{s.name}' needs a reference")
    s.layer = layer
    s.pdu = _header(layer, s.pdu_name, s.loc, "pdu")
    s.marker = _header(layer, s.marker_name, s.loc, "marker")
    fields = s.pdu.fields
    lf = fields[0]
    if lf.kind != "uint" or lf.bits % 8 != 0 or lf.bits > 16 or lf.when is not None:
        raise SpecError(lf.loc, f"the first field of pdu '{s.pdu.name}' must be a byte-aligned u8/u16 length")
    s.length_field, s.length_bytes = lf, lf.bits // 8
    body = fields[1] if len(fields) > 1 else None
    if body is None or body.kind != "bytes" or not isinstance(body.length, Name) or body.length.target is not lf:
        raise SpecError(s.pdu.loc, f"the second field of pdu '{s.pdu.name}' must be bytes[{lf.name}]")
    s.body_field = body
    rest = fields[2:]
    if rest and rest[0].kind == "pad":
        pad = rest[0]
        names = expr_names(pad.length)
        if any(n.target is not lf and not isinstance(n.target, Const) for n in names):
            raise SpecError(pad.loc, f"the pad of pdu '{s.pdu.name}' may depend on '{lf.name}' only")
        s.pad_field = pad
        rest = rest[1:]
    if len(rest) != 1 or rest[0].name != s.crc_name or rest[0].kind != "uint" or rest[0].bits != 32:
        raise SpecError(s.pdu.loc, f"pdu '{s.pdu.name}' must end with the 32-bit field '{s.crc_name}'")
    s.crc_field = rest[0]
    if s.marker.min_size <= 0 or any(f.is_var for f in s.marker.fields):
        raise SpecError(s.marker.loc, f"marker '{s.marker.name}' must have a fixed size")
    s.marker_len = s.marker.min_size
    pf = s.marker.field_named(s.pointer_name)
    if pf is None or pf.kind != "uint" or pf.bits != 16 or pf.static_bit_offset is None \
            or pf.static_bit_offset % 8 != 0:
        raise SpecError(s.marker.loc, f"'{s.pointer_name}' must be a byte-aligned u16 field of '{s.marker.name}'")
    s.pointer_field = pf
    s.pointer_offset = pf.static_bit_offset // 8
    if not 0 <= s.ignore_low_bits <= 8:
        raise SpecError(s.loc, "ignore_low_bits must be 0..8")
    iv = expr_const_value(s.interval_expr)
    if not isinstance(iv, int) or iv <= s.marker_len or iv > 65535:
        raise SpecError(s.loc, f"the Marker interval of stream '{s.name}' must be a constant "
                               f"above the Marker size and at most 65535")
    s.interval = iv
