/* expect: shift by 40 of a 32-bit operand */
#include <stdint.h>
struct w { uint32_t lo; };
uint32_t f(const struct w *p) { return p->lo >> 40; }
