/*
 * Throughput of CRC32c (RFC 5044 §4.4 / RFC 3720 §12.1) on 64 KiB buffers: the fast path
 * (iwk_crc32c_update: ISA-L crc32_iscsi with IWK_HAVE_ISAL, else the reference) against the
 * proven bitwise reference (iwk_crc32c_ref).  Prints GB/s (10^9 octets per second); no
 * assertions on timing.  Usage: crc32c_bench [seconds per measurement, default 1].
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime under -std=c11 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "iwkit/crc32c.h"

#define BENCH_BUF_LEN (64u * 1024u)

typedef uint32_t (*update_fn)(uint32_t state, const uint8_t *buf, size_t len);

static double now_seconds(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs fn over buf repeatedly for about `seconds`; returns GB/s.  *sink keeps the work alive. */
static double measure(update_fn fn, const uint8_t *buf, double seconds, uint32_t *sink)
{
    uint32_t s = iwk_crc32c_init();
    uint64_t octets = 0;
    double start = now_seconds();
    double elapsed = 0.0;
    while (elapsed < seconds) {
        for (int i = 0; i < 16; i++) {
            s = fn(s, buf, BENCH_BUF_LEN);
        }
        octets += 16u * (uint64_t)BENCH_BUF_LEN;
        elapsed = now_seconds() - start;
    }
    *sink ^= s;
    return (double)octets / elapsed / 1e9;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    uint8_t *buf = malloc(BENCH_BUF_LEN);
    uint32_t sink = 0;
    int rc = 1;
    if (buf != NULL && seconds > 0.0) {
        uint32_t x = 0x9E3779B9u;
        for (size_t i = 0; i < BENCH_BUF_LEN; i++) {
            x = x * 1664525u + 1013904223u;
            buf[i] = (uint8_t)(x / 16777216u);
        }
        (void)measure(iwk_crc32c_update, buf, seconds / 4.0, &sink); /* warm-up */
        double fast = measure(iwk_crc32c_update, buf, seconds, &sink);
        double ref = measure(iwk_crc32c_ref, buf, seconds, &sink);
#if defined(IWK_HAVE_ISAL)
        const char *impl = "ISA-L crc32_iscsi";
#else
        const char *impl = "reference (no ISA-L)";
#endif
        printf("crc32c 64 KiB buffers\n");
        printf("  fast path (%s): %8.2f GB/s\n", impl, fast);
        printf("  reference (bitwise, proven): %8.3f GB/s\n", ref);
        printf("  ratio: %.0fx   (sink %08x)\n", fast / ref, (unsigned)sink);
        rc = 0;
    }
    free(buf);
    return rc;
}
