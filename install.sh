#!/bin/sh
# Installs autopgo from a GitHub release; `sh install.sh --help` (or `... | sh -s -- --help`) says how.
set -eu

default_repo="" # compile.sh writes the publishing repository here in the copy attached to a release

usage() {
  cat <<'USAGE'
Installs autopgo from a GitHub release: the binary for this OS and architecture, verified against the release's
SHA256SUMS, into PREFIX/bin. Use the copy attached to a release, which knows the repository it came from:

  curl -fsSL https://github.com/OWNER/autopgo/releases/latest/download/install.sh | sh
  curl -fsSL https://github.com/OWNER/autopgo/releases/latest/download/install.sh | sh -s -- --version v0.1.0

Options (environment):
  --version TAG    release to install, e.g. v0.1.0 (AUTOPGO_VERSION; default latest)
  --prefix DIR     install to DIR/bin (AUTOPGO_PREFIX; default /usr/local if writable, else ~/.local)
  --bin-dir DIR    install to DIR itself (AUTOPGO_BIN_DIR)
  --repo OWNER/NAME  repository whose releases to use (AUTOPGO_REPO)
  --resolve        print the release tag, target and asset name, install nothing
AUTOPGO_RELEASE_URL replaces https://github.com/OWNER/NAME/releases (mirrors, GitHub Enterprise, tests).
Binaries exist for Linux and macOS on x86_64 and arm64 and for Windows on x86_64; elsewhere run the release's
autopgo.js with Deno (`deno run -A autopgo.js`).
USAGE
}

die() {
  printf 'autopgo install: error: %s\n' "$*" >&2
  exit 1
}
say() { printf 'autopgo install: %s\n' "$*" >&2; }

version=${AUTOPGO_VERSION:-latest}
prefix=${AUTOPGO_PREFIX:-}
bin_dir=${AUTOPGO_BIN_DIR:-}
repo=${AUTOPGO_REPO:-$default_repo}
resolve_only=false
while [ $# -gt 0 ]; do
  case $1 in
    --version | --prefix | --bin-dir | --repo) [ $# -ge 2 ] || die "$1 needs a value" ;;
  esac
  case $1 in
    --version) version=$2 && shift ;;
    --prefix) prefix=$2 && shift ;;
    --bin-dir) bin_dir=$2 && shift ;;
    --repo) repo=$2 && shift ;;
    --resolve) resolve_only=true ;;
    -h | --help)
      usage
      exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done

# ---- which binary
detect_target() {
  os=$(uname -s)
  machine=$(uname -m)
  case $machine in
    x86_64 | amd64 | x64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch64 ;;
    *) arch="" ;;
  esac
  exe=""
  case $os in
    Linux)
      if ldd --version 2>&1 | grep -qi musl; then unsupported "Linux with musl libc"; fi
      target=$arch-unknown-linux-gnu ;;
    Darwin) target=$arch-apple-darwin ;;
    MINGW* | MSYS* | CYGWIN* | Windows_NT)
      [ "$arch" = x86_64 ] || unsupported "Windows"
      target=x86_64-pc-windows-msvc
      exe=.exe ;;
    *) unsupported "$os" ;;
  esac
  [ -n "$arch" ] || unsupported "$os"
}
unsupported() {
  covered="Linux and macOS (x86_64, arm64) and Windows (x86_64)"
  die "no autopgo binary for $1 on $machine: releases have binaries for $covered;" \
    "elsewhere run the release's autopgo.js with Deno: deno run -A autopgo.js"
}

# ---- downloads (curl or wget)
fetch() { # fetch URL FILE
  if command -v curl >/dev/null 2>&1; then
    code=$(curl -sL --retry 2 -o "$2" -w '%{http_code}' "$1") || code=${code:-000}
  elif command -v wget >/dev/null 2>&1; then
    if wget -q -O "$2" "$1"; then code=200; else code="error"; fi
  else
    die "neither curl nor wget is installed"
  fi
  case $code in
    200) ;;
    000) die "cannot reach $1" ;;
    404) die "$1 was not found (HTTP 404): no such release or asset" ;;
    *) die "downloading $1 failed (HTTP $code)" ;;
  esac
}

