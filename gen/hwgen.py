#!/usr/bin/env python3
"""hwgen: generates the hardware blocks of iwkit's datapath from the specs in spec/ (docs/hwgen.md).

    hwgen.py --out DIR [--widths 64,512] [--mutate-verilog ROW] SPEC...

For every `crc` item in the specs and every bus width W: hw_<crc>_w<W>.h/.c (HLS-ready C, one
word per call), hw_<crc>_w<W>.v (Verilog from the same matrices), hw_<crc>_w<W>.tcl (Vitis HLS,
not run here). --mutate-verilog ROW also writes hw_<crc>_w<W>_mutant.v with one data term of
output bit ROW dropped (the co-simulation must catch it). Standard library only; the same specs
always give byte-identical output.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from iwkspec.lexer import SpecError  # noqa: E402
from iwkspec.loader import load  # noqa: E402
from iwkgen import write_if_changed  # noqa: E402
from hwgen import emit_crc_c, emit_crc_v, emit_tcl  # noqa: E402
from hwgen.gf2 import CrcMath  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("specs", nargs="+")
    ap.add_argument("--out", required=True, help="directory for the generated files")
    ap.add_argument("--widths", default="64,512", help="bus widths in bits (multiples of 64, powers of two)")
    ap.add_argument("--mutate-verilog", type=int, metavar="ROW", help="test only: also write a broken Verilog block")
    ap.add_argument("--report", action="store_true", help="print the by-construction LUT bounds")
    args = ap.parse_args(argv)
    try:
        spec = load(args.specs)
    except (SpecError, OSError) as err:
        print(f"hwgen: error: {err}", file=sys.stderr)
        return 1
    os.makedirs(args.out, exist_ok=True)
    for layer, path in zip(spec.layers, args.specs):
        spec_name = os.path.join("spec", os.path.basename(path))
        for crc in layer.crcs:
            for bits in (int(w) for w in args.widths.split(",")):
                math = CrcMath(crc, bits // 8)
                math.self_check()
                base, _ = emit_crc_c.names(crc, bits)
                h, c = emit_crc_c.emit(crc, math, spec_name)
                write_if_changed(os.path.join(args.out, base + ".h"), h)
                write_if_changed(os.path.join(args.out, base + ".c"), c)
                v, luts = emit_crc_v.emit(crc, math, spec_name)
                write_if_changed(os.path.join(args.out, base + ".v"), v)
                write_if_changed(os.path.join(args.out, base + ".tcl"), emit_tcl.emit(crc, math, spec_name))
                if args.mutate_verilog is not None:
                    mv, _ = emit_crc_v.emit(crc, math, spec_name, mutate=args.mutate_verilog)
                    write_if_changed(os.path.join(args.out, base + "_mutant.v"), mv)
                if args.report:
                    print(f"{base}: data tree {luts} LUT6 (bound), state rows {math.tree_bound(math.a_word)} LUT6")
    return 0


if __name__ == "__main__":
    sys.exit(main())
