/* expect: recursion: */
#include <stdint.h>
uint32_t odd(uint32_t n);
uint32_t even(uint32_t n) { return n == 0u ? 1u : odd(n - 1u); }
uint32_t odd(uint32_t n) { return n == 0u ? 0u : even(n - 1u); }
