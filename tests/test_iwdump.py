#!/usr/bin/env python3
"""End-to-end tests of iwdump (Python standard library only).

usage: test_iwdump.py IWDUMP_BINARY CAPTURES_DIR

1. Every shared capture: iwdump --json --summary decodes it completely with
   exit status 0; PDU counts per flow and direction, CRC valid/absent counts,
   markers and warnings match docs/captures.md (whose FPDU and opcode counts
   equal tshark 4.0.17's iwarp_rdma.opcode counts); opcode sequences of a few.
2. Synthetic MPA sessions written by an independent generator below (RFC 5044
   Markers every 512 octets from the first octet after the MPA frame, CRC32c
   over the FPDU as sent, trailer LE), cut into odd TCP segments:
   - markers + CRC across hundreds of 512-octet boundaries: every FPDU decoded;
   - a flipped payload octet: crc "invalid", exit status 2;
   - a dropped TCP segment (markers+CRC, markers only, plain): a gap is
     reported, iwdump resynchronises and decodes the later FPDUs.
3. --strict on a 2008 capture exits non-zero naming the warning.
"""
import json
import os
import random
import struct
import subprocess
import sys
import tempfile

FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what)


def run(binary, args):
    p = subprocess.run([binary] + args, capture_output=True, text=True)
    recs = []
    for line in p.stdout.splitlines():
        if line.startswith("{"):
            recs.append(json.loads(line))
    return p.returncode, recs, p.stderr


# --------------------------------------------------------------------------
# 1. Shared captures.  flows: [(c2s FPDUs, s2c FPDUs, crc "valid"/"absent")]
# from docs/captures.md §2 (tshark-derived counts); markers only in mrkr.

S08 = "softiwarp-2008/"
SIW = "siw-6.1/"
EXPECT = {
    S08 + "C00_M00.pcap": [(0, 0, "absent")],
    S08 + "C00_M00_reject.pcap": [(0, 0, "absent")],
    S08 + "C00_M11.pcap": [(0, 0, "absent")],
    S08 + "C11_M00.pcap": [(0, 0, "valid")],
    S08 + "C11_M11.pcap": [(0, 0, "valid")],
    S08 + "read.pcap": [(2, 4, "absent")],
    S08 + "snd_recv.pcap": [(1, 1, "absent")],
    S08 + "snd_recv_crc.pcap": [(1, 1, "valid")],
    S08 + "snd_recv_inv.pcap": [(1, 1, "absent")],
    S08 + "snd_recv_mrkr.pcap": [(1, 1, "absent")],
    S08 + "snd_recv_se.pcap": [(1, 1, "absent")],
    S08 + "write.pcap": [(1, 3, "absent")],
    S08 + "write_crc.pcap": [(1, 3, "valid")],
    SIW + "ib_read_bw_s1000_mpa2_crcon_mtu1500.pcap": [(16, 16, "valid"), (5, 5, "valid")],
    SIW + "ib_read_bw_s65536_mpa2_crcoff_mtu1500.pcap": [(16, 16, "absent"), (5, 230, "absent")],
    SIW + "ib_send_bw_s1000_mpa2_crcon_mtu1500.pcap": [(11, 11, "valid"), (5, 2, "valid")],
    SIW + "ib_send_bw_s4_mpa2_crcoff_mtu1500.pcap": [(11, 11, "absent"), (5, 2, "absent")],
    SIW + "ib_write_bw_s1000_mpa1_crcon_mtu1500.pcap": [(16, 16, "valid"), (5, 0, "valid")],
    SIW + "ib_write_bw_s1000_mpa2_crcoff_mtu1500.pcap": [(16, 16, "absent"), (5, 0, "absent")],
    SIW + "ib_write_bw_s1000_mpa2_crcoff_p2prtr1_mtu1500.pcap": [(17, 17, "absent"), (6, 1, "absent")],
    SIW + "ib_write_bw_s1000_mpa2_crcon_mtu1500.pcap": [(16, 16, "valid"), (5, 0, "valid")],
    SIW + "ib_write_bw_s65536_mpa2_crcon_mtu1500.pcap": [(16, 16, "valid"), (230, 0, "valid")],
    SIW + "rping_s4000_mpa2_crcon_mtu1500.pcap": [(10, 12, "valid")],
    SIW + "rping_s64_mpa1_crcon_mtu1500.pcap": [(1, 0, "valid")],
    SIW + "rping_s64_mpa2_crcoff_mtu1500.pcap": [(9, 12, "absent")],
    SIW + "rping_s64_mpa2_crcoff_p2prtr1_mtu1500.pcap": [(7, 9, "absent")],
    SIW + "rping_s64_mpa2_crcon_mtu1500.pcap": [(9, 12, "valid")],
}

