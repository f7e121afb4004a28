#!/bin/sh
# A markdown table of the last fuzz/run.sh: per target, the executions,
# executions per second, coverage (edges, features), corpus size, peak RSS.
here=$(cd "$(dirname "$0")" && pwd)
echo "| target | executions | exec/s | cov | ft | corpus | peak RSS |"
echo "|---|---|---|---|---|---|---|"
for log in "$here"/logs/*.log; do
    t=$(basename "$log" .log)
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)
    [ -n "$done_line" ] || { echo "| $t | (no DONE line: see fuzz/logs/$t.log) | | | | | |"; continue; }
    runs=$(echo "$done_line" | sed -E 's/^#([0-9]+).*/\1/')
    cov=$(echo "$done_line" | sed -E 's/.*cov: ([0-9]+).*/\1/')
    ft=$(echo "$done_line" | sed -E 's/.*ft: ([0-9]+).*/\1/')
    corp=$(echo "$done_line" | sed -E 's/.*corp: ([0-9]+)\/.*/\1/')
    eps=$(grep 'average_exec_per_sec' "$log" | awk '{print $2}')
    rss=$(grep 'peak_rss_mb' "$log" | awk '{print $2}')
    echo "| $t | $runs | $eps | $cov | $ft | $corp | ${rss} MB |"
done
