/* expect: call to 'memcpy' */
#include <stdint.h>
void *memcpy(void *d, const void *s, uint64_t n);
void copy(uint8_t d[8], const uint8_t s[8]) { memcpy(d, s, 8u); }
