#!/usr/bin/env bash
# Build target/debian/attestd_VERSION_amd64.deb: the release binaries (attestd and its
# collector worker, attestd-worker), then the man page
# and completions rendered from it, then `cargo deb` packs them with the unit, sysusers,
# tmpfiles, default config and policies (see [package.metadata.deb] in Cargo.toml).
# Needs cargo-deb (`cargo install cargo-deb --locked`). Prints the .deb's path last.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo-deb >/dev/null 2>&1 || {
  echo "build-deb: cargo-deb is missing; install it with: cargo install cargo-deb --locked" >&2
  exit 2
}
cargo build --release --locked
assets=target/release/assets
rm -rf "$assets"
target/release/attestd generate-assets "$assets" >/dev/null
gzip -9 -n -f "$assets/attestd.8"
# --no-build: the binary above is the one the assets were generated from.
cargo deb --no-build --locked --output target/debian/ 2>&1 | grep -v '^warning: ' >&2 || true
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
deb="target/debian/attestd_${version}_amd64.deb"
[ -f "$deb" ] || { echo "build-deb: $deb was not produced" >&2; exit 1; }
echo "$deb"
