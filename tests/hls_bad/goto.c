/* expect: goto */
#include <stdint.h>
uint32_t f(uint32_t x) { if (x) { goto out; } x = 1u; out: return x; }
