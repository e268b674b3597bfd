#!/usr/bin/env python3
"""The attack suite (issue 16): a malicious iWARP peer against one long-lived iwkit server (stdlib only).

usage: test_attacks.py IWPING

One `iwping --serve` process serves every connection. Each row of ATTACKS is one connection of a
peer that speaks MPA/DDP/RDMAP itself over a real loopback socket (frames built here, RFC 5044 §4,
RFC 5041 §4, RFC 5040 §4): it connects with iwping's MPA private data, reads the server's Reply
(its advertised STags: the RDMA buffer, the atomic word, the STag Sends with Invalidate may name),
sends the attack and reads until the server closes. For each row the table says what must happen:
  - the Terminate (layer/etype/ecode, RFC 5040 §4.8) and whether it carries the offending DDP
    header as sent (D bit: the Terminated DDP Header equals ours), then a FIN (never a reset);
  - or a refusal at connection setup (no Reply, or a Reply with R=1);
  - and in every case that no registered region of the server changed: the server prints a CRC32c
    of each of its regions after every connection (`iwping serve: client N ...; regions ...`), and
    the attacks name only STags they were not given, or were given for another access, or corrupt
    the FPDU (with CRC on nothing of it may be placed, RFC 5044 §6).
After the table a legitimate iwping client must still be served (exit 0, every byte verified), and
the server must stop cleanly on SIGTERM. The rows cover every Terminate of the error table in
docs/runtime.md that one connection of a peer can provoke against iwping's regions; the others
(STag of another PD, misaligned atomic target, more Read Requests than IRD, Marker error, MPA setup
IRD/RTR) need regions or settings iwping does not have and are in tests/test_runtime_errors.c.
"""
import os
import queue
import signal
import socket
import struct
import subprocess
import sys
import threading

WAIT = 10.0
REGION = 4096  # iwping --serve --size: the size of each of the server's regions
MAGIC = 0x49574B50  # "IWKP": iwping's private data (docs/iwping.md)
FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what, flush=True)
    return cond


# ---- CRC32c (RFC 3720 B.4; MPA puts it least significant octet first, RFC 5044 §4.4) ----------

def _crc_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


CRC_T = _crc_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = CRC_T[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


# ---- frames ----------------------------------------------------------------------------------

OP_WRITE, OP_READ_REQ, OP_READ_RESP, OP_SEND, OP_SEND_INV = 0, 1, 2, 3, 4
OP_TERMINATE, OP_ATOMIC_REQ = 7, 10


def untagged(op, qn, msn, mo=0, inv=0, dv=1, rv=1, last=1):
    return bytes([(0x40 if last else 0) | dv, (rv << 6) | op]) + struct.pack(">IIII", inv, qn, msn, mo)


def tagged(op, stag, to, dv=1, rv=1, last=1):
    return bytes([0x80 | (0x40 if last else 0) | dv, (rv << 6) | op]) + struct.pack(">IQ", stag, to & (2**64 - 1))


def fpdu(ulpdu, length=None, flip=None):
    """ULPDU_Length, ULPDU, pad, CRC; `flip` flips one octet (from the FPDU start) after the CRC."""
    n = len(ulpdu) if length is None else length
    body = struct.pack(">H", n) + ulpdu
    body += b"\0" * ((4 - len(body) % 4) % 4)
    f = bytearray(body + struct.pack("<I", crc32c(body)))
    if flip is not None:
        f[flip] ^= 0x01
    return bytes(f)


def read_request(sink_stag, sink_to, size, src_stag, src_to, msn=1):
    return untagged(OP_READ_REQ, 1, msn) + struct.pack(">IQIIQ", sink_stag, sink_to, size, src_stag, src_to)


def atomic_request(stag, to, aop=0, msn=1):
    # RFC 7306 §4.1: reserved+AOpCode, Req ID, Remote STag, Remote TO, Add/Swap Data, Mask, Compare Data, Mask
    return untagged(OP_ATOMIC_REQ, 1, msn) + struct.pack(">IIIQQQQQ", aop, 1, stag, to, 1, 0, 0, 0)


# ---- the attacker's connection -----------------------------------------------------------------

def mpa_request(pd, key=b"MPA ID Req Frame"):
    return key + bytes([0x40, 1]) + struct.pack(">H", len(pd)) + pd  # rev 1, C=1, M=0


def iwping_pd(size=64):
    return struct.pack(">IIQQIIQI", MAGIC, 1, size, 0, 0, 0, 0, 0)


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        k = s.recv(n - len(b))
        if not k:
            raise EOFError
        b += k
    return b


class Peer:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=WAIT)

    def setup(self, request):
        """Sends the Request; returns the server's advertisement, 'rejected' or 'closed'."""
        self.s.sendall(request)
        try:
            rep = recv_exact(self.s, 20)
            pd = recv_exact(self.s, struct.unpack(">H", rep[18:20])[0])
        except (EOFError, ConnectionResetError):
            return "closed"
        if rep[16] & 0x20:
            return "rejected"
        f = struct.unpack(">IIQQIIQI", pd[:44])
        return {"size": f[2], "buf": f[3], "buf_rkey": f[4], "atom_rkey": f[5], "atom": f[6], "inv_rkey": f[7]}

    def read_until_close(self):
        """Reads FPDUs (every CRC checked) until the server closes: (terminate, end) with
        end 'fin' or 'reset' or 'timeout'."""
        term = None
        try:
            while True:
                h = recv_exact(self.s, 2)
                n = struct.unpack(">H", h)[0]
                rest = recv_exact(self.s, n + (4 - (2 + n) % 4) % 4 + 4)
                body = h + rest[:-4]
                check(struct.unpack("<I", rest[-4:])[0] == crc32c(body), "server FPDU with a bad CRC")
                u = rest[:n]
                if not (u[0] & 0x80) and (u[1] & 0xF) == OP_TERMINATE:
                    check(term is None, "two Terminates")
                    term = u[18:]
                else:
                    check(term is None, "an FPDU after the Terminate")
        except EOFError:
            return term, "fin"
        except ConnectionResetError:
            return term, "reset"
        except socket.timeout:
            return term, "timeout"

    def close(self):
        self.s.close()


