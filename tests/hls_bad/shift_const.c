/* expect: shift by 32 of a 32-bit operand */
#include <stdint.h>
uint32_t f(uint32_t x) { return x << 32; }
