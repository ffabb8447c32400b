#!/usr/bin/env bash
# Installs cargo-deb (builds the Debian package, .ci/package.sh) when it is missing or another
# version: one pinned version, so that every machine builds the same package.
set -euo pipefail
want=3.8.0
if cargo deb --version 2>/dev/null | grep -qw "$want"; then
  exit 0
fi
echo "cargo-deb: installing $want" >&2
cargo install cargo-deb --locked --version "$want" --quiet