def parse_term(t):
    layer, etype, ecode = t[0] >> 4, t[0] & 0xF, t[1]
    d = bool(t[2] & 0x40)
    hdr = None
    if d:
        hl = 14 if t[6] & 0x80 else 18
        hdr = t[6:6 + hl]
    return (layer, etype, ecode), hdr


# ---- the table ------------------------------------------------------------------------------------
# Each row: name, RFC, build(adv) -> (bytes, offending DDP header or None), expected.
# expected: (layer, etype, ecode) of the Terminate, or "refused".

def row_write(stag_of, to_of, n=16, flip=None, length=None):
    def build(a):
        h = tagged(OP_WRITE, stag_of(a), to_of(a))
        return fpdu(h + b"\xEE" * n, length=length, flip=flip), h
    return build


def row_untagged(h_of, payload=b"", length=None, flip=None):
    def build(a):
        h = h_of(a)
        return fpdu(h + payload, length=length, flip=flip), h
    return build


def row_read(rr_of):
    def build(a):
        u = rr_of(a)
        return fpdu(u), u[:18]
    return build


def row_atomic(ar_of):
    def build(a):
        u = ar_of(a)
        return fpdu(u), u[:18]
    return build


OTHER = lambda a: (a["buf_rkey"] ^ 0x5A5A5A00) | 1  # an STag the server never gave: an attacker's guess

