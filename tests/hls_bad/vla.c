/* expect: variable-length array 'buf' */
#include <stdint.h>
uint32_t f(uint32_t n) { uint32_t buf[n]; buf[0] = n; return buf[0]; }
