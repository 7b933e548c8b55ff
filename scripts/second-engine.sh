#!/usr/bin/env bash
# A second, throw-away Docker engine on this machine (for `evolve ablate --docker-host` and its tests).
#
#   bash scripts/second-engine.sh start DIR [--tcp PORT]   start dockerd with everything under DIR, load the
#                                                         sandbox image into it; prints its URL(s)
#   bash scripts/second-engine.sh kill DIR                 SIGKILL it (a crashed engine: its containers live on)
#   bash scripts/second-engine.sh stop DIR                 remove our containers, stop it, unmount, delete DIR
#
# Needs root (dockerd does). It shares nothing with the default engine: own socket, data root, exec
# root (so its own containerd), pid file; no bridge network and no iptables rules (sandbox containers
# run with --network none anyway). The image comes from the default engine (`docker save | docker load`).
# Environment: SANDBOX_IMAGE (default bilevel-evolve-sandbox:latest), ENGINE_WAIT_S (default 30).
set -euo pipefail

IMAGE="${SANDBOX_IMAGE:-bilevel-evolve-sandbox:latest}"
WAIT_S="${ENGINE_WAIT_S:-30}"
LABEL="bilevel-evolve.owner=bilevel-evolve"
die() { printf 'second-engine: %s\n' "$*" >&2; exit 1; }

[ $# -ge 2 ] || die "usage: $0 start|kill|stop DIR [--tcp PORT]"
cmd="$1"
dir="$(realpath -m "$2")"
shift 2
sock="$dir/docker.sock"
url="unix://$sock"

answers() { DOCKER_HOST="$url" docker info >/dev/null 2>&1; }
daemon_pid() { cat "$dir/docker.pid" 2>/dev/null || true; }
# alive and not a zombie (a killed dockerd whose new parent does not reap it keeps its pid)
running() { [ -n "$1" ] && [ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

start_daemon() {
  local hosts=(--host "$url")
  [ -n "${tcp_port:-}" ] && hosts+=(--host "tcp://127.0.0.1:$tcp_port")
  mkdir -p "$dir"
  local old
  old="$(daemon_pid)"  # an engine still shutting down (it no longer answers): let it finish
  for _ in $(seq 1 $((WAIT_S * 10))); do running "$old" || break; sleep 0.1; done
  # Pid files left by a killed engine: dockerd refuses to start over its own, and would wait for a
  # containerd that is gone (or a zombie) over the other.
  running "$(daemon_pid)" || rm -f "$dir/docker.pid"
  running "$(cat "$dir/exec/containerd/containerd.pid" 2>/dev/null || true)" || rm -f "$dir/exec/containerd/containerd.pid"
  # setsid: the engine outlives the shell that started it, and a Ctrl-C there does not reach it
  setsid dockerd "${hosts[@]}" --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/docker.pid" \
    --bridge none --iptables=false --ip6tables=false --ip-masq=false \
    >>"$dir/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 1 $((WAIT_S * 10))); do
    answers && return 0
    sleep 0.1
  done
  tail -20 "$dir/dockerd.log" >&2 || true
  printf 'second-engine: dockerd did not answer on %s within %ss (log: %s/dockerd.log)\n' "$sock" "$WAIT_S" "$dir" >&2
  return 1
}

stop_daemon() {
  local pid
  pid="$(daemon_pid)"
  if running "$pid"; then
    kill -TERM "$pid"
    for _ in $(seq 1 $((WAIT_S * 10))); do running "$pid" || break; sleep 0.1; done
    if running "$pid"; then kill -KILL "$pid"; fi
  fi
  return 0
}

case "$cmd" in
  start)
    [ "$(id -u)" = 0 ] || die "dockerd needs root"
    command -v dockerd >/dev/null || die "no dockerd: bash scripts/install-docker.sh"
    tcp_port=""
    if [ "${1:-}" = "--tcp" ]; then tcp_port="${2:?--tcp needs a port}"; fi
    answers || start_daemon || exit 1  # a restart on an existing DIR keeps its image
    if ! DOCKER_HOST="$url" docker image inspect "$IMAGE" >/dev/null 2>&1; then
      docker image inspect "$IMAGE" >/dev/null 2>&1 || die "the default engine has no $IMAGE: bash scripts/build-image.sh"
      docker save "$IMAGE" | DOCKER_HOST="$url" docker load >/dev/null
    fi
    echo "$url"
    [ -n "$tcp_port" ] && echo "tcp://127.0.0.1:$tcp_port"
    exit 0
    ;;
  kill)
    pid="$(daemon_pid)"
    if running "$pid"; then kill -KILL "$pid"; fi
    for _ in $(seq 1 50); do
      if ! running "$pid" && ! answers; then exit 0; fi
      sleep 0.1
    done
    die "the engine on $sock still answers"
    ;;
  stop)
    [ -d "$dir" ] || exit 0
    # After a crash its containers live on under their shims; a fresh dockerd on the same roots
    # stops them (no live-restore), so it can remove them before going away for good.
    if ! answers && [ -d "$dir/data" ]; then start_daemon || echo "second-engine: removing it anyway" >&2; fi
    ids="$(DOCKER_HOST="$url" docker ps -aq --filter "label=$LABEL" 2>/dev/null || true)"
    [ -n "$ids" ] && DOCKER_HOST="$url" docker rm -f $ids >/dev/null
    stop_daemon
    # dockerd bind-mounts its data root onto itself (and overlay layers below it)
    { grep -F " $dir/" /proc/mounts || true; } | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m" || true; done
    rm -rf "$dir"
    [ -z "$ids" ] || printf 'second-engine: removed %s container(s) left by the engine\n' "$(wc -w <<<"$ids")" >&2
    exit 0
    ;;
  *) die "unknown command $cmd (start, kill or stop)" ;;
esac