ATTACKS = [
    ("write_unknown_stag", "RFC 5042 §5.1, RFC 5041 §7.2",
     row_write(OTHER, lambda a: a["buf"]), (1, 1, 0x00)),
    ("write_stale_key", "RFC 5040 §2.1 (key part)",
     row_write(lambda a: a["buf_rkey"] ^ 0x01, lambda a: a["buf"]), (1, 1, 0x00)),
    ("write_beyond_bounds", "RFC 5042 §5.1.3",
     row_write(lambda a: a["buf_rkey"], lambda a: a["buf"] + REGION - 8), (1, 1, 0x01)),
    ("write_below_base", "RFC 5042 §5.1.3",
     row_write(lambda a: a["buf_rkey"], lambda a: a["buf"] - 16), (1, 1, 0x01)),
    ("write_to_wraps", "RFC 5041 §7.2",
     row_write(lambda a: a["buf_rkey"], lambda a: 2**64 - 8), (1, 1, 0x03)),
    ("write_no_remote_write", "RFC 5042 §5.1.2 (atomic word: no REMOTE_WRITE)",
     row_write(lambda a: a["atom_rkey"], lambda a: a["atom"], n=8), (1, 1, 0x00)),
    ("write_bad_crc_payload", "RFC 5044 §6, §4.4",
     row_write(lambda a: a["buf_rkey"], lambda a: a["buf"], flip=2 + 14 + 3), (2, 0, 0x02)),
    ("write_bad_crc_stag", "RFC 5044 §6 (a corrupted STag is a CRC error)",
     row_write(lambda a: a["buf_rkey"], lambda a: a["buf"], flip=2 + 5), (2, 0, 0x02)),
    ("write_bad_crc_to", "RFC 5044 §6 (a corrupted Tagged Offset is a CRC error)",
     row_write(lambda a: a["buf_rkey"], lambda a: a["buf"], flip=2 + 13), (2, 0, 0x02)),
    ("write_bad_crc_field", "RFC 5044 §4.4",
     row_write(lambda a: a["buf_rkey"], lambda a: a["buf"], flip=2 + 14 + 16), (2, 0, 0x02)),
    ("read_unknown_stag", "RFC 5040 §7.1, RFC 5042 §5.1",
     row_read(lambda a: read_request(0x1234, 0, 16, OTHER(a), a["buf"])), (0, 1, 0x00)),
    ("read_beyond_bounds", "RFC 5042 §5.1.3",
     row_read(lambda a: read_request(0x1234, 0, 64, a["buf_rkey"], a["buf"] + REGION - 8)), (0, 1, 0x01)),
    ("read_no_remote_read", "RFC 5042 §5.1.2 (atomic word: no REMOTE_READ)",
     row_read(lambda a: read_request(0x1234, 0, 8, a["atom_rkey"], a["atom"])), (0, 1, 0x02)),
    ("read_to_wraps", "RFC 5040 §4.8",
     row_read(lambda a: read_request(0x1234, 0, 64, a["buf_rkey"], 2**64 - 8)), (0, 1, 0x04)),
    ("atomic_no_remote_atomic", "RFC 7306 §8.1 (RDMA buffer: no REMOTE_ATOMIC)",
     row_atomic(lambda a: atomic_request(a["buf_rkey"], a["buf"])), (0, 1, 0x02)),
    ("atomic_beyond_bounds", "RFC 7306 §8.1, RFC 5042 §5.1.3",
     row_atomic(lambda a: atomic_request(a["atom_rkey"], a["atom"] + 1)), (0, 1, 0x01)),
    ("send_inv_unknown_stag", "RFC 5040 §5.3, §7.2",
     row_untagged(lambda a: untagged(OP_SEND_INV, 0, 1, inv=OTHER(a)), b"\x11" * 8), (0, 2, 0x09)),
    ("send_too_long", "RFC 5041 §7.2 (64-octet receive posted)",
     row_untagged(lambda a: untagged(OP_SEND, 0, 1), b"\x22" * 100), (1, 2, 0x05)),
    ("send_bad_crc", "RFC 5044 §6",
     row_untagged(lambda a: untagged(OP_SEND, 0, 1), b"\x23" * 32, flip=2 + 18 + 4), (2, 0, 0x02)),
    ("send_without_receive", "RFC 5041 §7.2 (one receive posted: the second Send finds none)",
     lambda a: (fpdu(untagged(OP_SEND, 0, 1) + b"\x27" * 8) + fpdu(untagged(OP_SEND, 0, 2) + b"\x28" * 8),
                untagged(OP_SEND, 0, 2)), (1, 2, 0x02)),
    ("send_first_mo_not_zero", "RFC 5041 §7.1 (MO validated before placement)",
     row_untagged(lambda a: untagged(OP_SEND, 0, 1, mo=32), b"\x24" * 16), (1, 2, 0x04)),
    ("ddp_version_untagged", "RFC 5041 §7.2",
     row_untagged(lambda a: untagged(OP_SEND, 0, 1, dv=0)), (1, 2, 0x06)),
    ("ddp_version_tagged", "RFC 5041 §7.2",
     row_untagged(lambda a: tagged(OP_WRITE, a["buf_rkey"], a["buf"], dv=2), b"\x25" * 8), (1, 1, 0x04)),
    ("rdmap_version", "RFC 5040 §4.8",
     row_untagged(lambda a: untagged(OP_SEND, 0, 1, rv=0)), (0, 2, 0x05)),
    ("invalid_qn", "RFC 5041 §7.2",
     row_untagged(lambda a: untagged(OP_SEND, 7, 1)), (1, 2, 0x01)),
    ("msn_out_of_range", "RFC 5041 §7.2",
     row_untagged(lambda a: untagged(OP_SEND, 0, 1000)), (1, 2, 0x03)),
    ("unknown_opcode", "RFC 5040 §4.8",
     row_untagged(lambda a: untagged(0xC, 0, 1)), (0, 2, 0x06)),
    ("unsolicited_read_response", "RFC 5040 §7.1",
     row_untagged(lambda a: tagged(OP_READ_RESP, a["buf_rkey"], a["buf"]), b"\x26" * 8), (0, 2, 0x06)),
    ("ulpdu_shorter_than_header", "RFC 5041 §7.2 (ULPDU_Length 10 < 18)",
     lambda a: (fpdu(untagged(OP_SEND, 0, 1)[:10]), None), (1, 0, 0x00)),
    ("fpdu_shorter_than_16", "RFC 5044 §4.1 (a 12-octet FPDU)",
     lambda a: (fpdu(b"\x41\x43\0\0"), None), (1, 0, 0x00)),
]

