#!/usr/bin/env python3
"""Resource and timing numbers of the generated hardware blocks (docs/hwgen.md).

    synth.py --gen-dir DIR --work DIR [--blocks B,...] [--pnr] [--write-doc FILE | --check-doc FILE]

For each block DIR/B.v:
  * yosys `synth_xilinx -family xcup -flatten -nowidelut` (UltraScale+ LUT6 mapping): logic LUTs,
    shift-register LUTs (SRL16E: yosys packs delay lines into them), flip-flops, the deepest LUT chain between registers/ports, and the depth of the recurrence
    (the CRC register `s` back to itself), all read from yosys' JSON netlist;
  * with --pnr, a timing PROXY: yosys synth_ice40 + nextpnr-ice40 on an iCE40-HX8K (a small, slow
    part; not the target). The block sits in a wrapper whose inputs come from a 61-bit LFSR through
    a shift register (every data bit its own flip-flop, so nothing folds away) and whose outputs
    are XOR-reduced to one pin.
The table goes to stdout; --write-doc replaces the part of FILE between the markers
`<!-- hwgen-table begin -->` and `<!-- hwgen-table end -->`; --check-doc fails if that part differs.
"""
import argparse
import json
import os
import re
import subprocess
import sys

BEGIN, END = "<!-- hwgen-table begin -->", "<!-- hwgen-table end -->"
SEQ = re.compile(r"^(FD[A-Z]*|SB_DFF[A-Z]*|SRL16E|SRLC32E)$")   # registers (SRLs: shift registers in a LUT)
FF = re.compile(r"^(FD[A-Z]*|SB_DFF[A-Z]*)$")
LUT = re.compile(r"^(LUT[1-6]|SB_LUT4)$")                           # logic levels
LUT_SITE = re.compile(r"^(LUT[1-6]|SB_LUT4|SRL16E|SRLC32E)$")       # LUTs used, SRLs included


def run(cmd, log):
    with open(log, "w", encoding="utf-8") as fh:
        r = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        with open(log, encoding="utf-8") as fh:
            sys.stderr.write(fh.read()[-3000:])
        raise SystemExit(f"synth: {' '.join(cmd[:2])} failed (log {log})")


def netlist(path, top):
    with open(path, encoding="utf-8") as fh:
        mod = json.load(fh)["modules"][top]
    return mod


def depths(mod, source_bits=None):
    """(deepest LUT chain ending at a register input or output port, {bit: level}).
    Levels count LUTs; registers and input ports are level 0 (or only `source_bits` when given)."""
    cells = mod["cells"]
    driver = {}
    for name, c in cells.items():
        for port, bits in c["connections"].items():
            if c["port_directions"].get(port) == "output":
                for b in bits:
                    driver[b] = name
    memo = {}

    def level(bit):
        if isinstance(bit, str):
            return None if source_bits is not None else 0
        name = driver.get(bit)
        if name is None:          # module input
            return None if source_bits is not None else 0
        c = cells[name]
        if SEQ.match(c["type"]):
            if source_bits is None or bit in source_bits:
                return 0
            return None
        if name in memo:
            return memo[name]
        memo[name] = None
        ins = [level(b) for p, bits in c["connections"].items()
               if c["port_directions"].get(p) == "input" for b in bits]
        ins = [x for x in ins if x is not None]
        own = 1 if LUT.match(c["type"]) else 0
        memo[name] = (max(ins) + own) if ins else None
        return memo[name]

    ends = []
    for name, c in cells.items():
        if SEQ.match(c["type"]):
            for p in ("D",):
                ends += c["connections"].get(p, [])
    for port in mod["ports"].values():
        if port["direction"] == "output":
            ends += port["bits"]
    sys.setrecursionlimit(100000)
    found = [level(b) for b in ends]
    found = [x for x in found if x is not None]
    return (max(found) if found else 0), memo


def recurrence_depth(mod):
    """LUT levels from the register `s` back to its own inputs."""
    s_bits = set()
    for name, net in mod["netnames"].items():
        if name == "s":
            s_bits = set(net["bits"])
    cells = mod["cells"]
    s_d = []
    for c in cells.values():
        if SEQ.match(c["type"]) and any(b in s_bits for b in c["connections"].get("Q", [])):
            s_d += c["connections"].get("D", [])
    _, memo = depths(mod, source_bits=s_bits)
    driver = {}
    for name, c in cells.items():
        for port, bits in c["connections"].items():
            if c["port_directions"].get(port) == "output":
                for b in bits:
                    driver[b] = name
    found = [memo.get(driver.get(b)) for b in s_d]
    found = [x for x in found if x is not None]
    return max(found) if found else 0


def xilinx(vfile, top, work):
    js = os.path.join(work, top + ".xcup.json")
    run(["yosys", "-q", "-p", f"read_verilog {vfile}; synth_xilinx -family xcup -top {top} -flatten -nowidelut; "
         f"write_json {js}"], os.path.join(work, top + ".xcup.log"))
    mod = netlist(js, top)
    types = [c["type"] for c in mod["cells"].values()]
    luts = sum(1 for t in types if LUT.match(t))
    srls = sum(1 for t in types if LUT_SITE.match(t) and not LUT.match(t))
    ffs = sum(1 for t in types if FF.match(t))
    depth, _ = depths(mod)
    return luts, srls, ffs, depth, recurrence_depth(mod)


