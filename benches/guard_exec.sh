#!/usr/bin/env bash
# The guard's exec latency against fapolicyd (docs/BENCHMARKS.md, "The
# guard's exec latency against fapolicyd").
#
# What it measures: the wall time of execve of a proven program (a copy of
# /bin/true) on one test filesystem, under three gates in turn, back to back
# in one run on the same machine:
#   none       no fanotify listener at all;
#   guard      `bt-exec guard run` (enforce) marking that filesystem, the
#              program published in a bt-log log, witnessed, and brought in
#              with `bt-exec verify --guard=SOCKET` (run as nobody);
#   fapolicyd  the Debian package's daemon, run by hand in the foreground,
#              watch_fs = the test filesystem's type only, trust = file,
#              integrity = sha256, the program in its trust file, rules
#              "allow execute of trusted files, deny execute of anything
#              else in the test directory, allow everything else".
# Two figures per gate, each with hyperfine -N (no shell):
#   repeated   the same file exec'd again and again (--warmup, --runs);
#   first      every run execs a file the gate has never seen: --prepare
#              copies the program to a new inode (never freed, so never
#              reused) and hard-links it at the program's path (fapolicyd
#              trusts by path, size and SHA-256); same bytes.
# Before timing, each gate is shown to enforce: an unproven (untrusted)
# program in the test directory must fail with EPERM.
#
# The test filesystem is an ext2 image loop-mounted under $GB_WORK (ext2
# must be a type no other mount uses: fapolicyd marks every mount of each
# watch_fs type). The same filesystem serves all three gates.
#
# Run:   sudo benches/guard_exec.sh
# Needs root (fanotify, mount); installs fapolicyd and hyperfine with apt
# when missing (masking fapolicyd.service first where systemd runs, so its
# default rules never start; it stays masked). /etc/fapolicyd is backed up
# and restored, and everything started is stopped, even on failure.
# It builds bt-exec, bt-exec-full and bt-log (release) with cargo into
# $CARGO_TARGET_DIR (default /tmp/bench-target) and copies them to
# $GB_WORK/bin; with BIN_DIR=DIR it uses the binaries there instead.
# Environment: GB_WORK (default /tmp/gb), RUNS (1000), WARMUP (50),
# FIRST (200), ROUNDS (3: the three gates, in order, this many times),
# PORT_LOG (19182), PORT_W (19183). Results (hyperfine JSON, logs, the
# table) are left in $GB_WORK/results.
set -euo pipefail
umask 022

repo="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${GB_WORK:-/tmp/gb}"
RUNS="${RUNS:-1000}" WARMUP="${WARMUP:-50}" FIRST="${FIRST:-200}" ROUNDS="${ROUNDS:-3}"
PORT_LOG="${PORT_LOG:-19182}" PORT_W="${PORT_W:-19183}"
MNT="$WORK/mnt" W="$WORK/world" OUT="$WORK/results" BIN="$WORK/bin"
SOCK="$W/run/guard.sock"

die() { echo "guard_exec.sh: $*" >&2; exit 1; }
say() { echo "== $*" >&2; }

[ "$(id -u)" = 0 ] || die "needs root (fanotify, mount): sudo $0"
if pgrep -x fapolicyd >/dev/null; then
  die "fapolicyd is already running here; stop it first (this script runs its own)"
fi

# ---- cleanup: only what this script started or changed -------------------
pids=() guard_pid="" fapo_pid="" fapo_backup="" mounted="" fapo_db_new="" fapo_pidfile_new=""
cleanup() {
  set +e
  [ -n "$guard_pid" ] && { kill "$guard_pid"; wait "$guard_pid"; } 2>/dev/null
  [ -n "$fapo_pid" ] && { kill -TERM "$fapo_pid"; wait "$fapo_pid"; } 2>/dev/null
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  if [ -n "$fapo_backup" ] && [ -d "$fapo_backup" ]; then
    rm -rf /etc/fapolicyd && cp -a "$fapo_backup" /etc/fapolicyd && rm -rf "$fapo_backup"
  fi
  # The trust database and pid file this run made (none was there before).
  [ -n "$fapo_db_new" ] && rm -f /var/lib/fapolicyd/{data.mdb,lock.mdb,db.ver}
  [ -n "$fapo_pidfile_new" ] && rm -f /run/fapolicyd.pid
  [ -n "$mounted" ] && umount "$MNT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- packages -------------------------------------------------------------
missing=()
for p in fapolicyd hyperfine e2fsprogs python3; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]}"
  if [[ " ${missing[*]} " == *" fapolicyd "* ]] && [ -d /run/systemd/system ]; then
    # Its default rules deny every untrusted exec on every ext4/tmpfs/…:
    # never let the package start it as a service.
    systemctl mask fapolicyd.service
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  if pgrep -x fapolicyd >/dev/null; then
    die "the fapolicyd package started its service; stop it (systemctl stop fapolicyd) and run again"
  fi
