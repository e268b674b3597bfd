/* expect: static local 'count' */
#include <stdint.h>
uint32_t f(void) { static uint32_t count; count++; return count; }
