#!/usr/bin/env bash
# Build the sandbox image (Python + numpy + torch CPU + the in-container harness) with no network
# inside any container: Python packages come from a host wheelhouse; where no registry answers,
# the Debian base is made with debootstrap and imported.
#
#   scripts/build-image.sh [--force] [--base IMAGE]
#
# Environment:
#   SANDBOX_IMAGE        tag to build                   (default bilevel-evolve-sandbox:latest)
#   SANDBOX_BASE_IMAGE   base image to build FROM       (e.g. a CUDA runtime image on GPU hosts)
#   SANDBOX_SKIP_PULL=1  do not probe the registry      (go straight to debootstrap)
#   SANDBOX_TORCH        torch requirement               (default torch==2.13.0+cpu)
#   SANDBOX_NUMPY        numpy requirement               (default numpy>=1.26,<3)
#   DEBIAN_MIRROR        mirror for debootstrap          (default: the Debian mirror of this host's apt sources)
# --force rebuilds the debootstrap base and the wheelhouse too; without it, what exists is reused.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"  # the project's venv: it stages the in-container code
IMAGE="${SANDBOX_IMAGE:-bilevel-evolve-sandbox:latest}"
LOCAL_BASE="bilevel-evolve-base:bookworm"
BASE="${SANDBOX_BASE_IMAGE:-}"
TORCH_REQ="${SANDBOX_TORCH:-torch==2.13.0+cpu}"
NUMPY_REQ="${SANDBOX_NUMPY:-numpy>=1.26,<3}"
MIRROR="${DEBIAN_MIRROR:-}"
WHEELHOUSE="$ROOT/.wheelhouse"
WORK="$ROOT/.image-build"
FORCE=0

while [ $# -gt 0 ]; do
  case "$1" in
    --force) FORCE=1 ;;
    --base) BASE="$2"; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "build-image: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

START=$(date +%s)
log() { printf '[build-image %4ss] %s\n' "$(( $(date +%s) - START ))" "$*"; }
die() { printf 'build-image: %s\n' "$*" >&2; exit 1; }

docker info >/dev/null 2>&1 || die "no Docker engine answers: start one (sudo dockerd & / systemctl start docker / bash scripts/install-docker.sh)"
mkdir -p "$WORK"

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# The first Debian archive (not -security) this host's apt already uses, from one-line .list files
# and deb822 .sources files alike; nothing when the host has none (then DEBIAN_MIRROR must say).
host_debian_mirror() {
  local f
  local etc="${APT_ROOT:-}/etc/apt"  # APT_ROOT: tests point it at a fake tree
  for f in "$etc/sources.list" "$etc"/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' "$f"
  done
  for f in "$etc"/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'BEGIN { RS = ""; FS = "\n" }
         /(^|\n)Types:[^\n]*deb([ \n]|$)/ && !/(^|\n)Enabled: *no/ {
           for (i = 1; i <= NF; i++) if ($i ~ /^URIs:/) { sub(/^URIs: */, "", $i); split($i, u, " "); print u[1] } }' "$f"
  done
}

# apt's own proxy, for debootstrap (which reads http_proxy), unless the environment already sets one.
use_apt_proxy() {
  [ -n "${http_proxy:-}" ] && return
  local proxy=""
  eval "$(apt-config shell proxy Acquire::http::Proxy 2>/dev/null || true)"
  [ -n "$proxy" ] && { export http_proxy="$proxy"; log "using apt's proxy for debootstrap"; }
  return 0
}