# Refused at setup: the listener drops a bad Request (RFC 5044 §7.1.2 rule 5), iwping rejects a
# Request without its parameters.
SETUP_ATTACKS = [
    ("mpa_bad_key", mpa_request(iwping_pd(), key=b"MPA ID Rep Frame"), "closed"),
    ("mpa_no_private_data", mpa_request(b""), "rejected"),
]

# ---- the server --------------------------------------------------------------------------------

REGIONS_KEYS = ("send", "recv", "rdma", "inv", "atomic")
# A well-formed Send lands in the receive buffer posted for it before its Invalidate is refused.
MAY_CHANGE = {"send_inv_unknown_stag": {"recv"}, "send_without_receive": {"recv"}}


class Server:
    def __init__(self, iwping):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.p = subprocess.Popen([iwping, "--serve", "--port", str(self.port), "--timeout", "3000", "--size", str(REGION)],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.expect_line("listening on port")
        self.regions = self.next_client_line()[1]

    def _pump(self):
        for line in self.p.stdout:
            print("   ", line.rstrip(), flush=True)
            self.lines.put(line)
        self.lines.put(None)

    def expect_line(self, what):
        while True:
            line = self.lines.get(timeout=WAIT)
            if line is None:
                raise RuntimeError("server ended")
            if what in line:
                return line

    def next_client_line(self):
        line = self.expect_line("iwping serve: client ")
        regs = dict(kv.split("=") for kv in line.rsplit("regions ", 1)[1].split())
        return line, regs


def run_attack(srv, name, ref, build, expected):
    fails = len(FAILS)
    peer = Peer(srv.port)
    adv = peer.setup(mpa_request(iwping_pd()))
    if not check(isinstance(adv, dict), "%s: setup %s" % (name, adv)):
        return
    data, hdr = build(adv)
    peer.s.sendall(data)
    term, end = peer.read_until_close()
    peer.s.shutdown(socket.SHUT_WR)
    peer.close()
    line, regs = srv.next_client_line()
    before, srv.regions = srv.regions, regs
    got = None
    if term is not None:
        got, thdr = parse_term(term)
    ok = check(got == expected, "%s (%s): Terminate %s, expected %s" % (name, ref, got, expected))
    check(end == "fin", "%s: the server ended the stream with a %s, not a FIN after the Terminate" % (name, end))
    if ok and hdr is not None and expected[0] != 2:
        check(thdr == hdr, "%s: the Terminated DDP Header %s is not the one sent %s" %
              (name, thdr and thdr.hex(), hdr.hex()))
    if ok and expected[0] == 2:
        check(thdr is None, "%s: an MPA error names no DDP segment" % name)
    for k in REGIONS_KEYS:
        if k == "atomic" or k in MAY_CHANGE.get(name, ()):
            continue  # the server resets its counter for every client
        check(regs[k] == before[k], "%s: server region %s changed (%s -> %s)" % (name, k, before[k], regs[k]))
    print("%s %-28s %-50s %s" % ("ok  " if len(FAILS) == fails else "FAIL", name, ref, "%u/%u/0x%02x" % expected),
          flush=True)
    return len(FAILS) == fails


def run_setup_attack(srv, name, request, expected):
    fails = len(FAILS)
    peer = Peer(srv.port)
    got = peer.setup(request)
    peer.close()
    check(got == expected, "%s: setup %s, expected %s" % (name, got if isinstance(got, str) else "accepted", expected))
    if expected == "rejected":  # iwping saw the request and refused it: it reports that client
        srv.next_client_line()
    print("%s %-28s %s" % ("ok  " if len(FAILS) == fails else "FAIL", name, expected), flush=True)
    return len(FAILS) == fails


def main():
    iwping = sys.argv[1]
    srv = Server(iwping)
    passed = 0
    try:
        for name, ref, build, expected in ATTACKS:
            passed += run_attack(srv, name, ref, build, expected)
        for name, request, expected in SETUP_ATTACKS:
            passed += run_setup_attack(srv, name, request, expected)
        # after every attack, a legitimate client is served, every byte verified
        r = subprocess.run([iwping, "--client", "127.0.0.1", "--port", str(srv.port), "--size", "4096", "--count", "4",
                            "--quiet", "--timeout", "10000"], capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, "legitimate client after the attacks: %s" % (r.stdout + r.stderr).strip())
        line, _ = srv.next_client_line()
        check(" OK;" in line, "the server did not serve the legitimate client: %s" % line.strip())
    finally:
        srv.p.send_signal(signal.SIGTERM)
        try:
            rc = srv.p.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            srv.p.kill()
            rc = -1
    check(rc == 0, "iwping --serve exit status %s after SIGTERM" % rc)
    n = len(ATTACKS) + len(SETUP_ATTACKS)
    print("%d attacks: %d as expected; %d checks failed" % (n, passed, len(FAILS)))
    print("%d passed, %d failed" % (passed, n - passed))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
