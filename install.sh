#!/usr/bin/env sh
# Builds bt-exec and bt-log and installs them with their man pages.
#   ./install.sh                 # into ~/.local (or /usr/local when run as root)
#   PREFIX=/opt/bt ./install.sh  # elsewhere
set -eu
cd "$(dirname "$0")"
if [ -z "${PREFIX:-}" ]; then
  if [ "$(id -u)" = 0 ]; then PREFIX=/usr/local; else PREFIX="$HOME/.local"; fi
fi
command -v cargo >/dev/null 2>&1 || { echo "install.sh: cargo is needed (https://rustup.rs)" >&2; exit 1; }
cargo build --release --locked --bins
install -d "$PREFIX/bin" "$PREFIX/share/man/man1"
install -m 0755 target/release/bt-exec target/release/bt-log "$PREFIX/bin/"
install -m 0644 man/*.1 "$PREFIX/share/man/man1/"
echo "installed bt-exec and bt-log into $PREFIX/bin, man pages into $PREFIX/share/man/man1"
case ":$PATH:" in *":$PREFIX/bin:"*) ;; *) echo "note: add $PREFIX/bin to your PATH" ;; esac
