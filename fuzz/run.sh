#!/bin/sh
# Runs every fuzz target (or those named) for SECONDS each (default 600),
# two at a time on a 2-core machine, from the corpora fuzz/seed.sh builds.
# A hang is an input taking more than 1 s; memory is capped at 2 GiB, and
# one allocation at 64 MiB (no parser may allocate that much for an input of
# at most 70 000 bytes: every length it reads is checked against a cap first).
# Findings land in fuzz/artifacts/<target>/; each run's last status line
# (executions/s, coverage) goes to fuzz/logs/<target>.log.
#
# usage: fuzz/seed.sh && SECONDS_EACH=600 fuzz/run.sh [target…]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
secs=${SECONDS_EACH:-600}
jobs=${JOBS:-2}
targets=${*:-$(ls "$here/fuzz_targets" | sed 's/\.rs$//')}
# Leak reports that are no leak (fuzz/lsan.supp says which and why).
export LSAN_OPTIONS="suppressions=$here/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
mkdir -p "$here/logs"
cd "$here"
# The committed seeds go back into each corpus first: libFuzzer replaces an
# input by a smaller one reaching the same features, and a valid policy or
# signed note reduced away leaves the fuzzer exploring only error paths.
printf '%s\n' $targets | xargs -P "$jobs" -I{} sh -c \
  "mkdir -p corpus/{}; if [ -d seeds/{} ]; then cp seeds/{}/* corpus/{}/; fi; RUSTC_BOOTSTRAP=1 cargo fuzz run -O {} corpus/{} -- -max_total_time=$secs -timeout=1 -rss_limit_mb=2048 -malloc_limit_mb=64 -max_len=70000 -print_final_stats=1 > logs/{}.log 2>&1; echo {} exit \$?"
