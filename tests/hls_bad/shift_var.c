/* expect: shift amount not provably below 64 */
#include <stdint.h>
uint64_t f(uint64_t x, uint32_t n) { return x >> n; }
