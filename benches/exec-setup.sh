#!/usr/bin/env sh
# Builds the setup the bt-exec figures in docs/BENCHMARKS.md are measured on:
# two logs written by bt-log, each holding `hello` (benches/hello.c), both
# served over loopback HTTP by `bt-log serve`, one witness whose cosignature
# the policy requires, require.logs = 2; the C wrapper yardstick beside it.
# Needs bt-log, bt-exec (./install.sh), cc and curl. Usage:
#   benches/exec-setup.sh DIR      (then run the hyperfine commands in DIR)
# Policies: policy-0s.toml and policy-5m.toml (require.refresh as named),
# policy-default.toml (no refresh line: the default). With DELAY_MS=N the
# policies reach each log through benches/delay_proxy.py, which delays
# every response by N ms (ports PROXY_A, PROXY_B; python3 needed).
# Leaves the servers (and proxies) running; their pids are in DIR/pids.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
dir="${1:?usage: exec-setup.sh DIR}"
port_a="${PORT_A:-19082}" port_b="${PORT_B:-19083}" port_w="${PORT_W:-19084}"
proxy_a="${PROXY_A:-19085}" proxy_b="${PROXY_B:-19086}" delay="${DELAY_MS:-}"
mkdir -p "$dir" && cd "$dir"
[ -f pids ] && kill $(cat pids) 2>/dev/null || true
rm -rf log-a log-b wstate cache state ./*.key ./*.key.pub pids
cc -O2 -o hello "$here/hello.c"
cc -O2 -o wrapper "$here/wrapper.c"
bt-log keygen example.org/log-a --out a.key
bt-log keygen example.org/log-b --out b.key
bt-log keygen example.org --out pub.key
bt-log keygen w.example --out w.key
bt-log witness serve --key w.key --state wstate --listen "127.0.0.1:$port_w" \
  --log "$(cat a.key.pub)" --log "$(cat b.key.pub)" >/dev/null 2>&1 &
echo $! >> pids
until curl -s -o /dev/null "http://127.0.0.1:$port_w/"; do sleep 0.05; done
for l in a b; do
  bt-log init "log-$l" --origin "example.org/log-$l" --key "$l.key" \
    --witness "http://127.0.0.1:$port_w=$(cat w.key.pub)"
  bt-log add "log-$l" hello --name example.org/hello --version 1.0 --publisher-key pub.key
done
bt-log serve log-a --listen "127.0.0.1:$port_a" >/dev/null 2>&1 & echo $! >> pids
bt-log serve log-b --listen "127.0.0.1:$port_b" >/dev/null 2>&1 & echo $! >> pids
url_a="http://127.0.0.1:$port_a/" url_b="http://127.0.0.1:$port_b/"
if [ -n "$delay" ]; then
  # The interpreter itself, not a launcher in front of it, so that the pid
  # recorded is the proxy's.
  py="$(python3 -c 'import sys; print(sys.executable)')"
  "$py" "$here/delay_proxy.py" "$proxy_a" "127.0.0.1:$port_a" "$delay" >/dev/null 2>&1 &
  echo $! >> pids
  "$py" "$here/delay_proxy.py" "$proxy_b" "127.0.0.1:$port_b" "$delay" >/dev/null 2>&1 &
  echo $! >> pids
  url_a="http://127.0.0.1:$proxy_a/" url_b="http://127.0.0.1:$proxy_b/"
fi
for refresh in 0s 5m default; do
  line="refresh = \"$refresh\""
  [ "$refresh" = default ] && line=""
  cat > "policy-$refresh.toml" <<POLICY
trust = """
log $(cat a.key.pub) $url_a
log $(cat b.key.pub) $url_b
witness w $(cat w.key.pub)
quorum w
"""
[[publisher]]
names = ["example.org/*"]
key = "$(cat pub.key.pub)"
[require]
logs = 2
max_age = "1h"
$line
POLICY
done
until curl -s -o /dev/null "${url_b}checkpoint"; do sleep 0.05; done
until curl -s -o /dev/null "${url_a}checkpoint"; do sleep 0.05; done
export BT_EXEC_CACHE_DIR="$dir/cache" BT_EXEC_STATE_DIR="$dir/state"
bt-exec --policy policy-5m.toml ./hello
echo "ready in $dir: export BT_EXEC_CACHE_DIR=$dir/cache BT_EXEC_STATE_DIR=$dir/state"
