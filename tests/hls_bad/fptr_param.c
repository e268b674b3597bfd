/* expect: function pointer */
#include <stdint.h>
uint32_t apply(uint32_t (*f)(uint32_t), uint32_t x) { return f(x); }
