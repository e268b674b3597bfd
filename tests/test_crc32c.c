/*
 * Unit tests for CRC32c (include/iwkit/crc32c.h): RFC 3720 B.4 vectors, the check value, MPA
 * FPDUs from RFC 5044 §4.4 and from a real capture, fast path == proven reference, incremental
 * update over arbitrary splits, and the CRC field's wire order.
 */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, MAP_NORESERVE under -std=c11 */
#endif

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "iwkit/crc32c.h"

/* The 4 GiB test needs ISA-L, 64-bit sizes and the default 1 GiB chunk (a build that sets a tiny
 * IWK_CRC32C_CHUNK to exercise the chunk loop would make it far too slow). */
#if defined(IWK_HAVE_ISAL) && SIZE_MAX > 0xFFFFFFFFu && !defined(IWK_CRC32C_CHUNK)
#include <sys/mman.h>
#define IWK_TEST_HUGE 1
#endif

/* ---------------------------------------------------------------------------------------- */
/* helpers */

/* Deterministic xorshift32 generator, so that a failure reproduces. */
static uint32_t rng_state = 0x1234567u;

static uint32_t rng_next(void)
{
    uint32_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    rng_state = x;
    return x;
}

/* Uniform-enough value in [0, bound] (bound < 2^32 - 1). */
static size_t rng_upto(size_t bound)
{
    return (size_t)(rng_next() % (uint32_t)(bound + 1u));
}

static void fill_random(uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)(rng_next() / 16777216u);
    }
}

/* CRC32c of buf with both the fast path and the reference; asserts they agree. */
static uint32_t crc_both(const uint8_t *buf, size_t len)
{
    uint32_t fast = iwk_crc32c(buf, len);
    uint32_t ref = iwk_crc32c_final(iwk_crc32c_ref(iwk_crc32c_init(), buf, len));
    assert_int_equal(fast, ref);
    return fast;
}

/* Checks buf's CRC against the 4 octets an RFC or a capture shows in the CRC field. */
static void check_wire_vector(const uint8_t *buf, size_t len, const uint8_t want[4])
{
    uint8_t got[IWK_CRC32C_WIRE_LEN];
    uint32_t crc = crc_both(buf, len);
    iwk_crc32c_put_wire(got, crc);
    assert_memory_equal(got, want, IWK_CRC32C_WIRE_LEN);
    assert_int_equal(iwk_crc32c_get_wire(want), crc);
}

/* ---------------------------------------------------------------------------------------- */
/* RFC 3720 Appendix B.4: CRC octets as listed there (transmission order). */

static void test_rfc3720_zeros(void **state)
{
    (void)state;
    uint8_t buf[32];
    static const uint8_t want[4] = {0xaa, 0x36, 0x91, 0x8a};
    memset(buf, 0x00, sizeof buf);
    check_wire_vector(buf, sizeof buf, want);
    assert_int_equal(iwk_crc32c(buf, sizeof buf), 0x8A9136AAu);
}

static void test_rfc3720_ones(void **state)
{
    (void)state;
    uint8_t buf[32];
    static const uint8_t want[4] = {0x43, 0xab, 0xa8, 0x62};
    memset(buf, 0xff, sizeof buf);
    check_wire_vector(buf, sizeof buf, want);
    assert_int_equal(iwk_crc32c(buf, sizeof buf), 0x62A8AB43u);
}

static void test_rfc3720_incrementing(void **state)
{
    (void)state;
    uint8_t buf[32];
    static const uint8_t want[4] = {0x4e, 0x79, 0xdd, 0x46};
    for (size_t i = 0; i < sizeof buf; i++) {
        buf[i] = (uint8_t)i;
    }
    check_wire_vector(buf, sizeof buf, want);
}

static void test_rfc3720_decrementing(void **state)
{
    (void)state;
    uint8_t buf[32];
    static const uint8_t want[4] = {0x5c, 0xdb, 0x3f, 0x11};
    for (size_t i = 0; i < sizeof buf; i++) {
        buf[i] = (uint8_t)(31u - i);
    }
    check_wire_vector(buf, sizeof buf, want);
}

static void test_rfc3720_read_pdu(void **state)
{
    (void)state;
    static const uint8_t pdu[48] = {
        0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
        0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    };
    static const uint8_t want[4] = {0x56, 0x3a, 0x96, 0xd9};
    check_wire_vector(pdu, sizeof pdu, want);
}

