"""C for a `stream` item (gen/iwkspec/streams.py): an I/O-free, allocation-free datapath core.

Per stream S of layer L, `iwk_S.h` / `iwk_S.c`:
  - position rules: where Markers sit (the grid from the first octet of FPDU mode), the pad, the
    octets an FPDU occupies on the wire;
  - the deframer `iwk_S_rx`: `iwk_S_rx_feed` consumes octets in any split and stops at each event
    (length known, a run of body octets, pad, a Marker with its verdict, a whole PDU with its CRC
    and Marker verdicts); `iwk_S_rx_plan` lists the runs that follow (Marker, length, body, pad,
    CRC) so that a caller can read body octets straight into their destination;
  - the framer `iwk_S_tx_plan`: the runs of one PDU at the current position, Marker values
    included, with what the CRC covers.
Every rule comes from the stream item: the Marker header and its size, the interval, the pointer
field, the pointer's ignored low bits, the conventions, the PDU's length field, pad expression and
CRC field. The cost of a call is O(runs), never O(octets), except the CRC over the octets it covers.
"""
import re

from .cexpr import render
from .emit_c import DO_NOT_EDIT

KINDS = ("MARKER", "LENGTH", "BODY", "PAD", "CRC")


def _pad_c(s):
    if s.pad_field is None:
        return "0u"
    lf = s.length_field

    def ref(f):
        assert f is lf, f
        return "body_len"
    return render(s.pad_field.length, ref)


def _crc_read(s):
    """C that reads the CRC field's value from uint8_t f[4] in its wire order."""
    if s.crc_field.little_endian:
        return "(uint32_t)f[0] + (uint32_t)f[1] * 256u + (uint32_t)f[2] * 65536u + (uint32_t)f[3] * 16777216u"
    return "(uint32_t)f[3] + (uint32_t)f[2] * 256u + (uint32_t)f[1] * 65536u + (uint32_t)f[0] * 16777216u"


def _crc_write(s):
    if s.crc_field.little_endian:
        idx = (0, 1, 2, 3)
    else:
        idx = (3, 2, 1, 0)
    return "\n".join(f"    out[{i}] = (uint8_t)((crc / {1 << (8 * k)}u) % 256u);" for k, i in enumerate(idx))


def emit_stream(s, src):
    n = s.name
    N = n.upper()
    mk = s.marker.name
    L = s.layer.name
    conv_enum = "\n".join(
        f"    IWK_{N}_CONV_{c.name.upper()} = {i}, /* {c.doc or c.name} ({c.ref}) */"
        for i, c in enumerate(s.conventions))
    conv_names = ", ".join(f'"{c.name}"' for c in s.conventions)
    conv_from_len = " || ".join(f"conv == {i}u" for i, c in enumerate(s.conventions)
                                if c.origin == "length_field") or "0"
    nconv = len(s.conventions)
    idx = {o: next((f"{i}u" for i, c in enumerate(s.conventions) if c.origin == o), f"IWK_{N}_CONV_ANY")
           for o in ("length_field", "pdu_start")}
    mask = (0xFFFF >> s.ignore_low_bits) << s.ignore_low_bits
    lb = s.length_bytes
    subst = {
        "n": n, "N": N, "mk": mk, "L": L, "SRC": src,
        "IV": s.interval, "MKLEN": s.marker_len, "LENB": lb,
        "MAXBODY": (1 << (8 * lb)) - 1, "MASK": f"0x{mask:04X}u", "NCONV": nconv,
        "PAD": _pad_c(s), "CRCREAD": _crc_read(s), "CRCWRITE": _crc_write(s),
        "PTR": s.pointer_field.name, "PTROFF": s.pointer_offset,
        "CONVENUM": conv_enum, "CONVNAMES": conv_names, "CONVLEN": conv_from_len,
        "COVERS": 1 if s.crc_covers_markers else 0,
        "REF": s.ref, "DOC": s.doc, "PDU": s.pdu.name, "MREF": s.marker_ref, "CREF": s.crc_ref,
        "LENREAD": " + ".join(f"(uint32_t)rx->fld[{i}] * {1 << (8 * (lb - 1 - i))}u" for i in range(lb)),
        "PREF": s.pointer_ref, "LENIDX": idx["length_field"], "STARTIDX": idx["pdu_start"],
    }
    h = _fill(HEADER, subst)
    c = _fill(SOURCE, subst)
    return DO_NOT_EDIT.format(src=src) + "\n" + h, DO_NOT_EDIT.format(src=src) + "\n" + c


def _fill(text, subst):
    out = text
    for k in sorted(subst, key=len, reverse=True):
        out = out.replace("@" + k + "@", str(subst[k]))
    left = re.findall(r"@[A-Za-z]+@", out)
    assert not left, left
    return out


