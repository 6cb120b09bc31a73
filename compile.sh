#!/usr/bin/env bash
# Builds one self-contained `autopgo` binary per target OS with `deno compile` into dist/.
# deno compile downloads a `denort` runtime per target; set DENORT_BIN to a local denort
# binary to build offline for the host target only.
set -euo pipefail
cd "$(dirname "$0")"
version=$(sed -n 's/^export const VERSION = "\(.*\)";/\1/p' cmd/version.ts)
targets=${TARGETS:-"x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu x86_64-apple-darwin aarch64-apple-darwin x86_64-pc-windows-msvc"}
perms=(--allow-net --allow-read --allow-write --allow-env --allow-sys --allow-run)
mkdir -p dist
if [ -n "${DENORT_BIN:-}" ]; then
  echo "DENORT_BIN set: building for the host only with $DENORT_BIN"
  deno compile "${perms[@]}" --output "dist/autopgo" main.ts
  exit 0
fi
for t in $targets; do
  out="dist/autopgo-${version}-${t}"
  echo "compiling $out"
  deno compile "${perms[@]}" --target "$t" --output "$out" main.ts
done