fi

# ---- binaries -------------------------------------------------------------
mkdir -p "$WORK" && chmod 0755 "$WORK"
if [ -n "${BIN_DIR:-}" ]; then
  src="$BIN_DIR"
else
  say "building bt-exec, bt-exec-full, bt-log (release)"
  target="${CARGO_TARGET_DIR:-/tmp/bench-target}"
  (cd "$repo" && CARGO_TARGET_DIR="$target" cargo build --release -q \
    --bin bt-exec --bin bt-exec-full --bin bt-log)
  src="$target/release"
fi
if [ "$(readlink -f "$src")" != "$(readlink -f "$BIN")" ]; then
  rm -rf "$BIN" && mkdir -p "$BIN"
  cp "$src/bt-exec" "$src/bt-exec-full" "$src/bt-log" "$BIN/"
fi
# (Servers are started as "$BIN/bt-log" itself, not through this function,
# so that the pid kept is theirs.)
bt_log() { "$BIN/bt-log" "$@"; }

# ---- the test filesystem: ext2 on a loop device, a type nothing else uses --
if findmnt -rn -t ext2 -o TARGET | grep -q .; then
  die "an ext2 filesystem is already mounted; fapolicyd (watch_fs = ext2) would watch it too"
fi
mkdir -p "$MNT" "$OUT"
# Room for every fresh copy (ROUNDS × 3 gates × FIRST, 64 KiB each at most).
rm -f "$WORK/fs.img" "$WORK/fresh.n"
truncate -s $(( 32 + ROUNDS * 3 * FIRST / 16 ))M "$WORK/fs.img"
mkfs.ext2 -q -F "$WORK/fs.img"
mount -o loop "$WORK/fs.img" "$MNT" && mounted=1
chmod 0755 "$MNT"
# The proven program (a dynamically linked /bin/true; its interpreter and
# libc are on the root filesystem, which no gate watches) and an unproven one.
install -m 0755 "$(readlink -f /bin/true)" "$MNT/prog"
install -m 0755 "$(readlink -f /bin/echo)" "$MNT/unproven"
mkdir -p "$MNT/fresh"

# ---- a log, a witness, the program published ------------------------------
say "a log with the program published, a witness, the guard's policy"
rm -rf "$W" && mkdir -p "$W/run" && chmod 0755 "$W" "$W/run"
cd "$W"
bt_log keygen example.org/log0 --out log0.key >/dev/null
bt_log keygen example.org --out pub.key >/dev/null
bt_log keygen w.example --out w.key >/dev/null
wait_port() { # PORT: until something listens there
  local i=0
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 200 ] || die "nothing listens on port $1"; sleep 0.05
  done
}
for port in "$PORT_W" "$PORT_LOG"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "something already listens on port $port (set PORT_W / PORT_LOG)"
  fi
done
"$BIN/bt-log" witness serve --key w.key --state wstate --listen "127.0.0.1:$PORT_W" \
  --log "$(cat log0.key.pub)" >witness.log 2>&1 &
pids+=($!)
wait_port "$PORT_W"
bt_log init log0 --origin example.org/log0 --key log0.key \
  --witness "http://127.0.0.1:$PORT_W=$(cat w.key.pub)" >/dev/null
bt_log add log0 "$MNT/prog" --name example.org/true --version 1.0 \
  --publisher-key pub.key --proofs >/dev/null
"$BIN/bt-log" serve log0 --listen "127.0.0.1:$PORT_LOG" >serve.log 2>&1 &
pids+=($!)
wait_port "$PORT_LOG"
cat >policy.toml <<POLICY
trust = """
log $(cat log0.key.pub) http://127.0.0.1:$PORT_LOG/
witness w $(cat w.key.pub)
quorum w
"""

[[publisher]]
names = ["example.org/*"]
key = "$(cat pub.key.pub)"

[require]
logs = 1
max_age = "1h"
refresh = "1h"
POLICY
cat >guard.toml <<TOML
mode = "enforce"
filesystems = ["$MNT"]
policy = "$W/policy.toml"
state = "$W/gstate"
socket = "$SOCK"
TOML
chmod 0644 policy.toml guard.toml

start_guard() {
  "$BIN/bt-exec" guard run --config "$W/guard.toml" 2>>"$W/guard.log" &
  guard_pid=$!
  local i=0
  until "$BIN/bt-exec" guard status --config "$W/guard.toml" >/dev/null 2>&1; do
    kill -0 "$guard_pid" 2>/dev/null || { cat "$W/guard.log" >&2; die "the guard exited"; }
    i=$((i + 1)); [ $i -lt 400 ] || die "the guard does not answer"; sleep 0.05
  done
}
stop_guard() { kill "$guard_pid"; wait "$guard_pid" 2>/dev/null || true; guard_pid=""; }