# Warnings expected per capture (docs/captures.md §5), as sorted code lists.
RESP_FIRST = ["responder_first"]
EXPECT_WARN = {
    S08 + "read.pcap": sorted(["responder_first", "read_request_byteswapped",
                               "msn_shared_counter", "msn_shared_counter",
                               "read_response_matches_le_request"]),
    S08 + "snd_recv.pcap": RESP_FIRST, S08 + "snd_recv_crc.pcap": RESP_FIRST,
    S08 + "snd_recv_inv.pcap": RESP_FIRST, S08 + "snd_recv_mrkr.pcap": RESP_FIRST,
    S08 + "snd_recv_se.pcap": RESP_FIRST, S08 + "write.pcap": RESP_FIRST,
    S08 + "write_crc.pcap": RESP_FIRST,
}
for _name in EXPECT:
    if _name.startswith(SIW + "ib_"):
        EXPECT_WARN[_name] = ["pad_nonzero", "pad_nonzero"]

OPCODES = {
    (S08 + "read.pcap", "s2c"): ["send", "rdma_write", "rdma_read_request", "send"],
    (S08 + "read.pcap", "c2s"): ["send", "rdma_read_response"],
    (S08 + "snd_recv_inv.pcap", "c2s"): ["send_invalidate"],
    (S08 + "snd_recv_se.pcap", "c2s"): ["send_se"],
    (SIW + "rping_s64_mpa2_crcoff_p2prtr1_mtu1500.pcap", "c2s"):
        ["rdma_read_request", "send", "rdma_read_response", "send", "send",
         "rdma_read_response", "send"],
}


def warn_codes(recs):
    out = []
    for r in recs:
        for w in r.get("warnings", []):
            out.append(w.split(":")[0])
    return sorted(out)


