#!/usr/bin/env python3
"""Debian's unmodified rdma-core applications over shim/ (issue 14), over 127.0.0.1:

1. `iwkit-run ibv_devinfo -v` prints the iwkit device (iWARP, port active, Ethernet) and, under
   strace, opens nothing under /sys/class/infiniband*, nothing under /dev/infiniband and no
   NETLINK_RDMA socket (the same strace of the system's libibverbs does, when it is installed:
   the check can fail);
2. rping -s / rping -c -C 10 -v -V over the shim on both sides, 64, 4000 and 65000 octets; and
   each side against iwping --rping (the shim client's IWKIT_PCAP capture decoded by iwdump);
3. perftest ib_{write,read,send}_{bw,lat} -R with the shim on both sides (the client's capture,
   both of perftest's connections, decoded by iwdump), and ib_*_bw against iwperf --perftest both
   ways;
4. failures: rping to a port nobody listens on ends with RDMA_CM_EVENT_REJECTED; a killed rping
   server leaves its client with DISCONNECTED, and the client exits (rping frees its queue pair on
   that event without printing its flushed completions: tests/test_shim_cm.c checks the flush).

Every process is bounded by a timeout. In the ASan/UBSan build (IWK_SANITIZED) the sanitized
libraries cannot be loaded by unmodified binaries (the ASan runtime must come first in the
initial library list): the test says so and is skipped (exit 77); tests/test_shim_cm.c covers the
shim there.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

FAILS = []
T = 60  # seconds: the longest any single process may take


def check(cond, msg):
    if not cond:
        FAILS.append(msg)
        print("FAIL:", msg, flush=True)
    return cond


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def listening(port):
    """True when something listens on TCP port (read from /proc, without connecting to it)."""
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(f).read().splitlines()[1:]
        except OSError:
            continue
        for ln in lines:
            parts = ln.split()
            if int(parts[1].split(":")[1], 16) == port and parts[3] == "0A":
                return True
    return False


def wait_listening(port, proc, secs=20):
    end = time.time() + secs
    while time.time() < end:
        if listening(port):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    return False


class Server:
    """A background process; result() waits (bounded) and returns (rc, output)."""

    def __init__(self, cmd, env=None):
        self.out = tempfile.TemporaryFile(mode="w+")
        self.p = subprocess.Popen(cmd, stdout=self.out, stderr=subprocess.STDOUT, env=env)

    def result(self, secs=T):
        try:
            rc = self.p.wait(secs)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            rc = "timeout"
        self.out.seek(0)
        return rc, self.out.read()


def run(cmd, env=None, secs=T):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=secs, env=env)
        return p.returncode, p.stdout + p.stderr
    except subprocess.TimeoutExpired as e:
        return "timeout", (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else str(e.stdout)


def pair(server_cmd, client_cmd, port, what, env_s=None, env_c=None):
    srv = Server(server_cmd, env_s)
    if not check(wait_listening(port, srv.p), "%s: server not listening on %d" % (what, port)):
        print(srv.result(5)[1][-2000:])
        return None
    crc, cout = run(client_cmd, env_c)
    src, sout = srv.result()
    ok = check(crc == 0 and src == 0, "%s: client rc %s, server rc %s" % (what, crc, src))
    if not ok:
        print("--- client\n%s\n--- server\n%s" % (cout[-3000:], sout[-3000:]))
    return cout, sout


def test_devinfo(run_wrap, shim_dir):
    rc, out = run(run_wrap + ["ibv_devinfo", "-v"])
    check(rc == 0, "ibv_devinfo -v: rc %s: %s" % (rc, out[-500:]))
    for pat in [r"hca_id:\s+iwk0", r"transport:\s+iWARP \(1\)", r"state:\s+PORT_ACTIVE",
                r"link_layer:\s+Ethernet", r"max_qp_wr:\s+255", r"phys_port_cnt:\s+1"]:
        check(re.search(pat, out), "ibv_devinfo -v lacks %r" % pat)
    if shutil.which("strace") is None:
        check(False, "strace is not installed (tools/deps.sh)")
        return
    bad = re.compile(r"/sys/class/infiniband|/sys/class/infiniband_verbs|/dev/infiniband|NETLINK_RDMA")
    with tempfile.TemporaryDirectory() as d:
        log = os.path.join(d, "strace.log")
        rc, out = run(["strace", "-f", "-qq", "-e", "trace=%file,socket", "-o", log] + run_wrap +
                      ["ibv_devinfo", "-v"])
        text = open(log).read()
        check(rc == 0, "strace ibv_devinfo: rc %s" % rc)
        hits = sorted(set(m.group(0) for m in bad.finditer(text)))
        check(not hits, "ibv_devinfo over the shim touched %s" % hits)
        check(os.path.join(shim_dir, "libibverbs.so.1") in text,
              "ibv_devinfo did not load the shim's libibverbs.so.1")
        # the same trace with the system's libraries: the pattern above does find their accesses
        rc, _ = run(["strace", "-f", "-qq", "-e", "trace=%file,socket", "-o", log, "ibv_devinfo", "-l"])
        sys_hits = bad.search(open(log).read())
        print("devinfo: shim touched none of sysfs RDMA, /dev/infiniband, NETLINK_RDMA; system libibverbs %s"
              % ("did (%s)" % sys_hits.group(0) if sys_hits else "did not either"), flush=True)


def test_rping(run_wrap):
    for size in (64, 4000, 65000):
        port = free_port()
        r = pair(run_wrap + ["rping", "-s", "-a", "127.0.0.1", "-p", str(port), "-C", "10", "-S", str(size)],
                 run_wrap + ["rping", "-c", "-a", "127.0.0.1", "-p", str(port), "-C", "10", "-v", "-V",
                             "-S", str(size)], port, "rping shim<->shim %d B" % size)
        if r:
            check(len(re.findall(r"^ping data: rdma-ping-\d+:", r[0], re.M)) == 10,
                  "rping %d B: client did not print 10 verified pings" % size)
        print("rping shim<->shim %d B: %s" % (size, "ok" if r else "FAILED"), flush=True)


def test_rping_iwping(run_wrap, iwping, iwdump, tmp):
    for size in (64, 65000):
        port = free_port()
        pcap = os.path.join(tmp, "rping-client-%d.pcap" % size)
        env = dict(os.environ, IWKIT_PCAP=pcap)
        r = pair([iwping, "--rping", "--server", "--port", str(port), "--size", str(size)],
                 run_wrap + ["rping", "-c", "-a", "127.0.0.1", "-p", str(port), "-C", "10", "-V",
                             "-S", str(size)], port, "rping (shim) -> iwping --rping %d B" % size, env_c=env)
        if r:
            check("iwping: OK" in r[1], "iwping --rping server did not verify: %s" % r[1][-500:])
            p = subprocess.run([iwdump, "--summary", pcap], capture_output=True, text=True, timeout=T)
            check(p.returncode == 0 and re.search(r"1 MPA connection\(s\), 0 error\(s\), 0 warning\(s\)", p.stderr),
                  "iwdump of the shim's capture: rc %d %s" % (p.returncode, p.stderr[-400:]))
        port = free_port()
        r2 = pair(run_wrap + ["rping", "-s", "-a", "127.0.0.1", "-p", str(port), "-C", "10", "-S", str(size)],
                  [iwping, "--rping", "--client", "127.0.0.1", "--port", str(port), "--size", str(size),
                   "--count", "10"], port, "iwping --rping -> rping -s (shim) %d B" % size)
        if r2:
            check("iwping: OK" in r2[0], "iwping --rping client did not verify: %s" % r2[0][-500:])
        print("rping <-> iwping --rping %d B: %s" % (size, "ok" if r and r2 else "FAILED"), flush=True)


def bw_line(out):
    m = re.search(r"^\s*(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*$", out, re.M)
    return m


def test_perftest(run_wrap, iters, iwdump, tmp):
    for t in ("ib_write_bw", "ib_read_bw", "ib_send_bw", "ib_write_lat", "ib_read_lat", "ib_send_lat"):
        port = free_port()
        args = ["-R", "-p", str(port), "-n", str(iters)]
        pcap = os.path.join(tmp, "%s.pcap" % t)
        r = pair(run_wrap + [t] + args, run_wrap + [t] + args + ["127.0.0.1"], port, "%s -R shim<->shim" % t,
                 env_c=dict(os.environ, IWKIT_PCAP=pcap))
        if r:
            # perftest's control connection and its test connection, in the one recording of the process
            p = subprocess.run([iwdump, "--summary", pcap], capture_output=True, text=True, timeout=T)
            check(p.returncode == 0 and re.search(r"2 MPA connection\(s\), 0 error\(s\), 0 warning\(s\)", p.stderr),
                  "%s: iwdump of the client's capture: rc %d %s" % (t, p.returncode, p.stderr[-400:]))
            check(re.search(r"Device\s+:\s+iwk0", r[0]) and re.search(r"Transport type\s+:\s+IW", r[0]),
                  "%s: not on the iwkit device" % t)
            check(re.search(r"#bytes", r[0]), "%s: no result table" % t)
        print("%s -R shim<->shim: %s" % (t, "ok" if r else "FAILED"), flush=True)


def test_perftest_iwperf(run_wrap, iwperf, iters):
    for op in ("write", "read", "send"):
        t = "ib_%s_bw" % op
        port = free_port()
        r = pair([iwperf, "--perftest", "--server", "--port", str(port), "--op", op, "--size", "65536",
                  "--iters", str(iters)],
                 run_wrap + [t, "-R", "-p", str(port), "-s", "65536", "-n", str(iters), "127.0.0.1"],
                 port, "%s (shim) -> iwperf --perftest" % t)
        if r:
            check("perftest %s server: OK" % op in r[1], "iwperf --perftest server: %s" % r[1][-400:])
        port = free_port()
        r2 = pair(run_wrap + [t, "-R", "-p", str(port), "-s", "65536", "-n", str(iters)],
                  [iwperf, "--perftest", "--client", "127.0.0.1", "--port", str(port), "--op", op,
                   "--size", "65536", "--iters", str(iters)], port, "iwperf --perftest -> %s (shim)" % t)
        if r2:
            check("perftest %s client: OK" % op in r2[0], "iwperf --perftest client: %s" % r2[0][-400:])
        print("%s <-> iwperf --perftest: %s" % (t, "ok" if r and r2 else "FAILED"), flush=True)


def test_closed_port(run_wrap):
    port = free_port()
    rc, out = run(run_wrap + ["rping", "-c", "-a", "127.0.0.1", "-p", str(port), "-C", "1", "-v"], secs=30)
    check(rc != "timeout" and rc != 0, "rping to a closed port: rc %s" % rc)
    check("RDMA_CM_EVENT_REJECTED" in out, "rping to a closed port: no REJECTED event: %s" % out[-500:])
    print("closed port: %s" % ("REJECTED" if "RDMA_CM_EVENT_REJECTED" in out else "FAILED"), flush=True)


def test_killed_peer(run_wrap):
    port = free_port()
    srv = Server(run_wrap + ["rping", "-s", "-a", "127.0.0.1", "-p", str(port), "-S", "4000"])
    if not check(wait_listening(port, srv.p), "killed peer: server not listening"):
        return
    cli = Server(run_wrap + ["rping", "-c", "-a", "127.0.0.1", "-p", str(port), "-S", "4000", "-d"])
    time.sleep(1.0)  # the client pings (no count: until the end of the connection)
    check(cli.p.poll() is None, "killed peer: the client ended before the server was killed")
    srv.p.send_signal(signal.SIGKILL)
    srv.result(10)
    t0 = time.time()
    rc, out = cli.result(30)
    took = time.time() - t0
    check(rc != "timeout", "killed peer: the client hung (killed after 30 s)")
    check("DISCONNECT" in out, "killed peer: the client saw no DISCONNECTED event: %s" % out[-800:])
    flushed = re.search(r"cq flushed", out) is not None
    print("killed peer: client rc %s %.2f s after the kill, DISCONNECTED%s" %
          (rc, took, " and 'cq flushed'" if flushed else ""), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shim-dir", required=True)
    ap.add_argument("--iwping", required=True)
    ap.add_argument("--iwperf", required=True)
    ap.add_argument("--iwdump", required=True)
    ap.add_argument("--iters", type=int, default=200)
    a = ap.parse_args()
    if os.environ.get("IWK_SANITIZED"):
        print("skipped: in the ASan/UBSan build the shim's libraries need the ASan runtime first in the "
              "initial library list, which Debian's unmodified binaries do not have (LD_PRELOAD of libasan "
              "into rping/perftest/strace is not what is tested); test_shim_cm covers the shim under ASan")
        return 77
    missing = [b for b in ("ibv_devinfo", "rping", "ib_write_bw") if shutil.which(b) is None]
    if missing:
        print("skipped: %s not installed (tools/deps.sh installs ibverbs-utils rdmacm-utils perftest)" % missing)
        return 77
    run_wrap = [os.path.join(a.shim_dir, "iwkit-run")]
    with tempfile.TemporaryDirectory() as tmp:
        test_devinfo(run_wrap, a.shim_dir)
        test_rping(run_wrap)
        test_rping_iwping(run_wrap, a.iwping, a.iwdump, tmp)
        test_perftest(run_wrap, a.iters, a.iwdump, tmp)
        test_perftest_iwperf(run_wrap, a.iwperf, a.iters)
        test_closed_port(run_wrap)
        test_killed_peer(run_wrap)
    print("%d failure(s)" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