/* The CRC-32C check value (CRC catalogue): "123456789" -> 0xE3069283. */
static void test_check_value(void **state)
{
    (void)state;
    static const uint8_t msg[9] = {'1', '2', '3', '4', '5', '6', '7', '8', '9'};
    assert_int_equal(crc_both(msg, sizeof msg), 0xE3069283u);
    /* The register before the final complement (what crc32_iscsi returns from 0xFFFFFFFF). */
    assert_int_equal(iwk_crc32c_update(iwk_crc32c_init(), msg, sizeof msg), 0x1CF96D7Cu);
    assert_int_equal(iwk_crc32c_ref(IWK_CRC32C_INIT, msg, sizeof msg), 0x1CF96D7Cu);
}

static void test_init_final_empty(void **state)
{
    (void)state;
    assert_int_equal(iwk_crc32c_init(), 0xFFFFFFFFu);
    assert_int_equal(iwk_crc32c_final(0xFFFFFFFFu), 0u);
    assert_int_equal(iwk_crc32c_final(0x1CF96D7Cu), 0xE3069283u);
    /* Zero octets leave any register unchanged; NULL is allowed when len is 0. */
    assert_int_equal(iwk_crc32c_update(0x12345678u, NULL, 0), 0x12345678u);
    assert_int_equal(iwk_crc32c_ref(0x12345678u, NULL, 0), 0x12345678u);
    assert_int_equal(iwk_crc32c(NULL, 0), 0u);
}

/* ---------------------------------------------------------------------------------------- */
/* MPA FPDUs (RFC 5044 §4.4: CRC over [Marker] ULPDU_Length, ULPDU, Markers, PAD). */

/*
 * softiwarp-2008/snd_recv_crc.pcap, frame 7 (10.0.0.18:4210 -> 10.0.0.19:55866, RDMA Send, last
 * segment, MSN 1): TCP payload = ULPDU_Length 0x0022, 34-octet DDP/RDMAP segment, no pad, CRC
 * field 51 16 f0 74 (Wireshark: "CRC check: 0x5116f074 (Good CRC32)"), i.e. CRC 0x74F01651.
 */
static const uint8_t capture_fpdu[40] = {
    0x00, 0x22, 0x41, 0x43, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
    0x00, 0xb0, 0x05, 0x08, 0x00, 0x00, 0x00, 0x00, 0x51, 0x16, 0xf0, 0x74,
};

static void test_capture_fpdu(void **state)
{
    (void)state;
    const size_t covered = sizeof capture_fpdu - IWK_CRC32C_WIRE_LEN;
    check_wire_vector(capture_fpdu, covered, capture_fpdu + covered);
    assert_int_equal(iwk_crc32c(capture_fpdu, covered), 0x74F01651u);
}

/* RFC 5044 §4.4 Figure 5: first FPDU of a stream, preceded by a Marker (included in the CRC). */
static void test_rfc5044_figure5(void **state)
{
    (void)state;
    uint8_t fpdu[48];
    static const uint8_t want[4] = {0x52, 0x23, 0x99, 0x83};
    static const uint8_t head[20] = {
        0x00, 0x00, 0x00, 0x00,             /* Marker: reserved, FPDUPTR 0 */
        0x00, 0x2a,                         /* ULPDU_Length 42 */
        0x41, 0x43,                         /* DDP control: Send, Last */
        0x00, 0x00, 0x00, 0x00,             /* reserved (no STag) */
        0x00, 0x00, 0x00, 0x00,             /* QN 0 */
        0x00, 0x00, 0x00, 0x01,             /* MSN 1 */
    };
    memset(fpdu, 0, sizeof fpdu);           /* MO 0 and 24 octets of zero Send data */
    memcpy(fpdu, head, sizeof head);
    check_wire_vector(fpdu, sizeof fpdu, want);
}

/*
 * RFC 5044 §4.4 Figure 6: second FPDU (stream offset 0x1ec); a Marker at stream offset 0x200
 * interrupts the ULPDU and is included in the CRC.  Computed incrementally as a receiver that
 * gets the FPDU in pieces would: header, Marker, data, each from its own buffer.
 */