latest_tag() { # the tag that $base/latest redirects to
  if command -v curl >/dev/null 2>&1; then
    final=$(curl -sL --retry 2 -o /dev/null -w '%{http_code} %{url_effective}' "$base/latest") || final="000 "
    [ "${final%% *}" != 000 ] || die "cannot reach $base/latest"
    final=${final#* }
  else
    final=$(wget -S --spider "$base/latest" 2>&1 | sed -n 's/^ *[Ll]ocation: *\([^ ]*\).*/\1/p' |
      tail -n 1 | tr -d '\r')
  fi
  case $final in
    */releases/tag/?*) printf '%s\n' "${final##*/}" ;;
    *) die "no latest release found at $base/latest" ;;
  esac
}

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then shasum -a 256 "$1" | cut -d' ' -f1
  elif command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r "$1" | cut -d' ' -f1
  else die "no sha256sum, shasum or openssl to verify the download with"; fi
}

# ---- main
detect_target
asset=autopgo-$target$exe
if [ -n "${AUTOPGO_RELEASE_URL:-}" ]; then
  base=${AUTOPGO_RELEASE_URL%/}
else
  [ -n "$repo" ] || die "which repository? set AUTOPGO_REPO=owner/name (or use the install.sh attached to a release)"
  base=https://github.com/$repo/releases
fi
case $version in
  latest) tag=$(latest_tag) ;;
  v*) tag=$version ;;
  [0-9]*) tag=v$version ;;
  *) die "--version $version: expected a tag such as v0.1.0, or latest" ;;
esac
if $resolve_only; then
  printf 'tag=%s\ntarget=%s\nasset=%s\n' "$tag" "$target" "$asset"
  exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/autopgo-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
fetch "$base/download/$tag/SHA256SUMS" "$tmp/SHA256SUMS"
fetch "$base/download/$tag/$asset" "$tmp/$asset"
expected=$(awk -v a="$asset" '$2 == a || $2 == "*" a { print $1; exit }' "$tmp/SHA256SUMS")
[ -n "$expected" ] || die "SHA256SUMS of $tag lists no $asset"
actual=$(sha256 "$tmp/$asset")
[ "$actual" = "$expected" ] ||
  die "checksum mismatch for $asset of $tag (SHA256SUMS says $expected, the download is $actual): not installed"

chosen_bin_dir=$bin_dir
if [ -z "$bin_dir" ]; then
  if [ -z "$prefix" ]; then
    prefix=$HOME/.local
    if [ -w /usr/local/bin ] || { [ ! -e /usr/local/bin ] && [ -w /usr/local ]; }; then prefix=/usr/local; fi
  fi
  bin_dir=$prefix/bin
fi
hint="choose another --prefix, or run as a user who may"
mkdir -p "$bin_dir" 2>/dev/null || die "cannot create $bin_dir ($hint)"
dest=$bin_dir/autopgo$exe
staged=$bin_dir/.autopgo-$$$exe
cp "$tmp/$asset" "$staged" 2>/dev/null || die "cannot write to $bin_dir ($hint)"
chmod 755 "$staged"
if ! ran=$("$staged" --version 2>&1); then
  rm -f "$staged"
  die "the $target binary of $tag does not run here: $(printf '%s\n' "$ran" | head -n 1)"
fi
mv -f "$staged" "$dest"
say "installed $ran to $dest"
if [ -z "$chosen_bin_dir" ]; then
  case ":${PATH:-}:" in
    *":$bin_dir:"*) ;;
    *) say "$bin_dir is not on your PATH; add it, e.g. export PATH=\"$bin_dir:\$PATH\"" ;;
  esac
fi