def wrapper(top, bits, lb):
    return f"""// synth.py's place-and-route wrapper for {top}: inputs from an LFSR through shift registers.
module pnr_{top} (input wire clk, output reg o);
  reg [60:0] lfsr = 61'h1;
  reg [{bits - 1}:0] sr;
  reg [{2 * lb + 2}:0] ctl;
  wire in_ready, out_valid, out_eop;
  wire [31:0] out_crc, out_state;
  always @(posedge clk) begin
    lfsr <= {{lfsr[59:0], lfsr[60] ^ lfsr[59] ^ lfsr[45] ^ lfsr[44]}};
    sr <= {{sr[{bits - 2}:0], lfsr[0]}};
    ctl <= {{ctl[{2 * lb + 1}:0], lfsr[7]}};
    o <= ^{{out_crc, out_state, out_valid, out_eop, in_ready}};
  end
  {top} dut (.clk(clk), .rst(1'b0), .in_valid(ctl[0]), .in_sop(ctl[1]), .in_eop(ctl[2]),
    .in_first(ctl[{2 + lb}:3]), .in_last(ctl[{2 + 2 * lb}:{3 + lb}]), .in_data(sr), .in_ready(in_ready),
    .out_valid(out_valid), .out_eop(out_eop), .out_crc(out_crc), .out_state(out_state));
endmodule
"""


def ice40(vfile, top, bits, work):
    lb = (bits // 8 - 1).bit_length()
    wv = os.path.join(work, f"pnr_{top}.v")
    with open(wv, "w", encoding="utf-8") as fh:
        fh.write(wrapper(top, bits, lb))
    js = os.path.join(work, top + ".ice40.json")
    run(["yosys", "-q", "-p", f"read_verilog {vfile} {wv}; synth_ice40 -top pnr_{top} -json {js}"],
        os.path.join(work, top + ".ice40.yosys.log"))
    log = os.path.join(work, top + ".nextpnr.log")
    run(["nextpnr-ice40", "--hx8k", "--package", "ct256", "--json", js, "--freq", "150", "--seed", "1", "--timing-allow-fail",
         "--pcf-allow-unconstrained"], log)
    with open(log, encoding="utf-8") as fh:
        text = fh.read()
    fmax = re.findall(r"Max frequency for clock\s+'[^']*':\s+([0-9.]+) MHz", text)
    cells = re.findall(r"ICESTORM_LC:\s+(\d+)/\s*(\d+)", text)
    return (float(fmax[-1]) if fmax else 0.0), (f"{cells[-1][0]} / {cells[-1][1]}" if cells else "?")


def table(rows, pnr):
    out = ["| block | bus | logic LUTs | + SRL16E (delay lines) | FF | LUT levels (deepest path) | "
           "recurrence levels (s to s) | iCE40-HX8K Fmax (proxy) | iCE40 logic cells | throughput at the proxy Fmax |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if pnr:
            fmax = f"{r['fmax']:.1f} MHz"
            thr = f"{r['fmax'] * r['bits'] / 1000:.1f} Gbit/s"
            cells = r["cells"]
        else:
            fmax = cells = thr = "not run"
        out.append(f"| `{r['top']}` (start/end lanes) | {r['bits']} bit | {r['luts']:,} | {r['srls']:,} | {r['ffs']:,} | "
                   f"{r['depth']} | {r['rec']} | {fmax} | {cells} | {thr} |")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gen-dir", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--blocks", default="hw_crc32c_w64,hw_crc32c_w512")
    ap.add_argument("--pnr", action="store_true")
    ap.add_argument("--write-doc")
    ap.add_argument("--check-doc")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    rows = []
    for top in args.blocks.split(","):
        bits = int(re.search(r"_w(\d+)$", top).group(1))
        v = os.path.join(os.path.abspath(args.gen_dir), top + ".v")
        luts, srls, ffs, depth, rec = xilinx(v, top, args.work)
        row = {"top": top, "bits": bits, "luts": luts, "srls": srls, "ffs": ffs, "depth": depth, "rec": rec}
        if args.pnr:
            row["fmax"], row["cells"] = ice40(v, top, bits, args.work)
        rows.append(row)
        print(f"{top}: {row}", file=sys.stderr)
    text = table(rows, args.pnr)
    sys.stdout.write(text)
    doc = args.write_doc or args.check_doc
    if doc:
        with open(doc, encoding="utf-8") as fh:
            old = fh.read()
        i, j = old.index(BEGIN) + len(BEGIN), old.index(END)
        new = old[:i] + "\n" + text + old[j:]
        if args.write_doc:
            with open(doc, "w", encoding="utf-8") as fh:
                fh.write(new)
        elif new != old:
            print(f"synth: the table in {doc} is not current; run `ninja -C build hwgen-table`", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
