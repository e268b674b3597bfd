#!/usr/bin/env python3
"""One command for the iwperf sweep (Python standard library only).

    bench/run_sweep.py [--build build] [--duration 0.1] [--repeat 3] [--no-ucx] [--out bench/results]

Runs, over loopback, each in one iwperf process with its baselines measured in the same run:
  - write, read, send at 64 B .. 1 MiB (powers of 2), CRC on, Markers off, --baseline tcp
    (and ucx when ucx_perftest is on PATH);
  - write, read, send at 64 KiB with Markers on, and right before each such run the same with
    Markers off (the ratio on/off of each pair; the median over --repeat pairs);
  - write, read, send at 64 KiB with manual progress (--progress app);
  - 64 B RDMA Write latency with the progress thread and with manual progress (--progress app),
    polling, spinning and blocking, each against a TCP ping-pong that waits the same way;
  - many QPs: 64 KiB RDMA Writes (CRC on) over 1,024 QPs and, in the same run, over one of them
    (--baseline 1qp), at depth 64 and 4, with the memory per idle QP measured before traffic;
  - build/crc32c_bench.
Writes OUT/latest.md (the issue's targets, met or not, then the tables), OUT/latest.jsonl (every iwperf line) and OUT/latest.svg (goodput
and p50 latency against size, iwkit, TCP and UCX). Each sweep runs --repeat times and every
number is the median of those runs (the UCX baseline runs in the first only: it is slow). A run
that fails or hangs (--timeout 10 s per wait) is reported and the sweep goes on.
docs/iwperf.md says what each number means.
"""
import argparse
import datetime
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time

OPS = ["write", "read", "send"]
SIZES = [1 << k for k in range(6, 21)]  # 64 B .. 1 MiB
MARKER_SIZE = 65536
MANY_QPS = 1024
MANY_RUNS = [(64, 0), (64, 262144), (4, 0)]  # (depth per QP, --sockbuf; 0: autotuned socket buffers)
LAT_MODES = [("progress thread (memory polled with sched_yield; TCP polls too)", ["--progress", "thread"]),
             ("--progress app --cq-wait poll (iwk_cq_progress(0) and sched_yield; TCP polls too)",
              ["--progress", "app", "--cq-wait", "poll"]),
             ("--progress app --cq-wait poll --spin 100000 (TCP spins too)",
              ["--progress", "app", "--cq-wait", "poll", "--spin", "100000"]),
             ("--progress app --cq-wait block (iwk_cq_progress sleeps in poll(); TCP blocks in read())",
              ["--progress", "app", "--cq-wait", "block"])]
MANY_KEYS = ["qp1_goodput_gbps", "ratio_qps", "idle_qp_bytes", "idle_qp_rss_bytes", "idle_qp_min_bytes",
             "idle_qp_min_rss_bytes", "idle_qp_sock_bytes", "kernel_sock_obj_bytes", "connect_s"]
NUMERIC = MANY_KEYS + ["goodput_gbps", "msg_rate", "lat_p50_us", "lat_p99_us", "tcp_goodput_gbps", "tcp_msg_rate",
           "tcp_lat_p50_us", "tcp_lat_p99_us", "ratio_goodput", "ratio_lat", "ucx_goodput_gbps", "ucx_msg_rate",
           "ucx_lat_p50_us", "ucx_ratio_goodput", "ucx_ratio_lat"]


def run_iwperf(iwperf, args, timeout):
    """Runs iwperf --json; returns (rows, error text or None)."""
    cmd = [iwperf] + args + ["--json"]
    print("+", " ".join(cmd), flush=True)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return parse_rows(out), "timed out after %d s" % timeout
    if p.stderr.strip():
        print(p.stderr.strip(), file=sys.stderr, flush=True)
    err = None if p.returncode == 0 else "exit %d: %s" % (p.returncode, p.stderr.strip()[-300:])
    return parse_rows(p.stdout), err


def parse_rows(out):
    rows = []
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                rows.append(json.loads(line))
            except ValueError:
                pass
    return rows


def median_rows(runs):
    """Per size, the median of each number over the runs that have it."""
    by_size = {}
    for rows in runs:
        for r in rows:
            by_size.setdefault(r["size"], []).append(r)
    out = []
    for size in sorted(by_size):
        rs = by_size[size]
        m = dict(rs[0])
        for k in NUMERIC:
            vs = [r[k] for r in rs if isinstance(r.get(k), (int, float))]
            m[k] = statistics.median(vs) if vs else None
        m["runs"] = len(rs)
        out.append(m)
    return out