static void test_rfc5044_figure6_incremental(void **state)
{
    (void)state;
    static const uint8_t before_marker[20] = {
        0x00, 0x2a, 0x41, 0x43, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00,
    };
    static const uint8_t marker[4] = {0x00, 0x00, 0x00, 0x14}; /* FPDUPTR 0x14 back to 0x1ec */
    static const uint8_t data[24] = {0};
    static const uint8_t want[4] = {0x84, 0x92, 0x58, 0x98};
    uint8_t whole[48];
    uint8_t got[4];

    uint32_t s = iwk_crc32c_init();
    s = iwk_crc32c_update(s, before_marker, sizeof before_marker);
    s = iwk_crc32c_update(s, marker, sizeof marker);
    s = iwk_crc32c_update(s, data, sizeof data);
    iwk_crc32c_put_wire(got, iwk_crc32c_final(s));
    assert_memory_equal(got, want, 4);

    uint32_t r = iwk_crc32c_init();
    r = iwk_crc32c_ref(r, before_marker, sizeof before_marker);
    r = iwk_crc32c_ref(r, marker, sizeof marker);
    r = iwk_crc32c_ref(r, data, sizeof data);
    assert_int_equal(r, s);

    memcpy(whole, before_marker, 20);
    memcpy(whole + 20, marker, 4);
    memcpy(whole + 24, data, 24);
    check_wire_vector(whole, sizeof whole, want);
}

/*
 * A receiver may also run the CRC field itself through the register: for every valid FPDU the
 * register then holds the CRC-32C residue 0xB798B438, whatever the data.
 */
static void test_residue(void **state)
{
    (void)state;
    uint32_t s = iwk_crc32c_update(iwk_crc32c_init(), capture_fpdu, sizeof capture_fpdu);
    assert_int_equal(s, 0xB798B438u);
    uint8_t bad[sizeof capture_fpdu];
    memcpy(bad, capture_fpdu, sizeof bad);
    bad[5] ^= 0x01u;                        /* one flipped bit: detected */
    assert_int_not_equal(iwk_crc32c_update(iwk_crc32c_init(), bad, sizeof bad), 0xB798B438u);
    assert_int_not_equal(iwk_crc32c(bad, sizeof bad - 4u), 0x74F01651u);
}

/* ---------------------------------------------------------------------------------------- */
/* Wire order (RFC 5044 §4.4, RFC 3720 B.4): least-significant octet first. */

