#!/usr/bin/env bash
# Builds autopgo's release assets into dist/: one self-contained binary per target (`deno compile`), the
# single-file `autopgo.js` (build/bundle.ts: `deno bundle` split into modules that its first run unpacks into a cache
# folder; runs wherever Deno runs: `deno run -A autopgo.js …`), install.sh, and
# SHA256SUMS over all of them. Every build is stamped with the version (cmd/version.ts) and the git commit, so
# `autopgo --version` prints e.g. `autopgo 0.1.0 (commit 1a2b3c4, deno 2.9.6)`.
#
# Usage: compile.sh [TARGET|js ...]    default: the five targets below and js ($TARGETS also names targets)
#        compile.sh --checksums        only rewrite SHA256SUMS over the assets already in dist/
# Targets: x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu x86_64-apple-darwin aarch64-apple-darwin
#          x86_64-pc-windows-msvc; `js` is autopgo.js plus install.sh.
# Environment:
#   DENORT_BIN=PATH  build offline with this denort runtime (from denort-<target>.zip of the Deno release that
#                    matches `deno --version`); one target, the runtime's own. Anything else is refused.
#   AUTOPGO_COMMIT   commit to stamp (default: `git rev-parse --short HEAD`, `-dirty` if tracked files changed)
#   RELEASE_TAG      refuse to build unless it is v<version>
#   AUTOPGO_REPO     owner/name written into dist/install.sh as its release repository (default: $GITHUB_REPOSITORY
#                    or the github.com origin remote)
#   DIST_DIR         output directory (default dist; a relative path is taken from the repository root)
# `deno compile` downloads the denort runtime of each target from Deno's download host unless DENORT_BIN is set.
set -euo pipefail
repo=$(cd "$(dirname "$0")" && pwd)
cd "$repo"
all_targets=(x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu x86_64-apple-darwin aarch64-apple-darwin
  x86_64-pc-windows-msvc)
# --allow-ffi: the long-running components call glibc's malloc_trim to give freed native memory back after a
# burst of connections (cmd/native_memory.ts); nothing else loads a native library.
perms=(--allow-net --allow-read --allow-write --allow-env --allow-sys --allow-run --allow-ffi)
# V8's young generation capped at 4 MiB semi-spaces (default up to 16): a long-running server or worker then keeps a
# steady resident set instead of one that V8 grows and shrinks by up to ~50 MiB with its allocation rate; the merge CLI
# costs the same CPU (BENCHMARKS.md, "Steady load"). DENO_V8_FLAGS adds flags at run time.
v8_flags=(--v8-flags=--max-semi-space-size=4)

die() { echo "compile.sh: $*" >&2; exit 1; }

sha256() { # sha256 FILE: prints the hex digest
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then shasum -a 256 "$1" | cut -d' ' -f1
  else openssl dgst -sha256 -r "$1" | cut -d' ' -f1; fi
}

write_checksums() { # SHA256SUMS over the release assets in $dist, in `sha256sum -c` format
  local f
  (
    cd "$dist"
    for f in autopgo-* autopgo.js install.sh; do
      if [ -f "$f" ]; then printf '%s  %s\n' "$(sha256 "$f")" "$f"; fi
    done
  ) >"$dist/SHA256SUMS.tmp"
  [ -s "$dist/SHA256SUMS.tmp" ] || { rm -f "$dist/SHA256SUMS.tmp"; die "no release assets in $dist to checksum"; }
  mv -f "$dist/SHA256SUMS.tmp" "$dist/SHA256SUMS"
  echo "wrote $dist/SHA256SUMS ($(wc -l <"$dist/SHA256SUMS" | tr -d ' ') assets)"
}

hex_at() { # hex_at FILE OFFSET COUNT: bytes as one lowercase hex string
  od -A n -t x1 -j "$2" -N "$3" "$1" | tr -d ' \n'
}