def test_captures(binary, capdir):
    for name, flows in sorted(EXPECT.items()):
        path = os.path.join(capdir, name)
        rc, recs, err = run(binary, ["--json", "--summary", path])
        check(rc == 0, "%s: exit %d: %s" % (name, rc, err.strip()[-300:]))
        pdus = [r for r in recs if r["kind"] != "summary"]
        summ = {r["flow"]: r for r in recs if r["kind"] == "summary"}
        check(len(summ) == len(flows), "%s: %d MPA flows, want %d" % (name, len(summ), len(flows)))
        check(not any("errors" in r for r in pdus), "%s: error records" % name)
        check(not any(r["kind"] in ("gap", "problem") for r in pdus), "%s: gap/problem" % name)
        for fid, (nc, ns, crc) in enumerate(flows):
            for d, n in (("c2s", nc), ("s2c", ns)):
                f = [r for r in pdus if r["flow"] == fid and r["dir"] == d and r["kind"] == "fpdu"]
                check(len(f) == n, "%s flow %d %s: %d FPDUs, want %d" % (name, fid, d, len(f), n))
                check(all(r["crc"] == crc for r in f), "%s flow %d %s: crc != %s" % (name, fid, d, crc))
                kind = "mpa_req" if d == "c2s" else "mpa_rep"
                fr = [r for r in pdus if r["flow"] == fid and r["dir"] == d and r["kind"] == kind]
                check(len(fr) == 1, "%s flow %d: %d %s" % (name, fid, len(fr), kind))
                s = summ.get(fid, {}).get(d, {})
                check(s.get("fpdus") == n, "%s flow %d %s: summary fpdus" % (name, fid, d))
                check(s.get("crc_valid", 0) == (n if crc == "valid" else 0),
                      "%s flow %d %s: summary crc_valid" % (name, fid, d))
                want_mk = n if name.endswith("mrkr.pcap") else 0
                got_mk = sum(r["markers"] for r in f)
                check(got_mk == want_mk, "%s %s: %d markers, want %d" % (name, d, got_mk, want_mk))
        check(warn_codes(pdus) == EXPECT_WARN.get(name, []),
              "%s: warnings %s, want %s" % (name, warn_codes(pdus), EXPECT_WARN.get(name, [])))
        for (oname, d), ops in OPCODES.items():
            if oname == name:
                got = [r.get("opcode") for r in pdus if r["dir"] == d and r["kind"] == "fpdu"]
                check(got == ops, "%s %s opcodes %s, want %s" % (name, d, got, ops))
    # details: the LE Read Request, the reject, the RTR, rev 2 params
    _, recs, _ = run(binary, ["--json", os.path.join(capdir, S08 + "read.pcap")])
    rr = [r for r in recs if r.get("opcode") == "rdma_read_request"][0]
    check(rr["size"] == 1024 and rr["as_sent"]["size"] == 262144 and rr["byteswapped"],
          "read.pcap: byte-swapped Read Request not shown both ways")
    check(rr["qn"] == 1 and rr["msn"] == 2, "read.pcap: ReadReq QN/MSN")
    _, recs, _ = run(binary, ["--json", os.path.join(capdir, S08 + "C00_M00_reject.pcap")])
    check([r["reject"] for r in recs if r["kind"] == "mpa_rep"] == [True], "reject flag")
    _, recs, _ = run(binary, ["--json", os.path.join(capdir, SIW + "rping_s64_mpa2_crcoff_p2prtr1_mtu1500.pcap")])
    req = [r for r in recs if r["kind"] == "mpa_req"][0]
    check(req["p2p"] and req["rtr"] == ["read"] and req["ird"] == 1 and req["ord"] == 1, "rev2 params")
    first = [r for r in recs if r["kind"] == "fpdu"][:2]
    check(all(r.get("rtr") for r in first), "RTR pair not recognised")
    _, recs, _ = run(binary, ["--json", os.path.join(capdir, S08 + "snd_recv_mrkr.pcap")])
    f = [r for r in recs if r["kind"] == "fpdu"]
    check([(r["dir"], r["stream_offset"], r["markers"]) for r in f] ==
          [("s2c", 28, 1), ("c2s", 27, 1)], "snd_recv_mrkr marker placement: %s" % f)


# --------------------------------------------------------------------------
# 2. Synthetic sessions

def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


def mpa_frame(reply, m, c, pd=b""):
    key = b"MPA ID Rep Frame" if reply else b"MPA ID Req Frame"
    return key + bytes([(0x80 if m else 0) | (0x40 if c else 0), 1]) + struct.pack(">H", len(pd)) + pd


def ulpdu_send(msn, payload):
    # DDP untagged T0 L1 DV1 | RDMAP RV1 Send | inval 0 | QN 0 | MSN | MO 0
    return bytes([0x41, 0x43]) + struct.pack(">IIII", 0, 0, msn, 0) + payload


def ulpdu_write(stag, to, payload):
    return bytes([0xC1, 0x40]) + struct.pack(">IQ", stag, to) + payload


class FpduWriter:
    """RFC 5044 §4: FPDUs with Markers at every 512th octet counted from the
    first octet after the MPA frame (fpdu_mode_start) and CRC32c over the FPDU
    as sent (Markers included), trailer least-significant octet first."""

    def __init__(self, start, markers, crc, conv="fpdu_start"):
        self.out = bytearray()
        self.conv = conv   # FPDUPTR counts from the FPDU's first octet, or (rfc5044) its length field
        self.start = start
        self.markers = markers
        self.crc = crc
        self.nmarkers = 0
        self.fpdus = []   # (stream offset, ulpdu_len, markers inside)
        self.wire = []    # (stream offset, octets on the wire)
        self.out_len_pos = None

    def _pos(self):
        return self.start + len(self.out)

    def _ptr(self, fstart):
        if self._pos() == fstart:
            return 0  # a Marker between FPDUs belongs to the next one (RFC 5044 §4.3)
        if self.conv == "rfc5044" and self.out_len_pos is not None:
            return self._pos() - self.out_len_pos
        return self._pos() - fstart

    def _put(self, data, fstart):
        n0 = self.nmarkers
        for b in data:
            if self.markers and (self._pos() - self.start) % 512 == 0:
                self.out += struct.pack(">HH", 0, self._ptr(fstart))
                self.nmarkers += 1
            if self.out_len_pos is None:
                self.out_len_pos = self._pos()
            self.out.append(b)
        return self.nmarkers - n0

    def fpdu(self, ulpdu, corrupt=False):
        fstart = self._pos()
        self.out_len_pos = None
        o0 = len(self.out)
        pad = (-(2 + len(ulpdu))) % 4
        body = struct.pack(">H", len(ulpdu)) + ulpdu + bytes(pad)
        mk = self._put(body, fstart)
        if self.markers and (self._pos() - self.start) % 512 == 0:  # marker before the CRC
            self.out += struct.pack(">HH", 0, self._ptr(fstart))
            self.nmarkers += 1
            mk += 1
        crc = crc32c(bytes(self.out[o0:])) if self.crc else 0
        mk += self._put(struct.pack("<I", crc), fstart)
        if corrupt:
            self.out[o0 + 20] ^= 0x5A
        self.fpdus.append((fstart, len(ulpdu), mk))
        self.wire.append((fstart, self._pos() - fstart))


