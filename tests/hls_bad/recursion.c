/* expect: recursion: fact -> fact */
#include <stdint.h>
uint32_t fact(uint32_t n) { return n < 2u ? 1u : n * fact(n - 1u); }
