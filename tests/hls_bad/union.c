/* expect: union */
#include <stdint.h>
union u { uint32_t w; uint8_t b[4]; };
uint8_t f(uint32_t x) { union u v; v.w = x; return v.b[0]; }
