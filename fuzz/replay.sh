#!/bin/sh
# Replays every input of each target's corpus once with libFuzzer's limits:
# an input over 1 s is a hang, one allocation over 64 MiB a failure (the
# caps every parser applies keep its allocations far below that for inputs
# of at most 70 000 bytes). The corpora are what fuzz/run.sh grew; the
# binaries are cargo fuzz's, built in this checkout.
#
# usage: fuzz/replay.sh [target…]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=$here/target/x86_64-unknown-linux-gnu/release
targets=${*:-$(ls "$here/fuzz_targets" | sed 's/\.rs$//')}
export LSAN_OPTIONS="suppressions=$here/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
status=0
for t in $targets; do
    out=$("$bin/$t" -runs=0 -timeout=1 -rss_limit_mb=2048 -malloc_limit_mb=64 \
        "$here/corpus/$t" 2>&1) || { status=1; printf '%s\n' "$out" | tail -20; }
    printf '%s: %s\n' "$t" "$(printf '%s\n' "$out" | grep -E '^Done' || echo FAILED)"
done
exit $status