denort_target() { # prints the target DENORT_BIN was built for, or dies with the one-line reason it is no denort
  local f=$DENORT_BIN head machine off cpu found
  [ -f "$f" ] || die "DENORT_BIN=$f: no such file"
  head=$(hex_at "$f" 0 20)
  case $head in
    7f454c46*) # ELF: e_machine at byte 18
      machine=${head:36:4}
      case $machine in 3e00) echo x86_64-unknown-linux-gnu ;; b700) echo aarch64-unknown-linux-gnu ;;
        *) die "DENORT_BIN=$f is an ELF binary for machine 0x$machine, not a denort runtime of a supported target" ;;
      esac ;;
    cffaedfe*) # 64-bit Mach-O: cputype at byte 4
      cpu=${head:8:8}
      case $cpu in 07000001) echo x86_64-apple-darwin ;; 0c000001) echo aarch64-apple-darwin ;;
        *) die "DENORT_BIN=$f is a Mach-O binary for cpu 0x$cpu, not a denort runtime of a supported target" ;;
      esac ;;
    cafebabe*) die "DENORT_BIN=$f is a universal (fat) Mach-O; give the denort of one architecture" ;;
    4d5a*) # PE: the header offset is at byte 60, the machine 4 bytes after it
      off=$(od -A n -t u4 -j 60 -N 4 "$f" | tr -d ' \n')
      machine=$(hex_at "$f" $((off + 4)) 2)
      [ "$machine" = 6486 ] || die "DENORT_BIN=$f is a Windows binary for machine 0x$machine, not x86_64"
      echo x86_64-pc-windows-msvc ;;
    *) die "DENORT_BIN=$f is not a denort runtime: not an ELF, Mach-O or PE executable" ;;
  esac
  # The deno CLI reads DENORT_BIN (for `deno compile`); the runtime-only denort never does. Embedding the CLI gives
  # a 100+ MB binary that runs Deno's own command line instead of autopgo.
  if LC_ALL=C grep -a -q DENORT_BIN "$f"; then
    die "DENORT_BIN=$f is the deno CLI, not the denort runtime" \
      "(take denort from denort-<target>.zip of Deno $deno_version)"
  fi
  # Every Deno runtime looks for its embedded program in a section named d3n0l4nd.
  LC_ALL=C grep -a -q d3n0l4nd "$f" || die "DENORT_BIN=$f is not a denort runtime (no d3n0l4nd section marker)"
  found=$(LC_ALL=C grep -a -o 'Deno/[0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*' "$f" | sort -u | tr '\n' ' ' || true)
  if [ -n "$found" ] && [[ " $found" != *" Deno/$deno_version "* ]]; then
    die "DENORT_BIN=$f is denort ${found%% *} but deno is $deno_version; use the denort of the same Deno release"
  fi
}

stamp_commit() {
  if [ -n "${AUTOPGO_COMMIT:-}" ]; then echo "$AUTOPGO_COMMIT"; return; fi
  local c
  c=$(git -C "$repo" rev-parse --short=7 HEAD 2>/dev/null) || { echo unknown; return; }
  git -C "$repo" diff --quiet HEAD -- 2>/dev/null || c="$c-dirty"
  echo "$c"
}

find_release_repo() {
  if [ -n "${AUTOPGO_REPO:-}" ]; then echo "$AUTOPGO_REPO"; return; fi
  if [ -n "${GITHUB_REPOSITORY:-}" ]; then echo "$GITHUB_REPOSITORY"; return; fi
  { git -C "$repo" remote get-url origin 2>/dev/null || true; } |
    sed -nE 's#^(https://|git@|ssh://git@)github\.com[:/]([^/]+/[^/]+)$#\2#p' | sed 's/\.git$//'
}

stage_sources() { # copies the sources to build into $stage, with build_info.ts stamped
  local entry
  for entry in "$repo"/* "$repo"/.[!.]*; do
    case ${entry##*/} in .git | .github | .ci | dist | autopgo-data | node_modules | tmp | tests | bench | '.[!.]*') ;;
      *) [ "$entry" -ef "$dist" ] || cp -R "$entry" "$stage/" ;;
    esac
  done
  cat >"$stage/cmd/build_info.ts" <<EOF
