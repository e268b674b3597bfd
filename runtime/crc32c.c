/*
 * CRC32c for MPA (RFC 5044 §4.4, computed as in RFC 3720 §12.1): fast incremental update,
 * preset/complement, one-shot, and the CRC field in wire order.
 *
 * Fast path: ISA-L's crc32_iscsi when the build defines IWK_HAVE_ISAL (link with -lisal).
 * crc32_iscsi(buf, len, s) continues the uncomplemented register s and returns the new register,
 * without any inversion of its own (crc32_iscsi("123456789", 9, 0xFFFFFFFF) == 0x1CF96D7C ==
 * ~0xE3069283): exactly the convention of iwk_crc32c_update.  Without ISA-L the update is the
 * proven reference, iwk_crc32c_ref (runtime/crc32c_ref.c).
 */
#include "iwkit/crc32c.h"

#include <limits.h>

#if defined(IWK_HAVE_ISAL)
#include <isa-l/crc.h>

/* crc32_iscsi works on unsigned int; the register is exactly 32 bits. */
_Static_assert(UINT_MAX == 0xFFFFFFFFu, "crc32_iscsi's unsigned int must be 32 bits");

/*
 * crc32_iscsi takes an int length: feed at most 1 GiB per call (<= INT_MAX, a multiple of every
 * SIMD block size).  A test build may override it with a small value (-DIWK_CRC32C_CHUNK=7) to
 * exercise the chunk loop on ordinary buffers.  (ISA-L's x86-64 assembly reads the whole 64-bit
 * length register, so an unchunked (int)len of 4 GiB or more may happen to work when the compiler
 * leaves the upper half in place: do not rely on it.)
 */
#ifndef IWK_CRC32C_CHUNK
#define IWK_CRC32C_CHUNK 0x40000000
#endif
_Static_assert(IWK_CRC32C_CHUNK >= 1 && IWK_CRC32C_CHUNK <= INT_MAX,
               "IWK_CRC32C_CHUNK must be in 1 .. INT_MAX");

/* One crc32_iscsi call on n octets, 0 < n <= IWK_CRC32C_CHUNK. */
static uint32_t iwk_crc32c_isal_chunk(uint32_t state, const uint8_t *p, size_t n)
{
    /* crc32_iscsi's buffer parameter is not const-qualified, but it only reads the buffer. */
    unsigned char *q = (unsigned char *)(uintptr_t)p;
    return (uint32_t)crc32_iscsi(q, (int)n, (unsigned int)state);
}
#endif

uint32_t iwk_crc32c_init(void)
{
    return IWK_CRC32C_INIT;
}

uint32_t iwk_crc32c_update(uint32_t state, const uint8_t *buf, size_t len)
{
#if defined(IWK_HAVE_ISAL)
    uint32_t s = state;
    const uint8_t *p = buf;
    size_t left = len;
    while (left > 0u) {
        size_t n = left < (size_t)IWK_CRC32C_CHUNK ? left : (size_t)IWK_CRC32C_CHUNK;
        s = iwk_crc32c_isal_chunk(s, p, n);
        p += n;
        left -= n;
    }
    return s;
#else
    return iwk_crc32c_ref(state, buf, len);
#endif
}

uint32_t iwk_crc32c_final(uint32_t state)
{
    return ~state;
}

uint32_t iwk_crc32c(const uint8_t *buf, size_t len)
{
    return iwk_crc32c_final(iwk_crc32c_update(iwk_crc32c_init(), buf, len));
}

/* RFC 5044 §4.4 / RFC 3720 B.4: the CRC field carries the value least-significant octet first. */
void iwk_crc32c_put_wire(uint8_t out[IWK_CRC32C_WIRE_LEN], uint32_t crc)
{
    out[0] = (uint8_t)(crc % 256u);
    out[1] = (uint8_t)(crc / 256u % 256u);
    out[2] = (uint8_t)(crc / 65536u % 256u);
    out[3] = (uint8_t)(crc / 16777216u);
}

uint32_t iwk_crc32c_get_wire(const uint8_t in[IWK_CRC32C_WIRE_LEN])
{
    return (uint32_t)in[0] + (uint32_t)in[1] * 256u + (uint32_t)in[2] * 65536u
        + (uint32_t)in[3] * 16777216u;
}
