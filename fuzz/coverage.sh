#!/bin/sh
# Source coverage each target's corpus reaches in the code it fuzzes:
# `cargo fuzz coverage` builds the target with -Cinstrument-coverage and
# replays the corpus; llvm-cov then reports the lines and regions covered
# in the source files of the parsers the target calls (the table below),
# as a markdown table. Those files also hold writers (signing, encoding,
# I/O) no parser calls, so the whole-file figures are a floor; the last
# column counts only the functions of those files the corpus entered: how
# deep the fuzzer got into the code it reaches.
#
# Needs llvm-profdata and llvm-cov no older than rustc's LLVM can read
# (Debian's llvm-19 reads what rustc 1.95 writes): LLVM_BIN, default
# /usr/lib/llvm-19/bin.
#
# usage: fuzz/coverage.sh [target…]     (after fuzz/run.sh)
#        REPORT_ONLY=1 fuzz/coverage.sh  (the tables again, from the last profiles)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
llvm=${LLVM_BIN:-/usr/lib/llvm-19/bin}
triple=x86_64-unknown-linux-gnu
bin=$here/target/$triple/coverage/$triple/release

files() {
    case $1 in
        note) echo "note/mod.rs note/keys.rs" ;;
        checkpoint) echo "tlog/checkpoint.rs note/mod.rs" ;;
        vkey) echo "note/keys.rs" ;;
        tlog_proof) echo "tlog/proof.rs" ;;
        entry) echo "entry.rs" ;;
        index_shard) echo "index.rs" ;;
        tiles) echo "tlog/tiles.rs tlog/consistency.rs tlog/mod.rs" ;;
        policy) echo "policy/mod.rs policy/config.rs policy/parts.rs policy/sections.rs policy/trust.rs" ;;
        tlog_policy) echo "policy/trust.rs" ;;
        gossip) echo "exec/gossip.rs" ;;
        witness_request) echo "witness/decide.rs" ;;
        witness_response) echo "witness/client.rs" ;;
        sigsum_proof) echo "sigsum_interop.rs" ;;
        admission) echo "accept/mod.rs" ;;
        submission) echo "accept/submit.rs accept/quota.rs" ;;
        queue_segment) echo "log/queue.rs" ;;
        log_list) echo "witness/loglist.rs" ;;
        durations) echo "policy/parts.rs accept/http.rs" ;;
        publish_response) echo "publish/logs.rs" ;;
        decision) echo "verify/mod.rs verify/context.rs verify/log.rs verify/checkpoint.rs verify/current.rs verify/pending.rs verify/leaf.rs verify/prove.rs verify/release.rs verify/releases.rs verify/placed.rs verify/prior.rs verify/combine.rs exec/saving.rs tlog/consistency.rs" ;;
        *) echo "coverage.sh: no files listed for $1" >&2; exit 1 ;;
    esac
}

targets=${*:-$(ls "$here/fuzz_targets" | sed 's/\.rs$//')}
echo "| target | files (src/) | corpus inputs | lines covered | regions covered | lines covered in the functions entered |"
echo "|---|---|---:|---:|---:|---:|"
cd "$here"
for t in $targets; do
    f=$(files "$t")
    paths=$(for x in $f; do printf '%s/src/%s ' "$root" "$x"; done)
    if [ -z "${REPORT_ONLY:-}" ]; then
        RUSTC_BOOTSTRAP=1 cargo fuzz coverage --llvm-path "$llvm" "$t" "corpus/$t" \
            > "logs/$t.coverage.log" 2>&1 ||
            { echo "coverage.sh: $t failed, see fuzz/logs/$t.coverage.log" >&2; continue; }
    fi
    n=$(ls "corpus/$t" | wc -l)
    profile="coverage/$t/coverage.profdata"
    # shellcheck disable=SC2086
    whole=$("$llvm/llvm-cov" report "$bin/$t" -instr-profile="$profile" $paths |
        awk '$1 == "TOTAL" { printf "%d / %d (%s) | %d / %d (%s)", $8 - $9, $8, $10, $2 - $3, $2, $4 }')
    # Per function: name, regions, missed, cover, lines, missed, cover.
    # shellcheck disable=SC2086
    entered=$("$llvm/llvm-cov" report -show-functions "$bin/$t" -instr-profile="$profile" $paths |
        awk '$1 ~ /^_R/ && $3 < $2 { l += $5; m += $6 }
             END { printf "%d / %d (%.2f%%)", l - m, l, l ? 100 * (l - m) / l : 0 }')
    echo "| $t | $f | $n | $whole | $entered |"
done
