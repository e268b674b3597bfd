/* expect: type 'int' */
#include <stdint.h>
int f(int x) { return x + 1; }