def pcap_write(path, segments):
    """segments: (client_to_server, seq_offset, payload, flags)."""
    cli, srv = (bytes([10, 0, 0, 1]), 40000), (bytes([10, 0, 0, 2]), 4210)
    isn = {True: 1000, False: 5000000}
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, (c2s, off, payload, flags) in enumerate(segments):
            src, dst = (cli, srv) if c2s else (srv, cli)
            seq = (isn[c2s] + off) & 0xFFFFFFFF
            ack = (isn[not c2s] + 1) & 0xFFFFFFFF
            tcp = struct.pack(">HHIIBBHHH", src[1], dst[1], seq, ack, 5 << 4, flags, 65535, 0, 0)
            ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), i & 0xFFFF,
                             0, 64, 6, 0, src[0], dst[0])
            frame = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + ip + tcp + payload
            f.write(struct.pack("<IIII", 1000 + i, 0, len(frame), len(frame)))
            f.write(frame)


SYN, ACK, FIN, PSH = 0x02, 0x10, 0x01, 0x08


def build_session(path, n, markers, crc, seed, corrupt=None, drop=None, conv="fpdu_start",
                  sizes=(0, 1, 3, 17, 100, 480, 509, 510, 1000, 1442, 3000), per_fpdu=False):
    """Writes a session with n FPDUs per direction; returns the writers
    (c2s, s2c) and the dropped stream range (dir, lo, hi) or None. per_fpdu:
    one FPDU per TCP segment, as the 2008 captures have them."""
    rnd = random.Random(seed)
    req, rep = mpa_frame(False, markers, crc, b"active\0"), mpa_frame(True, markers, crc, b"passive\0")
    # stream offset 0 is sequence number ISN + 1
    w = {True: FpduWriter(len(req), markers, crc, conv), False: FpduWriter(len(rep), markers, crc, conv)}
    msn = {True: 1, False: 1}
    for i in range(n):
        for c2s in (True, False):
            size = rnd.choice(sizes)
            payload = bytes(rnd.randrange(256) for _ in range(size))
            if i % 3 == 2:
                u = ulpdu_write(7, 0x1000 * i, payload)
            else:
                u = ulpdu_send(msn[c2s], payload)
                msn[c2s] += 1
            w[c2s].fpdu(u, corrupt=(corrupt == (c2s, i)))
    segs = [(True, 0, b"", SYN), (False, 0, b"", SYN | ACK), (True, 1, req, ACK | PSH),
            (False, 1, rep, ACK | PSH)]
    dropped = None
    for c2s in (True, False):
        data = bytes(w[c2s].out)
        pos, k = 0, 0
        ends = [o + ln for (o, ln) in w[c2s].wire] if per_fpdu else []
        while pos < len(data):
            ln = rnd.choice([1, 2, 3, 7, 100, 511, 513, 1000, 1448, 2900])
            if per_fpdu:
                ln = ends[k] - (w[c2s].start + pos)
            chunk = data[pos:pos + ln]
            off = w[c2s].start + pos  # stream offset
            if drop and drop[0] == c2s and k == drop[1]:
                dropped = (c2s, off, off + len(chunk))
            else:
                segs.append((c2s, off + 1, chunk, ACK | PSH))
            pos += len(chunk)
            k += 1
        segs.append((c2s, w[c2s].start + len(data) + 1, b"", FIN | ACK))
    # interleave the two directions a little (each stays in order)
    a = [s for s in segs[4:] if s[0]]
    b = [s for s in segs[4:] if not s[0]]
    order = segs[:4]
    while a or b:
        src = a if (a and (not b or rnd.random() < 0.5)) else b
        order.append(src.pop(0))
    pcap_write(path, order)
    return w, dropped


