#!/usr/bin/env python3
"""The generated Wireshark dissector (iwkit.lua) against iwdump, FPDU by FPDU (standard library only).

    test_dissector.py LUA IWDUMP IWPING CAPTURES_DIR

For every shared capture and for iwping recordings (MPA rev 1/2, CRC on/off, Markers on/off, each
RTR type, Sends, Writes with Immediate Data, Reads, atomics, FPDUs across many TCP segments with
many Markers each) it runs `tshark -X lua_script:LUA -T pdml` (the built-in iwarp_mpa dissector
disabled) and `iwdump --json`, and requires: the same MPA frames (rev, M, C, R, S, PD length,
IRD/ORD), the same FPDUs (connection, direction, stream offset), and per FPDU the same wire length,
Marker count, CRC verdict, T and L bits, opcode, STag/TO or QN/MSN/MO, payload length; no
malformed packet and no Lua error. Exit 77 when tshark is not installed.
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

# iwdump's opcode names (docs/iwdump.md), in RDMAP opcode order 0x0..0xB.
IWDUMP_OPCODES = ["rdma_write", "rdma_read_request", "rdma_read_response", "send", "send_invalidate",
                  "send_se", "send_se_invalidate", "terminate", "immediate_data", "immediate_data_se",
                  "atomic_request", "atomic_response"]

# iwping recordings: (name, arguments). Every run does Sends, Writes with Immediate Data, Reads and
# both atomics; 64 KiB messages make FPDUs that span TCP segments and hold many Markers.
IWPING_RUNS = [
    ("rev1_crc_off_mk_off", ["--mpa", "1", "--crc", "off", "--markers", "off"]),
    ("rev1_crc_on_mk_on", ["--mpa", "1", "--crc", "on", "--markers", "on"]),
    ("rev2_crc_on_mk_off_read", ["--mpa", "2", "--crc", "on", "--markers", "off", "--rtr", "read"]),
    ("rev2_crc_off_mk_on_write", ["--mpa", "2", "--crc", "off", "--markers", "on", "--rtr", "write"]),
    ("rev2_crc_on_mk_on_send", ["--mpa", "2", "--crc", "on", "--markers", "on", "--rtr", "send"]),
    ("rev2_crc_off_mk_off_none", ["--mpa", "2", "--crc", "off", "--markers", "off", "--rtr", "none"]),
]


def num(text):
    return int(text, 0)


def iwdump_records(iwdump, pcap):
    out = subprocess.run([iwdump, "--json", "--quiet", pcap], capture_output=True, text=True, timeout=120)
    if out.returncode not in (0, 2):
        raise AssertionError(f"iwdump failed on {pcap}: {out.stderr}")
    recs = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    initiator = {}
    for r in recs:
        if r["kind"] == "mpa_req":
            initiator[r["flow"]] = r["src"]
    frames, fpdus = {}, {}
    for r in recs:
        if r["kind"] not in ("mpa_req", "mpa_rep", "fpdu"):
            continue
        key = (initiator.get(r["flow"]), r["dir"], r["stream_offset"])
        if r["kind"] == "fpdu":
            want = {"wire_len": r["wire_len"], "markers": r["markers"], "crc": r["crc"],
                    "t": int(r["tagged"]), "l": int(r["last"]), "opcode": IWDUMP_OPCODES.index(r["opcode"]),
                    "payload_len": r["payload_len"]}
            if r["tagged"]:
                want.update(stag=num(r["stag"]), to=num(r["to"]))
            else:
                want.update(qn=r["qn"], msn=r["msn"], mo=r["mo"])
            fpdus[key] = want
        else:
            want = {"kind": r["kind"], "rev": r["rev"], "m": int(r["marker_flag"]), "c": int(r["crc_flag"]),
                    "r": int(r["reject"]), "s": int(r["s_flag"]), "pd_length": r["pd_len"]}
            if "ird" in r:
                want.update(ird=r["ird"], ord=r["ord"])
            frames[key] = want
    return frames, fpdus


def first(elem, name):
    """show= of the first field called name under elem (document order: outer headers first)."""
    for f in elem.iter("field"):
        if f.get("name") == name:
            return f.get("show")
    return None


def dissector_records(lua, pcap):
    out = subprocess.run(["tshark", "-X", f"lua_script:{lua}", "--disable-protocol", "iwarp_mpa",
                          "-r", pcap, "-T", "pdml"], capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise AssertionError(f"tshark failed on {pcap}: {out.stderr}")
    errs = [l for l in out.stderr.splitlines() if "Running as user" not in l and l.strip()]
    if errs:
        raise AssertionError(f"tshark on {pcap} printed: {errs[:5]}")
    root = ET.fromstring(out.stdout)
    frames, fpdus, problems = {}, {}, []
    for pkt in root.iter("packet"):
        protos = {p.get("name"): p for p in pkt.findall("proto")}
        ip = protos.get("ip") or protos.get("ipv6")
        tcp = protos.get("tcp")
        for p in pkt.findall("proto"):
            if p.get("name") == "_ws.malformed" or "Lua Error" in (p.get("showname") or ""):
                problems.append(f"frame {first(protos['frame'], 'frame.number')}: {p.get('name')}: {p.get('showname')}")
            for f in p.iter("field"):
                if f.get("name") in ("_ws.malformed", "_ws.lua.error") or "Lua Error" in (f.get("showname") or ""):
                    problems.append(f"frame {first(protos['frame'], 'frame.number')}: {f.get('showname')}")
            if p.get("name") != "iwkit" or first(p, "iwkit.kind") is None:
                continue
            src = f"{first(ip, ip.get('name') + '.src')}:{first(tcp, 'tcp.srcport')}"
            dst = f"{first(ip, ip.get('name') + '.dst')}:{first(tcp, 'tcp.dstport')}"
            kind, d = first(p, "iwkit.kind"), first(p, "iwkit.dir")
            key = (src if d == "c2s" else dst, d, num(first(p, "iwkit.stream_offset")))
            if kind == "fpdu":
                tagged = first(p, "iwkit.ddp_tagged.t") is not None
                hdr = "iwkit.ddp_tagged" if tagged else "iwkit.ddp_untagged"
                ulp = "iwkit.rdmap_ctrl" if tagged else "iwkit.rdmap_untagged_ulp"
                got = {"wire_len": num(first(p, "iwkit.fpdu.wire_len")), "markers": num(first(p, "iwkit.fpdu.markers")),
                       "crc": first(p, "iwkit.fpdu.crc_status"), "t": num(first(p, hdr + ".t")),
                       "l": num(first(p, hdr + ".l")), "opcode": num(first(p, ulp + ".opcode")),
                       "payload_len": num(first(p, "iwkit.payload_len"))}
                for name in (("stag", "to") if tagged else ("qn", "msn", "mo")):
                    got[name] = num(first(p, f"{hdr}.{name}"))
                fpdus[key] = got
            else:
                h = "iwkit.mpa_request" if kind == "mpa_req" else "iwkit.mpa_reply"
                got = {"kind": kind}
                for name in ("rev", "m", "c", "r", "s", "pd_length"):
                    got[name] = num(first(p, f"{h}.{name}"))
                if first(p, "iwkit.mpa_v2_params.ird") is not None:
                    got.update(ird=num(first(p, "iwkit.mpa_v2_params.ird")), ord=num(first(p, "iwkit.mpa_v2_params.ord")))
                frames[key] = got
    return frames, fpdus, problems


def compare(name, lua, iwdump, pcap):
    """List of differences (empty when the dissector and iwdump agree); counts."""
    wf, wp = iwdump_records(iwdump, pcap)
    gf, gp, problems = dissector_records(lua, pcap)
    diffs = list(problems)
    for what, want, got in (("MPA frame", wf, gf), ("FPDU", wp, gp)):
        for k in sorted(set(want) | set(got), key=str):
            if k not in got:
                diffs.append(f"{what} {k}: iwdump has it, the dissector does not")
            elif k not in want:
                diffs.append(f"{what} {k}: the dissector has it, iwdump does not")
            elif want[k] != got[k]:
                diffs.append(f"{what} {k}: iwdump {want[k]} != dissector {got[k]}")
    markers = sum(v["markers"] for v in wp.values())
    return diffs, len(wf), len(wp), markers


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 1
    lua, iwdump, iwping, captures = sys.argv[1:]
    if shutil.which("tshark") is None:
        print("tshark not installed: skipped")
        return 77
    pcaps = sorted(glob.glob(os.path.join(captures, "**", "*.pcap"), recursive=True))
    if not pcaps:
        print(f"no captures in {captures}", file=sys.stderr)
        return 1
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, args in IWPING_RUNS:
            path = os.path.join(tmp, name + ".pcap")
            r = subprocess.run([iwping, "--loopback", "--size", "64k", "--count", "3", "--quiet",
                                "--pcap", path] + args, capture_output=True, text=True, timeout=120)
            if r.returncode != 0:
                print(f"FAIL iwping {name}: {r.stdout}{r.stderr}")
                failed += 1
                continue
            pcaps.append(path)
        for pcap in pcaps:
            name = os.path.relpath(pcap, captures) if pcap.startswith(captures) else "iwping/" + os.path.basename(pcap)
            diffs, nf, np_, nm = compare(name, lua, iwdump, pcap)
            if diffs:
                failed += 1
                print(f"FAIL {name}: {len(diffs)} difference(s)")
                for d in diffs[:10]:
                    print("    " + d)
            else:
                print(f"ok   {name}: {nf} MPA frames, {np_} FPDUs, {nm} Markers agree")
    print(f"{len(pcaps) - failed} of {len(pcaps)} captures agree" if not failed else f"{failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
