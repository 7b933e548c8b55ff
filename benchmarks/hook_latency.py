"""Round-trip time of a mechanism hook call through the sandboxed host, next to the unconfined one,
with the history sent incrementally (the default) and in full (`incremental_history=False`, the
protocol before, and the fallback).

1. Latency at iteration N, for every N of `--at`: one hook call per sample with a realistic ctx
   (the function domain's space, N trials of history, one more per call, as in a run), through
   `ContainerHost` and `LocalProcessHost` in the same process, interleaved in blocks of 50 so machine
   drift hits all alike. A block times 50 calls in runs of 10: a call with a ctx of N trials (not
   timed; a shorter history than the worker's, so it is sent whole), then ten calls whose ctxs hold
   N+1 .. N+10 trials. Two mechanisms: a no-op `guide` (pure channel cost) and the tabu recipe's
   `review` of a proposal (a real hook body, which itself reads the history).
2. Run overhead: a `--iterations`-iteration function-domain run with two recipes active (tabu and
   bandit), once per host and history mode; every host method is timed (hook calls, the state_json
   of each checkpoint, the loads including the container's start).

    python benchmarks/hook_latency.py [--calls 1000] [--at 30,1000] [--iterations 200] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bilevel_evolve.domains.registry import load_domain
from bilevel_evolve.engine.agents.offline import OfflineAgent
from bilevel_evolve.engine.outer.research.recipes import CATALOG, recipe_source
from bilevel_evolve.engine.run.logging_setup import close_logging, configure_logging
from bilevel_evolve.engine.run.loop import InnerLoop
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.engine.wiring.run_config import RunConfig
from bilevel_evolve.ground.contract.source import MechanismSource
from bilevel_evolve.ground.records import SearchConfig, SearchContext, TrialRecord
from bilevel_evolve.sandbox.hosts.base import Loaded, LocalProcessHost, MechanismHost
from bilevel_evolve.sandbox.hosts.container import ContainerHost

DOMAIN = "function:hartmann6"
BLOCK = 50
GROWTH = 10  # timed calls, one more trial each, before the history goes back to N
MODES = {"incremental": True, "full": False}  # mode -> incremental_history
NOOP = MechanismSource(b"""
class Noop:
    name = "noop"

    def guide(self, ctx):
        return None

