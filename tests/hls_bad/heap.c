/* expect: call to 'malloc' */
#include <stdint.h>
void *malloc(uint64_t n);
void free(void *p);
uint32_t f(uint32_t n) { uint32_t *p = malloc(4u * n); uint32_t r = p[0]; free(p); return r; }
