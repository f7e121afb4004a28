#!/usr/bin/env sh
# The setup of benches/exec-setup.sh with both logs behind
# benches/delay_proxy.py, which delays every response by DELAY_MS (50 by
# default): the logs as far away as the internet puts them. The policy of
# the everyday path is policy-default.toml, which has no refresh line
# (require.refresh is then its default, 10m). Usage:
#   PATH=PREFIX/bin:$PATH benches/refresh-setup.sh DIR
# (PORT_A, PORT_B, PORT_W, PROXY_A, PROXY_B as for exec-setup.sh.) Leaves
# the servers and the proxies running; their pids are in DIR/pids.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
dir="${1:?usage: refresh-setup.sh DIR}"
DELAY_MS="${DELAY_MS:-50}" "$here/exec-setup.sh" "$dir"
cd "$dir"
export BT_EXEC_CACHE_DIR="$PWD/cache" BT_EXEC_STATE_DIR="$PWD/state"
# The proxies delay what they should: a checkpoint through each.
for url in $(sed -n 's|^log [^ ]* \(http://[^ ]*\)$|\1|p' policy-default.toml); do
  t=$(curl -s -o /dev/null -w '%{time_starttransfer}' "${url}checkpoint")
  echo "${url}checkpoint: first byte after $t s"
done
# exec-setup.sh's first run fetched each checkpoint through the proxies;
# under the default policy the runs answer from that state, the first
# leaving the warm verdict (src/exec/memo.rs) the next ones take.
for run in 1 2 3; do
  start=$(date +%s%N)
  bt-exec --policy policy-default.toml ./hello
  echo "bt-exec --policy policy-default.toml ./hello, run $run: $(( ($(date +%s%N) - start) / 1000 )) µs"
done
echo "ready in $PWD: export BT_EXEC_CACHE_DIR=$PWD/cache BT_EXEC_STATE_DIR=$PWD/state"
