/* provider_stub.h - symbol-complete stand-ins for functions iwkit cannot provide.
 * Callers pass whatever arguments their prototype has; a stub reads none of them (the x86-64 and
 * aarch64 calling conventions let the callee ignore its arguments), sets errno and returns what
 * the real library returns for "not supported": NULL for a constructor, EOPNOTSUPP for an int,
 * 0 (false) for a capability test. */
#ifndef IWKIT_PROVIDER_STUB_H
#define IWKIT_PROVIDER_STUB_H

#include <errno.h>
#include <stddef.h>

#define IWKIT_STUB_PTR(name)                                                                       \
    void *name(void);                                                                              \
    void *name(void) { errno = EOPNOTSUPP; return NULL; }
#define IWKIT_STUB_INT(name)                                                                       \
    int name(void);                                                                                \
    int name(void) { errno = EOPNOTSUPP; return EOPNOTSUPP; }
#define IWKIT_STUB_FALSE(name)                                                                     \
    int name(void);                                                                                \
    int name(void) { errno = EOPNOTSUPP; return 0; }
/* An older version node of a symbol (name@ver), beside its default version. */
#define IWKIT_STUB_COMPAT_INT(name, tag, ver)                                                      \
    int iwkit_compat_##name##_##tag(void);                                                         \
    __attribute__((used)) int iwkit_compat_##name##_##tag(void) { errno = EOPNOTSUPP; return EOPNOTSUPP; } \
    __asm__(".symver iwkit_compat_" #name "_" #tag "," #name "@" #ver);
#define IWKIT_STUB_COMPAT_PTR(name, tag, ver)                                                      \
    void *iwkit_compat_##name##_##tag(void);                                                       \
    __attribute__((used)) void *iwkit_compat_##name##_##tag(void) { errno = EOPNOTSUPP; return NULL; } \
    __asm__(".symver iwkit_compat_" #name "_" #tag "," #name "@" #ver);

#endif
