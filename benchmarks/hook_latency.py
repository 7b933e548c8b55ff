"""Round-trip time of a mechanism hook call through the sandboxed host, next to the unconfined one.

1. Latency: one hook call per sample with a realistic ctx (the function domain's space and
   `--history` trials), through `ContainerHost` and `LocalProcessHost` in the same process,
   interleaved in blocks so machine drift hits both alike. Two mechanisms: a no-op `guide` (pure
   channel cost) and the tabu recipe's `review` of a proposal (a real hook body).
2. Run overhead: a `--iterations`-iteration function-domain run with two recipes active (tabu and
   bandit), once per host; every host method is timed (hook calls, the state_json of each
   checkpoint, the loads including the container's start).

    python benchmarks/hook_latency.py [--calls 1000] [--history 30] [--iterations 200] [--out FILE]
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
from bilevel_evolve.engine.mechanisms.active_set import MechanismSet
from bilevel_evolve.engine.outer.research.recipes import CATALOG, recipe_source
from bilevel_evolve.engine.run.logging_setup import close_logging, configure_logging
from bilevel_evolve.engine.run.loop import InnerLoop
from bilevel_evolve.engine.run.store import RunStore
from bilevel_evolve.engine.wiring.run_config import RunConfig
from bilevel_evolve.ground.records import SearchConfig, SearchContext, TrialRecord
from bilevel_evolve.sandbox.hosts.base import Loaded, LocalProcessHost, MechanismHost
from bilevel_evolve.sandbox.hosts.container import ContainerHost

DOMAIN = "function:hartmann6"
BLOCK = 50
NOOP = b"""
class Noop:
    name = "noop"

    def guide(self, ctx):
        return None

