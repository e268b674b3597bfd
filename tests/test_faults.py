#!/usr/bin/env python3
"""Fault injection (issue 16): a proxy between an iwping client and one long-lived iwping server
that damages the byte stream, and kill -9 of a client (stdlib only).

usage: test_faults.py IWPING

One `iwping --serve` process serves every connection. Each row of FAULTS runs one iwping client
(--size 4096 --count 3, CRC on) through a proxy on loopback that applies one fault to the client's
byte stream once the MPA Request has passed (68 octets: 20 + rev-2 private data), or kills the client:
  corrupt  one octet flipped (the Send's DDP header, its payload, its CRC field): the server must
           answer with the CRC Terminate 2/0/0x02 (RFC 5044 §4.4, §6), which the client reports, and
           place nothing: the server's receive region is unchanged;
  reset    both sockets closed with RST in the middle of an FPDU;
  cut      both sockets closed with FIN in the middle of an FPDU (half-open on the server's side);
  stall    the proxy stops forwarding in both directions (neither side's data arrives);
  split    every octet forwarded alone (TCP segments of 1 octet): the exchange must succeed;
  delay    every chunk forwarded after 20 ms: the exchange must succeed;
  kill -9  the client process is killed in the middle of its transfer.
For the failing faults the client must end (non-zero) and the server must report that client as
failed; nothing hangs (every wait bounded by --timeout). After every row a legitimate client,
connected directly, must be served with every byte verified. At the end SIGTERM must stop the server
with exit status 0 (under ASan/UBSan also: no leak report).
"""
import os
import queue
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

WAIT = 10.0
REGION = 4096
MPA_REQUEST = 20 + 4 + 44   # Request frame, rev-2 parameters, iwping's private data
FPDU0 = MPA_REQUEST         # the first FPDU of the client: a Send of 4096 octets
FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what, flush=True)
    return cond


