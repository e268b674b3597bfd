/* replay_main.c - runs inputs through a harness's LLVMFuzzerTestOneInput without any fuzzing engine,
 * so the corpora and regression inputs replay with plain gcc (and under ASan/UBSan) in the `fuzz`
 * meson suite. Hand-written, not protocol.
 *
 *   fuzz_X_replay FILE|DIR...      every file given, and every regular file in each directory
 * Exit 0 when every input ran (an oracle failure aborts), 1 on an unreadable argument. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"

__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static int run_file(const char *path, unsigned long *count)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) { perror(path); return 1; }
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    if (buf == NULL) { fclose(fp); return 1; }
    size_t k;
    while ((k = fread(buf + n, 1, cap - n, fp)) > 0) {
        n += k;
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap * 2u);
            if (nb == NULL) { free(buf); fclose(fp); return 1; }
            buf = nb;
            cap *= 2u;
        }
    }
    fclose(fp);
    /* an exact-size copy: a read past the input's end is an ASan error, as under libFuzzer */
    uint8_t *exact = malloc(n ? n : 1u);
    if (exact == NULL) { free(buf); return 1; }
    memcpy(exact, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    (*count)++;
    return 0;
}

static int run_dir(const char *dir, unsigned long *count)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) { perror(dir); return 1; }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        if (names[i]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode))
            rc |= run_file(path, count);
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    LLVMFuzzerInitialize(&argc, &argv);
    unsigned long count = 0;
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) { perror(argv[i]); rc = 1; continue; }
        rc |= S_ISDIR(st.st_mode) ? run_dir(argv[i], &count) : run_file(argv[i], &count);
    }
    fprintf(stderr, "replayed %lu inputs\n", count);
    return rc;
}
