#!/usr/bin/env sh
# Builds bt-exec (the front and bt-exec-full, which it runs) and bt-log and
# installs them with their man pages.
#   ./install.sh                 # into ~/.local (or /usr/local when run as root)
#   PREFIX=/opt/bt ./install.sh  # elsewhere
#   STATIC=0 ./install.sh        # dynamically linked binaries
#   CARGO_TARGET_DIR=/tmp/t ./install.sh  # built there, as cargo does
# On Linux with glibc the binaries are linked statically (still
# position-independent, so ASLR applies): bt-exec starts in front of every
# program it runs, and a static binary skips the dynamic loader's work
# (docs/BENCHMARKS.md); its relative relocations are packed (RELR) where
# the toolchain allows. When that build fails, the ordinary one is used.
set -eu
cd "$(dirname "$0")"
if [ -z "${PREFIX:-}" ]; then
  if [ "$(id -u)" = 0 ]; then PREFIX=/usr/local; else PREFIX="$HOME/.local"; fi
fi
command -v cargo >/dev/null 2>&1 || { echo "install.sh: cargo is needed (https://rustup.rs)" >&2; exit 1; }
host="$(rustc -vV | sed -n 's/^host: //p')"
# Where cargo builds: CARGO_TARGET_DIR when set, as cargo itself reads it.
target="${CARGO_TARGET_DIR:-target}"
out="$target/release"
case "$host" in
  *-linux-gnu)
    # Relative relocations packed (RELR, glibc >= 2.36 and binutils >=
    # 2.38): the start-up relocation table shrinks from ~300 KB to ~3 KB.
    relr="-C link-arg=-Wl,-z,pack-relative-relocs"
    static() {
      RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static $1" \
        cargo build --release --locked --bins --target "$host"
    }
    if [ "${STATIC:-1}" != 0 ] && { static "$relr" || static ""; }; then
      out="$target/$host/release"
    else
      echo "install.sh: building dynamically linked binaries" >&2
      cargo build --release --locked --bins
    fi ;;
  *) cargo build --release --locked --bins ;;
esac
install -d "$PREFIX/bin" "$PREFIX/share/man/man1"
install -m 0755 "$out/bt-exec" "$out/bt-exec-full" "$out/bt-log" "$PREFIX/bin/"
install -m 0644 man/*.1 "$PREFIX/share/man/man1/"
# Shell completions, generated from the command lines, where each shell
# looks: bash-completion's and zsh's directories under PREFIX; fish's
# vendor directory, or its user directory for an install into ~/.local.
bash_dir="$PREFIX/share/bash-completion/completions"
zsh_dir="$PREFIX/share/zsh/site-functions"
if [ "$PREFIX" = "$HOME/.local" ]; then
  fish_dir="${XDG_CONFIG_HOME:-$HOME/.config}/fish/completions"
else
  fish_dir="$PREFIX/share/fish/vendor_completions.d"
fi
install -d "$bash_dir" "$zsh_dir" "$fish_dir"
for b in bt-exec bt-log; do
  "$PREFIX/bin/$b" completions bash > "$bash_dir/$b"
  "$PREFIX/bin/$b" completions zsh > "$zsh_dir/_$b"
  "$PREFIX/bin/$b" completions fish > "$fish_dir/$b.fish"
done
echo "installed bt-exec (with bt-exec-full) and bt-log into $PREFIX/bin, man pages into $PREFIX/share/man/man1, completions for bash, zsh and fish"
case "$PREFIX" in
  "$HOME/.local") echo "note: zsh looks for completions in $zsh_dir once it is in fpath (fpath+=($zsh_dir) before compinit)" ;;
esac
case ":$PATH:" in *":$PREFIX/bin:"*) ;; *) echo "note: add $PREFIX/bin to your PATH" ;; esac
