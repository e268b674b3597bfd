/* expect: call to '__builtin_alloca' */
#include <stdint.h>
uint8_t f(uint32_t n) { uint8_t *p = __builtin_alloca(n); p[0] = 1u; return p[0]; }
