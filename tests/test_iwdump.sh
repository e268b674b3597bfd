#!/bin/sh
# End-to-end tests of iwdump: see test_iwdump.py (Python standard library only).
# usage: test_iwdump.sh IWDUMP_BINARY CAPTURES_DIR
set -eu
exec python3 "$(dirname "$0")/test_iwdump.py" "$@"
