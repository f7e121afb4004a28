#!/usr/bin/env sh
# The README's quickstart: two logs and a witness on loopback, a program
# published into both, run through bt-exec, and a tampered copy refused.
# Needs bt-log and bt-exec on PATH (./install.sh) and curl. Works in $QS_DIR
# (default: a new temporary directory) and stops the servers it started.
set -eu
QS_DIR="${QS_DIR:-$(mktemp -d)}"
LOG_PORT="${LOG_PORT:-18080}"
WITNESS_PORT="${WITNESS_PORT:-18081}"
cd "$QS_DIR"
export BT_EXEC_CACHE_DIR="$QS_DIR/cache" BT_EXEC_STATE_DIR="$QS_DIR/state" BT_EXEC_POLICY="$QS_DIR/policy.toml"
pids=""
trap 'kill $pids 2>/dev/null || true' EXIT INT TERM

wait_for() { # PORT: wait until something listens there
  i=0; until curl -s -o /dev/null "http://127.0.0.1:$1/"; do
    i=$((i+1)); [ $i -lt 100 ] || { echo "nothing listens on $1" >&2; exit 1; }; sleep 0.05; done
}

echo "== keys: two logs' (named after their origins), a publisher's, a witness's"
bt-log keygen example.org/log-a --out log-a.key
bt-log keygen example.org/log-b --out log-b.key
bt-log keygen example.org --out publisher.key
bt-log keygen witness.example --out witness.key

echo "== a witness that cosigns both logs"
bt-log witness serve --key witness.key --state witness-state --listen "127.0.0.1:$WITNESS_PORT" \
  --log "$(cat log-a.key.pub)" --log "$(cat log-b.key.pub)" 2>witness.log &
pids="$pids $!"
wait_for "$WITNESS_PORT"

echo "== the logs, asking that witness for cosignatures"
for l in a b; do
  bt-log init "log-$l" --origin "example.org/log-$l" --key "log-$l.key" \
    --witness "http://127.0.0.1:$WITNESS_PORT=$(cat witness.key.pub)"
done

echo "== publish a program into both"
printf '#!/bin/sh\necho "hello from a logged program: $*"\n' > hello
chmod +x hello
for l in a b; do
  bt-log add "log-$l" hello --name example.org/hello --version 1.0 \
    --publisher-key publisher.key --cas-url "http://127.0.0.1:$LOG_PORT/cas"
done

echo "== serve log a over HTTP (log b is read as file://)"
bt-log serve log-a --listen "127.0.0.1:$LOG_PORT" 2>serve.log &
pids="$pids $!"
wait_for "$LOG_PORT"
curl -s "http://127.0.0.1:$LOG_PORT/checkpoint"

echo "== the policy: both logs, the witness, the publisher"
cat > policy.toml <<POLICY
trust = """
log $(cat log-a.key.pub) http://127.0.0.1:$LOG_PORT/
log $(cat log-b.key.pub) file://$QS_DIR/log-b/
witness w $(cat witness.key.pub)
quorum w
"""

[[publisher]]
names = ["example.org/*"]
key = "$(cat publisher.key.pub)"

[require]
logs = 2
max_age = "1h"
POLICY

echo "== run it through bt-exec"
bt-exec ./hello world

echo "== run it by name: found in the logs, fetched from log a's CAS, verified"
bt-exec example.org/hello@latest world

echo "== a tampered copy is refused"
cp hello hello-tampered && echo 'echo pwned' >> hello-tampered
if bt-exec ./hello-tampered; then echo "tampered copy ran!" >&2; exit 1; else echo "refused with status $?"; fi

echo "== a monitor verifies everything log a serves and lists its releases"
bt-log monitor "http://127.0.0.1:$LOG_PORT" --key "$(cat log-a.key.pub)" \
  --witness "$(cat witness.key.pub)" --state monitor-state --json
echo "quickstart done in $QS_DIR"
