/*
 * Reference CRC32c (RFC 3720 §12.1, used by MPA, RFC 5044 §4.4), one bit at a time, written in
 * plain arithmetic (/ and % by 2 instead of shifts and masks) so that Frama-C/WP proves it.
 *
 * The state is the running, uncomplemented register (see include/iwkit/crc32c.h): the caller
 * presets it to 0xFFFFFFFF and complements the final value.
 *
 * The ACSL below defines the register update in logic, mirroring the C expressions (including the
 * casts) one to one:
 *   iwk_crc32c_bit(c, d)        one step for data bit d: shift right, XOR the reflected polynomial
 *                               0x82F63B78 (0x1EDC6F41 bit-reversed, RFC 3720 §12.1) when the bit
 *                               shifted out differs from d
 *   iwk_crc32c_bits(c, d, k)    the k low bits of d fed in, least-significant first
 *   iwk_crc32c_acc(c, buf, n)   the first n octets of buf fed in order
 * WP proves that iwk_crc32c_ref returns iwk_crc32c_acc(crc, buf, len), and (ghost lemma function
 * iwk_crc32c_acc_split) that feeding a buffer in two parts gives the same register as feeding it
 * at once, which MPA relies on when Markers or buffer boundaries split an FPDU.
 *
 * XOR appears only with the constant polynomial: XORing the data octet into the register (two
 * variables) left goals open, as the provers do not get lxor's commutativity; so the data bits
 * enter one at a time through a comparison instead.
 *
 * Proof (self-contained; 41 goals, all proved, a few seconds):
 *   frama-c -wp -wp-rte -warn-unsigned-overflow -warn-unsigned-downcast -warn-signed-overflow \
 *     -warn-signed-downcast -wp-prover cvc4 -wp-par 2 -wp-timeout 30 -wp-steps 400000 \
 *     -cpp-extra-args=-I<repo>/include <repo>/runtime/crc32c_ref.c \
 *     -then -report-classify -report-unclassified-unknown ERROR
 */
#include "iwkit/crc32c.h"

/* Bit-reflected Castagnoli polynomial (RFC 3720 §12.1: 0x11EDC6F41 with bits reversed). */
#define IWK_CRC32C_POLY_REFLECTED 0x82F63B78u

/*@ axiomatic IwkCrc32c {
      // One register step for one data bit d (0 or 1): shift right by one and XOR the
      // polynomial when the bit leaving the register differs from the data bit.
      logic uint32_t iwk_crc32c_bit(uint32_t c, integer d) =
        c % 2 != d ? (uint32_t)((uint32_t)(c / 2) ^ 0x82F63B78) : (uint32_t)(c / 2);

      // The k low-order bits of d fed into the register, least-significant bit first.
      logic uint32_t iwk_crc32c_bits(uint32_t c, integer d, integer k) =
        k <= 0 ? c : iwk_crc32c_bits(iwk_crc32c_bit(c, d % 2), d / 2, k - 1);

      // The first n octets of buf fed into the register, in order.
      logic uint32_t iwk_crc32c_acc{L}(uint32_t c, uint8_t *buf, integer n) =
        n <= 0 ? c : iwk_crc32c_bits(iwk_crc32c_acc(c, buf, n - 1), buf[n - 1], 8);
    }
*/

/* One register step for data bit d (0 or 1), RFC 3720 §12.1 with the bit order of the reflected
 * CRC: shift right by one, XOR the polynomial when the bit shifted out differs from d. */
/*@ requires d <= 1;
    assigns \nothing;
    ensures \result == iwk_crc32c_bit(c, d);
*/
static uint32_t iwk_crc32c_ref_bit(uint32_t c, uint32_t d)
{
    uint32_t half = c / 2u;
    uint32_t r = half;
    if (c % 2u != d) {
        r = half ^ IWK_CRC32C_POLY_REFLECTED;
    }
    return r;
}

/* Feeds one octet, least-significant bit first. */
/*@ assigns \nothing;
    ensures \result == iwk_crc32c_bits(c, b, 8);
*/
static uint32_t iwk_crc32c_ref_octet(uint32_t c, uint8_t b)
{
    uint32_t r = c;
    uint32_t d = b;
    /*@ loop invariant 0 <= k <= 8;
        loop invariant iwk_crc32c_bits(r, d, 8 - k) == iwk_crc32c_bits(c, b, 8);
        loop assigns k, r, d;
        loop variant 8 - k;
    */
    for (uint32_t k = 0u; k < 8u; k++) {
        r = iwk_crc32c_ref_bit(r, d % 2u);
        d = d / 2u;
    }
    return r;
}

/*@ requires \valid_read(buf + (0 .. len - 1));
    assigns \nothing;
    ensures \result == iwk_crc32c_acc(crc, buf, len);
*/
uint32_t iwk_crc32c_ref(uint32_t crc, const uint8_t *buf, size_t len)
{
    uint32_t c = crc;
    /*@ loop invariant 0 <= i <= len;
        loop invariant c == iwk_crc32c_acc(crc, buf, i);
        loop assigns i, c;
        loop variant len - i;
    */
    for (size_t i = 0u; i < len; i++) {
        c = iwk_crc32c_ref_octet(c, buf[i]);
    }
    return c;
}

/*
 * Incremental update (ghost lemma, proven by induction on m through the loop invariant): feeding
 * n octets and then the next m gives the same register as feeding the n + m octets at once, so
 * iwk_crc32c_ref(iwk_crc32c_ref(s, a, n), a + n, m) == iwk_crc32c_ref(s, a, n + m).
 */
/*@ ghost
  /@ assigns \nothing;
     ensures iwk_crc32c_acc(iwk_crc32c_acc(c, buf, n), buf + n, m)
             == iwk_crc32c_acc(c, buf, n + m);
  @/
  void iwk_crc32c_acc_split(uint32_t c, const uint8_t *buf, size_t n, size_t m)
  {
      size_t k = 0u;
      /@ loop invariant 0 <= k <= m;
         loop invariant iwk_crc32c_acc(iwk_crc32c_acc(c, buf, n), buf + n, k)
                        == iwk_crc32c_acc(c, buf, n + k);
         loop assigns k;
         loop variant m - k;
      @/
      while (k < m) {
          /@ assert unfold_left: iwk_crc32c_acc(iwk_crc32c_acc(c, buf, n), buf + n, k + 1)
                == iwk_crc32c_bits(iwk_crc32c_acc(iwk_crc32c_acc(c, buf, n), buf + n, k),
                                   buf[n + k], 8); @/
          /@ assert unfold_right: iwk_crc32c_acc(c, buf, n + k + 1)
                == iwk_crc32c_bits(iwk_crc32c_acc(c, buf, n + k), buf[n + k], 8); @/
          k++;
          /@ assert no_wrap: k == \at(k, LoopCurrent) + 1; @/
      }
  }
*/