static void test_wire_order(void **state)
{
    (void)state;
    uint8_t out[IWK_CRC32C_WIRE_LEN];
    static const uint8_t siw[4] = {0xf5, 0x51, 0x56, 0x35};
    iwk_crc32c_put_wire(out, 0x355651F5u);
    assert_memory_equal(out, siw, 4);
    assert_int_equal(iwk_crc32c_get_wire(siw), 0x355651F5u);

    static const uint8_t ends[4] = {0x00, 0x00, 0x00, 0xff};
    assert_int_equal(iwk_crc32c_get_wire(ends), 0xFF000000u);
    iwk_crc32c_put_wire(out, 0x000000FFu);
    assert_int_equal(out[0], 0xffu);
    assert_int_equal(out[3], 0x00u);

    for (int i = 0; i < 1000; i++) {
        uint32_t v = rng_next();
        iwk_crc32c_put_wire(out, v);
        assert_int_equal(iwk_crc32c_get_wire(out), v);
        assert_int_equal(out[1], (v / 256u) % 256u);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Fast path == reference, incremental == one-shot. */

#define BIG_LEN 70000u
#define ALIGN_SLACK 16u

/* Fast path and reference agree on one buffer, from the preset and from a random register. */
static void check_equal_paths(const uint8_t *buf, size_t len)
{
    uint32_t start = rng_next();
    (void)crc_both(buf, len);
    assert_int_equal(iwk_crc32c_update(start, buf, len), iwk_crc32c_ref(start, buf, len));
}

static void test_fast_equals_ref(void **state)
{
    (void)state;
    uint8_t *mem = malloc(BIG_LEN + ALIGN_SLACK);
    assert_non_null(mem);
    fill_random(mem, BIG_LEN + ALIGN_SLACK);

    /* Every length up to 1100 (all SIMD tails and block sizes), at every alignment mod 16. */
    for (size_t len = 0; len <= 1100u; len++) {
        check_equal_paths(mem + len % ALIGN_SLACK, len);
    }
    /* Lengths around the 64 KiB and power-of-two boundaries, then random ones up to 70000. */
    static const size_t edges[] = {2047, 2048, 2049, 4095, 4096, 4097, 8191, 8192, 8193,
                                   16384, 32767, 32768, 65535, 65536, 65537, 69999, 70000};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        check_equal_paths(mem + i % ALIGN_SLACK, edges[i]);
    }
    for (int i = 0; i < 40; i++) {
        size_t len = rng_upto(BIG_LEN);
        check_equal_paths(mem + rng_upto(ALIGN_SLACK - 1u), len);
    }
    free(mem);
}

/* Feeds buf in `parts` random pieces through both paths; both must equal the one-shot value. */
static void check_split(const uint8_t *buf, size_t len, int parts)
{
    uint32_t one_shot = iwk_crc32c_update(iwk_crc32c_init(), buf, len);
    uint32_t fast = iwk_crc32c_init();
    uint32_t ref = iwk_crc32c_init();
    size_t off = 0;
    for (int p = 1; p < parts; p++) {
        size_t n = rng_upto(len - off);
        fast = iwk_crc32c_update(fast, buf + off, n);
        ref = iwk_crc32c_ref(ref, buf + off, n);
        off += n;
    }
    fast = iwk_crc32c_update(fast, buf + off, len - off);
    ref = iwk_crc32c_ref(ref, buf + off, len - off);
    assert_int_equal(fast, one_shot);
    assert_int_equal(ref, one_shot);
}

static void test_incremental_splits(void **state)
{
    (void)state;
    uint8_t *buf = malloc(BIG_LEN);
    assert_non_null(buf);
    fill_random(buf, BIG_LEN);

    /* Every split point of a short buffer (1-octet pieces included). */
    for (size_t cut = 0; cut <= 100u; cut++) {
        uint32_t a = iwk_crc32c_update(iwk_crc32c_init(), buf, cut);
        a = iwk_crc32c_update(a, buf + cut, 100u - cut);
        assert_int_equal(a, iwk_crc32c_update(iwk_crc32c_init(), buf, 100u));
    }
    /* Octet at a time, reference against fast path. */
    uint32_t bytewise = iwk_crc32c_init();
    for (size_t i = 0; i < 3000u; i++) {
        bytewise = iwk_crc32c_update(bytewise, buf + i, 1u);
    }
    assert_int_equal(bytewise, iwk_crc32c_ref(iwk_crc32c_init(), buf, 3000u));
    /* Random lengths, random 2..9-way splits. */
    for (int i = 0; i < 30; i++) {
        size_t len = rng_upto(BIG_LEN);
        check_split(buf, len, 2 + (int)rng_upto(7u));
    }
    check_split(buf, BIG_LEN, 5);
    free(buf);
}

/*
 * crc32_iscsi takes an int length: a buffer longer than INT_MAX must be fed in chunks.  Reads
 * 2^32 + 12 zero octets (a length that an int or a 32-bit register truncates to 12) from an
 * anonymous read-only mapping, which is all the shared zero page, in one call and in 1 MiB calls.
 * Only with ISA-L: the bitwise reference would take far too long.
 */
static void test_longer_than_int_max(void **state)
{
    (void)state;
#if defined(IWK_TEST_HUGE)
    const size_t len = ((size_t)1u << 32) + 12u;
    const size_t step = (size_t)1u << 20;
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (map == MAP_FAILED) {
        skip();
    }
    const uint8_t *z = map;
    uint32_t whole = iwk_crc32c_update(iwk_crc32c_init(), z, len);
    uint32_t pieces = iwk_crc32c_init();
    for (size_t off = 0; off < len; off += step) {
        size_t n = len - off < step ? len - off : step;
        pieces = iwk_crc32c_update(pieces, z + off, n);
    }
    assert_int_equal(whole, pieces);
    /* Sanity: the long run is not mistaken for a short one. */
    assert_int_not_equal(whole, iwk_crc32c_update(iwk_crc32c_init(), z, 12u));
    munmap(map, len);
#else
    skip();
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3720_zeros),
        cmocka_unit_test(test_rfc3720_ones),
        cmocka_unit_test(test_rfc3720_incrementing),
        cmocka_unit_test(test_rfc3720_decrementing),
        cmocka_unit_test(test_rfc3720_read_pdu),
        cmocka_unit_test(test_check_value),
        cmocka_unit_test(test_init_final_empty),
        cmocka_unit_test(test_capture_fpdu),
        cmocka_unit_test(test_rfc5044_figure5),
        cmocka_unit_test(test_rfc5044_figure6_incremental),
        cmocka_unit_test(test_residue),
        cmocka_unit_test(test_wire_order),
        cmocka_unit_test(test_fast_equals_ref),
        cmocka_unit_test(test_incremental_splits),
        cmocka_unit_test(test_longer_than_int_max),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