HEADER = r"""/* Stream @n@: @DOC@ -- @REF@. PDU @PDU@, Marker @mk@ (@MREF@), CRC (@CREF@). */
#ifndef IWK_@N@_H
#define IWK_@N@_H

#include <stddef.h>
#include <stdint.h>
#include "iwk_@L@.h"

#define IWK_@N@_INTERVAL @IV@u          /* a Marker every this many octets (@MREF@) */
#define IWK_@N@_MARKER_LEN @MKLEN@u         /* octets of one Marker */
#define IWK_@N@_LENGTH_LEN @LENB@u         /* octets of the PDU's length field */
#define IWK_@N@_CRC_LEN 4u            /* octets of the PDU's CRC field */
#define IWK_@N@_MAX_BODY @MAXBODY@u     /* largest body the length field can state */
#define IWK_@N@_POINTER_MASK @MASK@ /* receivers treat the pointer's masked-out bits as zero (@PREF@) */
/* Most runs one PDU can have: length, body, pad, CRC, each cut by Markers, plus one leading Marker. */
#define IWK_@N@_MAX_RUNS (2u * (((IWK_@N@_MAX_BODY + 9u) / (IWK_@N@_INTERVAL - IWK_@N@_MARKER_LEN)) + 6u))

/* Who the Marker pointer counts from. ANY (receivers only) accepts either and settles on the
 * first Marker that tells them apart. */
enum iwk_@n@_conv {
@CONVENUM@
    IWK_@N@_CONV_ANY = @NCONV@
};
const char *iwk_@n@_conv_name(uint32_t conv);

/* What a run of the stream holds. */
enum iwk_@n@_kind {
    IWK_@N@_RUN_MARKER = 0,
    IWK_@N@_RUN_LENGTH = 1,
    IWK_@N@_RUN_BODY = 2,
    IWK_@N@_RUN_PAD = 3,
    IWK_@N@_RUN_CRC = 4
};

struct iwk_@n@_run {
    uint8_t kind;       /* enum iwk_@n@_kind */
    uint8_t covered;    /* the CRC covers these octets */
    uint16_t pointer;   /* MARKER runs of the framer: the pointer value to send */
    uint32_t len;       /* octets */
    uint32_t body_off;  /* BODY runs: offset of the first octet inside the body */
};

/* Octets from `pos` to the next Marker of a grid that starts at `origin` (0: a Marker starts at
 * pos); stream offsets count modulo 2^64 like TCP sequence numbers (RFC 5044 §4.3: SeqNum can wrap). */
/*@ assigns \nothing;
  @ ensures \result < IWK_@N@_INTERVAL;
  @*/
uint32_t iwk_@n@_to_marker(uint64_t pos, uint64_t origin);

/* Pad octets after a body of body_len octets. */
/*@ assigns \nothing;
  @ ensures \result <= 3;
  @*/
uint32_t iwk_@n@_pad(uint32_t body_len);

/* Octets (Markers included) that a PDU with a body of body_len octets occupies when its first
 * octet is at `pos` (markers: Markers in this direction). */
/*@ requires body_len <= IWK_@N@_MAX_BODY;
  @ assigns \nothing;
  @*/
uint64_t iwk_@n@_wire_len(uint64_t pos, uint64_t origin, uint8_t markers, uint32_t body_len);

/* ---- framer -------------------------------------------------------------------------------- */

struct iwk_@n@_tx {
    uint64_t pos;       /* stream offset of the next octet to send */
    uint64_t origin;    /* first octet of FPDU mode: the Marker grid starts here */
    uint8_t markers;    /* Markers in this direction */
    uint8_t conv;       /* enum iwk_@n@_conv (not ANY) */
};

/*@ requires \valid(tx) && conv < IWK_@N@_CONV_ANY;
  @ assigns *tx;
  @ ensures tx->pos == origin && tx->origin == origin;
  @*/
void iwk_@n@_tx_init(struct iwk_@n@_tx *tx, uint64_t origin, uint8_t markers, uint8_t conv);

/* The runs of one PDU with a body of body_len octets at tx->pos, in wire order: Markers with the
 * pointer to send, the length field, body pieces, pad, CRC. Returns the number of runs, or 0 when
 * max is too small or body_len too large. Does not move tx->pos (iwk_@n@_tx_sent does). */
/*@ requires \valid_read(tx) && \valid(runs + (0 .. max - 1));
  @ requires \separated(tx, runs + (0 .. max - 1));
  @ assigns runs[0 .. max - 1];
  @ ensures \result <= max;
  @*/
size_t iwk_@n@_tx_plan(const struct iwk_@n@_tx *tx, uint32_t body_len, struct iwk_@n@_run *runs,
                       size_t max);

/* The Marker octets for a MARKER run (the @mk@ header, serialized by the generated code). */
/*@ requires \valid(out + (0 .. IWK_@N@_MARKER_LEN - 1));
  @ assigns out[0 .. IWK_@N@_MARKER_LEN - 1];
  @*/
void iwk_@n@_marker_octets(uint8_t out[IWK_@N@_MARKER_LEN], uint16_t pointer);

/* The CRC field's octets, in the order the CRC field is sent. */
/*@ requires \valid(out + (0 .. 3));
  @ assigns out[0 .. 3];
  @*/
void iwk_@n@_crc_octets(uint8_t out[4], uint32_t crc);

/* `wire_len` octets of the stream were sent. */
/*@ requires \valid(tx);
  @ assigns tx->pos;
  @*/
void iwk_@n@_tx_sent(struct iwk_@n@_tx *tx, uint64_t wire_len);

/* ---- deframer ------------------------------------------------------------------------------ */

enum iwk_@n@_crc_verdict {
    IWK_@N@_CRC_ABSENT = 0,   /* CRCs are off: the field is not checked */
    IWK_@N@_CRC_VALID = 1,
    IWK_@N@_CRC_INVALID = 2
};

enum iwk_@n@_event_kind {
    IWK_@N@_EV_NONE = 0,      /* every octet given was consumed; nothing to report */
    IWK_@N@_EV_LENGTH = 1,    /* the length field is complete: body_len */
    IWK_@N@_EV_BODY = 2,      /* data[0 .. len-1] are body octets body_off .. (Markers removed) */
    IWK_@N@_EV_PAD = 3,       /* data[0 .. len-1] are pad octets (zero when sent right) */
    IWK_@N@_EV_MARKER = 4,    /* a whole Marker: pointer, expected, marker_ok */
    IWK_@N@_EV_PDU = 5        /* a whole PDU: crc, crc_wire, crc_calc, markers, markers_ok, wire_len */
};

struct iwk_@n@_event {
    uint8_t kind;               /* enum iwk_@n@_event_kind */
    uint8_t crc;                /* EV_PDU: enum iwk_@n@_crc_verdict */
    uint8_t markers_ok;         /* EV_PDU: every Marker of the PDU pointed at it */
    uint8_t marker_ok;          /* EV_MARKER: the pointer is the expected one */
    uint8_t conv;               /* EV_MARKER, EV_PDU: the convention in force */
    const uint8_t *data;        /* EV_BODY, EV_PAD: inside the octets given to feed */
    uint32_t len;               /* EV_BODY, EV_PAD */
    uint32_t body_off;          /* EV_BODY */
    uint32_t body_len;          /* EV_LENGTH, EV_BODY, EV_PAD, EV_PDU */
    uint32_t markers;           /* EV_PDU: Markers inside the PDU */
    uint32_t crc_wire, crc_calc; /* EV_PDU */
    uint64_t pdu_start;         /* stream offset of the PDU's first octet (a leading Marker included) */
    uint64_t wire_len;          /* EV_PDU: octets of the PDU on the wire, Markers included */
    uint64_t marker_pos;        /* EV_MARKER: stream offset of the Marker */
    struct iwk_@mk@ marker;   /* EV_MARKER: the Marker as decoded */
    uint16_t expected;          /* EV_MARKER: the pointer the convention asks for */
};

/* Phases of the deframer (struct iwk_@n@_rx.phase). */
#define IWK_@N@_PH_LENGTH 1u
#define IWK_@N@_PH_BODY 2u
#define IWK_@N@_PH_PAD 3u
#define IWK_@N@_PH_CRC 4u

/* Deframer state of one direction: the caller owns it, nothing is allocated. */
struct iwk_@n@_rx {
    uint64_t pos;               /* stream offset of the next octet */
    uint64_t origin;            /* first octet of FPDU mode */
    uint64_t pdu_start;         /* first octet of the current PDU */
    uint64_t len_pos;           /* stream offset of its length field */
    uint8_t markers;            /* Markers in this direction */
    uint8_t crc_on;             /* CRCs negotiated */
    uint8_t conv;               /* enum iwk_@n@_conv; ANY until settled */
    uint8_t phase;              /* the run being read: LENGTH, BODY, PAD or CRC */
    uint8_t mk_have;            /* octets of the current Marker read */
    uint8_t fld_have;           /* octets of the length or CRC field read */
    uint8_t mk[IWK_@N@_MARKER_LEN];
    uint8_t fld[4];
    uint8_t markers_ok;
    uint32_t left;              /* octets left in the BODY or PAD run (Markers not counted) */
    uint32_t body_len;
    uint32_t pad_len;
    uint32_t nmarkers;
    uint32_t crc_state;         /* running CRC32c register (iwkit/crc32c.h) */
};

/* What every deframer call keeps true (and the WP proof of iwk_@n@.c checks). */
/*@ predicate iwk_@n@_rx_ok(struct iwk_@n@_rx *rx) =
  @   \valid(rx) && rx->mk_have < IWK_@N@_MARKER_LEN && rx->fld_have < 4 &&
  @   rx->conv <= IWK_@N@_CONV_ANY && rx->pad_len <= 3 && rx->body_len <= IWK_@N@_MAX_BODY &&
  @   (rx->phase == IWK_@N@_PH_LENGTH || rx->phase == IWK_@N@_PH_BODY ||
  @    rx->phase == IWK_@N@_PH_PAD || rx->phase == IWK_@N@_PH_CRC) &&
  @   (rx->phase == IWK_@N@_PH_LENGTH ==> rx->fld_have < IWK_@N@_LENGTH_LEN) &&
  @   ((rx->phase == IWK_@N@_PH_BODY || rx->phase == IWK_@N@_PH_PAD) ==> rx->fld_have == 0 && rx->left >= 1) &&
  @   (rx->phase == IWK_@N@_PH_BODY ==> rx->left <= rx->body_len) &&
  @   (rx->phase == IWK_@N@_PH_PAD ==> rx->left <= rx->pad_len);
  @*/

/*@ requires \valid(rx) && conv <= IWK_@N@_CONV_ANY;
  @ assigns *rx;
  @ ensures iwk_@n@_rx_ok(rx);
  @ ensures rx->pos == origin && rx->origin == origin && rx->pdu_start == origin;
  @*/
void iwk_@n@_rx_init(struct iwk_@n@_rx *rx, uint64_t origin, uint8_t markers, uint8_t crc_on,
                     uint8_t conv);

/* Starts reading at stream offset `pos` (>= origin) as if a PDU began there: a resynchronisation
 * candidate. Keeps the grid, the options and the settled convention. */
/*@ requires iwk_@n@_rx_ok(rx);
  @ assigns *rx;
  @ ensures iwk_@n@_rx_ok(rx);
  @ ensures rx->pos == pos && rx->pdu_start == pos;
  @*/
void iwk_@n@_rx_restart(struct iwk_@n@_rx *rx, uint64_t pos);

/* Consumes octets of data[0 .. len-1] (the stream from rx->pos on) up to the first event, which it
 * writes to *ev (EV_NONE when all were consumed without one). Returns the octets consumed; call
 * again with the rest. Any split of the stream gives the same events (BODY and PAD runs may be cut
 * where the input is). */
/*@ requires iwk_@n@_rx_ok(rx) && \valid(ev) && \valid_read(data + (0 .. len - 1));
  @ requires \separated(rx, ev) && \separated(rx, data + (0 .. len - 1)) && \separated(ev, data + (0 .. len - 1));
  @ assigns *rx, *ev;
  @ ensures iwk_@n@_rx_ok(rx);
  @ ensures \result <= len;
  @ ensures ev->kind == IWK_@N@_EV_BODY ==> ev->body_off + ev->len <= ev->body_len;
  @ ensures ev->kind == IWK_@N@_EV_PAD ==> ev->len <= 3;
  @*/
size_t iwk_@n@_rx_feed(struct iwk_@n@_rx *rx, const uint8_t *data, size_t len,
                       struct iwk_@n@_event *ev);

/* The runs that follow rx->pos, in wire order, up to the end of the current PDU once its length is
 * known (up to the end of the length field before): at most max. Returns how many. */
/*@ requires iwk_@n@_rx_ok(rx) && \valid(runs + (0 .. max - 1)) && \separated(rx, runs + (0 .. max - 1));
  @ assigns runs[0 .. max - 1];
  @ ensures \result <= max;
  @*/
size_t iwk_@n@_rx_plan(const struct iwk_@n@_rx *rx, struct iwk_@n@_run *runs, size_t max);

#endif
"""

