#!/usr/bin/env bash
# The guard's exec latency against fapolicyd (docs/BENCHMARKS.md, "The
# guard's exec latency against fapolicyd").
#
# What it measures: the wall time of execve of a proven program (a copy of
# /bin/true) on one test filesystem, under each gate in turn, back to back
# in one run on the same machine:
#   none       no fanotify listener at all;
#   guard      `bt-exec guard run` (enforce) marking that filesystem, the
#              program published in a bt-log log, witnessed, and brought in
#              with `bt-exec verify --guard=SOCKET` (run as nobody);
#   floor      for reference: a 30-line C listener (written and built here)
#              marking the same filesystem for FAN_OPEN_EXEC_PERM and
#              allowing every exec from its one thread: the least any
#              fanotify gate costs (skipped when there is no C compiler);
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
# watch_fs type). The same filesystem serves every gate.
#
# Run:   sudo benches/guard_exec.sh
# Needs root (fanotify, mount); installs fapolicyd and hyperfine with apt
# when missing (masking fapolicyd.service first where systemd runs, so its
# default rules never start; it stays masked). /etc/fapolicyd is backed up
# and restored, and everything started is stopped, even on failure.
# It builds bt-exec, bt-exec-full and bt-log (release) with cargo into
# $CARGO_TARGET_DIR (default /tmp/bench-target) and copies them to
# $GB_WORK/bin; with BIN_DIR=DIR it uses the binaries there instead. A C
# compiler (cc) is used for the floor listener and, where needed, the shim.
# Environment: GB_WORK (default /tmp/gb), RUNS (1000), WARMUP (50),
# FIRST (200), ROUNDS (3: every gate once a round, the order rotated),
# GUARD2_BIN (another build's binaries, measured as a gate "guard2"),
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
  [ -n "${floor_pid:-}" ] && { kill "$floor_pid"; wait "$floor_pid"; } 2>/dev/null
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
# Room for every fresh copy (ROUNDS × 5 gates at most × FIRST, 64 KiB each).
rm -f "$WORK/fs.img" "$WORK/fresh.n"
truncate -s $(( 32 + ROUNDS * 5 * FIRST / 16 ))M "$WORK/fs.img"
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

start_guard() { # [BINDIR]: the guard of that build (default $BIN)
  local bin="${1:-$BIN}"
  "$bin/bt-exec" guard run --config "$W/guard.toml" 2>>"$W/guard.log" &
  guard_pid=$!
  local i=0
  until "$bin/bt-exec" guard status --config "$W/guard.toml" >/dev/null 2>&1; do
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

# ---- the floor: the least a fanotify exec gate costs ----------------------
floor_pid="" gates="none guard fapolicyd"
if command -v cc >/dev/null; then
  cat >"$WORK/fanfloor.c" <<'C'
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/fanotify.h>
#include <unistd.h>
int main(int argc, char **argv) {
  int fan = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
  if (argc != 2 || fan < 0 ||
      fanotify_mark(fan, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_OPEN_EXEC_PERM, AT_FDCWD, argv[1])) {
    perror("fanfloor"); return 1;
  }
  char buf[4096] __attribute__((aligned(8)));
  for (;;) {
    ssize_t n = read(fan, buf, sizeof buf);
    if (n <= 0) { perror("fanfloor: read"); return 1; }
    for (struct fanotify_event_metadata *m = (void *)buf; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
      if (m->fd < 0) continue;
      struct fanotify_response r = { .fd = m->fd, .response = FAN_ALLOW };
      if (write(fan, &r, sizeof r) != sizeof r) perror("fanfloor: write");
      close(m->fd);
    }
  }
}
C
  cc -O2 -o "$WORK/fanfloor" "$WORK/fanfloor.c"
  gates="none floor guard fapolicyd"
fi
start_floor() {
  "$WORK/fanfloor" "$MNT" 2>>"$W/fanfloor.log" &
  floor_pid=$!
  sleep 0.5
  kill -0 "$floor_pid" 2>/dev/null || { cat "$W/fanfloor.log" >&2; die "fanfloor exited"; }
}
stop_floor() { kill "$floor_pid"; wait "$floor_pid" 2>/dev/null || true; floor_pid=""; }

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
  # The program was last written (or linked) by the previous gate's first
  # execs: the guard keeps a file's hash only once its ctime is two
  # seconds older than the hash (a rewrite within one clock tick moves no
  # time), so "repeated" starts on a file that old, as a program run
  # again and again is.
  sleep 3
  hyperfine -N --style basic --warmup "$WARMUP" --runs "$RUNS" \
    --export-json "$OUT/repeated-$g-$r.json" -n "$g, repeated" "$MNT/prog" >&2
  hyperfine -N --style basic --runs "$FIRST" --prepare "$WORK/fresh-copy" \
    --export-json "$OUT/first-$g-$r.json" -n "$g, first exec" "$MNT/prog" >&2
}