def fpdus_of(recs, d):
    return [r for r in recs if r["kind"] == "fpdu" and r["dir"] == d]


def test_synthetic(binary, tmp):
    # Long marker + CRC stream, odd segmentation
    for markers, crc in ((True, True), (True, False), (False, True)):
        path = os.path.join(tmp, "syn_m%d_c%d.pcap" % (markers, crc))
        w, _ = build_session(path, 250, markers, crc, seed=7)
        rc, recs, err = run(binary, ["--json", path])
        tag = "synthetic M%d C%d" % (markers, crc)
        check(rc == 0, "%s: exit %d %s" % (tag, rc, err[-300:]))
        for d, c2s in (("c2s", True), ("s2c", False)):
            f = fpdus_of(recs, d)
            want = [(o, ln, mk) for (o, ln, mk) in w[c2s].fpdus]
            got = [(r["stream_offset"], r["ulpdu_len"], r["markers"]) for r in f]
            check(len(got) == 250 and got == want, "%s %s: FPDUs differ (%d vs %d)" % (tag, d, len(got), len(want)))
            check(all(r["crc"] == ("valid" if crc else "absent") for r in f), "%s %s: crc" % (tag, d))
            check(sum(r["markers"] for r in f) == w[c2s].nmarkers, "%s %s: marker count" % (tag, d))
            check(not any("warnings" in r or "errors" in r for r in f), "%s %s: notes" % (tag, d))
        if markers:
            check(w[True].nmarkers > 300, "synthetic stream too short for the marker test")

    # Both FPDUPTR conventions (spec/mpa.iws stream mpa_stream), long FPDUs with many
    # Markers each, CRC on and off; and sessions shaped like the 2008 softiwarp
    # captures (rev 1, one FPDU per TCP segment, FPDU mode at offsets 27/28, Writes
    # and Read Responses longer than the Marker interval), which iwdump must follow
    # to the end whichever convention the sender used.
    for conv in ("rfc5044", "fpdu_start"):
        for crc in (False, True):
            for shape in ("random", "2008"):
                path = os.path.join(tmp, "syn_conv_%s_c%d_%s.pcap" % (conv, crc, shape))
                n = 64 if shape == "2008" else 120
                sizes = (1024, 2048, 4000, 1500) if shape == "2008" else (500, 1000, 1020, 2000, 4000, 9000, 30000)
                w, _ = build_session(path, n, True, crc, seed=23, conv=conv, sizes=sizes,
                                     per_fpdu=(shape == "2008"))
                tag = "conv %s C%d %s" % (conv, crc, shape)
                rc, recs, err = run(binary, ["--json", path])
                check(rc == 0, "%s: exit %d %s" % (tag, rc, err[-300:]))
                tells = 0
                for d, c2s in (("c2s", True), ("s2c", False)):
                    f = fpdus_of(recs, d)
                    want = [(o, ln, mk) for (o, ln, mk) in w[c2s].fpdus]
                    got = [(r["stream_offset"], r["ulpdu_len"], r["markers"]) for r in f]
                    check(got == want, "%s %s: FPDUs differ (%d vs %d)" % (tag, d, len(got), len(want)))
                    check(all(r["crc"] == ("valid" if crc else "absent") for r in f), "%s %s: crc" % (tag, d))
                    # (the pcap interleaves the directions at random: the Responder may send first)
                    notes = [n for r in f for n in r.get("warnings", []) + r.get("errors", [])
                             if not n.startswith("responder_first")]
                    check(not notes, "%s %s: notes %s" % (tag, d, notes[:2]))
                    tells += sum(1 for (o, _, mk) in w[c2s].fpdus if mk >= 2 and (o - w[c2s].start) % 512 == 0)
                check(tells > 0, "%s: no FPDU tells the conventions apart" % tag)

    # Corrupted CRC
    path = os.path.join(tmp, "syn_badcrc.pcap")
    w, _ = build_session(path, 40, True, True, seed=11, corrupt=(False, 17))
    rc, recs, err = run(binary, ["--json", path])
    f = fpdus_of(recs, "s2c")
    check(rc == 2, "corrupted CRC: exit %d" % rc)
    check(len(f) == 40, "corrupted CRC: %d FPDUs decoded, want 40" % len(f))
    check([r["crc"] for r in f].count("invalid") == 1 and f[17]["crc"] == "invalid",
          "corrupted CRC: not exactly FPDU 17 invalid")
    check("crc_mismatch" in err, "corrupted CRC: no stderr message")

    # Dropped segment: gap, resync, later FPDUs decoded
    for markers, crc in ((True, True), (True, False), (False, True), (False, False)):
        path = os.path.join(tmp, "syn_gap_m%d_c%d.pcap" % (markers, crc))
        tag = "gap M%d C%d" % (markers, crc)
        w, dropped = build_session(path, 60, markers, crc, seed=5, drop=(True, 40))
        rc, recs, err = run(binary, ["--json", path])
        check(dropped is not None, tag + ": nothing dropped")
        lo, hi = dropped[1], dropped[2]
        gaps = [r for r in recs if r["kind"] == "gap"]
        check(len(gaps) == 1 and gaps[0]["stream_offset"] == lo and gaps[0]["len"] == hi - lo,
              "%s: gap record %s, want %d+%d" % (tag, gaps, lo, hi - lo))
        got = {r["stream_offset"] for r in fpdus_of(recs, "c2s")}
        real = {o for (o, _, _) in w[True].fpdus}
        check(got <= real, "%s: FPDUs at wrong offsets %s" % (tag, sorted(got - real)[:5]))
        before = {o for (o, ln, _) in w[True].fpdus if o + 2 + ln + 4 <= lo}
        # FPDUs wholly before the gap must be decoded; after the gap, every FPDU
        # from the first one the resync can anchor on (with Markers and no CRC:
        # the first Marker-pointed one, at most one 512-octet interval on).
        slack = 3 * 512 + 3100 if (markers and not crc) else 0
        after = {o for o in real if o >= hi + slack}
        check(before <= got, "%s: FPDUs before the gap missing" % tag)
        check(after <= got, "%s: %d FPDUs after the gap missing" % (tag, len(after - got)))
        check(len(fpdus_of(recs, "s2c")) == 60, "%s: other direction" % tag)
        check(rc == 0, "%s: exit %d (gaps are warnings): %s" % (tag, rc, err[-300:]))
        rc2, _, err2 = run(binary, ["--json", "--strict", path])
        check(rc2 == 2 and "capture_gap" in err2, "%s --strict: exit %d" % (tag, rc2))


