"""GF(2) matrices of a reflected CRC over one bus word, derived from a spec `crc` item (model.Crc).

A matrix is a list of rows; row j is an int whose bit i says input bit i feeds output bit j. The
register update for an n-bit word is linear: s' = A(n)·s XOR B(n)·d, with d's bit k the k-th bit
on the wire (lane k//8, bit k%8: octets least-significant bit first, as a reflected CRC takes them).
Both matrices come from the bit-serial definition by superposition (one unit vector at a time).
"""
import random

from iwkspec.loader import reflect


class CrcMath:
    """Word-parallel forms of one CRC for a bus of `lanes` octets."""

    def __init__(self, crc, lanes):
        if not crc.reflected:
            raise ValueError(f"crc '{crc.name}': hwgen handles reflected CRCs only")
        if lanes & (lanes - 1):
            raise ValueError("the number of lanes must be a power of two")
        self.crc = crc
        self.width = crc.width
        self.lanes = lanes
        self.bits = 8 * lanes
        self.poly = reflect(crc.poly, crc.width)
        self.a_word, self.b_word = self.step_matrices(self.bits)
        self.a_octet, _ = self.step_matrices(8)
        inv = invert(self.a_octet, self.width)
        # seed[p] = A8^-p · init: p zero octets from it give init (the start lane's correction)
        self.seed = [apply(power(inv, p, self.width), crc.init) for p in range(lanes)]
        self.a_seed = [apply(self.a_word, v) for v in self.seed]
        # rewind[i] = A8^-(2^i): undoes 2^i trailing zero octets (the end lane's correction)
        self.rewind = [power(inv, 1 << i, self.width) for i in range(lanes.bit_length() - 1)]

    def serial(self, s, d, n):
        """The register after n data bits of d (bit 0 first): the definition."""
        for k in range(n):
            s = (s >> 1) ^ self.poly if (s ^ (d >> k)) & 1 else s >> 1
        return s

    def step_matrices(self, n):
        cols_a = [self.serial(1 << i, 0, n) for i in range(self.width)]
        cols_b = [self.serial(0, 1 << k, n) for k in range(n)]
        return transpose(cols_a, self.width), transpose(cols_b, self.width)

    def message(self, data, first, last):
        """The final CRC of the octets first..last of one word `data` (an int), through the same
        path the hardware takes: masked word, seed, full step, rewind."""
        mask = sum(0xFF << (8 * i) for i in range(first, last + 1))
        s = self.a_seed[first] ^ apply(self.b_word, data & mask)
        m = self.lanes - 1 - last
        for i, r in enumerate(self.rewind):
            if (m >> i) & 1:
                s = apply(r, s)
        return s ^ self.crc.xorout

    def self_check(self, rounds=200, seed=1):
        """Checks the matrices and the start/end identities against the bit-serial definition."""
        rng = random.Random(seed)
        for _ in range(rounds):
            s = rng.getrandbits(self.width)
            d = rng.getrandbits(self.bits)
            if apply(self.a_word, s) ^ apply(self.b_word, d) != self.serial(s, d, self.bits):
                raise AssertionError("word step matrix disagrees with the bit-serial CRC")
            first = rng.randrange(self.lanes)
            last = rng.randrange(first, self.lanes)
            octets = (d >> (8 * first)) & ((1 << (8 * (last - first + 1))) - 1)
            want = self.serial(self.crc.init, octets, 8 * (last - first + 1)) ^ self.crc.xorout
            if self.message(d, first, last) != want:
                raise AssertionError(f"start/end lanes {first}..{last}: seed or rewind is wrong")

    def tree_bound(self, rows):
        """LUT6 count of the rows as separate balanced XOR trees (no sharing): the by-construction bound."""
        return sum(luts6(bin(r).count("1")) for r in rows)


def transpose(cols, width):
    return [sum(((cols[i] >> j) & 1) << i for i in range(len(cols))) for j in range(width)]


def apply(m, v):
    return sum((bin(row & v).count("1") & 1) << j for j, row in enumerate(m))


def multiply(a, b, width):
    """a·b (apply b first, then a)."""
    cols_b = [apply(b, 1 << i) for i in range(width)]
    return transpose([apply(a, c) for c in cols_b], width)


def identity(width):
    return [1 << j for j in range(width)]


def power(m, n, width):
    result, base = identity(width), m
    while n:
        if n & 1:
            result = multiply(base, result, width)
        base = multiply(base, base, width)
        n >>= 1
    return result


def invert(m, width):
    """Inverse over GF(2) by Gauss-Jordan elimination on [m | I]."""
    rows = [(m[j], 1 << j) for j in range(width)]
    for col in range(width):
        pivot = next((r for r in range(col, width) if (rows[r][0] >> col) & 1), None)
        if pivot is None:
            raise ValueError("matrix is singular")
        rows[col], rows[pivot] = rows[pivot], rows[col]
        for r in range(width):
            if r != col and (rows[r][0] >> col) & 1:
                rows[r] = (rows[r][0] ^ rows[col][0], rows[r][1] ^ rows[col][1])
    return [rows[j][1] for j in range(width)]


def luts6(terms):
    """LUTs of a balanced tree of 6-input XORs over `terms` inputs."""
    count = 0
    while terms > 1:
        groups = (terms + 5) // 6
        count += groups
        terms = groups
    return count


def levels6(terms):
    depth = 0
    while terms > 1:
        terms = (terms + 5) // 6
        depth += 1
    return depth
