#!/usr/bin/env python3
"""The HLS subset checker must pass good C and reject each deliberately wrong file (docs/hwgen.md).

    test_hls_subset.py --checker hwgen/hls_subset.py --bad-dir tests/hls_bad --good FILE.c...

Every file in --bad-dir starts with `/* expect: FRAGMENT */`: the checker must exit 1 and print
FRAGMENT on a `FILE:LINE: hls-subset:` line. Every --good file (the hand-written example and the
generated blocks) must pass with exit 0.
"""
import argparse
import os
import re
import subprocess
import sys

EXPECT = re.compile(r"^/\*\s*expect:\s*(.+?)\s*\*/")


def run(checker, path):
    return subprocess.run([sys.executable, checker, path], capture_output=True, text=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checker", required=True)
    ap.add_argument("--bad-dir", required=True)
    ap.add_argument("--good", nargs="*", default=[])
    args = ap.parse_args()
    failed = 0
    bad = sorted(f for f in os.listdir(args.bad_dir) if f.endswith(".c"))
    for name in bad:
        path = os.path.join(args.bad_dir, name)
        with open(path, encoding="utf-8") as fh:
            m = EXPECT.match(fh.readline())
        if not m:
            print(f"FAIL {name}: first line must be /* expect: FRAGMENT */")
            failed += 1
            continue
        r = run(args.checker, path)
        hits = [line for line in r.stdout.splitlines() if ": hls-subset: " in line and m.group(1) in line]
        if r.returncode != 1 or not hits:
            print(f"FAIL {name}: expected exit 1 and '{m.group(1)}', got {r.returncode}:\n{r.stdout}{r.stderr}")
            failed += 1
        else:
            print(f"ok   {name}: rejected: {hits[0].split(': hls-subset: ', 1)[1]}")
    for path in args.good:
        r = run(args.checker, path)
        if r.returncode != 0:
            print(f"FAIL {path}: expected to pass, got {r.returncode}:\n{r.stdout}{r.stderr}")
            failed += 1
        else:
            print(f"ok   {os.path.basename(path)}: passes")
    total = len(bad) + len(args.good)
    if len(bad) < 20:
        print(f"FAIL only {len(bad)} must-reject cases")
        failed += 1
    print(f"{total - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
