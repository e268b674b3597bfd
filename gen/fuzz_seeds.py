#!/usr/bin/env python3
"""fuzz_seeds.py: seed inputs for fuzz/'s harnesses, from the spec and the shared captures.

    fuzz_seeds.py --out DIR --golden-dir tests/golden [--captures DIR] SPEC...

Writes DIR/<harness>/ for the harnesses whose input format is a plain function of the model
(fuzz/README.md describes each format):
  parse       one seed per golden vector of tests/golden/*.txt (`HEADER HEX` lines): octet 0 is the
              header's index in iwk_headers[] (the spec's order, as the generated catalog has it),
              then the vector's octets; plus every header's minimum size of zero octets
  fsm         one short seed per `compose` item (octet 0 picks it)
  mpa_stream  each capture's first TCP connection that carries an MPA key, as its two byte streams
              from that segment on (in sequence order, each octet once), cut to 64 KiB per direction
  iwdump      each capture file cut after its first 64 KiB of packets
(fuzz_rx's seeds need the runtime's STags and addresses: that harness writes them itself.)
Standard library only.
"""
import argparse
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from iwkspec.loader import load  # noqa: E402

LIMIT = 64 * 1024


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)


def parse_seeds(spec, golden_dir, out):
    headers = [h.name for h in spec.all_headers()]
    n = 0
    for i, h in enumerate(spec.all_headers()):
        write(os.path.join(out, "parse", f"{h.name}-zero"), bytes([i]) + bytes(h.min_size))
    for fn in sorted(os.listdir(golden_dir)):
        if not fn.endswith(".txt"):
            continue
        with open(os.path.join(golden_dir, fn), encoding="utf-8") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) < 2 or parts[0] not in headers:
                    continue
                try:
                    raw = bytes.fromhex(parts[1])
                except ValueError:
                    continue
                write(os.path.join(out, "parse", f"{parts[0]}-{n:03d}"), bytes([headers.index(parts[0])]) + raw)
                n += 1


def fsm_seeds(spec, out):
    for i, c in enumerate(spec.all_composes()):
        write(os.path.join(out, "fsm", f"{c.name}"), bytes([i]) + bytes(16))


def pcap_packets(data):
    """(link type, header bytes, [(record header, packet)]) of a classic pcap file, or None."""
    if len(data) < 24:
        return None
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return None
    linktype = struct.unpack(e + "I", data[20:24])[0]
    pkts, off = [], 24
    while off + 16 <= len(data):
        incl = struct.unpack(e + "I", data[off + 8:off + 12])[0]
        pkts.append((data[off:off + 16], data[off + 16:off + 16 + incl]))
        off += 16 + incl
    return linktype, data[:24], pkts


def tcp_of(linktype, pkt):
    """(src, dst, seq, flags, payload) of an Ethernet/IPv4-or-IPv6/TCP packet, or None."""
    if linktype != 1 or len(pkt) < 14:
        return None
    et, off = struct.unpack(">H", pkt[12:14])[0], 14
    while et in (0x8100, 0x88A8) and len(pkt) >= off + 4:
        et, off = struct.unpack(">H", pkt[off + 2:off + 4])[0], off + 4
    if et == 0x0800 and len(pkt) >= off + 20:
        ihl, tot = (pkt[off] & 15) * 4, struct.unpack(">H", pkt[off + 2:off + 4])[0]
        if pkt[off + 9] != 6:
            return None
        src, dst, end, off = pkt[off + 12:off + 16], pkt[off + 16:off + 20], off + tot, off + ihl
    elif et == 0x86DD and len(pkt) >= off + 40:
        if pkt[off + 6] != 6:
            return None
        plen = struct.unpack(">H", pkt[off + 4:off + 6])[0]
        src, dst, end, off = pkt[off + 8:off + 24], pkt[off + 24:off + 40], off + 40 + plen, off + 40
    else:
        return None
    if len(pkt) < off + 20:
        return None
    sport, dport, seq = struct.unpack(">HHI", pkt[off:off + 8])
    doff, flags = (pkt[off + 12] >> 4) * 4, pkt[off + 13]
    return (src, sport), (dst, dport), seq, flags, pkt[off + doff:min(end, len(pkt))]


def streams(linktype, pkts, keys):
    """The two directions of the first connection that carries an MPA key (the spec's string
    constants): payload by sequence number, each octet once."""
    first, segs = None, {}
    for _, pkt in pkts:
        t = tcp_of(linktype, pkt)
        if t is None:
            continue
        src, dst, seq, flags, payload = t
        key = (src, dst)
        if first is None and any(k in payload for k in keys):
            first = key
            segs = {}
        if first is None:
            continue
        if key not in (first, (first[1], first[0])):
            continue
        d = 0 if key == first else 1
        segs.setdefault(d, []).append((seq + (1 if flags & 2 else 0), payload, bool(flags & 2)))
    out = []
    for d in (0, 1):
        lst = segs.get(d, [])
        base = None
        for seq, payload, syn in lst:
            if syn or base is None:
                base = seq if syn or base is None else base
        buf = bytearray()
        for seq, payload, syn in sorted(lst, key=lambda s: (s[0] - base) & 0xFFFFFFFF):
            rel = (seq - base) & 0xFFFFFFFF
            if rel > len(buf) or rel + len(payload) <= len(buf):
                continue
            buf += payload[len(buf) - rel:]
            if len(buf) >= LIMIT:
                break
        out.append(bytes(buf[:LIMIT]))
    return out


def capture_seeds(captures, out, keys):
    for root, _, files in sorted(os.walk(captures)):
        for fn in sorted(files):
            if not fn.endswith(".pcap"):
                continue
            with open(os.path.join(root, fn), "rb") as fh:
                data = fh.read()
            p = pcap_packets(data)
            if p is None:
                continue
            linktype, hdr, pkts = p
            name = os.path.basename(root) + "-" + fn[:-5]
            cut, size = [hdr], 24
            for rec, pkt in pkts:
                if size + 16 + len(pkt) > LIMIT:
                    break
                cut.append(rec + pkt)
                size += 16 + len(pkt)
            write(os.path.join(out, "iwdump", name), b"".join(cut))
            s0, s1 = streams(linktype, pkts, keys)
            if s0 or s1:
                write(os.path.join(out, "mpa_stream", name),
                      b"\x12\x34\x56\x78" + struct.pack(">H", min(len(s0), 0xFFFF)) + s0[:0xFFFF] + s1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("specs", nargs="+")
    ap.add_argument("--out", required=True)
    ap.add_argument("--golden-dir", required=True)
    ap.add_argument("--captures")
    args = ap.parse_args(argv)
    spec = load(args.specs)
    parse_seeds(spec, args.golden_dir, args.out)
    fsm_seeds(spec, args.out)
    if args.captures and os.path.isdir(args.captures):
        keys = [bytes(c.value, "latin-1") if isinstance(c.value, str) else bytes(c.value)
                for layer in spec.layers for c in layer.consts if isinstance(c.value, (str, bytes))]
        capture_seeds(args.captures, args.out, keys)
    return 0


if __name__ == "__main__":
    sys.exit(main())