# EPERM from the kernel, and the program did not run.
denied() {
  if "$1" ran >"$W/denied.out" 2>&1; then return 1; fi
  grep -q "Operation not permitted" "$W/denied.out"
}
runs() { "$MNT/prog"; }

say "the guard: start, bring the program in (as nobody), check it enforces"
start_guard
denied "$MNT/prog" || die "the guard let an unproven program run before it was brought in"
setpriv --reuid=65534 --regid=65534 --clear-groups \
  env -i HOME=/nonexistent "$BIN/bt-exec" verify --guard="$SOCK" "$MNT/prog" \
  >"$OUT/verify.out" 2>&1 || { cat "$OUT/verify.out" >&2; die "bt-exec verify --guard failed"; }
grep -q "the guard proved" "$OUT/verify.out" || { cat "$OUT/verify.out" >&2; die "not proved"; }
runs || die "the proven program does not run under the guard"
stop_guard

# ---- fapolicyd's configuration (applied only while it runs) ---------------
fapo_backup="$WORK/etc-fapolicyd.bak"
rm -rf "$fapo_backup" && cp -a /etc/fapolicyd "$fapo_backup"
[ -e /var/lib/fapolicyd/data.mdb ] || fapo_db_new=1
[ -e /run/fapolicyd.pid ] || fapo_pidfile_new=1
# fapolicyd keeps CAP_SYS_RESOURCE when it drops to its user; where the
# bounding set lacks it (containers, sandboxes) it cannot start. Then a
# preloaded shim drops that one capability from what it keeps, nothing else.
fapo_preload=""
if ! (( 0x$(awk '/^CapBnd/ {print $2}' /proc/self/status) & (1 << 24) )); then
  say "CAP_SYS_RESOURCE is not in the bounding set: fapolicyd runs with a shim"
  cat >"$WORK/capshim.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
extern int capng_update(int action, int type, unsigned int capability);
int capng_change_id(int uid, int gid, int flag) {
  int (*real)(int, int, int) = (int (*)(int, int, int))dlsym(RTLD_NEXT, "capng_change_id");
  capng_update(0 /* CAPNG_DROP */, 1 | 2 /* EFFECTIVE|PERMITTED */, 24 /* CAP_SYS_RESOURCE */);
  return real(uid, gid, flag);
}
C
  cc -O2 -shared -fPIC -o "$WORK/capshim.so" "$WORK/capshim.c" -ldl
  fapo_preload="$WORK/capshim.so"
fi
install -d -m 0770 -o root -g fapolicyd /run/fapolicyd
sed -e 's/^watch_fs *=.*/watch_fs = ext2/' \
    -e 's/^trust *=.*/trust = file/' \
    -e 's/^integrity *=.*/integrity = sha256/' \
    -e 's/^nice_val *=.*/nice_val = 0/' \
    "$fapo_backup/fapolicyd.conf" >/etc/fapolicyd/fapolicyd.conf
