/* expect: loop counter 'i' assigned in the loop body */
#include <stdint.h>
uint32_t f(const uint32_t a[16]) { uint32_t s = 0u; for (uint32_t i = 0; i < 16u; i++) { s += a[i]; if (s > 9u) { i = 0; } } return s; }
