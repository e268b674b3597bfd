/*
 * CRC32c for the MPA FPDU trailer.
 *
 * RFC 5044 §4.4: the MPA CRC is CRC32c "in the manner described in the iSCSI Protocol" (RFC 3720
 * §12.1): the Castagnoli polynomial 0x1EDC6F41 processed bit-reflected (0x82F63B78), register
 * preset to all ones, result complemented.  It covers the FPDU from the first octet of the
 * ULPDU_Length field (or of a Marker that immediately precedes it) through the PAD, including any
 * Markers that fall inside the FPDU.
 *
 * State convention (so that a CRC can be computed over an FPDU that Markers interrupt and that
 * arrives in several buffers):
 *
 *     uint32_t s = iwk_crc32c_init();          // 0xFFFFFFFF, the preset register
 *     s = iwk_crc32c_update(s, part1, len1);   // any number of calls, any split points
 *     s = iwk_crc32c_update(s, part2, len2);
 *     uint32_t crc = iwk_crc32c_final(s);      // ~s, the CRC32c value
 *     iwk_crc32c_put_wire(trailer, crc);       // least-significant octet first on the wire
 *
 * The `state` passed to and returned by iwk_crc32c_update / iwk_crc32c_ref is the running,
 * *uncomplemented* register; only iwk_crc32c_final complements it.  iwk_crc32c(buf, len) is the
 * one-shot final(update(init(), buf, len)).  "123456789" gives 0xE3069283.
 *
 * Wire order: the 32-bit CRC value is sent least-significant octet first (RFC 3720 B.4 lists the
 * digest octets in transmission order; softiwarp and Linux siw do the same): CRC 0x74F01651 is
 * sent as 51 16 F0 74.  Wireshark prints that trailer as "0x5116f074", i.e. the octets read
 * big-endian, not the CRC value.
 */
#ifndef IWK_CRC32C_H
#define IWK_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Preset value of the CRC32c register (RFC 3720 §12.1: initialised to all ones). */
#define IWK_CRC32C_INIT 0xFFFFFFFFu
/* Size of the MPA CRC field (RFC 5044 §4 figure 2: 32 bits). */
#define IWK_CRC32C_WIRE_LEN 4u

/* The preset register, IWK_CRC32C_INIT. */
/*@ assigns \result \from \nothing;
  @ ensures \result == IWK_CRC32C_INIT; */
uint32_t iwk_crc32c_init(void);

/*
 * Feeds len octets of buf into the running (uncomplemented) register `state` and returns the new
 * register.  update(update(s, a, n), a + n, m) == update(s, a, n + m).  buf may be NULL when len
 * is 0.  Uses ISA-L's crc32_iscsi when built with IWK_HAVE_ISAL, otherwise iwk_crc32c_ref.
 */
/*@ assigns \result \from state, buf[0 .. len - 1]; */
uint32_t iwk_crc32c_update(uint32_t state, const uint8_t *buf, size_t len);

/*
 * Reference implementation of iwk_crc32c_update (same state convention, same results), bit at a
 * time in plain arithmetic; its functional contract is proven with Frama-C/WP
 * (runtime/crc32c_ref.c).  Slow: for tests and for builds without ISA-L.
 */
uint32_t iwk_crc32c_ref(uint32_t crc, const uint8_t *buf, size_t len);

/* The CRC32c value of a register: its complement (RFC 3720 §12.1). */
/*@ assigns \result \from state; */
uint32_t iwk_crc32c_final(uint32_t state);

/* One-shot CRC32c of len octets: final(update(init(), buf, len)). */
uint32_t iwk_crc32c(const uint8_t *buf, size_t len);

/* Writes the CRC32c value into an MPA CRC field, least-significant octet first. */
void iwk_crc32c_put_wire(uint8_t out[IWK_CRC32C_WIRE_LEN], uint32_t crc);

/* Reads the CRC32c value from an MPA CRC field (inverse of iwk_crc32c_put_wire). */
uint32_t iwk_crc32c_get_wire(const uint8_t in[IWK_CRC32C_WIRE_LEN]);

#endif
