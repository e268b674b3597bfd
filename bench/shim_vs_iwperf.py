#!/usr/bin/env python3
"""Debian's unmodified perftest over shim/ beside iwperf on iwkit's own API, same sizes, same run.

    bench/shim_vs_iwperf.py BUILD_DIR [--reps 3] [--iters 2000]

For each operation (write, read, send) and size, alternating in adjacent runs (reps times):
  shim    ib_<op>_bw -R -s SIZE -n ITERS -t 128 (server and client through build/shim/iwkit-run)
  iwperf  iwperf --server / iwperf --client --op OP --size SIZE --iters ITERS --depth 128
          --cq-wait poll --test bw (two processes, polling like perftest)
and the 64-octet latency: ib_<op>_lat -R -s 64 (t_typical, half a round trip for write, a round
trip for read, half for send as perftest reports them) beside iwperf --test lat (p50, half a
round trip; read: iwperf reports the Read's whole round trip as well). Bandwidth in Gbit/s (10^9):
perftest's MB/sec are 2^20 octets. Prints the median of each and the ratio shim / iwperf."""
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def listening(port):
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        for ln in open(f).read().splitlines()[1:]:
            parts = ln.split()
            if int(parts[1].split(":")[1], 16) == port and parts[3] == "0A":
                return True
    return False


def pair(server, client):
    srv = subprocess.Popen(server, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    port = int(server[server.index("-p") + 1] if "-p" in server else server[server.index("--port") + 1])
    end = time.time() + 20
    while not listening(port) and time.time() < end and srv.poll() is None:
        time.sleep(0.02)
    c = subprocess.run(client, capture_output=True, text=True, timeout=120)
    srv.communicate(timeout=60)
    return c.stdout + c.stderr


def shim_bw(b, op, size, iters):
    port = free_port()
    run = [os.path.join(b, "shim", "iwkit-run"), "ib_%s_bw" % op, "-R", "-p", str(port), "-s", str(size),
           "-n", str(iters), "-t", "128"]
    out = pair(run, run + ["127.0.0.1"])
    m = re.search(r"^\s*%d\s+%d\s+([\d.]+)\s+([\d.]+)" % (size, iters), out, re.M)
    return float(m.group(2)) * 2**20 * 8 / 1e9 if m else None


def shim_lat(b, op):
    port = free_port()
    run = [os.path.join(b, "shim", "iwkit-run"), "ib_%s_lat" % op, "-R", "-p", str(port), "-s", "64", "-n", "2000"]
    out = pair(run, run + ["127.0.0.1"])
    m = re.search(r"^\s*64\s+2000\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", out, re.M)
    return float(m.group(3)) if m else None  # t_typical


def iwperf(b, op, size, iters, test):
    port = free_port()
    srv = [os.path.join(b, "iwperf"), "--server", "--port", str(port)]
    cli = [os.path.join(b, "iwperf"), "--client", "127.0.0.1", "--port", str(port), "--op", op, "--size",
           str(size), "--iters", str(iters), "--depth", "128", "--cq-wait", "poll", "--test", test, "--json"]
    out = pair(srv, cli)
    for ln in out.splitlines():
        if ln.startswith("{"):
            j = json.loads(ln)
            return j["goodput_gbps"] if test == "bw" else j["lat_p50_us"]
    return None


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def main():
    b = os.path.abspath(sys.argv[1])
    reps = int(sys.argv[sys.argv.index("--reps") + 1]) if "--reps" in sys.argv else 3
    iters = int(sys.argv[sys.argv.index("--iters") + 1]) if "--iters" in sys.argv else 2000
    print("| op | size | shim perftest Gbit/s | iwperf Gbit/s | shim / iwperf |")
    print("|---|---|---|---|---|")
    for op in ("write", "read", "send"):
        for size in (4096, 65536):
            s, i = [], []
            for _ in range(reps):
                s.append(shim_bw(b, op, size, iters))
                i.append(iwperf(b, op, size, iters, "bw"))
            ms, mi = med(s), med(i)
            print("| %s | %d | %s | %s | %s |" % (op, size, "%.2f" % ms if ms else "-", "%.2f" % mi if mi else "-",
                                               "%.2f" % (ms / mi) if ms and mi else "-"), flush=True)
    print()
    print("| op | 64 B latency | shim perftest t_typical us | iwperf p50 us | shim / iwperf |")
    print("|---|---|---|---|---|")
    for op in ("write", "read", "send"):
        s, i = [], []
        for _ in range(reps):
            s.append(shim_lat(b, op))
            i.append(iwperf(b, op, 64, 2000, "lat"))
        ms, mi = med(s), med(i)
        print("| %s | 64 | %s | %s | %s |" % (op, "%.1f" % ms if ms else "-", "%.1f" % mi if mi else "-",
                                           "%.2f" % (ms / mi) if ms and mi else "-"), flush=True)


if __name__ == "__main__":
    main()
