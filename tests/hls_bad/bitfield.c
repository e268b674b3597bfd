/* expect: bit-field 'flag' */
#include <stdint.h>
struct s { uint32_t flag : 1; };
uint32_t f(const struct s *p) { return p->flag; }
