#!/bin/bash -eu
# OSS-Fuzz / ClusterFuzzLite build of iwkit's harnesses (fuzz/README.md). Honours the variables the
# base-builder image sets: $CC $CFLAGS (sanitizer and coverage flags) $LIB_FUZZING_ENGINE (the engine's
# link flag or library) $OUT (binaries, dictionaries, seed corpora) and $WORK (scratch).
# Locally: CC=clang CFLAGS='-fsanitize=address,fuzzer-no-link' LIB_FUZZING_ENGINE=-fsanitize=fuzzer \
#          OUT=/tmp/out WORK=/tmp/work fuzz/oss-fuzz/build.sh
src=$(cd "$(dirname "$0")/../.." && pwd)
work=${WORK:-/tmp}/iwkit-fuzz-build
rm -rf "$work"
# static everything (the runner has no libpcap: the Dockerfile builds a static one without D-Bus; a local
# try with Debian's libpcap, whose static archive needs libsystemd's, sets IWK_PREFER_STATIC=false);
# ISA-L off (its hand-written assembly is not instrumented)
meson setup "$work" "$src" -Dproofs=disabled -Dwerror=false -Disal=disabled -Ddefault_library=static \
    -Dprefer_static=${IWK_PREFER_STATIC:-true} -Db_lundef=false -Dc_args="$CFLAGS" -Dc_link_args="$CFLAGS" \
    -Dfuzz_engine="$LIB_FUZZING_ENGINE"
meson compile -C "$work" fuzz/fuzz_parse fuzz/fuzz_mpa_stream fuzz/fuzz_rx fuzz/fuzz_fsm fuzz/fuzz_iwdump:executable
mkdir -p "$OUT"
for h in parse mpa_stream rx fsm iwdump; do
    cp "$work/fuzz/fuzz_$h" "$OUT/"
    cp "$work/fuzz/iwkit.dict" "$OUT/fuzz_$h.dict"
    rm -f "$OUT/fuzz_${h}_seed_corpus.zip"
    (cd "$src/fuzz" && find "corpus/$h" "regressions/$h" -type f ! -name '.*' -print0 |
        xargs -0 -r zip -q -j "$OUT/fuzz_${h}_seed_corpus.zip")
done
