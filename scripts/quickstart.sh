#!/usr/bin/env sh
# The README's quickstart: a log with a witness on loopback, one release
# published into it, served over HTTP and read back. Needs bt-log on PATH
# (./install.sh) and curl. Leaves everything in $QS_DIR (default: a new
# temporary directory) and stops the servers it started.
set -eu
QS_DIR="${QS_DIR:-$(mktemp -d)}"
LOG_PORT="${LOG_PORT:-18080}"
WITNESS_PORT="${WITNESS_PORT:-18081}"
cd "$QS_DIR"
pids=""
trap 'kill $pids 2>/dev/null || true' EXIT INT TERM

wait_for() { # PORT: wait until something listens there
  i=0; until curl -s -o /dev/null "http://127.0.0.1:$1/"; do
    i=$((i+1)); [ $i -lt 100 ] || { echo "nothing listens on $1" >&2; exit 1; }; sleep 0.05; done
}

echo "== keys: the log's (named after its origin), a publisher's, a witness's"
bt-log keygen example.org/log --out log.key
bt-log keygen example.org --out publisher.key
bt-log keygen witness.example --out witness.key

echo "== a witness that cosigns example.org/log"
bt-log witness serve --key witness.key --state witness-state \
  --listen "127.0.0.1:$WITNESS_PORT" --log "$(cat log.key.pub)" 2>witness.log &
pids="$pids $!"
wait_for "$WITNESS_PORT"

echo "== the log, asking that witness for cosignatures"
bt-log init log --origin example.org/log --key log.key \
  --witness "http://127.0.0.1:$WITNESS_PORT=$(cat witness.key.pub)"

echo "== publish a program"
printf '#!/bin/sh\necho "hello from a logged program: $*"\n' > hello
chmod +x hello
index=$(bt-log add log hello --name example.org/hello --version 1.0 \
  --publisher-key publisher.key --cas-url "http://127.0.0.1:$LOG_PORT/cas")
echo "logged at index $index"

echo "== serve the log and read it back"
bt-log serve log --listen "127.0.0.1:$LOG_PORT" 2>serve.log &
pids="$pids $!"
wait_for "$LOG_PORT"
echo "-- checkpoint (log signature + witness cosignature):"
curl -s "http://127.0.0.1:$LOG_PORT/checkpoint"
echo "-- the tlog-proof a publisher ships next to the binary:"
curl -s "http://127.0.0.1:$LOG_PORT/bt/proof/$(printf '%03d' "$index").tlog-proof" | head -3
echo "-- the bytes, from the content-addressed store:"
sum=$(sha256sum hello | cut -d' ' -f1)
curl -s "http://127.0.0.1:$LOG_PORT/cas/sha256/$sum" | cmp - hello && echo "CAS copy matches $sum"
echo "== a monitor verifies everything the log serves and lists its releases"
bt-log monitor "http://127.0.0.1:$LOG_PORT" --key "$(cat log.key.pub)" \
  --witness "$(cat witness.key.pub)" --state monitor-state --json
echo "quickstart done in $QS_DIR"