/** Build stamp written by compile.sh. @module */

/** Short git commit of this release build. */
export const BUILD_COMMIT: string = "$commit";
EOF
}

# ---- arguments
checksums_only=false
requested=()
for arg in "$@"; do
  case $arg in
    --checksums) checksums_only=true ;;
    -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $arg (see compile.sh --help)" ;;
    *) requested+=("$arg") ;;
  esac
done
explicit=true
[ ${#requested[@]} -gt 0 ] || [ -z "${TARGETS:-}" ] || read -r -a requested <<<"$TARGETS"
[ ${#requested[@]} -gt 0 ] || { explicit=false; requested=("${all_targets[@]}" js); }
for t in "${requested[@]}"; do
  [[ " ${all_targets[*]} js " == *" $t "* ]] || die "unknown target $t (known: ${all_targets[*]} js)"
done

dist=${DIST_DIR:-dist}
mkdir -p "$dist"
dist=$(cd "$dist" && pwd)
if $checksums_only; then write_checksums; exit 0; fi

version=$(sed -n 's/^export const VERSION = "\(.*\)";/\1/p' cmd/version.ts)
[ -n "$version" ] || die "no VERSION in cmd/version.ts"
if [ -n "${RELEASE_TAG:-}" ] && [ "$RELEASE_TAG" != "v$version" ]; then
  die "tag $RELEASE_TAG does not match version $version in cmd/version.ts (expected v$version)"
fi
commit=$(stamp_commit)
[[ $commit =~ ^[A-Za-z0-9._+-]+$ ]] || die "AUTOPGO_COMMIT=$commit: only letters, digits and . _ + - are allowed"
command -v deno >/dev/null 2>&1 || die "deno is not installed (https://deno.com)"
release_repo=$(find_release_repo)
[ -z "$release_repo" ] || [[ $release_repo =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] ||
  die "AUTOPGO_REPO=$release_repo is not owner/name"
deno_version=$(deno --version | sed -n 's/^deno \([^ ]*\).*/\1/p' | head -n 1)

if [ -n "${DENORT_BIN:-}" ]; then
  runtime_target=$(denort_target) || exit 1
  if $explicit; then
    for t in "${requested[@]}"; do
      [ "$t" = js ] || [ "$t" = "$runtime_target" ] ||
        die "DENORT_BIN=$DENORT_BIN is the $runtime_target runtime; it cannot build $t"
    done
  else
    requested=("$runtime_target" js)
  fi
  echo "DENORT_BIN: building $runtime_target with $DENORT_BIN"
fi

stage=$(mktemp -d "${TMPDIR:-/tmp}/autopgo-build.XXXXXX")
trap 'rm -rf "$stage"' EXIT
stage_sources
cd "$stage"
echo "building autopgo $version (commit $commit, deno $deno_version) into $dist"

includes=()
# The decode pool's Web Worker module is loaded by URL, so deno compile must be told to embed it.
[ -f core/pipeline/decode_worker.ts ] && includes+=(--include core/pipeline/decode_worker.ts)

for t in "${requested[@]}"; do
  if [ "$t" = js ]; then
    echo "bundling $dist/autopgo.js"
    deno run --allow-all build/bundle.ts main.ts "$dist/autopgo.js" >/dev/null
    sed "s|^default_repo=\"\"|default_repo=\"$release_repo\"|" "$repo/install.sh" >"$dist/install.sh"
    chmod 755 "$dist/install.sh"
    continue
  fi
  out="$dist/autopgo-$t"
  [[ $t == *windows* ]] && out="$out.exe"
  echo "compiling $out"
  deno compile --quiet "${perms[@]}" "${v8_flags[@]}" ${includes[@]+"${includes[@]}"} --target "$t" --output "$out" \
    main.ts
done
write_checksums
