#!/bin/sh
# Builds the fuzzing corpora in fuzz/corpus/<target>/ at run time; they are
# never committed (fuzz/.gitignore). Each target gets: every file of the
# shared test vectors (../shared/vectors, or $VECTORS), what a small log
# written here by bt-log holds (checkpoint, hash tiles, entry bundles and
# the entries in them, index shards, a tlog-proof), and the small
# hand-made seeds committed in fuzz/seeds/<target>/.
#
# usage: fuzz/seed.sh            (bt-log from target/release, or $BT_LOG)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
vectors=${VECTORS:-$root/../shared/vectors}
bt_log=${BT_LOG:-$root/target/release/bt-log}
out=$here/corpus
targets=$(ls "$here/fuzz_targets" | sed 's/\.rs$//')

[ -x "$bt_log" ] || { echo "seed.sh: no $bt_log (cargo build --release --bin bt-log)" >&2; exit 1; }
rm -rf "$out"
for t in $targets; do mkdir -p "$out/$t"; done

# 1. The shared vectors, every file into every corpus (libFuzzer keeps
#    what reaches new coverage).
if [ -d "$vectors" ]; then
    find "$vectors" -type f -size -1024k | while read -r f; do
        name=v-$(printf '%s' "$f" | sha256sum | cut -c1-16)
        for t in $targets; do cp "$f" "$out/$t/$name"; done
    done
else
    echo "seed.sh: $vectors not found; corpora without the shared vectors" >&2
fi

# 2. A log written here: 300 releases (a full tile and a partial one).
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bt_log" keygen example.org/fuzz --out "$work/log.key" >/dev/null
"$bt_log" keygen example.org --out "$work/pub.key" >/dev/null
"$bt_log" init "$work/log" --origin example.org/fuzz --key "$work/log.key" >/dev/null
mkdir "$work/files"
i=0
while [ $i -lt 300 ]; do
    printf '#!/bin/sh\necho %s\n' $i > "$work/files/f$i"
    printf '{"file":"files/f%s","name":"example.org/tool%s","version":"1.%s"}\n' $i $((i % 5)) $i
    i=$((i + 1))
done > "$work/m.jsonl"
"$bt_log" add "$work/log" --manifest "$work/m.jsonl" --publisher-key "$work/pub.key" >/dev/null 2>&1
"$bt_log" proof "$work/log" 7 > "$work/proof"
cp "$work/log/checkpoint" "$out/checkpoint/log"
cp "$work/log/checkpoint" "$out/note/log"
cp "$work/log/checkpoint" "$out/gossip/log"
cp "$work/proof" "$out/tlog_proof/log"
for f in $(find "$work/log/tile" -type f); do
    cp "$f" "$out/tiles/$(printf '%s' "$f" | sha256sum | cut -c1-16)"
done
for f in "$work/log/bt/index/"*; do cp "$f" "$out/index_shard/"; done
# Single entries, cut from the first bundle (u16 length, then the leaf).
python3 - "$work/log/tile/entries/000" "$out/entry" "$out/submission" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
n = 0
while data and n < 20:
    ln = int.from_bytes(data[:2], "big")
    for d in sys.argv[2:]:
        open("%s/leaf%d" % (d, n), "wb").write(data[2:2 + ln])
    data = data[2 + ln:]
    n += 1
PY

# 3. The committed hand-made seeds.
for t in $targets; do
    if [ -d "$here/seeds/$t" ]; then cp "$here/seeds/$t/"* "$out/$t/" 2>/dev/null || true; fi
done
for t in $targets; do printf '%s %s\n' "$t" "$(ls "$out/$t" | wc -l)"; done
