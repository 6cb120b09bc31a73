#!/usr/bin/env bash
# The logic of the autopgo GitHub Action (../action.yml), in two steps around an actions/cache step:
#   fetch-profile.sh resolve   picks the release (the `version` input, else this action's own tag when it is a
#                              version, else the latest release) and the runner's target; writes the outputs tag,
#                              target, bin-dir, release-url and cache-key to $GITHUB_OUTPUT
#   fetch-profile.sh download  installs that release's binary into bin-dir with ../install.sh (checksum verified)
#                              unless a verified copy is cached there, then runs `autopgo download`
# Inputs come as INPUT_* variables (see action.yml). Any failure is a ::warning:: annotation and exit 0, so a profile
# that cannot be fetched never breaks the build; with fail-on-error it is an ::error:: annotation and exit 1.
# AUTOPGO_RELEASE_URL (if set in the job's environment) replaces https://github.com/OWNER/NAME/releases.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
install_sh=$here/../install.sh
log=$(mktemp "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/autopgo-action.XXXXXX")
trap 'rm -f "$log"' EXIT

output() { if [ -n "${GITHUB_OUTPUT:-}" ]; then printf '%s=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"; fi; }
escape() { # workflow-command data: %, CR and LF are encoded
  local s=${1//'%'/'%25'}
  s=${s//$'\r'/'%0D'}
  printf '%s' "${s//$'\n'/'%0A'}"
}
fail_on_error() { [[ ${INPUT_FAIL_ON_ERROR:-false} =~ ^(true|True|TRUE|yes|1)$ ]]; }
give_up() { # give_up MESSAGE...: annotate, then exit 0 (or 1 with fail-on-error)
  output downloaded false
  if fail_on_error; then
    echo "::error title=autopgo::$(escape "$*")"
    exit 1
  fi
  echo "::warning title=autopgo::$(escape "$*"); building without a fresh profile"
  exit 0
}
last_line() { grep -v '^[[:space:]]*$' "$log" | tail -n 1; }
sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then shasum -a 256 "$1" | cut -d' ' -f1
  else openssl dgst -sha256 -r "$1" | cut -d' ' -f1; fi
}

resolve() {
  local repo=${INPUT_ACTION_REPOSITORY:-} ref=${INPUT_ACTION_REF:-} version=${INPUT_VERSION:-} info tag target dir
  # Inside composite actions github.action_repository/action_ref can be empty; the checkout path
  # .../_actions/OWNER/NAME/REF (with backslashes on Windows) names them too. A local action (uses: ./) is
  # this repository's.
  local checkout='[/\\]_actions[/\\]([^/\\]+)[/\\]([^/\\]+)[/\\]([^/\\]+)[/\\]?$'
  if [ -z "$repo" ] && [[ ${GITHUB_ACTION_PATH:-} =~ $checkout ]]; then
    repo=${BASH_REMATCH[1]}/${BASH_REMATCH[2]}
    ref=${BASH_REMATCH[3]}
  fi
  repo=${repo:-${GITHUB_REPOSITORY:-}}
  if [ -z "$version" ]; then
    if [[ $ref =~ ^v[0-9]+\.[0-9]+\.[0-9]+ ]]; then version=$ref; else version=latest; fi
  fi
  export AUTOPGO_RELEASE_URL=${AUTOPGO_RELEASE_URL:-${GITHUB_SERVER_URL:-https://github.com}/$repo/releases}
  info=$(sh "$install_sh" --resolve --version "$version" 2>"$log") ||
    give_up "cannot pick the autopgo release: $(last_line | sed 's/^autopgo install: error: //')"
  tag=$(sed -n 's/^tag=//p' <<<"$info")
  target=$(sed -n 's/^target=//p' <<<"$info")
  dir=${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}}/autopgo/$tag/$target
  echo "autopgo $tag for $target (from $AUTOPGO_RELEASE_URL), cached in $dir"
  output tag "$tag"
  output target "$target"
  output bin-dir "$dir"
  output release-url "$AUTOPGO_RELEASE_URL"
  output cache-key "autopgo-$tag-$target"
}

download() {
  local tag=${INPUT_TAG:-} dir=${INPUT_BIN_DIR:-} app=${INPUT_APP:-} out=${INPUT_OUTPUT:-default.pgo} bin workdir
  if [ -z "$tag" ] || [ -z "$dir" ]; then
    output downloaded false
    echo "autopgo: no release was picked (see the warning above); skipping the download"
    exit 0
  fi
  [ -n "$app" ] || give_up "the app input is empty"
  [ -n "${INPUT_API_URL:-}" ] || give_up "the api-url input is empty"
  bin=$dir/autopgo
  if [[ ${INPUT_TARGET:-} == *windows* ]]; then bin=$bin.exe; fi
  # A cached binary is used only while it still matches the digest recorded when install.sh verified it.
  if [ -x "$bin" ] && [ -f "$bin.sha256" ] && [ "$(sha256 "$bin")" = "$(cat "$bin.sha256")" ]; then
    echo "using the cached autopgo $tag ($bin)"
  else
    rm -f "$bin" "$bin.sha256"
    AUTOPGO_RELEASE_URL=${INPUT_RELEASE_URL:-} sh "$install_sh" --version "$tag" --bin-dir "$dir" 2>"$log" ||
      give_up "cannot install autopgo $tag: $(last_line | sed 's/^autopgo install: error: //')"
    cat "$log"
    sha256 "$bin" >"$bin.sha256"
  fi
  workdir=${INPUT_WORKING_DIRECTORY:-.}
  cd "$workdir" 2>/dev/null || give_up "working-directory $workdir does not exist"
  if [ -n "${INPUT_TOKEN:-}" ]; then export AUTOPGO_TOKEN=$INPUT_TOKEN; fi
  if ! "$bin" download "$app" --output "$out" --api-url "$INPUT_API_URL" 2>"$log"; then
    cat "$log" >&2
    give_up "cannot download the profile of $app from $INPUT_API_URL:" \
      "$(last_line | sed -e 's/^autopgo: //' -e 's/^download [^:]*: //')"
  fi
  cat "$log" >&2
  echo "autopgo: wrote the profile of $app to $out"
  output downloaded true
}

case ${1:-} in
  resolve) resolve ;;
  download) download ;;
  *)
    echo "usage: fetch-profile.sh resolve|download" >&2
    exit 2
    ;;
esac
