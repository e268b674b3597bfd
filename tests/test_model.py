#!/usr/bin/env python3
"""Model checking of the composed state machines with spin (suite `model`).

    python3 tests/test_model.py --gen gen/iwkgen.py --compose NAME [--mutate M:LINE:X=E | --break NAME]
        [--expect-error] SPEC...

Generates the Promela model of compose item NAME from the specs, builds spin's verifier `pan`
(safety: assertions and invalid end states, states stored with COLLAPSE compression), runs an
exhaustive search and prints the states, depth, memory and time. Passes when spin reports no error
and the search was complete; with --expect-error (a deliberately broken variant), passes only when
spin reports an error. --break NAME picks one of the named broken variants below (a mutation of
the spec's actions, located by searching the spec text, so it follows edits of the spec).
Last line: `N passed, N failed`.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

# name: (spec file, machine, a text on the transition's first line, assignment NAME=EXPR)
BROKEN = {
    # The Responder puts Markers in what it sends according to its own M bit instead of the
    # Request's: per-direction Marker agreement breaks (RFC 5044 §7.1.1 M).
    "markers_direction": ("mpa_setup.iws", "mpa_responder", "-> WAIT_ULP", "tx_markers=want_m"),
    # The Responder ignores the Initiator IRD when it sets its ORD (RFC 6581 §9.1).
    "ord_not_lowered": ("mpa_setup.iws", "mpa_responder", "-> WAIT_ULP", "neg_ord=ord"),
    # A queue pair places data although a Terminate was received (RFC 5040 §5.4).
    "place_after_terminate": ("rdmap_stream.iws", "rdmap_qp", "on TERMINATE RX_MSG", "place=1"),
}


def find_line(path, machine, text):
    inside = False
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if re.match(r"\s*machine\s+" + machine + r"\b", line):
                inside = True
            elif re.match(r"\s*machine\s+", line):
                inside = False
            if inside and text in line and line.strip().startswith("on "):
                return n
    raise SystemExit(f"test_model: '{text}' not found in machine {machine} of {path}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gen", required=True)
    ap.add_argument("--compose", required=True)
    ap.add_argument("--mutate", action="append", default=[])
    ap.add_argument("--break", dest="broken", choices=sorted(BROKEN))
    ap.add_argument("--expect-error", action="store_true")
    ap.add_argument("--depth", type=int, default=200000)
    ap.add_argument("--keep", help="directory to keep the model and pan in")
    ap.add_argument("specs", nargs="+")
    args = ap.parse_args()
    for tool in ("spin", "gcc"):
        if shutil.which(tool) is None:
            print(f"test_model: {tool} not found (tools/deps.sh installs spin)")
            print("0 passed, 1 failed")
            return 1
    muts = list(args.mutate)
    if args.broken:
        fname, machine, text, assign = BROKEN[args.broken]
        spec = next(s for s in args.specs if os.path.basename(s) == fname)
        muts.append(f"{machine}:{find_line(spec, machine, text)}:{assign}")
    work = args.keep or tempfile.mkdtemp(prefix="iwk-model-")
    os.makedirs(work, exist_ok=True)
    try:
        cmd = [sys.executable, args.gen, "--promela-out", work] + [a for m in muts for a in ("--mutate", m)] + args.specs
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print(r.stderr)
            print("0 passed, 1 failed")
            return 1
        pml = os.path.join(work, args.compose + ".pml")
        t0 = time.time()
        for step in (["spin", "-a", pml],
                     ["gcc", "-O2", "-DSAFETY", "-DCOLLAPSE", "-DVECTORSZ=4096", "-o", "pan", "pan.c"]):
            r = subprocess.run(step, cwd=work, capture_output=True, text=True)
            if r.returncode != 0:
                print(" ".join(step), "failed:\n", r.stdout, r.stderr)
                print("0 passed, 1 failed")
                return 1
        r = subprocess.run(["./pan", f"-m{args.depth}"], cwd=work, capture_output=True, text=True)
        elapsed = time.time() - t0
        out = r.stdout + r.stderr
        m = re.search(r"errors: (\d+)", out)
        errors = int(m.group(1)) if m else -1
        states = re.search(r"(\d+) states, stored", out)
        depth = re.search(r"depth reached (\d+)", out)
        mem = re.search(r"([\d.]+)\s+total actual memory usage", out)
        truncated = "max search depth too small" in out
        print(f"{args.compose}{' (' + ', '.join(muts) + ')' if muts else ''}: "
              f"{states.group(1) if states else '?'} states, depth {depth.group(1) if depth else '?'}, "
              f"{mem.group(1) if mem else '?'} MB, {elapsed:.1f} s, errors: {errors}"
              f"{', search truncated' if truncated else ''}")
        for line in out.splitlines():
            if line.startswith("pan:") and ("violated" in line or "invalid end state" in line):
                print("spin:", line.strip())
        if args.expect_error:
            ok = errors > 0
            print("spin reports the broken variant, as expected" if ok else "spin did NOT report the broken variant")
        else:
            ok = errors == 0 and not truncated
            if not ok:
                print(out[-3000:])
        print(f"{int(ok)} passed, {int(not ok)} failed")
        return 0 if ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
