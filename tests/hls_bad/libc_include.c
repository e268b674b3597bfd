/* expect: #include <stdio.h> */
#include <stdio.h>
#include <stdint.h>
void hello(void) { printf("hi\n"); }