build_debootstrap_base() {
  command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install -y debootstrap (or run scripts/install-docker.sh)"
  if [ -z "$MIRROR" ]; then
    local archives; archives="$(host_debian_mirror | grep -v -- '-security' || true)"
    MIRROR="$(grep -m1 -E '/debian/?$' <<<"$archives" || head -n1 <<<"$archives")"
    [ -n "$MIRROR" ] || die "no Debian mirror in this host's apt sources: set DEBIAN_MIRROR=URL (a Debian archive serving bookworm)"
  fi
  use_apt_proxy
  [ "$(id -u)" = 0 ] || die "debootstrap needs root: run this script with sudo"
  local rootfs="$WORK/rootfs" cache="$WORK/debcache"
  rm -rf "$rootfs"; mkdir -p "$rootfs" "$cache"
  log "debootstrap bookworm (minbase + python3) from $MIRROR"
  debootstrap --variant=minbase --cache-dir="$cache" \
    --include=python3,python3-venv,ca-certificates \
    bookworm "$rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log" >&2; die "debootstrap failed (log: $WORK/debootstrap.log)"; }
  log "tidying the root filesystem"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
         "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
         "$rootfs"/var/log/*.log "$rootfs"/tmp/*
  find "$rootfs"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'C.*' -exec rm -rf {} + 2>/dev/null || true
  log "importing the root filesystem as $LOCAL_BASE"
  tar -C "$rootfs" --numeric-owner -c . | docker import \
    -c 'ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'CMD ["/bin/bash"]' \
    -m "debootstrap --variant=minbase bookworm + python3 (bilevel-evolve)" - "$LOCAL_BASE" >/dev/null
  rm -rf "$rootfs"
}

choose_base() {
  if [ -n "$BASE" ]; then
    image_exists "$BASE" || die "base image $BASE is not present locally (docker pull it or build it first)"
    return
  fi
  if [ "$FORCE" = 0 ] && image_exists "$LOCAL_BASE"; then
    BASE="$LOCAL_BASE"; log "reusing base $BASE"; return
  fi
  if [ "${SANDBOX_SKIP_PULL:-0}" != 1 ]; then
    log "probing the registry for python:3.11-slim (20 s)"
    if timeout 20 docker pull -q python:3.11-slim >/dev/null 2>&1; then
      BASE="python:3.11-slim"; log "registry reachable: base $BASE"; return
    fi
    log "no registry reachable: building a local Debian base"
  fi
  build_debootstrap_base
  BASE="$LOCAL_BASE"
}

build_wheelhouse() {
  local stamp="$WHEELHOUSE/.requirements"
  local want="$TORCH_REQ $NUMPY_REQ"
  if [ "$FORCE" = 0 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    log "reusing wheelhouse $WHEELHOUSE"; return
  fi
  log "filling the wheelhouse: $want (cp311, manylinux <= glibc 2.36)"
  rm -rf "$WHEELHOUSE"; mkdir -p "$WHEELHOUSE"
  # pip does not widen a manylinux tag to older glibc versions by itself: list them all.
  local platforms=(--platform any --platform manylinux2014_x86_64)
  local v; for v in $(seq 36 -1 17); do platforms+=(--platform "manylinux_2_${v}_x86_64"); done
  local pip=(python3 -m pip)
  [ -x "$ROOT/.venv/bin/python" ] && pip=("$ROOT/.venv/bin/python" -m pip)
  "${pip[@]}" download --quiet --disable-pip-version-check --only-binary=:all: \
    --python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none \
    "${platforms[@]}" \
    -d "$WHEELHOUSE" "$TORCH_REQ" "$NUMPY_REQ" 2> >(grep -v 'is ignored: it is neither' >&2) \
    || die "pip download failed: the host needs PyPI (or a find-links directory holding the wheels)"
  echo "$want" >"$stamp"
}

assemble_context() {
  local ctx="$WORK/context"
  rm -rf "$ctx"; mkdir -p "$ctx/wheels" "$ctx/harness"
  # Hard links keep this cheap; fall back to copies across filesystems.
  cp -l "$WHEELHOUSE"/*.whl "$ctx/wheels/" 2>/dev/null || cp "$WHEELHOUSE"/*.whl "$ctx/wheels/"
  python -m bilevel_evolve.sandbox.image stage "$ctx/harness"  # the one list of in-container packages
  cp "$ROOT/Dockerfile" "$ctx/Dockerfile"
  echo "$ctx"
}

choose_base
build_wheelhouse
CTX="$(assemble_context)"
REVISION="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
log "docker build $IMAGE FROM $BASE"
DOCKER_BUILDKIT=0 docker build --quiet --network none \
  --build-arg "BASE_IMAGE=$BASE" \
  --label "org.opencontainers.image.revision=$REVISION" \
  --label "bilevel-evolve.torch=$TORCH_REQ" \
  --label "$(python -m bilevel_evolve.sandbox.image layout)" \
  -t "$IMAGE" "$CTX" >"$WORK/docker-build.log" 2>&1 \
  || { tail -30 "$WORK/docker-build.log" >&2; die "docker build failed (log: $WORK/docker-build.log)"; }
rm -rf "$CTX"
log "checking the image"
docker run --rm --network none --user 10001:10001 --read-only "$IMAGE" \
  /opt/venv/bin/python -I -c 'import numpy, torch, sys, bilevel_evolve.sandbox.guest.worker_link; print("python", sys.version.split()[0], "numpy", numpy.__version__, "torch", torch.__version__)' \
  || die "the built image $IMAGE does not import numpy, torch and the in-container harness"
# A rebuild leaves the previous image untagged: drop our own untagged ones, nothing else.
docker image prune -f --filter "label=org.opencontainers.image.title=bilevel-evolve-sandbox" >/dev/null || true
log "done: $IMAGE ($(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"
