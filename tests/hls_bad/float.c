/* expect: floating point */
#include <stdint.h>
uint32_t scale(uint32_t x) { double k = 1.5; return (uint32_t)(x * k); }
