#!/usr/bin/env bash
# Make sure a Docker engine answers (and debootstrap exists for scripts/build-image.sh).
# Installs docker.io + debootstrap with apt where missing, starts dockerd in the background when no
# engine answers, and waits for it. Idempotent: does nothing when both are already there.
#
#   bash scripts/install-docker.sh          (needs root or passwordless sudo for the install/start)
# Environment: DOCKER_WAIT_S (default 60) — how long to wait for the engine to answer.
set -euo pipefail

WAIT_S="${DOCKER_WAIT_S:-60}"
log() { printf '[install-docker] %s\n' "$*"; }
die() { printf 'install-docker: %s\n' "$*" >&2; exit 1; }

SUDO=()
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || die "not root and no sudo: run as root"
  SUDO=(sudo -n)
fi

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  log "installing ${missing[*]} with apt"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if docker info >/dev/null 2>&1; then
  log "Docker engine answers ($(docker info -f '{{.ServerVersion}}'))"
  exit 0
fi

# Prefer the service manager where one runs; otherwise start dockerd by hand.
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  log "starting docker with systemctl"
  "${SUDO[@]}" systemctl start docker || true
fi
if ! docker info >/dev/null 2>&1 && ! pgrep -x dockerd >/dev/null; then
  log "starting dockerd in the background (log: /var/log/dockerd.log)"
  "${SUDO[@]}" sh -c 'nohup dockerd >/var/log/dockerd.log 2>&1 &'
fi

for _ in $(seq 1 "$WAIT_S"); do
  if docker info >/dev/null 2>&1; then
    log "Docker engine answers ($(docker info -f '{{.ServerVersion}}'))"
    exit 0
  fi
  sleep 1
done
tail -20 /var/log/dockerd.log 2>/dev/null >&2 || true
die "dockerd did not answer within ${WAIT_S}s (see /var/log/dockerd.log)"