def fmt(v, digits=3):
    if v is None:
        return "–"
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    return "%.*f" % (digits, v) if v < 1 or digits == 3 else "%.2f" % v


def size_name(n):
    if n >= 1 << 20:
        return "%d MiB" % (n >> 20)
    if n >= 1 << 10:
        return "%d KiB" % (n >> 10)
    return "%d B" % n


def many_table(rows):
    head = ("| QPs | depth | socket buffers | goodput 1 QP Gbit/s | goodput %d QPs Gbit/s | ratio | idle QP, iwperf's "
            "QPs: heap+mmap B | RSS B | minimal idle QP: heap+mmap B | RSS B |" % MANY_QPS)
    lines = [head, "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r.get("qps"), r.get("depth"), "%d KiB (--sockbuf)" % (r["sockbuf"] >> 10) if r.get("sockbuf") else "autotuned",
            fmt(r.get("qp1_goodput_gbps")), fmt(r.get("goodput_gbps")),
            fmt(r.get("ratio_qps"), 2), fmt(r.get("idle_qp_bytes")), fmt(r.get("idle_qp_rss_bytes")),
            fmt(r.get("idle_qp_min_bytes")), fmt(r.get("idle_qp_min_rss_bytes"))))
    return "\n".join(lines)


def table(rows, ucx):
    head = "| op | size | goodput iwkit Gbit/s | TCP Gbit/s | ratio | p50 iwkit µs | TCP µs | ratio | p99 iwkit µs |"
    sep = "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    if ucx:
        head += " UCX Gbit/s | UCX p50 µs |"
        sep += "---:|---:|"
    lines = [head, sep]
    for r in rows:
        line = "| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["op"] + (" (Markers)" if r.get("markers") else ""), size_name(r["size"]), fmt(r.get("goodput_gbps")),
            fmt(r.get("tcp_goodput_gbps")), fmt(r.get("ratio_goodput"), 2), fmt(r.get("lat_p50_us")),
            fmt(r.get("tcp_lat_p50_us")), fmt(r.get("ratio_lat"), 2), fmt(r.get("lat_p99_us")))
        if ucx:
            line += " %s | %s |" % (fmt(r.get("ucx_goodput_gbps")), fmt(r.get("ucx_lat_p50_us")))
        lines.append(line)
    return "\n".join(lines)


# ---- SVG (hand-written: log2 sizes across, log10 values up) ------------------------------------

