#!/usr/bin/env bash
# The container image, built and run for real: ../shared/tools/container-smoke.sh builds the
# Dockerfile with podman on a Debian base made with debootstrap (no registry is reachable here),
# starts it with the default config (the offline demo) and a token, waits for /health, and checks
# the non-root user and the HEALTHCHECK. Then: the same image without a token must refuse to
# start (exit 2, naming TRADEKIT_API_TOKEN), and so must a /data volume it cannot write.
# It needs root and apt-get (it installs podman); elsewhere it is skipped, saying why.
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=../shared/tools/container-smoke.sh

skip() { echo "container smoke SKIPPED: $*"; exit 0; }
[ -x "$smoke" ] || skip "$smoke is not here"
[ "$(id -u)" = 0 ] || skip "not root (podman and debootstrap are installed with apt-get)"
command -v apt-get >/dev/null 2>&1 || skip "no apt-get to install podman with"

export WORK=${WORK:-${TMPDIR:-/tmp}/tradekit-container}
# TMPDIR=/tmp for the smoke script: it runs tools inside the debootstrapped root (chroot), where
# a TMPDIR set for CI's own machine does not exist and mktemp would fail.
SMOKE_ENV="TRADEKIT_API_TOKEN=ci-smoke-token-$$-$RANDOM" TMPDIR=/tmp "$smoke" .

export CONTAINERS_CONF=$WORK/containers.conf
refuses() {  # $1: what is expected in the message; the rest: podman run options. Exit 2 expected.
  local expect=$1 out rc; shift
  set +e
  out=$(timeout 120 podman run --rm --no-healthcheck --network host -e PORT=18081 "$@" \
    localhost/app:ci 2>&1)
  rc=$?
  set -e
  printf '%s\n' "$out" | tail -2
  [ "$rc" = 2 ] || { echo "expected exit status 2, got $rc" >&2; return 1; }
  grep -qF "$expect" <<<"$out" || { echo "expected: $expect" >&2; return 1; }
}
echo "-- without TRADEKIT_API_TOKEN the image refuses to start"
refuses "TRADEKIT_API_TOKEN: not set"
echo "-- a /data volume owned by root (as Railway mounts it) is named, not a SQLite error"
rootvol=$(mktemp -d) && chmod 755 "$rootvol"
trap 'rmdir "$rootvol"' EXIT
refuses "storage.url: the folder of the SQLite database, /data, is not writable by user id" \
  -v "$rootvol:/data" -e TRADEKIT_API_TOKEN=ci-smoke-token
echo "container: OK"
