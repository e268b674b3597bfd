/* expect: while loop */
#include <stdint.h>
uint32_t collatz(uint32_t n) { uint32_t k = 0u; while (n != 1u) { n = (n & 1u) ? 3u * n + 1u : n / 2u; k++; } return k; }