# GUARD2_BIN=DIR adds a gate "guard2": the guard of another build (e.g. a
# candidate fix), same configuration and state, measured in the same rounds.
if [ -n "${GUARD2_BIN:-}" ]; then
  gates="$gates guard2"
fi
run_gate() { # GATE ROUND
  local g="$1" r="$2"
  say "round $r: $g"
  case "$g" in
    none)
      denied "$MNT/unproven" && die "something gates the test filesystem already"
      measure none "$r" ;;
    floor)
      start_floor
      runs || die "the program does not run under the floor listener"
      measure floor "$r"
      stop_floor ;;
    guard | guard2)
      local bin="$BIN"
      [ "$g" = guard2 ] && bin="$GUARD2_BIN"
      start_guard "$bin"
      denied "$MNT/unproven" || die "the guard ($g) does not enforce"
      runs || die "the proven program does not run under the guard ($g)"
      measure "$g" "$r"
      "$bin/bt-exec" guard status --config "$W/guard.toml" >"$OUT/$g-status-$r.txt" 2>&1 || true
      stop_guard ;;
    fapolicyd)
      start_fapolicyd
      runs || { cat "$W/fapolicyd.log" >&2; die "the trusted program does not run under fapolicyd"; }
      measure fapolicyd "$r"
      stop_fapolicyd ;;
  esac
}
# Each round runs every gate once, the order rotated from round to round so
# that no gate always runs first or last.
read -r -a order <<<"$gates"
for r in $(seq 1 "$ROUNDS"); do
  n=${#order[@]}
  for i in $(seq 0 $((n - 1))); do
    run_gate "${order[$(( (i + r - 1) % n ))]}" "$r"
  done
done
cp "$W/guard.log" "$W/fapolicyd.log" "$OUT/" 2>/dev/null || true

# ---- the table ------------------------------------------------------------
{
  echo "date: $(date -u)"
  echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), Linux $(uname -r)"
  echo "$(hyperfine --version); fapolicyd $(dpkg-query -W -f='${Version}' fapolicyd)"
  echo "program: $(readlink -f /bin/true) ($(stat -c %s "$MNT/prog") bytes) on ext2 (loop) at $MNT"
  echo "runs: repeated --warmup $WARMUP --runs $RUNS; first exec --runs $FIRST (a new inode each)"
  python3 - "$OUT" "$ROUNDS" "$gates" <<'PY'
import json, statistics as st, sys
out, rounds, gates = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
kinds = ["repeated", "first"]
def times(kind, gate, r):
    return [t * 1e6 for t in json.load(open(f"{out}/{kind}-{gate}-{r}.json"))["results"][0]["times"]]
def summary(ts):
    return dict(mean=st.mean(ts), sd=st.stdev(ts), min=min(ts), median=st.median(ts), n=len(ts))
def cell(x):
    return f"{x['mean']:.0f} ± {x['sd']:.0f} | {x['min']:.0f} | {x['median']:.0f}"
head = ("| gate | repeated: mean ± σ (µs) | min | median | first exec: mean ± σ (µs) | min | median |\n"
        "|---|---|---|---|---|---|---|")
print("\nEach round (hyperfine -N, µs):\n")
print(head.replace("| gate |", "| round | gate |", 1).replace("|---|", "|---|---|", 1))
for r in range(1, rounds + 1):
    for g in gates:
        print(f"| {r} | {g} | " + " | ".join(cell(summary(times(k, g, r))) for k in kinds) + " |")
pooled = {g: {k: summary([t for r in range(1, rounds + 1) for t in times(k, g, r)]) for k in kinds}
          for g in gates}
print(f"\nAll {rounds} round(s) pooled (µs):\n")
print(head)
for g in gates:
    print(f"| {g} | " + " | ".join(cell(pooled[g][k]) for k in kinds) + " |")
print("\nOver no gating (pooled; mean / median, µs):\n")
print("| gate | repeated | first exec |\n|---|---|---|")
for g in gates[1:]:
    d = [f"{pooled[g][k]['mean'] - pooled['none'][k]['mean']:+.0f} / "
         f"{pooled[g][k]['median'] - pooled['none'][k]['median']:+.0f}" for k in kinds]
    print(f"| {g} | {d[0]} | {d[1]} |")
print()
for gg in [g for g in gates if g.startswith("guard")]:
    for k in kinds:
        g, f = pooled[gg][k], pooled["fapolicyd"][k]
        ok = g["mean"] <= f["mean"] and g["median"] <= f["median"]
        print(f"{k}: {gg} at most fapolicyd's: {'yes' if ok else 'NO'} "
              f"(mean {g['mean']:.0f} vs {f['mean']:.0f} µs, median {g['median']:.0f} vs {f['median']:.0f} µs)")
PY
} | tee "$OUT/table.md"
