#!/usr/bin/env python3
"""Builds and runs the Verilator co-simulation of one generated CRC block (docs/hwgen.md).

    cosim.py --gen-dir DIR --src ROOT --obj DIR --block hw_crc32c_w64 [--mutant] [--words N]

Verilates DIR/BLOCK.v (or BLOCK_mutant.v) with hwgen/cosim_crc.cpp, the generated C block and
runtime/crc32c_ref.c into a fresh object directory (never a stale binary), then runs it. Exit status
is the co-simulation's: 0 when the Verilog equals the C on every word (with --mutant: when the
broken block is caught).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gen-dir", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--obj", required=True)
    ap.add_argument("--block", required=True)
    ap.add_argument("--mutant", action="store_true")
    ap.add_argument("--words", type=int, default=1000000)
    args = ap.parse_args()
    width = int(re.search(r"_w(\d+)$", args.block).group(1))
    top = args.block + ("_mutant" if args.mutant else "")
    gen = os.path.abspath(args.gen_dir)
    src = os.path.abspath(args.src)
    obj = os.path.abspath(os.path.join(args.obj, top))
    shutil.rmtree(obj, ignore_errors=True)
    os.makedirs(obj)
    b = args.block
    with open(os.path.join(obj, "cosim_cfg.h"), "w", encoding="utf-8") as fh:
        fh.write(f'#define COSIM_W {width}\n#define COSIM_VTOP V{top}\n#define COSIM_VTOP_H "V{top}.h"\n'
                 f'#define COSIM_NAME "{top}"\n#define COSIM_STATE struct {b}_state\n'
                 f'#define COSIM_IN struct {b}_in\n#define COSIM_OUT struct {b}_out\n'
                 f'#define COSIM_INIT {b}_init\n#define COSIM_STEP {b}_step\n'
                 f'extern "C" {{\n#include "{b}.h"\n}}\n')
    # The C files are compiled as C by a separate gcc run and linked as objects.
    objs = []
    for c in (os.path.join(gen, b + ".c"), os.path.join(src, "runtime", "crc32c_ref.c")):
        o = os.path.join(obj, os.path.basename(c)[:-2] + ".o")
        subprocess.run(["gcc", "-std=c99", "-O2", "-Wno-unknown-pragmas", "-I", gen, "-I", os.path.join(src, "include"),
                        "-c", c, "-o", o], check=True)
        objs.append(o)
    cmd = ["verilator", "--cc", "--exe", "--build", "-j", "1", "-O3", "--x-assign", "fast", "--x-initial", "fast",
           "-Wno-fatal", "-Wno-lint", "-Wno-style", "--top-module", top, "-Mdir", obj, "-o", "cosim",
           "-CFLAGS", f"-O1 -I{obj} -I{gen} -I{os.path.join(src, 'include')}",
           "-LDFLAGS", " ".join(objs),
           os.path.join(gen, top + ".v"), os.path.join(src, "hwgen", "cosim_crc.cpp")]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout[-4000:], r.stderr[-4000:], file=sys.stderr)
        print(f"cosim: verilator build of {top} failed", file=sys.stderr)
        return 2
    run = [os.path.join(obj, "cosim"), str(args.words)] + (["--expect-mismatch"] if args.mutant else [])
    return subprocess.run(run).returncode


if __name__ == "__main__":
    sys.exit(main())
