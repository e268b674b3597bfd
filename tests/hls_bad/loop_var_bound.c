/* expect: loop without a literal bound */
#include <stdint.h>
uint32_t sum(const uint32_t a[16], uint32_t n) { uint32_t s = 0u; for (uint32_t i = 0; i < n; i++) { s += a[i & 15u]; } return s; }
