#!/usr/bin/env bash
# Builds the Debian package with cargo-deb: target/debian/sockscope_VERSION-1_ARCH.deb, whose
# path is the last line printed. The binary goes to /usr/bin (no file capabilities), man/*.1 to
# /usr/share/man/man1 (gzipped by cargo-deb), the completions that the built binary writes
# (sockscope completions SHELL, into target/completions/) to bash's, zsh's and fish's system
# directories, LICENSE as the copyright file; Depends are worked out by dpkg-shlibdeps.
#   bash .ci/package.sh                  release build (what to ship)
#   bash .ci/package.sh --profile package-test   quick unoptimised build (tests/package.rs)
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
if [ "${1:-}" = --profile ]; then
  profile=${2:?--profile needs a cargo profile}
fi
case "$profile" in
  dev | test) dir=debug ;;
  *) dir=$profile ;;
esac

bash .ci/cargo-deb.sh
cargo build --locked --profile "$profile" --bin sockscope >&2
bin=target/$dir/sockscope
mkdir -p target/completions
"$bin" completions bash >target/completions/sockscope.bash
"$bin" completions zsh >target/completions/_sockscope
"$bin" completions fish >target/completions/sockscope.fish
mkdir -p target/debian
# cargo-deb prints the path of the package it wrote.
cargo deb --no-build --locked --profile "$profile" --output target/debian/ | tail -n 1