class Server:
    def __init__(self, iwping):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.p = subprocess.Popen([iwping, "--serve", "--port", str(self.port), "--timeout", "3000",
                                   "--size", str(REGION)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.expect("listening on port")
        self.regions = self.client_line()[1]

    def _pump(self):
        for line in self.p.stdout:
            print("   ", line.rstrip(), flush=True)
            self.lines.put(line)
        self.lines.put(None)

    def expect(self, what, timeout=WAIT):
        while True:
            line = self.lines.get(timeout=timeout)
            if line is None:
                raise RuntimeError("server ended")
            if what in line:
                return line

    def client_line(self):
        line = self.expect("iwping serve: client ", timeout=20)
        regs = dict(kv.split("=") for kv in line.rsplit("regions ", 1)[1].split())
        return line, regs


class Proxy:
    """One connection at a time; `fault` acts on the client-to-server stream from octet FPDU0 on."""

    def __init__(self, target, fault, arg):
        self.target, self.fault, self.arg = target, fault, arg
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(1)
        self.port = self.ls.getsockname()[1]
        self.stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        try:
            c, _ = self.ls.accept()
        except OSError:
            return
        s = socket.create_connection(("127.0.0.1", self.target))
        self.c, self.s = c, s
        threading.Thread(target=self._relay, args=(c, s, True), daemon=True).start()
        threading.Thread(target=self._relay, args=(s, c, False), daemon=True).start()

    def _abort(self, how):
        for x in (self.c, self.s):
            try:
                if how == "reset":
                    x.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    x.close()
                else:
                    x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _relay(self, src, dst, c2s):
        off = 0
        try:
            while not self.stop.is_set():
                b = src.recv(65536)
                if not b:
                    dst.shutdown(socket.SHUT_WR)
                    return
                if c2s and off + len(b) > FPDU0 and self.fault in ("corrupt", "reset", "cut", "stall"):
                    at = FPDU0 + (self.arg if self.fault == "corrupt" else 100)
                    if off <= at < off + len(b):
                        if self.fault == "corrupt":
                            b = bytearray(b)
                            b[at - off] ^= 0x01
                            b = bytes(b)
                        else:
                            dst.sendall(b[:at - off])
                            if self.fault == "stall":
                                self.stop.set()  # nothing more, either way
                                return
                            self._abort(self.fault)
                            return
                off += len(b)
                if self.fault == "split":
                    for i in range(len(b)):
                        dst.sendall(b[i:i + 1])
                elif self.fault == "delay":
                    time.sleep(0.02)
                    dst.sendall(b)
                else:
                    dst.sendall(b)
        except OSError:
            return

    def close(self):
        self.stop.set()
        for x in (getattr(self, "c", None), getattr(self, "s", None), self.ls):
            if x is not None:
                try:
                    x.close()
                except OSError:
                    pass


def client(iwping, port, extra=()):
    return subprocess.Popen([iwping, "--client", "127.0.0.1", "--port", str(port), "--size", str(REGION),
                             "--count", "3", "--timeout", "4000"] + list(extra),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


# name, fault, argument, the client must succeed, text the client must report
FAULTS = [
    ("corrupt_ddp_header", "corrupt", 2 + 12, False, "Terminate received (2/0/0x02)"),
    ("corrupt_payload", "corrupt", 2 + 18 + 100, False, "Terminate received (2/0/0x02)"),
    ("corrupt_crc_field", "corrupt", 2 + 18 + REGION + 1, False, "Terminate received (2/0/0x02)"),
    ("corrupt_ulpdu_length", "corrupt", 1, False, None),
    ("reset_mid_fpdu", "reset", 0, False, None),
    ("cut_mid_fpdu", "cut", 0, False, None),
    ("stall", "stall", 0, False, None),
    ("split_1_octet", "split", 0, True, None),
    ("delay_20ms", "delay", 0, True, None),
]


def legit(srv, iwping, name):
    r = subprocess.run([iwping, "--client", "127.0.0.1", "--port", str(srv.port), "--size", str(REGION),
                        "--count", "3", "--quiet", "--timeout", "10000"], capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, "%s: the legitimate client after it failed: %s" % (name, (r.stdout + r.stderr).strip()))
    line, regs = srv.client_line()
    check(" OK;" in line, "%s: the server did not serve the legitimate client after it" % name)
    srv.regions = regs


def run_fault(srv, iwping, name, fault, arg, succeed, says):
    fails = len(FAILS)
    px = Proxy(srv.port, fault, arg)
    t0 = time.monotonic()
    c = client(iwping, px.port)
    try:
        out, _ = c.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        c.kill()
        out, _ = c.communicate()
        check(False, "%s: the client hung" % name)
    secs = time.monotonic() - t0
    px.close()
    line, regs = srv.client_line()
    before, srv.regions = srv.regions, regs
    if succeed:
        check(c.returncode == 0, "%s: the client failed: %s" % (name, out.strip()))
        check(" OK;" in line, "%s: the server reported %s" % (name, line.strip()))
    else:
        check(c.returncode != 0, "%s: the client did not notice the fault" % name)
        check("FAILED" in line, "%s: the server did not notice the fault: %s" % (name, line.strip()))
        if says is not None:
            check(says in out, "%s: the client did not report %r: %s" % (name, says, out.strip()))
        if fault == "corrupt":
            check(regs["recv"] == before["recv"], "%s: the corrupted Send was placed (recv %s -> %s)" %
                  (name, before["recv"], regs["recv"]))
    legit(srv, iwping, name)
    ok = len(FAILS) == fails
    print("%s %-22s client exit %d after %.2f s" % ("ok  " if ok else "FAIL", name, c.returncode, secs), flush=True)
    return ok


def run_kill9(srv, iwping):
    fails = len(FAILS)
    c = subprocess.Popen([iwping, "--client", "127.0.0.1", "--port", str(srv.port), "--size", str(REGION),
                          "--count", "1000000", "--quiet", "--timeout", "4000"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # in the middle of its transfers (a million iterations take far longer)
    c.send_signal(signal.SIGKILL)
    c.wait()
    line, _ = srv.client_line()
    check("FAILED" in line, "kill -9: the server did not notice: %s" % line.strip())
    legit(srv, iwping, "kill -9")
    ok = len(FAILS) == fails
    print("%s %-22s" % ("ok  " if ok else "FAIL", "kill_9_client"), flush=True)
    return ok


def main():
    iwping = sys.argv[1]
    srv = Server(iwping)
    passed = 0
    try:
        for row in FAULTS:
            passed += run_fault(srv, iwping, *row)
        passed += run_kill9(srv, iwping)
    finally:
        srv.p.send_signal(signal.SIGTERM)
        try:
            rc = srv.p.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            srv.p.kill()
            rc = -1
    check(rc == 0, "iwping --serve exit status %s after SIGTERM" % rc)
    n = len(FAULTS) + 1
    print("%d faults: %d as expected; %d checks failed" % (n, passed, len(FAILS)))
    print("%d passed, %d failed" % (passed, n - passed))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
