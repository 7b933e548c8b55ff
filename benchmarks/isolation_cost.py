"""What per-mechanism isolation costs: per run (a container start for every mechanism loaded) and per hook
call (the round trip), with the unconfined `LocalProcessHost` alongside.

1. Loads: for each N of `--mechanisms`, a fresh `ContainerHost` loads N copies of a no-op mechanism, each
   load timed (with one container per mechanism: its container's start, then the worker's import), three
   times over. Then the host's containers are counted (Docker, by this process's labels) and their memory
   read (`docker stats`: the cgroup's usage, page cache included).
2. Round trips: `--calls` no-op `guide` calls with a 30-trial `function:hartmann6` ctx (one more trial per
   call, as in a run), spread over the N mechanisms in turn, interleaved in blocks of 50 with the same calls
   on a `LocalProcessHost`.
3. Starts: `--starts` bare container starts (create, attach, start, first answer from the server), and as
   many removals.
4. A run: the mechanism overhead of an `--iterations`-iteration `function:hartmann6` run with the tabu and
   bandit recipes (hook_latency.py's run, container host, incremental history), loads included.

It uses only the MechanismHost protocol, so the same command measures any version of the host.

    python benchmarks/isolation_cost.py [--mechanisms 1,2,4] [--calls 1000] [--starts 20] [--iterations 200]
                                        [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hook_latency import BLOCK, NOOP, RunHistory, run_overhead
from rich.console import Console
from rich.table import Table

from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.sandbox.hosts.base import LocalProcessHost, MechanismHost
from bilevel_evolve.sandbox.hosts.container import ContainerHost
from bilevel_evolve.sandbox.image import connect
from bilevel_evolve.sandbox.lifecycle import LABEL_KIND, LABEL_OWNER, LABEL_PID, OWNER_VALUE

HISTORY = 30
REPEATS = 3


def _copy(i: int) -> MechanismSource:
    """The no-op mechanism, made distinct per copy (each is its own archive object in a run)."""
    return MechanismSource(NOOP.data + f"# copy {i}\n".encode())


def _our_containers(client: Any) -> list[Any]:
    labels = [f"{LABEL_OWNER}={OWNER_VALUE}", f"{LABEL_KIND}=host", f"{LABEL_PID}={os.getpid()}"]
    return list(client.containers.list(filters={"label": labels}))


def _memory_mib(containers: list[Any]) -> float:
    return sum(c.stats(stream=False)["memory_stats"].get("usage", 0) for c in containers) / 2**20


def loads(counts: list[int]) -> list[dict[str, Any]]:
    client = connect()
    rows = []
    for n in counts:
        first, later, memory, containers = [], [], [], []
        for repeat in range(REPEATS):
            host = ContainerHost(f"bench-iso-{n}-{repeat}", client=client)
            try:
                for i in range(n):
                    t = time.perf_counter()
                    host.load(f"noop-{i}", _copy(i), None)
                    (first if i == 0 else later).append(time.perf_counter() - t)
                found = _our_containers(client)
                containers.append(len(found))
                memory.append(_memory_mib(found))
            finally:
                host.close()
        rows.append({"mechanisms": n, "containers": max(containers), "first_load_s": statistics.median(first),
                     "later_load_s": statistics.median(later) if later else None,
                     "all_loads_s": statistics.median(first) + (n - 1) * (statistics.median(later) if later else 0),
                     "memory_mib": statistics.median(memory)})
    client.close()
    return rows


def round_trips(counts: list[int], calls: int) -> list[dict[str, Any]]:
    run = RunHistory(HISTORY + BLOCK + 1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in counts:
            hosts: dict[str, MechanismHost] = {"container": ContainerHost(f"bench-iso-rt-{n}"),
                                               "local": LocalProcessHost(Path(tmp) / f"local-{n}")}
            times: dict[str, list[float]] = {kind: [] for kind in hosts}
            try:
                for host in hosts.values():
                    for i in range(n):
                        host.load(f"noop-{i}", _copy(i), None)
                for block in range(max(1, calls // BLOCK) + 1):  # the first block warms up
                    for kind, host in hosts.items():
                        host.call("noop-0", "guide", run.ctx(HISTORY), 0, {})  # shorter history: sent whole
                        for i in range(BLOCK):
                            ctx = run.ctx(HISTORY + 1 + i)
                            t = time.perf_counter()
                            host.call(f"noop-{i % n}", "guide", ctx, i, {})
                            if block:
                                times[kind].append((time.perf_counter() - t) * 1000)
            finally:
                for host in hosts.values():
                    host.close()
            for kind, samples in times.items():
                samples.sort()
                rows.append({"host": kind, "mechanisms": n, "n": len(samples), "p50_ms": statistics.median(samples),
                             "p95_ms": samples[int(0.95 * len(samples)) - 1], "max_ms": samples[-1]})
    return rows


def starts(count: int) -> dict[str, Any]:
    """Bare container starts: the per-mechanism cost itself (needs the per-mechanism host's MechanismContainer)."""
    try:
        from bilevel_evolve.sandbox.hosts.container import HOST_LIMITS
        from bilevel_evolve.sandbox.hosts.mechanism_container import MechanismContainer
        from bilevel_evolve.sandbox.image import HOST_SERVER_MODULE, guest_command, image_name
    except ImportError:
        return {}
    client = connect()
    up, down = [], []
    try:
        for i in range(count):
            container = MechanismContainer(client, image=image_name(), command=guest_command(HOST_SERVER_MODULE),
                                           limits=HOST_LIMITS, use_gpu=False, run_id="bench-start", mech_id=f"m{i}")
            t = time.perf_counter()
            container.start(60.0)
            up.append(time.perf_counter() - t)
            t = time.perf_counter()
            container.discard()
            down.append(time.perf_counter() - t)
    finally:
        client.close()
    return {"n": count, "start_p50_s": statistics.median(up), "start_max_s": max(up),
            "remove_p50_s": statistics.median(down)}


def _docker_version() -> str:
    try:
        return subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
    except OSError:
        return "unknown"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mechanisms", default="1,2,4", help="numbers of active mechanisms, comma-separated")
    ap.add_argument("--calls", type=int, default=1000, help="timed calls per host and number of mechanisms")
    ap.add_argument("--starts", type=int, default=20)
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/isolation_cost.json"))
    args = ap.parse_args()
    counts = [int(n) for n in args.mechanisms.split(",")]
    load_rows = loads(counts)
    trip_rows = round_trips(counts, args.calls)
    start_row = starts(args.starts) if args.starts else {}
    with tempfile.TemporaryDirectory() as tmp:
        run = run_overhead("container", "incremental", args.iterations, Path(tmp))

    console = Console(width=160)
    table = Table(title="loading N mechanisms into a fresh container host (median of 3)")
    for col in ("mechanisms", "containers", "first load s", "each later load s", "all loads s", "memory MiB"):
        table.add_column(col)
    for r in load_rows:
        later = "-" if r["later_load_s"] is None else f"{r['later_load_s']:.3f}"
        table.add_row(str(r["mechanisms"]), str(r["containers"]), f"{r['first_load_s']:.3f}", later,
                      f"{r['all_loads_s']:.3f}", f"{r['memory_mib']:.0f}")
    console.print(table)
    table = Table(title=f"no-op guide round trip, {HISTORY}-trial ctx, calls spread over the N mechanisms")
    for col in ("host", "mechanisms", "n", "p50 ms", "p95 ms", "max ms"):
        table.add_column(col)
    for r in trip_rows:
        table.add_row(r["host"], str(r["mechanisms"]), str(r["n"]), f"{r['p50_ms']:.3f}", f"{r['p95_ms']:.3f}",
                      f"{r['max_ms']:.2f}")
    console.print(table)
    if start_row:
        console.print(f"bare container start p50 {start_row['start_p50_s']:.3f} s (max {start_row['start_max_s']:.3f}),"
                      f" removal p50 {start_row['remove_p50_s']:.3f} s, n={start_row['n']}")
    console.print(f"{args.iterations}-iteration run, tabu + bandit: loads {run['load_s']:.3f} s, hooks "
                  f"{run['hook_s']:.3f} s, state_json {run['state_json_s']:.3f} s, {run['per_iteration_ms']:.2f} ms "
                  f"per iteration, run {run['run_s']:.2f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "command": " ".join(["python", "benchmarks/isolation_cost.py", *sys.argv[1:]]),
        "python": sys.version.split()[0], "machine": platform.machine(), "cpus": os.cpu_count(),
        "docker": _docker_version(), "loads": load_rows, "round_trips": trip_rows, "starts": start_row, "run": run,
    }, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