MECHANISM = Noop
"""


def _recipe(name: str) -> bytes:
    return recipe_source(next(r for r in CATALOG if r.name == name))


def realistic_ctx(trials: int) -> dict[str, Any]:
    domain = load_domain(DOMAIN)
    rng = random.Random(0)
    history = []
    for i in range(trials):
        params = domain.space.sample(rng)
        history.append(TrialRecord(iteration=i, params=params, status="ok", value=rng.uniform(-3, 0),
                                   accepted=rng.random() < 0.3, source="agent", duration_s=0.001))
    return SearchContext(space=domain.space, direction=domain.direction, iteration=trials,
                         history=tuple(history), incumbent=history[-1], config=SearchConfig()).to_json()


def latency(hosts: dict[str, MechanismHost], calls: int, ctx: dict[str, Any]) -> dict[str, dict[str, Any]]:
    proposal = {"proposal": dict(ctx["incumbent"]["params"])}
    mechanisms = {"noop": (NOOP, "guide", {}), "tabu recipe": (_recipe("tabu"), "review", proposal)}
    samples: dict[tuple[str, str], list[float]] = {}
    for kind, host in hosts.items():
        for mech, (source, hook, hook_args) in mechanisms.items():
            host.load(mech, source, None)
            samples[(kind, mech)] = []
            for _ in range(BLOCK):  # warm-up, not counted
                host.call(mech, hook, ctx, 1, hook_args)
    for _ in range(max(1, calls // BLOCK)):
        for (kind, mech), times in samples.items():
            host = hosts[kind]
            _, hook, hook_args = mechanisms[mech]
            for i in range(BLOCK):
                t = time.perf_counter()
                host.call(mech, hook, ctx, i, hook_args)
                times.append((time.perf_counter() - t) * 1000)
    out: dict[str, dict[str, Any]] = {}
    container = hosts["container"]
    if isinstance(container, ContainerHost):  # the channel alone: engine -> Docker -> server and back
        pings = samples[("container", "ping, no mechanism")] = []
        for _ in range(max(1, calls // BLOCK) * BLOCK):
            pings.append(container.ping() * 1000)
    for (kind, mech), times in samples.items():
        times.sort()
        out[f"{kind} / {mech}"] = {"host": kind, "mechanism": mech, "n": len(times),
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

    def load(self, mech_id: str, source: bytes, state_json: str | None) -> Loaded:
        return self._timed("load", self.inner.load, mech_id, source, state_json)  # type: ignore[no-any-return]

    def call(self, mech_id: str, hook: str, ctx: dict[str, Any], seed: int, args: dict[str, Any]) -> Any:
        return self._timed("call", self.inner.call, mech_id, hook, ctx, seed, args)

    def state_json(self, mech_id: str) -> str:
        return self._timed("state_json", self.inner.state_json, mech_id)  # type: ignore[no-any-return]

    def unload(self, mech_id: str) -> None:
        self.inner.unload(mech_id)

    def close(self) -> None:
        self.inner.close()


def run_overhead(kind: str, iterations: int, root: Path) -> dict[str, Any]:
    config = RunConfig(run_id=f"bench-{kind}", domain=DOMAIN, iterations=iterations, seed=0)
    run_dir = root / f"run-{kind}"
    store = RunStore.create(run_dir, config)
    configure_logging(run_dir / "log.jsonl")
    inner: MechanismHost = ContainerHost(config.run_id) if kind == "container" else LocalProcessHost(root / kind)
    host = TimedHost(inner)
    try:
        t0 = time.perf_counter()
        mechanisms = MechanismSet(host, config.seed, store.append, on_rollback=lambda m, f: None)
        for name in ("tabu", "bandit"):
            mechanisms.add(name, _recipe(name), step=0)
        loop = InnerLoop(store, config, load_domain(DOMAIN), OfflineAgent(), mechanisms=mechanisms)
        loop.start()
        loop.run()
        total = time.perf_counter() - t0
        active = mechanisms.ids()
    finally:
        host.close()
        store.close()
        close_logging()
    steady = host.seconds["call"] + host.seconds["state_json"]
    return {"host": kind, "iterations": iterations, "active_at_end": list(active), "run_s": total,
            "load_s": host.seconds["load"], "hook_calls": host.counts["call"], "hook_s": host.seconds["call"],
            "state_json_calls": host.counts["state_json"], "state_json_s": host.seconds["state_json"],
            "mechanism_s": steady + host.seconds["load"], "per_iteration_ms": 1000 * steady / iterations,
            "share_of_run": (steady + host.seconds["load"]) / total}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=1000, help="timed calls per host and mechanism (>= 500)")
    ap.add_argument("--history", type=int, default=30, help="trials in the ctx's history")
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/hook_latency.json"))
    args = ap.parse_args()
    ctx = realistic_ctx(args.history)
    ctx_bytes = len(json.dumps(ctx, separators=(",", ":")))
    with tempfile.TemporaryDirectory() as tmp:
        hosts: dict[str, MechanismHost] = {"container": ContainerHost("bench-latency"),
                                           "local": LocalProcessHost(Path(tmp) / "latency")}
        try:
            rows = latency(hosts, args.calls, ctx)
        finally:
            for host in hosts.values():
                host.close()
        runs = [run_overhead(kind, args.iterations, Path(tmp)) for kind in ("container", "local")]

    table = Table(title=f"hook round trip, ctx with {args.history} trials ({ctx_bytes} bytes of JSON)")
    for col in ("host / mechanism", "n", "p50 ms", "p95 ms", "mean ms", "max ms", "p50 vs local"):
        table.add_column(col)
    for key, row in rows.items():
        local = rows.get(f"local / {row['mechanism']}")
        ratio = f"{row['p50_ms'] / local['p50_ms']:.2f}x" if local else "-"
        table.add_row(key, str(row["n"]), f"{row['p50_ms']:.3f}", f"{row['p95_ms']:.3f}", f"{row['mean_ms']:.3f}",
                      f"{row['max_ms']:.2f}", ratio)
    console = Console(width=150)
    console.print(table)
    run_table = Table(title=f"mechanism overhead of a {args.iterations}-iteration {DOMAIN} run, tabu + bandit")
    for col in ("host", "hook calls", "hooks s", "state_json calls", "state_json s", "load s", "ms / iteration",
                "run s", "share of run"):
        run_table.add_column(col)
    for r in runs:
        run_table.add_row(r["host"], str(r["hook_calls"]), f"{r['hook_s']:.3f}", str(r["state_json_calls"]),
                          f"{r['state_json_s']:.3f}", f"{r['load_s']:.3f}", f"{r['per_iteration_ms']:.2f}",
                          f"{r['run_s']:.2f}", f"{100 * r['share_of_run']:.0f}%")
    console.print(run_table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "command": " ".join(["python", "benchmarks/hook_latency.py", *sys.argv[1:]]),
        "python": sys.version.split()[0], "machine": platform.machine(), "domain": DOMAIN,
        "ctx_history": args.history, "ctx_json_bytes": ctx_bytes, "latency": rows, "runs": runs,
    }, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