MECHANISM = Noop
""")


def _recipe(name: str) -> MechanismSource:
    return MechanismSource(recipe_source(next(r for r in CATALOG if r.name == name)))


class RunHistory:
    """The ctxs of a run as the engine hands them to a host: every trial dumped once, and each ctx's
    history a list of those same dicts (what lets a host send only the new ones)."""

    def __init__(self, trials: int) -> None:
        domain = load_domain(DOMAIN)
        rng = random.Random(0)
        self.trials = [TrialRecord(iteration=i, params=domain.space.sample(rng), status="ok",
                                   value=rng.uniform(-3, 0), accepted=rng.random() < 0.3, source="agent",
                                   duration_s=0.001).model_dump() for i in range(trials)]
        self.head = SearchContext(space=domain.space, direction=domain.direction, iteration=0, history=(),
                                  incumbent=None, config=SearchConfig()).to_json()

    def ctx(self, n: int) -> dict[str, Any]:
        """The ctx of iteration n: n trials of history, the last one the incumbent."""
        return {**self.head, "iteration": n, "history": self.trials[:n], "incumbent": self.trials[n - 1]}

    def json_bytes(self, n: int) -> int:
        return len(json.dumps(self.ctx(n), separators=(",", ":")))


def latency(hosts: dict[tuple[str, str], MechanismHost], calls: int, at: list[int],
            run: RunHistory) -> dict[str, dict[str, Any]]:
    mechanisms = {"noop": (NOOP, "guide"), "tabu recipe": (_recipe("tabu"), "review")}

    def args(hook: str, n: int) -> dict[str, Any]:
        return {"proposal": dict(run.trials[n - 1]["params"])} if hook == "review" else {}

    def block(host: MechanismHost, mech: str, n: int, times: list[float] | None) -> None:
        hook = mechanisms[mech][1]
        for i in range(BLOCK):
            grown = i % GROWTH + 1
            if grown == 1:
                host.call(mech, hook, run.ctx(n), 0, args(hook, n))
            ctx, hook_args = run.ctx(n + grown), args(hook, n + grown)
            t = time.perf_counter()
            host.call(mech, hook, ctx, i, hook_args)
            if times is not None:
                times.append((time.perf_counter() - t) * 1000)

    samples: dict[tuple[str, str, str, int], list[float]] = {}
    for (kind, mode), host in hosts.items():
        for mech, (source, _) in mechanisms.items():
            host.load(mech, source, None)
            for n in at:
                samples[(kind, mode, mech, n)] = []
                block(host, mech, n, None)  # warm-up, not counted
    for _ in range(max(1, calls // BLOCK)):
        for (kind, mode, mech, n), times in samples.items():
            block(hosts[(kind, mode)], mech, n, times)
    container = hosts[("container", "incremental")]
    if isinstance(container, ContainerHost):  # the channel alone: engine -> Docker -> a server and back
        pings = samples[("container", "-", "ping, no mechanism", 0)] = []
        for _ in range(max(1, calls // BLOCK) * BLOCK):
            pings.append(container.ping("noop") * 1000)
    out: dict[str, dict[str, Any]] = {}
    for (kind, mode, mech, n), times in samples.items():
        times.sort()
        out[f"{kind} / {mode} / {mech} @ {n}"] = {
            "host": kind, "history": mode, "mechanism": mech, "iteration": n, "n": len(times),
            "p50_ms": statistics.median(times), "p95_ms": times[int(0.95 * len(times)) - 1],
            "mean_ms": statistics.fmean(times), "max_ms": times[-1]}
    return out


class TimedHost:
    """Delegates to a host and adds up the time spent in each of its methods."""

    def __init__(self, inner: MechanismHost) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.seconds: dict[str, float] = {"load": 0.0, "call": 0.0, "state_json": 0.0}
        self.counts: dict[str, int] = {"load": 0, "call": 0, "state_json": 0}

    def _timed(self, what: str, fn: Any, *args: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.seconds[what] += time.perf_counter() - t
            self.counts[what] += 1

    def load(self, mech_id: str, source: MechanismSource, state_json: str | None) -> Loaded:
        return self._timed("load", self.inner.load, mech_id, source, state_json)  # type: ignore[no-any-return]

    def call(self, mech_id: str, hook: str, ctx: dict[str, Any], seed: int, args: dict[str, Any]) -> Any:
        return self._timed("call", self.inner.call, mech_id, hook, ctx, seed, args)

    def state_json(self, mech_id: str) -> str:
        return self._timed("state_json", self.inner.state_json, mech_id)  # type: ignore[no-any-return]

    def unload(self, mech_id: str) -> None:
        self.inner.unload(mech_id)

    def close(self) -> None:
        self.inner.close()


def run_overhead(kind: str, mode: str, iterations: int, root: Path) -> dict[str, Any]:
    config = RunConfig(run_id=f"bench-{kind}-{mode}", domain=DOMAIN, iterations=iterations, seed=0)
    run_dir = root / f"run-{kind}-{mode}"
    store = RunStore.create(run_dir, config)
    configure_logging(run_dir / "log.jsonl")
    host = TimedHost(make_host(kind, mode, config.run_id, root / f"{kind}-{mode}"))
    try:
        t0 = time.perf_counter()
        loop = InnerLoop(store, config, load_domain(DOMAIN), OfflineAgent(), mechanism_host=host)
        mechanisms = loop.mechanisms
        assert mechanisms is not None
        for name in ("tabu", "bandit"):
            mechanisms.add(name, _recipe(name), step=0)
        loop.start()
        loop.run()
        total = time.perf_counter() - t0
        active = mechanisms.ids()
    finally:
        host.close()
        store.close()
        close_logging()
    steady = host.seconds["call"] + host.seconds["state_json"]
    return {"host": kind, "history": mode, "iterations": iterations, "active_at_end": list(active), "run_s": total,
            "load_s": host.seconds["load"], "hook_calls": host.counts["call"], "hook_s": host.seconds["call"],
            "state_json_calls": host.counts["state_json"], "state_json_s": host.seconds["state_json"],
            "mechanism_s": steady + host.seconds["load"], "per_iteration_ms": 1000 * steady / iterations,
            "share_of_run": (steady + host.seconds["load"]) / total}


def make_host(kind: str, mode: str, run_id: str, work_dir: Path) -> MechanismHost:
    if kind == "container":
        return ContainerHost(run_id, incremental_history=MODES[mode])
    return LocalProcessHost(work_dir, incremental_history=MODES[mode])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=1000, help="timed calls per host and mechanism (>= 500)")
    ap.add_argument("--at", default="30,1000", help="iterations (trials of history) to measure at, comma-separated")
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/hook_latency.json"))
    args = ap.parse_args()
    at = [int(n) for n in args.at.split(",")]
    run = RunHistory(max(at) + GROWTH)
    ctx_bytes = {n: run.json_bytes(n) for n in at}
    with tempfile.TemporaryDirectory() as tmp:
        hosts = {(kind, mode): make_host(kind, mode, f"bench-latency-{mode}", Path(tmp) / f"latency-{mode}")
                 for kind in ("container", "local") for mode in MODES}
        try:
            rows = latency(hosts, args.calls, at, run)
        finally:
            for host in hosts.values():
                host.close()
        runs = [run_overhead(kind, mode, args.iterations, Path(tmp)) for kind in ("container", "local")
                for mode in MODES]

    sizes = ", ".join(f"{n} trials: {b} bytes" for n, b in ctx_bytes.items())
    table = Table(title=f"hook round trip at iteration N, one new trial per call (whole ctx as JSON: {sizes})")
    for col in ("host / history / mechanism @ N", "n", "p50 ms", "p95 ms", "mean ms", "max ms",
                f"p50 vs @ {at[0]}", "p50 vs full"):
        table.add_column(col)
    for key, row in rows.items():
        first = rows.get(f"{row['host']} / {row['history']} / {row['mechanism']} @ {at[0]}")
        full = rows.get(f"{row['host']} / full / {row['mechanism']} @ {row['iteration']}")
        table.add_row(key, str(row["n"]), f"{row['p50_ms']:.3f}", f"{row['p95_ms']:.3f}", f"{row['mean_ms']:.3f}",
                      f"{row['max_ms']:.2f}", f"{row['p50_ms'] / first['p50_ms']:.2f}x" if first else "-",
                      f"{row['p50_ms'] / full['p50_ms']:.2f}x" if full else "-")
    console = Console(width=160)
    console.print(table)
    run_table = Table(title=f"mechanism overhead of a {args.iterations}-iteration {DOMAIN} run, tabu + bandit")
    for col in ("host", "history", "hook calls", "hooks s", "state_json calls", "state_json s", "load s",
                "ms / iteration", "run s", "share of run"):
        run_table.add_column(col)
    for r in runs:
        run_table.add_row(r["host"], r["history"], str(r["hook_calls"]), f"{r['hook_s']:.3f}",
                          str(r["state_json_calls"]), f"{r['state_json_s']:.3f}", f"{r['load_s']:.3f}",
                          f"{r['per_iteration_ms']:.2f}", f"{r['run_s']:.2f}", f"{100 * r['share_of_run']:.0f}%")
    console.print(run_table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "command": " ".join(["python", "benchmarks/hook_latency.py", *sys.argv[1:]]),
        "python": sys.version.split()[0], "machine": platform.machine(), "domain": DOMAIN,
        "at": at, "ctx_json_bytes": ctx_bytes, "latency": rows, "runs": runs,
    }, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