SOURCE = r"""#include "iwk_@n@.h"

#include "iwkit/crc32c.h"

static const char *const conv_names[] = { @CONVNAMES@, "any" };

/*@ assigns \nothing; */
const char *iwk_@n@_conv_name(uint32_t conv)
{
    return conv <= IWK_@N@_CONV_ANY ? conv_names[conv] : "?";
}

uint32_t iwk_@n@_to_marker(uint64_t pos, uint64_t origin)
{
    uint32_t in = (uint32_t)((pos - origin) % IWK_@N@_INTERVAL);
    return in == 0u ? 0u : IWK_@N@_INTERVAL - in;
}

uint32_t iwk_@n@_pad(uint32_t body_len)
{
    return (uint32_t)(@PAD@);
}

/* Does convention `conv` count the pointer from the length field (else from the PDU's start)? */
/*@ assigns \nothing; */
static int from_length_field(uint32_t conv)
{
    return @CONVLEN@;
}

/* ---- framer -------------------------------------------------------------------------------- */

void iwk_@n@_tx_init(struct iwk_@n@_tx *tx, uint64_t origin, uint8_t markers, uint8_t conv)
{
    tx->pos = origin;
    tx->origin = origin;
    tx->markers = markers;
    tx->conv = conv;
}

struct plan {
    struct iwk_@n@_run *runs;
    size_t max, n;
    uint64_t p;          /* stream position */
    uint64_t origin;
    uint64_t start;      /* the PDU's first octet */
    uint64_t len_pos;    /* its length field (set when reached) */
    uint8_t markers, conv, ok;
};

/*@ predicate plan_ok(struct plan *pl) =
  @   \valid(pl) && pl->n <= pl->max && \valid(pl->runs + (0 .. pl->max - 1)) &&
  @   \separated(pl, pl->runs + (0 .. pl->max - 1));
  @*/

/*@ requires plan_ok(pl);
  @ assigns pl->n, pl->p, pl->ok, pl->runs[0 .. pl->max - 1];
  @ ensures plan_ok(pl) && pl->n >= \old(pl->n) && pl->max == \old(pl->max) && pl->runs == \old(pl->runs);
  @*/
static void plan_run(struct plan *pl, uint8_t kind, uint32_t len, uint32_t body_off, uint16_t ptr,
                     uint8_t covered)
{
    if (pl->n >= pl->max) {
        pl->ok = 0;
        return;
    }
    struct iwk_@n@_run *r = &pl->runs[pl->n];
    pl->n++;
    r->kind = kind;
    r->covered = covered;
    r->pointer = ptr;
    r->len = len;
    r->body_off = body_off;
    pl->p += len;
}

/* A Marker at pl->p if the grid puts one there. `leading`: nothing of the PDU precedes it. */
/*@ requires plan_ok(pl);
  @ assigns pl->n, pl->p, pl->ok, pl->runs[0 .. pl->max - 1];
  @ ensures plan_ok(pl) && pl->n >= \old(pl->n) && pl->max == \old(pl->max) && pl->runs == \old(pl->runs);
  @*/
static void plan_marker(struct plan *pl, int leading, uint8_t covered)
{
    if (!pl->markers || iwk_@n@_to_marker(pl->p, pl->origin) != 0u)
        return;
    uint64_t from = from_length_field(pl->conv) ? pl->len_pos : pl->start;
    uint16_t ptr = leading ? 0u : (uint16_t)(pl->p - from);
    plan_run(pl, IWK_@N@_RUN_MARKER, IWK_@N@_MARKER_LEN, 0u, ptr, covered);
}

/* len octets of `kind`, cut at every Marker. */
/*@ requires plan_ok(pl);
  @ assigns pl->n, pl->p, pl->ok, pl->len_pos, pl->runs[0 .. pl->max - 1];
  @ ensures plan_ok(pl) && pl->n >= \old(pl->n) && pl->max == \old(pl->max) && pl->runs == \old(pl->runs);
  @*/
static void plan_span(struct plan *pl, uint8_t kind, uint32_t len, uint8_t covered)
{
    uint32_t done = 0;
    /*@ loop invariant done <= len && plan_ok(pl) && pl->n >= \at(pl->n, Pre);
      @ loop invariant pl->max == \at(pl->max, Pre) && pl->runs == \at(pl->runs, Pre);
      @ loop assigns done, pl->n, pl->p, pl->ok, pl->len_pos, pl->runs[0 .. pl->max - 1];
      @*/
    while (done < len && pl->ok) {
        if (done > 0u || kind != IWK_@N@_RUN_LENGTH)
            plan_marker(pl, 0, (uint8_t)(covered && @COVERS@));
        uint32_t room = pl->markers ? iwk_@n@_to_marker(pl->p, pl->origin) : 0u;
        uint32_t run = len - done;
        if (pl->markers && room != 0u && room < run)
            run = room;
        if (kind == IWK_@N@_RUN_LENGTH && done == 0u)
            pl->len_pos = pl->p;
        plan_run(pl, kind, run, kind == IWK_@N@_RUN_BODY ? done : 0u, 0u, covered);
        done += run;
    }
}

size_t iwk_@n@_tx_plan(const struct iwk_@n@_tx *tx, uint32_t body_len, struct iwk_@n@_run *runs,
                       size_t max)
{
    if (body_len > IWK_@N@_MAX_BODY)
        return 0;
    struct plan pl = { .runs = runs, .max = max, .n = 0, .p = tx->pos, .origin = tx->origin,
                       .start = tx->pos, .len_pos = tx->pos, .markers = tx->markers,
                       .conv = tx->conv, .ok = 1 };
    plan_marker(&pl, 1, 1);
    plan_span(&pl, IWK_@N@_RUN_LENGTH, IWK_@N@_LENGTH_LEN, 1);
    plan_span(&pl, IWK_@N@_RUN_BODY, body_len, 1);
    plan_span(&pl, IWK_@N@_RUN_PAD, iwk_@n@_pad(body_len), 1);
    plan_marker(&pl, 0, 1);      /* a Marker right before the CRC field is covered (@CREF@) */
    plan_span(&pl, IWK_@N@_RUN_CRC, IWK_@N@_CRC_LEN, 0);
    return pl.ok ? pl.n : 0u;
}

void iwk_@n@_marker_octets(uint8_t out[IWK_@N@_MARKER_LEN], uint16_t pointer)
{
    struct iwk_@mk@ m = { 0 };
    m.@PTR@ = pointer;
    if (iwk_@mk@_serialize(&m, out, IWK_@N@_MARKER_LEN) != IWK_OK) {
        /*@ loop invariant 0 <= i <= IWK_@N@_MARKER_LEN;
          @ loop assigns i, out[0 .. IWK_@N@_MARKER_LEN - 1];
          @*/
        for (uint32_t i = 0; i < IWK_@N@_MARKER_LEN; i++)
            out[i] = 0;
    }
}

void iwk_@n@_crc_octets(uint8_t out[4], uint32_t crc)
{
@CRCWRITE@
}

void iwk_@n@_tx_sent(struct iwk_@n@_tx *tx, uint64_t wire_len)
{
    tx->pos += wire_len;
}

uint64_t iwk_@n@_wire_len(uint64_t pos, uint64_t origin, uint8_t markers, uint32_t body_len)
{
    uint64_t plain = (uint64_t)IWK_@N@_LENGTH_LEN + body_len + iwk_@n@_pad(body_len) + IWK_@N@_CRC_LEN;
    if (!markers)
        return plain;
    /* Markers that land inside [pos, pos + total) where total grows with each Marker. */
    uint64_t total = plain;
    uint64_t first = pos + iwk_@n@_to_marker(pos, origin);
    /*@ loop assigns total, first; */
    while (first < pos + total) {
        total += IWK_@N@_MARKER_LEN;
        first += IWK_@N@_INTERVAL;
    }
    return total;
}

/* ---- deframer ------------------------------------------------------------------------------ */

/*@ requires \valid(rx) && rx->conv <= IWK_@N@_CONV_ANY;
  @ assigns rx->pdu_start, rx->len_pos, rx->phase, rx->mk_have, rx->fld_have, rx->markers_ok,
  @         rx->left, rx->body_len, rx->pad_len, rx->nmarkers, rx->crc_state;
  @ ensures iwk_@n@_rx_ok(rx) && rx->pdu_start == rx->pos;
  @*/
static void rx_begin_pdu(struct iwk_@n@_rx *rx)
{
    rx->pdu_start = rx->pos;
    rx->len_pos = rx->pos;
    rx->phase = IWK_@N@_PH_LENGTH;
    rx->mk_have = 0;
    rx->fld_have = 0;
    rx->markers_ok = 1;
    rx->left = 0;
    rx->body_len = 0;
    rx->pad_len = 0;
    rx->nmarkers = 0;
    rx->crc_state = iwk_crc32c_init();
}

void iwk_@n@_rx_init(struct iwk_@n@_rx *rx, uint64_t origin, uint8_t markers, uint8_t crc_on,
                     uint8_t conv)
{
    struct iwk_@n@_rx zero = { 0 };
    *rx = zero;
    rx->origin = origin;
    rx->pos = origin;
    rx->markers = markers;
    rx->crc_on = crc_on;
    rx->conv = conv;
    rx_begin_pdu(rx);
}

void iwk_@n@_rx_restart(struct iwk_@n@_rx *rx, uint64_t pos)
{
    rx->pos = pos;
    rx_begin_pdu(rx);
}

/* Nothing of the current PDU but (part of) a leading Marker has been read. */
/*@ requires \valid_read(rx);
  @ assigns \nothing;
  @*/
static int rx_at_pdu_start(const struct iwk_@n@_rx *rx)
{
    return rx->phase == IWK_@N@_PH_LENGTH && rx->fld_have == 0u;
}

/* Is a Marker (or the rest of one) next? */
/*@ requires \valid_read(rx);
  @ assigns \nothing;
  @*/
static int rx_marker_next(const struct iwk_@n@_rx *rx)
{
    if (!rx->markers)
        return 0;
    if (rx->mk_have > 0u)
        return 1;
    return iwk_@n@_to_marker(rx->pos, rx->origin) == 0u;
}

/* The CRC covers this Marker: every Marker of the PDU but one inside the CRC field. */
/*@ requires \valid_read(rx);
  @ assigns \nothing;
  @*/
static int rx_marker_covered(const struct iwk_@n@_rx *rx)
{
    return @COVERS@ && !(rx->phase == IWK_@N@_PH_CRC && rx->fld_have > 0u);
}

/* Judges a whole Marker at marker_pos against the conventions (@PREF@). */
/*@ requires iwk_@n@_rx_ok(rx) && \valid(ev) && \separated(rx, ev);
  @ assigns rx->conv, rx->nmarkers, rx->markers_ok, *ev;
  @ ensures iwk_@n@_rx_ok(rx) && ev->kind == IWK_@N@_EV_MARKER;
  @*/
static void rx_marker_done(struct iwk_@n@_rx *rx, uint64_t marker_pos, struct iwk_@n@_event *ev)
{
    struct iwk_@mk@ m = { 0 };
    (void)iwk_@mk@_decode(rx->mk, IWK_@N@_MARKER_LEN, &m);
    const int leading = rx_at_pdu_start(rx);
    const uint16_t got = (uint16_t)(m.@PTR@ & IWK_@N@_POINTER_MASK);
    const uint16_t from_len = leading ? 0u : (uint16_t)(marker_pos - rx->len_pos);
    const uint16_t from_start = leading ? 0u : (uint16_t)(marker_pos - rx->pdu_start);
    uint16_t want;
    if (rx->conv == IWK_@N@_CONV_ANY && from_len != from_start) {
        if (got == (from_len & IWK_@N@_POINTER_MASK))
            rx->conv = @LENIDX@;
        else if (got == (from_start & IWK_@N@_POINTER_MASK))
            rx->conv = @STARTIDX@;
    }
    if (rx->conv == IWK_@N@_CONV_ANY)
        want = got == (from_len & IWK_@N@_POINTER_MASK) ? from_len : from_start;
    else
        want = from_length_field(rx->conv) ? from_len : from_start;
    want = (uint16_t)(want & IWK_@N@_POINTER_MASK);
    rx->nmarkers++;
    if (got != want)
        rx->markers_ok = 0;
    ev->kind = IWK_@N@_EV_MARKER;
    ev->marker = m;
    ev->marker_pos = marker_pos;
    ev->expected = want;
    ev->marker_ok = (uint8_t)(got == want);
    ev->conv = rx->conv;
    ev->pdu_start = rx->pdu_start;
    ev->body_len = rx->body_len;
}

/* Octets of a Marker: returns the octets consumed (an event when the Marker is whole). */
/*@ requires iwk_@n@_rx_ok(rx) && \valid(ev) && len >= 1 && \valid_read(data + (0 .. len - 1));
  @ requires \separated(rx, ev) && \separated(rx, data + (0 .. len - 1)) && \separated(ev, data + (0 .. len - 1));
  @ requires ev->kind == IWK_@N@_EV_NONE;
  @ assigns *rx, *ev;
  @ ensures iwk_@n@_rx_ok(rx) && \result <= len;
  @ ensures ev->kind == IWK_@N@_EV_NONE || ev->kind == IWK_@N@_EV_MARKER;
  @*/
static size_t rx_take_marker(struct iwk_@n@_rx *rx, const uint8_t *data, size_t len,
                             struct iwk_@n@_event *ev)
{
    size_t n = IWK_@N@_MARKER_LEN - rx->mk_have;
    if (n > len)
        n = len;
    /*@ loop invariant 0 <= i <= n;
      @ loop assigns i, rx->mk[0 .. IWK_@N@_MARKER_LEN - 1];
      @*/
    for (size_t i = 0; i < n; i++)
        rx->mk[rx->mk_have + i] = data[i];
    if (rx_marker_covered(rx) && rx->crc_on)
        rx->crc_state = iwk_crc32c_update(rx->crc_state, data, n);
    rx->mk_have = (uint8_t)(rx->mk_have + n);
    rx->pos += n;
    if (rx->mk_have == IWK_@N@_MARKER_LEN) {
        rx->mk_have = 0;
        rx_marker_done(rx, rx->pos - IWK_@N@_MARKER_LEN, ev);
    }
    return n;
}

/*@ requires \valid_read(rx);
  @ assigns \nothing;
  @ ensures \result <= want && \result <= len;
  @*/
static uint32_t rx_room(const struct iwk_@n@_rx *rx, size_t len, uint32_t want)
{
    uint32_t n = want;
    if (len < n)
        n = (uint32_t)len;
    if (rx->markers) {
        uint32_t to = iwk_@n@_to_marker(rx->pos, rx->origin);
        if (to != 0u && to < n)
            n = to;
    }
    return n;
}

/*@ requires iwk_@n@_rx_ok(rx) && \valid(ev) && \separated(rx, ev);
  @ assigns *rx, *ev;
  @ ensures iwk_@n@_rx_ok(rx) && ev->kind == IWK_@N@_EV_PDU;
  @*/
static void rx_pdu_done(struct iwk_@n@_rx *rx, struct iwk_@n@_event *ev)
{
    const uint8_t *f = rx->fld;
    ev->kind = IWK_@N@_EV_PDU;
    ev->crc_wire = @CRCREAD@;
    ev->crc_calc = rx->crc_on ? iwk_crc32c_final(rx->crc_state) : 0u;
    ev->crc = !rx->crc_on ? IWK_@N@_CRC_ABSENT
            : ev->crc_calc == ev->crc_wire ? IWK_@N@_CRC_VALID : IWK_@N@_CRC_INVALID;
    ev->markers = rx->nmarkers;
    ev->markers_ok = rx->markers_ok;
    ev->conv = rx->conv;
    ev->pdu_start = rx->pdu_start;
    ev->body_len = rx->body_len;
    ev->wire_len = rx->pos - rx->pdu_start;
    rx_begin_pdu(rx);
}

/* The length field is complete: the body, pad and CRC phases follow. */
/*@ requires iwk_@n@_rx_ok(rx) && \valid(ev) && \separated(rx, ev);
  @ requires rx->phase == IWK_@N@_PH_LENGTH && rx->fld_have == 0;
  @ assigns rx->body_len, rx->pad_len, rx->phase, rx->left, ev->kind, ev->body_len, ev->pdu_start;
  @ ensures iwk_@n@_rx_ok(rx) && ev->kind == IWK_@N@_EV_LENGTH;
  @*/
static void rx_length_done(struct iwk_@n@_rx *rx, struct iwk_@n@_event *ev)
{
    const uint32_t v = @LENREAD@;
    rx->body_len = v;
    rx->pad_len = iwk_@n@_pad(v);
    if (v > 0u) {
        rx->phase = IWK_@N@_PH_BODY;
        rx->left = v;
    } else if (rx->pad_len > 0u) {
        rx->phase = IWK_@N@_PH_PAD;
        rx->left = rx->pad_len;
    } else {
        rx->phase = IWK_@N@_PH_CRC;
    }
    ev->kind = IWK_@N@_EV_LENGTH;
    ev->body_len = v;
    ev->pdu_start = rx->pdu_start;
}

/* Octets of the length or CRC field. */
/*@ requires iwk_@n@_rx_ok(rx) && \valid(ev) && len >= 1 && \valid_read(data + (0 .. len - 1));
  @ requires rx->phase == IWK_@N@_PH_LENGTH || rx->phase == IWK_@N@_PH_CRC;
  @ requires \separated(rx, ev) && \separated(rx, data + (0 .. len - 1)) && \separated(ev, data + (0 .. len - 1));
  @ requires ev->kind == IWK_@N@_EV_NONE;
  @ assigns *rx, *ev;
  @ ensures iwk_@n@_rx_ok(rx);
  @ ensures \result <= len;
  @ ensures ev->kind == IWK_@N@_EV_NONE || ev->kind == IWK_@N@_EV_LENGTH || ev->kind == IWK_@N@_EV_PDU;
  @*/
static size_t rx_take_field(struct iwk_@n@_rx *rx, const uint8_t *data, size_t len,
                            struct iwk_@n@_event *ev)
{
    const uint32_t size = rx->phase == IWK_@N@_PH_LENGTH ? IWK_@N@_LENGTH_LEN : IWK_@N@_CRC_LEN;
    const uint32_t have = rx->fld_have;
    const uint32_t n = rx_room(rx, len, size - have);
    if (rx->phase == IWK_@N@_PH_LENGTH && have == 0u)
        rx->len_pos = rx->pos;
    /*@ loop invariant 0 <= i <= n;
      @ loop assigns i, rx->fld[0 .. 3];
      @*/
    for (uint32_t i = 0; i < n; i++)
        rx->fld[have + i] = data[i];
    if (rx->phase == IWK_@N@_PH_LENGTH && rx->crc_on)
        rx->crc_state = iwk_crc32c_update(rx->crc_state, data, n);
    rx->pos += n;
    if (have + n < size) {
        rx->fld_have = (uint8_t)(have + n);
        return n;
    }
    rx->fld_have = 0;
    if (rx->phase == IWK_@N@_PH_CRC)
        rx_pdu_done(rx, ev);
    else
        rx_length_done(rx, ev);
    return n;
}

/* Body or pad octets: one run, up to the next Marker or the end of the input. */
/*@ requires iwk_@n@_rx_ok(rx) && \valid(ev) && len >= 1 && \valid_read(data + (0 .. len - 1));
  @ requires rx->phase == IWK_@N@_PH_BODY || rx->phase == IWK_@N@_PH_PAD;
  @ requires \separated(rx, ev) && \separated(rx, data + (0 .. len - 1)) && \separated(ev, data + (0 .. len - 1));
  @ assigns *rx, *ev;
  @ ensures iwk_@n@_rx_ok(rx) && \result <= len;
  @ ensures ev->kind == IWK_@N@_EV_BODY || ev->kind == IWK_@N@_EV_PAD;
  @ ensures ev->kind == IWK_@N@_EV_BODY ==> ev->body_off + ev->len <= ev->body_len;
  @ ensures ev->kind == IWK_@N@_EV_PAD ==> ev->len <= 3;
  @*/
static size_t rx_take_span(struct iwk_@n@_rx *rx, const uint8_t *data, size_t len,
                           struct iwk_@n@_event *ev)
{
    const uint32_t n = rx_room(rx, len, rx->left);
    if (rx->crc_on)
        rx->crc_state = iwk_crc32c_update(rx->crc_state, data, n);
    ev->kind = rx->phase == IWK_@N@_PH_BODY ? IWK_@N@_EV_BODY : IWK_@N@_EV_PAD;
    ev->data = data;
    ev->len = n;
    ev->body_off = rx->phase == IWK_@N@_PH_BODY ? rx->body_len - rx->left : 0u;
    ev->body_len = rx->body_len;
    ev->pdu_start = rx->pdu_start;
    rx->left -= n;
    rx->pos += n;
    if (rx->left == 0u) {
        if (rx->phase == IWK_@N@_PH_BODY && rx->pad_len > 0u) {
            rx->phase = IWK_@N@_PH_PAD;
            rx->left = rx->pad_len;
        } else {
            rx->phase = IWK_@N@_PH_CRC;
        }
    }
    return n;
}

/* One run of the stream: the rest of a Marker, field octets, or body/pad octets. */
/*@ requires iwk_@n@_rx_ok(rx) && \valid(ev) && len >= 1 && \valid_read(data + (0 .. len - 1));
  @ requires \separated(rx, ev) && \separated(rx, data + (0 .. len - 1)) && \separated(ev, data + (0 .. len - 1));
  @ requires ev->kind == IWK_@N@_EV_NONE;
  @ assigns *rx, *ev;
  @ ensures iwk_@n@_rx_ok(rx) && \result <= len;
  @ ensures ev->kind == IWK_@N@_EV_BODY ==> ev->body_off + ev->len <= ev->body_len;
  @ ensures ev->kind == IWK_@N@_EV_PAD ==> ev->len <= 3;
  @*/
static size_t rx_step(struct iwk_@n@_rx *rx, const uint8_t *data, size_t len, struct iwk_@n@_event *ev)
{
    if (rx_marker_next(rx))
        return rx_take_marker(rx, data, len, ev);
    if (rx->phase == IWK_@N@_PH_BODY || rx->phase == IWK_@N@_PH_PAD)
        return rx_take_span(rx, data, len, ev);
    return rx_take_field(rx, data, len, ev);
}

size_t iwk_@n@_rx_feed(struct iwk_@n@_rx *rx, const uint8_t *data, size_t len,
                       struct iwk_@n@_event *ev)
{
    struct iwk_@n@_event none = { 0 };
    size_t used = 0;
    *ev = none;
    ev->kind = IWK_@N@_EV_NONE;
    /*@ loop invariant used <= len && iwk_@n@_rx_ok(rx) && ev->kind == IWK_@N@_EV_NONE;
      @ loop assigns used, *rx, *ev;
      @*/
    while (used < len) {
        used += rx_step(rx, data + used, len - used, ev);
        if (ev->kind != IWK_@N@_EV_NONE)
            break;
    }
    return used;
}

/* ---- the deframer's plan ------------------------------------------------------------------- */

size_t iwk_@n@_rx_plan(const struct iwk_@n@_rx *rx, struct iwk_@n@_run *runs, size_t max)
{
    struct plan pl = { .runs = runs, .max = max, .n = 0, .p = rx->pos, .origin = rx->origin,
                       .start = rx->pdu_start, .len_pos = rx->len_pos, .markers = rx->markers,
                       .conv = rx->conv == IWK_@N@_CONV_ANY ? 0u : rx->conv, .ok = 1 };
    if (rx->mk_have > 0u) {
        plan_run(&pl, IWK_@N@_RUN_MARKER, IWK_@N@_MARKER_LEN - rx->mk_have, 0u, 0u,
                 (uint8_t)rx_marker_covered(rx));
    }
    if (rx->phase == IWK_@N@_PH_LENGTH) {
        if (rx->fld_have == 0u && rx->mk_have == 0u)
            plan_marker(&pl, 1, 1);
        plan_span(&pl, IWK_@N@_RUN_LENGTH, IWK_@N@_LENGTH_LEN - rx->fld_have, 1);
        return pl.ok ? pl.n : 0u;
    }
    if (rx->phase == IWK_@N@_PH_BODY) {
        const uint32_t off = rx->body_len - rx->left;
        const size_t first = pl.n;
        plan_span(&pl, IWK_@N@_RUN_BODY, rx->left, 1);
        /*@ loop invariant first <= i <= pl.n;
          @ loop assigns i, runs[0 .. max - 1];
          @*/
        for (size_t i = first; i < pl.n; i++)
            if (runs[i].kind == IWK_@N@_RUN_BODY)
                runs[i].body_off += off;
    }
    if (rx->phase == IWK_@N@_PH_BODY || rx->phase == IWK_@N@_PH_PAD)
        plan_span(&pl, IWK_@N@_RUN_PAD, rx->phase == IWK_@N@_PH_PAD ? rx->left : rx->pad_len, 1);
    if (rx->fld_have == 0u)
        plan_marker(&pl, 0, 1);
    plan_span(&pl, IWK_@N@_RUN_CRC, IWK_@N@_CRC_LEN - rx->fld_have, 0);
    return pl.ok ? pl.n : 0u;
}
"""