def test_strict(binary, capdir):
    path = os.path.join(capdir, S08 + "read.pcap")
    rc, _, err = run(binary, ["--strict", path])
    check(rc == 2, "--strict read.pcap: exit %d" % rc)
    check("msn_shared_counter" in err and "read_request_byteswapped" in err,
          "--strict read.pcap: warnings not on stderr")
    rc, _, _ = run(binary, ["--strict", os.path.join(capdir, SIW + "rping_s64_mpa2_crcon_mtu1500.pcap")])
    check(rc == 0, "--strict on a conformant capture: exit %d" % rc)
    rc, _, _ = run(binary, ["/nonexistent.pcap"])
    check(rc == 1, "missing file: exit %d" % rc)
    rc, _, _ = run(binary, [])
    check(rc == 1, "no arguments: exit %d" % rc)
    rc, recs, _ = run(binary, ["--json", "--port", "7174", path])
    check(not [r for r in recs if r["kind"] == "fpdu"], "--port filter")


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 1
    binary, capdir = sys.argv[1], sys.argv[2]
    test_captures(binary, capdir)
    with tempfile.TemporaryDirectory() as tmp:
        test_synthetic(binary, tmp)
    test_strict(binary, capdir)
    if FAILS:
        print("%d failure(s)" % len(FAILS))
        return 1
    print("all iwdump tests passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
