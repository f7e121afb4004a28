#!/bin/sh
# A markdown table of the runs in fuzz/logs/ (fuzz/run.sh writes them):
# per target, the minutes run, executions, executions per second, the
# slowest input, coverage (edges, features), corpus size, peak RSS.
here=$(cd "$(dirname "$0")" && pwd)
echo "| target | minutes | executions | exec/s | slowest input | cov | ft | corpus | peak RSS |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for log in "$here"/logs/*.log; do
    t=$(basename "$log" .log)
    case $t in *.coverage) continue ;; esac
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)
    [ -n "$done_line" ] || { echo "| $t | (no DONE line: see fuzz/logs/$t.log) | | | | | | | |"; continue; }
    runs=$(echo "$done_line" | sed -E 's/^#([0-9]+).*/\1/')
    cov=$(echo "$done_line" | sed -E 's/.*cov: ([0-9]+).*/\1/')
    ft=$(echo "$done_line" | sed -E 's/.*ft: ([0-9]+).*/\1/')
    corp=$(echo "$done_line" | sed -E 's/.*corp: ([0-9]+)\/.*/\1/')
    secs=$(grep -E '^Done [0-9]+ runs in' "$log" | tail -1 | sed -E 's/.* in ([0-9]+) second.*/\1/')
    eps=$(grep 'average_exec_per_sec' "$log" | awk '{print $2}')
    slow=$(grep 'slowest_unit_time_sec' "$log" | awk '{print $2}')
    rss=$(grep 'peak_rss_mb' "$log" | awk '{print $2}')
    echo "| $t | $((secs / 60)) | $runs | $eps | ${slow} s | $cov | $ft | $corp | ${rss} MB |"
done
