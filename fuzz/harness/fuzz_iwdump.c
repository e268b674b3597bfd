/* fuzz_iwdump.c - iwdump (tools/iwdump) on a pcap file: the input is the file. iwdump's own main()
 * runs (compiled in as iwdump_main), once with the text output and once with --json, both written
 * to /dev/null. Oracle: no crash or sanitizer report, and an exit status iwdump documents (0, 1 or
 * 2). Hand-written harness, not protocol. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"

int iwdump_main(int argc, char **argv);

static int fd = -1;
static char path[64];

static int run(const char *mode)
{
    char a0[] = "iwdump", aq[] = "--quiet", am[16];
    snprintf(am, sizeof am, "%s", mode);
    char *argv[] = { a0, aq, am, path, NULL };
    int argc = 4;
    if (mode[0] == 0) {
        argv[2] = path;
        argv[3] = NULL;
        argc = 3;
    }
    optind = 0; /* glibc: reinitialise getopt */
    return iwdump_main(argc, argv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fd < 0) {
        fd = memfd_create("iwdump-fuzz", 0);
        FUZZ_CHECK(fd >= 0, "memfd_create");
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        FUZZ_CHECK(freopen("/dev/null", "w", stdout) != NULL, "stdout");
    }
    FUZZ_CHECK(ftruncate(fd, 0) == 0 && pwrite(fd, data, size, 0) == (ssize_t)size, "memfd write");
    int rc = run("");
    FUZZ_CHECK(rc >= 0 && rc <= 2, "iwdump exit status %d", rc);
    rc = run("--json");
    FUZZ_CHECK(rc >= 0 && rc <= 2, "iwdump --json exit status %d", rc);
    return 0;
}