COLORS = {"iwkit": "#1f77b4", "TCP": "#d62728", "UCX": "#2ca02c"}
PW, PH, ML, MR, MT, MB = 360, 240, 58, 12, 30, 40


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def panel(x0, y0, title, ylabel, series):
    """One chart at (x0, y0): series = {name: [(size, value)]}."""
    pts = [(s, v) for vs in series.values() for s, v in vs if v and v > 0]
    out = ['<g transform="translate(%d,%d)">' % (x0, y0),
           '<text x="%d" y="16" font-size="13" font-weight="bold">%s</text>' % (ML, esc(title))]
    w, h = PW - ML - MR, PH - MT - MB
    out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>' % (ML, MT, w, h))
    if not pts:
        out.append('<text x="%d" y="%d" font-size="11">no data</text></g>' % (ML + 10, MT + 20))
        return out
    lx0, lx1 = math.log2(min(SIZES)), math.log2(max(SIZES))
    ly0 = math.floor(math.log10(min(v for _, v in pts)))
    ly1 = math.ceil(math.log10(max(v for _, v in pts)))
    ly1 = ly1 if ly1 > ly0 else ly0 + 1

    def X(s):
        return ML + (math.log2(s) - lx0) / (lx1 - lx0) * w

    def Y(v):
        return MT + h - (math.log10(v) - ly0) / (ly1 - ly0) * h

    for e in range(ly0, ly1 + 1):
        y = Y(10 ** e)
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (ML, y, ML + w, y))
        out.append('<text x="%d" y="%.1f" font-size="10" text-anchor="end">%s</text>' % (ML - 4, y + 3, "%g" % 10 ** e))
    for s in SIZES[::2]:
        out.append('<text x="%.1f" y="%d" font-size="10" text-anchor="middle">%s</text>' % (
            X(s), MT + h + 14, esc(size_name(s).replace(" ", ""))))
    out.append('<text x="%d" y="%d" font-size="11" text-anchor="middle">message size</text>' % (ML + w // 2, MT + h + 30))
    out.append('<text x="12" y="%d" font-size="11" text-anchor="middle" transform="rotate(-90 12 %d)">%s</text>' % (
        MT + h // 2, MT + h // 2, esc(ylabel)))
    ly = MT + 12
    for name, vs in series.items():
        vs = [(s, v) for s, v in vs if v and v > 0]
        if not vs:
            continue
        c = COLORS[name]
        out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (
            c, " ".join("%.1f,%.1f" % (X(s), Y(v)) for s, v in vs)))
        for s, v in vs:
            out.append('<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>' % (X(s), Y(v), c))
        out.append('<text x="%d" y="%d" font-size="11" fill="%s">%s</text>' % (ML + 8, ly, c, name))
        ly += 13
    out.append("</g>")
    return out


def svg(results):
    cols = len(OPS)
    W, H = cols * PW, 2 * PH + 10
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif">' % (W, H),
           '<rect width="100%" height="100%" fill="white"/>']
    for i, op in enumerate(OPS):
        rows = results.get(op, [])
        g = {"iwkit": [(r["size"], r.get("goodput_gbps")) for r in rows],
             "TCP": [(r["size"], r.get("tcp_goodput_gbps")) for r in rows],
             "UCX": [(r["size"], r.get("ucx_goodput_gbps")) for r in rows]}
        lat = {"iwkit": [(r["size"], r.get("lat_p50_us")) for r in rows],
               "TCP": [(r["size"], r.get("tcp_lat_p50_us")) for r in rows],
               "UCX": [(r["size"], r.get("ucx_lat_p50_us")) for r in rows]}
        kind = "completion" if op == "read" else "half round trip"
        out += panel(i * PW, 0, "%s: goodput" % op, "Gbit/s", g)
        out += panel(i * PW, PH + 10, "%s: p50 latency (%s)" % (op, kind), "µs", lat)
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ---- main --------------------------------------------------------------------------------------

def crc_gbps(text):
    for line in text.splitlines():
        if "fast path" in line and "GB/s" in line:
            try:
                return float(line.split(":")[1].split("GB/s")[0])
            except (IndexError, ValueError):
                return None
    return None


def marker_table(pairs):
    lines = ["| op | Markers off Gbit/s | Markers on Gbit/s | on / off |", "|---|---:|---:|---:|"]
    for op, ps in pairs.items():
        for off, on, ratio in ps:
            lines.append("| %s | %s | %s | %s |" % (op, fmt(off), fmt(on), fmt(ratio, 2)))
    return "\n".join(lines)


def lat_table(rows):
    lines = ["| who receives | p50 iwkit µs | TCP µs | ratio | p99 iwkit µs |", "|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append("| %s | %s | %s | %s | %s |" % (r["mode"], fmt(r.get("lat_p50_us")), fmt(r.get("tcp_lat_p50_us")),
                                                    fmt(r.get("ratio_lat"), 2), fmt(r.get("lat_p99_us"))))
    return "\n".join(lines)


def best_table(results):
    """Each op's best goodput over the sweep's sizes against TCP's best: the issue's targets are at
    64 KiB, where TCP on loopback (MTU 65536, TCP_NODELAY) sends each 64 KiB write as a full segment
    and a short one and runs well below its best."""
    lines = ["| op | iwkit at 64 KiB | TCP at 64 KiB | iwkit best (size) | TCP best (size) | best / best |",
             "|---|---:|---:|---:|---:|---:|"]
    for op in OPS:
        rows = [r for r in results.get(op, []) if isinstance(r.get("goodput_gbps"), (int, float))]
        trows = [r for r in results.get(op, []) if isinstance(r.get("tcp_goodput_gbps"), (int, float))]
        if not rows or not trows:
            continue
        at64 = next((r for r in rows if r["size"] == 65536), {})
        bi = max(rows, key=lambda r: r["goodput_gbps"])
        bt = max(trows, key=lambda r: r["tcp_goodput_gbps"])
        lines.append("| %s | %s | %s | %s (%s) | %s (%s) | %s |" % (
            op, fmt(at64.get("goodput_gbps")), fmt(at64.get("tcp_goodput_gbps")), fmt(bi["goodput_gbps"]),
            size_name(bi["size"]), fmt(bt["tcp_goodput_gbps"]), size_name(bt["size"]),
            fmt(bi["goodput_gbps"] / bt["tcp_goodput_gbps"], 2)))
    return "\n".join(lines)


def targets_table(results, app_rows, marker_pairs, lat_rows, many_rows, crc):
    """The issue's targets against this sweep's medians: met, or by how much missed."""
    def at(op, size, key):
        return next((r.get(key) for r in results.get(op, []) if r["size"] == size), None)

    def row(what, target, value, ok, digits=3):
        if value is None:
            return "| %s | %s | – | no result |" % (what, target)
        return "| %s | %s | %s | %s |" % (what, target, fmt(value, digits), "met" if ok(value) else "**missed**")
    lines = ["| target | wanted | measured | |", "|---|---|---:|---|"]
    for op, want in (("write", 0.90), ("send", 0.90), ("read", 0.85)):
        name = "RDMA %s" % op.capitalize() if op != "send" else "Send"
        lines.append(row("%s goodput at 64 KiB, CRC on, / TCP (progress thread)" % name, ">= %.2f" % want,
                         at(op, 65536, "ratio_goodput"), lambda v, w=want: v >= w))
        v = next((r.get("ratio_goodput") for r in app_rows.get(op, [])), None)
        lines.append(row("%s goodput at 64 KiB, CRC on, / TCP (--progress app)" % name, ">= %.2f" % want, v,
                         lambda v, w=want: v >= w))
    for r in lat_rows:
        lines.append(row("64 B RDMA Write half round trip / TCP ping-pong (%s)" % r["mode"], "<= 1.15",
                         r.get("ratio_lat"), lambda v: v <= 1.15))
    for op, ps in marker_pairs.items():
        v = statistics.median([p[2] for p in ps]) if ps else None
        lines.append(row("%s at 64 KiB, Markers on / off" % op, ">= 0.95", v, lambda v: v >= 0.95))
    lines.append(row("CRC32c on 64 KiB buffers, GB/s", ">= 40", crc_gbps(crc), lambda v: v >= 40.0, 1))
    for r in many_rows[:1]:
        lines.append(row("memory per idle QP (minimal QP, heap+mmap), B", "<= 65536", r.get("idle_qp_min_bytes"),
                         lambda v: v <= 65536, 0))
        lines.append(row("memory per idle QP (iwperf's QPs, receives posted), B", "<= 65536", r.get("idle_qp_bytes"),
                         lambda v: v <= 65536, 0))
    for r in many_rows:
        lines.append(row("%d QPs / 1 QP aggregate goodput, depth %s, %s socket buffers" % (
            MANY_QPS, r.get("depth"), "%d KiB" % (r["sockbuf"] >> 10) if r.get("sockbuf") else "autotuned"), ">= 0.90",
            r.get("ratio_qps"), lambda v: v >= 0.90))
    return "\n".join(lines)


def crc_bench(build):
    exe = os.path.join(build, "crc32c_bench")
    if not os.path.exists(exe):
        return "crc32c_bench not built"
    p = subprocess.run([exe, "0.5"], capture_output=True, text=True, timeout=120)
    return p.stdout.strip() if p.returncode == 0 else "crc32c_bench failed: " + p.stderr.strip()


def machine():
    info = {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "cpus": os.cpu_count()}
    try:
        info["load"] = " ".join("%.2f" % x for x in os.getloadavg())
    except OSError:
        info["load"] = "?"
    try:
        info["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                        cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
        info["commit"] += " (with uncommitted changes)" if dirty else ""
    except OSError:
        info["commit"] = "?"
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
    except OSError:
        info["cpu"] = "?"
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--build", default=os.path.join(root, "build"))
    ap.add_argument("--out", default=os.path.join(root, "bench", "results"))
    ap.add_argument("--duration", default="0.1", help="seconds per measurement (iwperf --duration)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-ucx", action="store_true")
    ap.add_argument("--cq-wait", default="block", help="iwperf --cq-wait: block (iwk_cq_wait), poll or event")
    a = ap.parse_args()
    iwperf = os.path.join(a.build, "iwperf")
    if not os.path.exists(iwperf):
        sys.exit("no %s: build first (meson compile -C %s)" % (iwperf, a.build))
    ucx = not a.no_ucx and shutil.which("ucx_perftest") is not None
    common = ["--loopback", "--duration", a.duration, "--crc", "on", "--cq-wait", a.cq_wait, "--timeout", "10"]
    info = machine()
    t0 = time.time()
    results, marker_rows, errors, raw, cmds = {}, [], [], [], []
    sizes = ",".join(str(s) for s in SIZES)

    def run(args, timeout, what):
        """One iwperf --json run: its command, rows and error go into the sweep's records."""
        cmds.append("iwperf " + " ".join(args) + " --json")
        rows, err = run_iwperf(iwperf, args, timeout)
        raw.extend(rows)
        if err:
            errors.append("%s: %s" % (what, err))
        return rows

    for op in OPS:
        runs = []
        for i in range(a.repeat):
            base = "tcp,ucx" if ucx and i == 0 else "tcp"
            args = ["--op", op, "--sizes", sizes, "--markers", "off", "--baseline", base] + common
            runs.append(run(args, 900, "%s sweep" % op))
        results[op] = median_rows(runs)
    marker_pairs = {op: [] for op in OPS}
    marker_runs = {op: [] for op in OPS}
    for i in range(a.repeat):
        for op in OPS:
            pair = {}
            for mk in ("off", "on"):
                args = ["--op", op, "--sizes", str(MARKER_SIZE), "--markers", mk, "--baseline", "tcp",
                        "--test", "bw"] + common
                rows = run(args, 120, "%s with Markers %s at %s" % (op, mk, size_name(MARKER_SIZE)))
                if rows:
                    pair[mk] = rows[0].get("goodput_gbps")
                if mk == "on":
                    marker_runs[op].append(rows)
            if pair.get("on") and pair.get("off"):
                marker_pairs[op].append((pair["off"], pair["on"], pair["on"] / pair["off"]))
    for op in OPS:
        marker_rows += median_rows(marker_runs[op])
    app_rows = {}
    for op in OPS:
        runs = []
        for i in range(a.repeat):
            args = ["--op", op, "--sizes", str(MARKER_SIZE), "--markers", "off", "--baseline", "tcp", "--test", "bw",
                    "--progress", "app"] + common
            runs.append(run(args, 120, "%s at %s with --progress app" % (op, size_name(MARKER_SIZE))))
        app_rows[op] = median_rows(runs)
    lat_rows = []
    for name, extra in LAT_MODES:
        runs = []
        for i in range(a.repeat):
            args = ["--op", "write", "--size", "64", "--test", "lat", "--baseline", "tcp", "--loopback",
                    "--duration", a.duration, "--crc", "on", "--timeout", "10"] + extra
            runs.append(run(args, 60, "64 B write latency, %s" % name))
        for r in median_rows(runs):
            r["mode"] = name
            lat_rows.append(r)
    many_rows = []
    for depth, sockbuf in MANY_RUNS:
        runs = []
        for i in range(a.repeat):
            args = ["--op", "write", "--size", "65536", "--qps", str(MANY_QPS), "--depth", str(depth),
                    "--baseline", "1qp", "--test", "bw"] + (["--sockbuf", str(sockbuf)] if sockbuf else []) + common
            runs.append(run(args, 180, "%d QPs at depth %d" % (MANY_QPS, depth)))
        for r in median_rows(runs):
            r["sockbuf"] = sockbuf
            many_rows.append(r)
    crc = crc_bench(a.build)
    elapsed = time.time() - t0
    info["load_end"] = " ".join("%.2f" % x for x in os.getloadavg())

    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "latest.jsonl"), "w") as f:
        for r in raw:
            f.write(json.dumps(r) + "\n")
    with open(os.path.join(a.out, "latest.svg"), "w") as f:
        f.write(svg(results))
    md = ["# iwperf sweep", "",
          "%s, %s CPUs (%s), load average %s at the start and %s at the end, commit %s; %.0f s in all." % (
              info["date"], info["cpus"], info["cpu"], info["load"], info["load_end"], info["commit"], elapsed), "",
          "Loopback, one process (`--loopback`), 1 QP, depth 64, CRC on, `--duration %s` per number%s, "
          "`--cq-wait %s`. Goodput: "
          "payload bits per second (10^9); latency: p50 of the half round trip (write: memory polling as "
          "ib_write_lat; send: Send/Recv completions), for read the whole Read completion time. TCP: a plain "
          "stream of writev()s of the same size and a ping-pong, TCP_NODELAY, in the same run. Ratios are "
          "iwkit / TCP (goodput: higher is better; latency: lower is better). See docs/iwperf.md." % (
              a.duration, ", median of %d runs" % a.repeat if a.repeat > 1 else "", a.cq_wait), "",
          "## Targets (issue 6)", "", targets_table(results, app_rows, marker_pairs, lat_rows, many_rows, crc), "",
          "Goodput in Gbit/s, progress thread, CRC on; the best of each over the sweep's sizes (64 B .. 1 MiB), "
          "because TCP at exactly 64 KiB is far below its best on loopback:", "", best_table(results), "",
          "![goodput and latency against size](latest.svg)", ""]
    if not ucx:
        md += ["UCX: skipped (ucx_perftest not installed or --no-ucx).", ""]
    else:
        md += ["UCX: ucx_perftest over TCP (UCX_TLS=tcp, UCX_NET_DEVICES=lo): write = ucp_put_bw/ucp_put_lat, "
               "read = ucp_get, send = tag_bw/tag_lat; one run (the first), not a median.", ""]
    for op in OPS:
        md += ["## %s" % op, "", table(results.get(op, []), ucx), ""]
    md += ["## Markers on, %s" % size_name(MARKER_SIZE), "",
           "Goodput with Markers on against TCP (median of the runs), then each Markers-on run against the "
           "Markers-off run right before it.", "",
           table(marker_rows, False) if marker_rows else "no result", "", marker_table(marker_pairs), ""]
    md += ["## 64 KiB with manual progress (--progress app)", "",
           "The same bandwidth runs at 64 KiB with IWK_CTX_APP_PROGRESS on both ends: the application threads "
           "receive, no progress-thread wake-ups (docs/runtime.md).", "",
           table([r for op in OPS for r in app_rows.get(op, [])], False), ""]
    md += ["## 64 B RDMA Write latency by who receives", "",
           "Half round trip p50, memory polling as ib_write_lat, against the TCP ping-pong of the same run "
           "(which waits the way iwkit's loop does: MSG_DONTWAIT polling with sched_yield() and the same --spin where "
           "iwkit polls memory or the CQ, a blocking read() where iwkit blocks in iwk_cq_progress; a blocked thread "
           "on an idle VM pays its vCPU's wake-up, tens of µs, so the blocking row measures mostly that). "
           "docs/iwperf.md, \"Waiting\".", "", lat_table(lat_rows), ""]
    md += ["## Many QPs", "",
           "64 KiB RDMA Writes, CRC on, `--duration %s`: each run connects %d QPs, measures the memory per idle QP, "
           "then the bandwidth run on QP 0 alone and right after it on all %d QPs (same connections, same "
           "process; `--baseline 1qp`); %s. Ratio = %d QPs / 1 QP, the median of the per-run ratios (target: "
           "at least 0.9). Depth is per QP, so at depth 64 the %d QPs keep 4 GiB posted against 4 MiB for one "
           "QP (the run lasts until that has drained); with autotuned socket buffers each connection's grow "
           "until the kernel's copies dominate, --sockbuf (iwk_conn_param.socket_buffer) fixes them on both ends. Idle QP: heap+mmap (mallinfo2 uordblks + hblkhd) and RSS "
           "growth from before the QPs were created to every QP connected, per QP and side, without the "
           "server's one-time setup; iwperf's QPs have 256 (client) and 512 (server) receives posted, 1 SGE "
           "each; the minimal QP has the runtime's default attributes (128 send and receive slots, 8 SGEs) and "
           "nothing posted. Kernel socket memory is not counted (docs/iwperf.md). Target: at most 65536 B." % (
               a.duration, MANY_QPS, MANY_QPS,
               "median of %d runs" % a.repeat if a.repeat > 1 else "one run", MANY_QPS, MANY_QPS), "",
           many_table(many_rows) if many_rows else "no result", ""]
    md += ["## CRC32c", "", "```", crc, "```", ""]
    if errors:
        md += ["## Errors", ""] + ["- " + e for e in errors] + [""]
    md += ["## Commands", "", "```"] + cmds + ["```", ""]
    with open(os.path.join(a.out, "latest.md"), "w") as f:
        f.write("\n".join(md))
    print("wrote %s (%.0f s)" % (os.path.join(a.out, "latest.md"), elapsed))
    for e in errors:
        print("error:", e, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
