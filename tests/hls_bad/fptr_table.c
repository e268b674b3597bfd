/* expect: function pointer */
#include <stdint.h>
static uint32_t inc(uint32_t x) { return x + 1u; }
static uint32_t dec(uint32_t x) { return x - 1u; }
static uint32_t (*const ops[2])(uint32_t) = {inc, dec};
uint32_t apply(uint32_t op, uint32_t x) { return ops[op & 1u](x); }
