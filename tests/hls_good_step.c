/* expect-ok: a step function in the subset (one literal-bound loop, masked variable shift) */
#include <stdint.h>
struct st { uint32_t s; };
static uint32_t mix(uint32_t x, uint32_t n) { return (x << (n & 31u)) ^ (x >> 3); }
void step(struct st *st, const uint64_t q[2])
{
#pragma HLS PIPELINE II=1
    uint32_t acc = st->s;
    for (uint32_t i = 0; i < 2u; i++) {
        acc ^= mix((uint32_t)q[i], i);
    }
    st->s = acc;
}