rm -f /etc/fapolicyd/rules.d/* /etc/fapolicyd/compiled.rules /etc/fapolicyd/fapolicyd.rules
cat >/etc/fapolicyd/rules.d/50-bench.rules <<RULES
# benches/guard_exec.sh: trusted files may run; nothing else in the test
# directory may; everything else is allowed (the machine keeps working).
allow perm=execute all : trust=1
deny perm=execute all : dir=$MNT/
allow perm=any all : all
RULES
fagenrules >/dev/null
grep -v '^#' /etc/fapolicyd/trust.d/*.trust /etc/fapolicyd/fapolicyd.trust 2>/dev/null | grep -q . &&
  die "fapolicyd's trust files are not empty: refusing to mix them in"
fapolicyd-cli --file add "$MNT/prog" >/dev/null
grep -q "^$MNT/prog " /etc/fapolicyd/fapolicyd.trust || die "fapolicyd-cli did not trust $MNT/prog"
cp /etc/fapolicyd/fapolicyd.conf /etc/fapolicyd/compiled.rules /etc/fapolicyd/fapolicyd.trust "$OUT/"

start_fapolicyd() {
  LD_PRELOAD="$fapo_preload" fapolicyd --debug-deny 2>>"$W/fapolicyd.log" &
  fapo_pid=$!
  local i=0
  until denied "$MNT/unproven"; do # ready once it enforces
    kill -0 "$fapo_pid" 2>/dev/null || { cat "$W/fapolicyd.log" >&2; die "fapolicyd exited"; }
    i=$((i + 1)); [ $i -lt 600 ] || die "fapolicyd does not enforce"; sleep 0.05
  done
}
stop_fapolicyd() { kill -TERM "$fapo_pid"; wait "$fapo_pid" 2>/dev/null || true; fapo_pid=""; }

# ---- measurements ---------------------------------------------------------
# The prepare step of the first-exec runs: a new inode with the program's
# bytes put at the program's own path (fapolicyd's trust = file is by path
# as well as size and hash), the old one kept under fresh/ so that no inode
# number is reused.
cp "$MNT/prog" "$WORK/prog.orig"
cat >"$WORK/fresh-copy" <<SH
#!/bin/sh
set -e
n=\$(( \$(cat "$WORK/fresh.n" 2>/dev/null || echo 0) + 1 ))
echo \$n > "$WORK/fresh.n"
cp "$WORK/prog.orig" "$MNT/fresh/\$n"
ln -f "$MNT/fresh/\$n" "$MNT/prog"
SH
chmod 0755 "$WORK/fresh-copy"

measure() { # GATE ROUND
  local g="$1" r="$2"
  hyperfine -N --style basic --warmup "$WARMUP" --runs "$RUNS" \
    --export-json "$OUT/repeated-$g-$r.json" -n "$g, repeated" "$MNT/prog" >&2
  hyperfine -N --style basic --runs "$FIRST" --prepare "$WORK/fresh-copy" \
    --export-json "$OUT/first-$g-$r.json" -n "$g, first exec" "$MNT/prog" >&2
}

for r in $(seq 1 "$ROUNDS"); do
  say "round $r: no gating"
  denied "$MNT/unproven" && die "something gates the test filesystem already"
  measure none "$r"

  say "round $r: the guard"
  start_guard
  denied "$MNT/unproven" || die "the guard does not enforce"
  runs || die "the proven program does not run under the guard"
  measure guard "$r"
  "$BIN/bt-exec" guard status --config "$W/guard.toml" >"$OUT/guard-status-$r.txt" 2>&1 || true
  stop_guard

  say "round $r: fapolicyd"
  start_fapolicyd
  runs || { cat "$W/fapolicyd.log" >&2; die "the trusted program does not run under fapolicyd"; }
  measure fapolicyd "$r"
  fapolicyd-cli --check-status >"$OUT/fapolicyd-status-$r.txt" 2>&1 || true
  stop_fapolicyd
done
cp "$W/guard.log" "$W/fapolicyd.log" "$OUT/" 2>/dev/null || true

# ---- the table ------------------------------------------------------------
{
  echo "date: $(date -u)"
  echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), Linux $(uname -r)"
  echo "$(hyperfine --version); fapolicyd $(dpkg-query -W -f='${Version}' fapolicyd)"
  echo "program: $(readlink -f /bin/true) ($(stat -c %s "$MNT/prog") bytes) on ext2 (loop) at $MNT"
  echo "runs: repeated --warmup $WARMUP --runs $RUNS; first exec --runs $FIRST (a new inode each)"
  python3 - "$OUT" "$ROUNDS" <<'PY'
import json, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def get(kind, gate, r):
    res = json.load(open(f"{out}/{kind}-{gate}-{r}.json"))["results"][0]
    us = lambda x: x * 1e6
    return dict(mean=us(res["mean"]), sd=us(res["stddev"]), min=us(res["min"]),
                median=us(res["median"]))
print()
print("| round | gate | repeated: mean ± σ | min | median | first exec: mean ± σ | min | median |")
print("|---|---|---|---|---|---|---|---|")
rows = {}
for r in range(1, rounds + 1):
    for g in ["none", "guard", "fapolicyd"]:
        a, b = get("repeated", g, r), get("first", g, r)
        rows[(g, r)] = (a, b)
        print(f"| {r} | {g} | {a['mean']:.0f} µs ± {a['sd']:.0f} | {a['min']:.0f} µs | {a['median']:.0f} µs "
              f"| {b['mean']:.0f} µs ± {b['sd']:.0f} | {b['min']:.0f} µs | {b['median']:.0f} µs |")
print()
for r in range(1, rounds + 1):
    n, g, f = rows[("none", r)], rows[("guard", r)], rows[("fapolicyd", r)]
    for i, kind in enumerate(["repeated", "first exec"]):
        print(f"round {r}, {kind}: guard − none = {g[i]['mean'] - n[i]['mean']:+.0f} µs (mean), "
              f"{g[i]['median'] - n[i]['median']:+.0f} µs (median); "
              f"fapolicyd − none = {f[i]['mean'] - n[i]['mean']:+.0f} µs (mean), "
              f"{f[i]['median'] - n[i]['median']:+.0f} µs (median); "
              f"guard at most fapolicyd's: {'yes' if g[i]['mean'] <= f[i]['mean'] else 'NO'} (means)")
PY
} | tee "$OUT/table.md"
